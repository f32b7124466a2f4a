/**
 * Patch for Node's `child_process` module. It wraps, on the module object:
 *   - spawnSync(file, args?, options?): inside a greenlet returns an Op; `yield` runs the child
 *     asynchronously (with Node's original `spawn`) and gives the very object spawnSync would
 *     return: status, signal, output, pid, stdout, stderr, and error for ETIMEDOUT (`timeout`),
 *     ENOBUFS (`maxBuffer`) or a child that could not start;
 *   - execFileSync(file, args?, options?) and execSync(command, options?): `yield` gives what
 *     they return (stdout, a Buffer or a string by `encoding`) and throws what they throw
 *     (the same error with status, signal, stdout, stderr, output);
 *   - ChildProcess.prototype gets a `toOp` method: `yield child` (from spawn, exec, execFile,
 *     fork) waits for it to exit and gives `{ code, signal }`.
 * Outside a greenlet every call goes to Node's original untouched; spawn, exec, execFile and
 * fork are not wrapped at all. A greenlet killed or timed out while its child runs kills the
 * child with `killSignal`.
 */
import type { ChildProcess, SpawnSyncReturns } from 'node:child_process';
import { constants } from 'node:os';
import { getcurrent } from '../src/hub.js';
import { toOp } from '../src/op.js';
import { PatchedCall, showArg, type Outcome } from '../src/patched-call.js';
import { nodeSetTimeout, nodeClearTimeout } from '../src/originals.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/monkey.js';

type Spawn = (file: string, args: string[], options: AnyOptions) => ChildProcess;
type AnyOptions = Record<string, any>;

/** spawnSync's default maxBuffer (1 MiB), which its async emulation must enforce too. */
const MAX_BUFFER = 1024 * 1024;

/** spawnSync's (file, args?, options?) with args optional, as Node reads them. */
function splitArgs(args: unknown, options: unknown): [string[], AnyOptions] {
  if (Array.isArray(args)) return [args, (options ?? {}) as AnyOptions];
  return [[], (args ?? {}) as AnyOptions];
}

/** The error spawnSync puts in `result.error`: syscall 'spawnSync <file>'. */
function syncError(code: string, child: ChildProcess): NodeJS.ErrnoException {
  const file = child.spawnfile;
  const err: NodeJS.ErrnoException & { spawnargs?: string[] } = new Error(`spawnSync ${file} ${code}`);
  err.errno = -(constants.errno as Record<string, number>)[code];
  err.code = code;
  err.syscall = `spawnSync ${file}`;
  err.path = file;
  err.spawnargs = child.spawnargs.slice(1);
  return err;
}

interface Collected {
  chunks: (Buffer[] | null)[];
  error: NodeJS.ErrnoException | null;
}

function decode(buffers: Buffer[] | null, encoding: unknown): Buffer | string | null {
  if (buffers === null) return null;
  const b = Buffer.concat(buffers);
  return typeof encoding === 'string' && encoding !== 'buffer' ? b.toString(encoding as BufferEncoding) : b;
}

/** spawnSync's result object, its keys in spawnSync's order. */
function buildResult(
  child: ChildProcess, got: Collected, status: number | null, signal: NodeJS.Signals | null, encoding: unknown,
): SpawnSyncReturns<Buffer | string> {
  const output = got.chunks.map((c) => decode(c, encoding));
  const result: AnyOptions = {};
  if (got.error !== null) result.error = got.error;
  result.status = status;
  result.signal = signal;
  result.output = output;
  result.pid = child.pid ?? 0;
  result.stdout = output[1] ?? null;
  result.stderr = output[2] ?? null;
  return result as SpawnSyncReturns<Buffer | string>;
}

/** A child that never started: spawnSync reports pid 0 and no output. */
function failedResult(child: ChildProcess, err: NodeJS.ErrnoException): SpawnSyncReturns<Buffer> {
  return {
    error: syncError(err.code ?? 'UNKNOWN', child), status: null, signal: null,
    output: null, pid: 0, stdout: null, stderr: null,
  } as unknown as SpawnSyncReturns<Buffer>;
}

/** Collects every piped output of `child`, killing it when the total passes maxBuffer. */
function collectOutput(child: ChildProcess, got: Collected, maxBuffer: number, kill: () => void): void {
  let total = 0;
  child.stdio.forEach((stream, fd) => {
    if (fd === 0 || stream == null || !('on' in stream) || typeof (stream as any).read !== 'function') return;
    const list: Buffer[] = (got.chunks[fd] = []);
    stream.on('data', (chunk: Buffer) => {
      list.push(chunk);
      total += chunk.length;
      if (total > maxBuffer && got.error === null) {
        got.error = syncError('ENOBUFS', child);
        kill();
      }
    });
  });
}

/** Runs `file args` with the original spawn and delivers spawnSync's result to `out`. */
function runChild(spawn: Spawn, file: string, args: string[], options: AnyOptions, out: Outcome<SpawnSyncReturns<any>>) {
  const { input, timeout, maxBuffer = MAX_BUFFER, encoding, killSignal = 'SIGTERM', ...rest } = options;
  const stdio = normalizeStdio(options.stdio, input);
  const child = spawn(file, args, { ...rest, stdio });
  const got: Collected = { chunks: stdio.map(() => null), error: null };
  const kill = () => child.kill(killSignal);
  let timer: NodeJS.Timeout | null = null;
  if (typeof timeout === 'number' && timeout > 0) {
    timer = nodeSetTimeout(() => {
      if (got.error === null) got.error = syncError('ETIMEDOUT', child);
      kill();
    }, timeout);
  }
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (timer !== null) nodeClearTimeout(timer);
    if (child.pid === undefined) out.ok(failedResult(child, err));
  });
  collectOutput(child, got, maxBuffer, kill);
  child.on('close', (status: number | null, signal: NodeJS.Signals | null) => {
    if (timer !== null) nodeClearTimeout(timer);
    out.ok(buildResult(child, got, status, signal, encoding));
  });
  feedInput(child, input);
  return () => {
    if (timer !== null) nodeClearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) kill();
  };
}

/** spawnSync's stdio as an array; `input` needs stdin to be a pipe. */
function normalizeStdio(stdio: unknown, input: unknown): unknown[] {
  const list: unknown[] =
    typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.isArray(stdio) ? [...stdio] : ['pipe', 'pipe', 'pipe'];
  while (list.length < 3) list.push('pipe');
  if (input != null) list[0] = 'pipe';
  return list;
}

function feedInput(child: ChildProcess, input: unknown): void {
  const stdin = child.stdin;
  if (stdin === null) return;
  stdin.on('error', () => {}); // a child that exits without reading its input: EPIPE is not ours to report
  if (input != null) stdin.end(input as string | Buffer);
  else stdin.end();
}

/** What execSync and execFileSync throw for a result: Node's checkExecSyncError. */
function execError(ret: SpawnSyncReturns<any>, command: string): Error | undefined {
  if (ret.error) return Object.assign(ret.error, ret);
  if (ret.status === 0) return undefined;
  let msg = `Command failed: ${command}`;
  if (ret.stderr && ret.stderr.length > 0) msg += `\n${ret.stderr.toString()}`;
  return Object.assign(new Error(msg), ret);
}

/** execSync/execFileSync without an explicit stdio show the child's stderr on ours. */
function finishExec(ret: SpawnSyncReturns<any>, options: AnyOptions, command: string): unknown {
  if (!options.stdio && ret.stderr) process.stderr.write(ret.stderr);
  const err = execError(ret, command);
  if (err !== undefined) throw err;
  return ret.stdout;
}

function spawnSyncCall(spawn: Spawn, label: string, file: string, args: string[], options: AnyOptions) {
  return new PatchedCall<SpawnSyncReturns<any>>(label, (out) => runChild(spawn, file, args, options, out), ['child_process', 'spawnSync']);
}

/** An Op that runs spawnSync's emulation, then maps its result with `finish`. */
function execCall(spawn: Spawn, label: string, file: string, args: string[], options: AnyOptions, command: string) {
  const finishOut = (out: Outcome<unknown>): Outcome<SpawnSyncReturns<any>> => ({
    ok: (ret) => {
      let value: unknown;
      try {
        value = finishExec(ret, options, command);
      } catch (e) {
        out.fail(e);
        return;
      }
      out.ok(value);
    },
    fail: (e) => out.fail(e),
  });
  return new PatchedCall<unknown>(label, (out) => runChild(spawn, file, args, options, finishOut(out)), [
    'child_process',
    label.slice(0, label.indexOf('(')),
  ]);
}

function label(name: string, args: unknown[]): string {
  return `${name}(${args.map(showArg).join(', ')})`;
}

function makeWrappers(cp: typeof import('node:child_process')) {
  // Captured when the patch is applied, before anyone else can replace spawn.
  const spawn = cp.spawn as unknown as Spawn;
  return {
    spawnSync: (original: Function) =>
      function spawnSync(this: unknown, file: string, a?: unknown, o?: unknown) {
        if (getcurrent() === null) return original.apply(this, arguments);
        const [args, options] = splitArgs(a, o);
        return spawnSyncCall(spawn, label('spawnSync', [...arguments]), file, args, options);
      },
    execFileSync: (original: Function) =>
      function execFileSync(this: unknown, file: string, a?: unknown, o?: unknown) {
        if (getcurrent() === null) return original.apply(this, arguments);
        const [args, options] = splitArgs(a, o);
        const command = [options.argv0 || file, ...args].join(' ');
        return execCall(spawn, label('execFileSync', [...arguments]), file, args, options, command);
      },
    execSync: (original: Function) =>
      function execSync(this: unknown, command: string, o?: AnyOptions) {
        if (getcurrent() === null) return original.apply(this, arguments);
        const options = { ...(o ?? {}) };
        options.shell = typeof options.shell === 'string' ? options.shell : true;
        return execCall(spawn, label('execSync', [...arguments]), command, [], options, command);
      },
  };
}

/** `yield child`: waits for a ChildProcess to exit, giving `{ code, signal }`. */
function childExit(this: ChildProcess) {
  const child = this;
  return new PatchedCall<{ code: number | null; signal: NodeJS.Signals | null }>(`ChildProcess(${child.pid})`, (out) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      out.ok({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => out.ok({ code, signal });
    child.once('exit', onExit);
    return () => child.off('exit', onExit);
  });
}

/**
 * The child_process patch, applied by monkey.patchChildProcess().
 *
 * @example
 * monkey.patchChildProcess();
 * spawn(function* () { const out = yield execSync('echo hi', { encoding: 'utf8' }); });
 */
export const childProcessPatch: PatchSpec = {
  module: 'child_process',
  apply(cp: typeof import('node:child_process'), wrap: WrapFn, add: AddFn) {
    const wrappers = makeWrappers(cp);
    wrap(cp, 'spawnSync', wrappers.spawnSync);
    wrap(cp, 'execFileSync', wrappers.execFileSync);
    wrap(cp, 'execSync', wrappers.execSync);
    add(cp.ChildProcess.prototype, toOp, childExit);
  },
};
