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
 *     fork) waits for it to exit and gives `{ code, signal }`, or throws the spawn error
 *     (ENOENT, EACCES) of a child that could not start.
 *
 * Every argument form Node accepts is read the way Node reads it (`args` left out, `null` or
 * `undefined` with options after it), and options are read as own properties only, as Node
 * copies them. At `timeout` or `maxBuffer` the emulation does what Node's spawnSync does: it
 * records the error, sends `killSignal`, and closes its ends of the pipes at once, so neither
 * a child that keeps writing nor a grandchild that holds a pipe keeps the call going.
 *
 * Outside a greenlet every call goes to Node's original untouched, and so does a sync call made
 * by code under `node_modules` (see `keepsNodeBehaviour` in src/patched-call.ts); spawn, exec,
 * execFile and fork are not wrapped at all. A greenlet killed or timed out while its child runs
 * kills the child with `killSignal`.
 */
import type { ChildProcess, SpawnSyncReturns } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { getcurrent } from '../src/hub.js';
import { toOp } from '../src/op.js';
import { PatchedCall, keepsNodeBehaviour, runNodeBlocking, showArg, type Outcome } from '../src/patched-call.js';
import { describeValue } from '../src/arg-checks.js';
import { holdChild } from '../src/subprocess.js';
import { nodeSetTimeout, nodeClearTimeout } from '../src/originals.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/patch-spec.js';

type Spawn = (file: string, args: unknown, options: AnyOptions) => ChildProcess;
type AnyOptions = Record<string, any>;

/** spawnSync's default maxBuffer (1 MiB), which its async emulation must enforce too. */
const MAX_BUFFER = 1024 * 1024;

/** The longest delay Node's setTimeout keeps as given (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 0x7fffffff;

/** A sync call's arguments once read as Node reads them. `args` is left for spawn to check. */
interface SyncForm {
  file: string;
  args: unknown;
  /** An own-property, null-prototype copy, with spawnSync's default maxBuffer under it. */
  options: AnyOptions;
}

/** A TypeError with Node's code for a wrong argument type, so callers can test `err.code`. */
function argTypeError(name: string, expected: string, got: unknown): TypeError {
  const err = new TypeError(`The "${name}" argument must be ${expected}, got ${describeValue(got)}`);
  (err as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

function outOfRange(name: string, expected: string, got: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${String(got)}`);
  (err as NodeJS.ErrnoException).code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** Node's validateObject for `options`: an object, not null, not an array, not a function. */
function checkOptionsObject(o: unknown): asserts o is object {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw argTypeError('options', 'of type object', o);
}

/**
 * spawnSync(file, args?, options?) as Node's normalizeSpawnArguments reads it: an array is the
 * argument list; `null`/`undefined` mean no arguments and keep the options after them; any
 * other object in the args place is the options. A non-object `args` goes on to spawn, which
 * rejects it with Node's own error.
 */
function spawnSyncForm(file: unknown, args: unknown, options: unknown): SyncForm {
  if (args != null && typeof args === 'object' && !Array.isArray(args)) {
    options = args;
    args = [];
  } else if (args == null) {
    args = [];
  }
  if (options !== undefined) checkOptionsObject(options);
  // Own properties only (prototype pollution is never an option), spawnSync's default underneath.
  return { file: file as string, args, options: { __proto__: null, maxBuffer: MAX_BUFFER, ...(options as object) } };
}

/** execFileSync(file, args?, options?) as Node's normalizeExecFileArgs reads it. */
function execFileSyncForm(file: unknown, args: unknown, options: unknown): SyncForm {
  if (Array.isArray(args)) {
    args = args.slice();
  } else if (args != null && typeof args === 'object') {
    options = args;
    args = null;
  } else if (typeof args === 'function') {
    options = null;
    args = null;
  }
  if (args == null) args = [];
  if (options != null) checkOptionsObject(options);
  return spawnSyncForm(file, args, options ?? undefined);
}

/** execSync(command, options?) as Node's normalizeExecArgs reads it: a shell runs `command`. */
function execSyncForm(command: unknown, options: unknown): SyncForm {
  if (typeof command !== 'string') throw argTypeError('command', 'of type string', command);
  const own: AnyOptions = { __proto__: null, ...(typeof options === 'function' ? undefined : (options as object)) };
  own.shell = typeof own.shell === 'string' ? own.shell : true;
  return spawnSyncForm(command, [], own);
}

/** Node's checks of the options only spawnSync reads (spawn checks the rest itself). */
function checkSyncOptions(o: AnyOptions): void {
  const { timeout, maxBuffer, input } = o;
  if (timeout != null && !(Number.isInteger(timeout) && timeout >= 0)) throw outOfRange('timeout', 'an unsigned integer', timeout);
  if (maxBuffer != null && !(typeof maxBuffer === 'number' && maxBuffer >= 0)) {
    throw outOfRange('options.maxBuffer', 'a positive number', maxBuffer);
  }
  if (input && typeof input !== 'string' && !ArrayBuffer.isView(input)) {
    throw argTypeError('options.stdio[0]', 'a Buffer, TypedArray, DataView or string', input);
  }
  const stdio = o.stdio;
  if (Array.isArray(stdio) && stdio.includes('ipc')) {
    const err = new Error('IPC cannot be used with synchronous forks');
    (err as NodeJS.ErrnoException).code = 'ERR_IPC_SYNC_FORK';
    throw err;
  }
}

/** The error spawnSync puts in `result.error`: syscall 'spawnSync <file>', argv after the file. */
function spawnSyncError(code: string, file: string, argv: string[]): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException & { spawnargs?: string[] } = new Error(`spawnSync ${file} ${code}`);
  err.errno = -((constants.errno as Record<string, number>)[code] ?? 0);
  err.code = code;
  err.syscall = `spawnSync ${file}`;
  err.path = file;
  err.spawnargs = argv.slice(1);
  return err;
}

function syncError(code: string, child: ChildProcess): NodeJS.ErrnoException {
  return spawnSyncError(code, child.spawnfile, child.spawnargs);
}

/** What one run has read so far, and the error that stopped it (the first one counts). */
interface Collected {
  chunks: (Buffer[] | null)[];
  total: number;
  error: NodeJS.ErrnoException | null;
}

function decode(buffers: Buffer[] | null, encoding: unknown): Buffer | string | null {
  if (buffers === null) return null;
  const b = Buffer.concat(buffers);
  return encoding && encoding !== 'buffer' ? b.toString(encoding as BufferEncoding) : b;
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
function failedResult(file: string, argv: string[], code: string): SpawnSyncReturns<Buffer> {
  const error = spawnSyncError(code, file, argv);
  return { error, status: null, signal: null, output: null, pid: 0, stdout: null, stderr: null } as unknown as SpawnSyncReturns<Buffer>;
}

/** spawnSync's stdio as an array of three or more; unset entries are pipes, as in Node. */
function syncStdio(stdio: unknown): unknown[] {
  const list: unknown[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.isArray(stdio) ? [...stdio] : [];
  while (list.length < 3) list.push(undefined);
  return list.map((s, i) => (s == null ? (i < 3 ? 'pipe' : 'ignore') : s));
}

/** The whole of spawnSync's emulation for one call: spawn, collect, stop, deliver. */
class SyncRun {
  private readonly got: Collected;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly child: ChildProcess,
    private readonly o: AnyOptions,
    private readonly out: Outcome<SpawnSyncReturns<any>>,
  ) {
    this.got = { chunks: child.stdio.map(() => null), total: 0, error: null };
  }

  start(): void {
    const { child, o } = this;
    if (typeof o.timeout === 'number' && o.timeout > 0) this.arm(o.timeout);
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill of a live child, not a failed start
      this.clearTimer();
      this.out.ok(failedResult(child.spawnfile, child.spawnargs, err.code ?? 'UNKNOWN'));
    });
    child.stdio.forEach((stream, fd) => {
      if (fd !== 0 && stream != null && typeof (stream as { read?: unknown }).read === 'function') this.collect(stream as NodeJS.ReadableStream, fd);
    });
    child.on('close', (status: number | null, signal: NodeJS.Signals | null) => {
      this.clearTimer();
      if (child.pid === undefined) return;
      let result: SpawnSyncReturns<any>;
      try {
        result = buildResult(child, this.got, status, signal, o.encoding);
      } catch (e) {
        this.out.fail(e); // an unknown encoding: spawnSync throws it once the child is done, so do we
        return;
      }
      this.out.ok(result);
    });
    this.feedInput();
  }

  /** Collects one output pipe; past maxBuffer (a number > 0, counted over every pipe) it stops. */
  private collect(stream: NodeJS.ReadableStream, fd: number): void {
    const list: Buffer[] = (this.got.chunks[fd] = []);
    const limit = typeof this.o.maxBuffer === 'number' && this.o.maxBuffer > 0 ? this.o.maxBuffer : Infinity;
    stream.on('data', (data: Buffer | string) => {
      if (this.stopped) return;
      // Node's stream reads `encoding` through the prototype: polluted, it hands us strings.
      const chunk = typeof data === 'string' ? Buffer.from(data, (stream as Readable).readableEncoding ?? 'utf8') : data;
      list.push(chunk); // Node keeps the read that went over, too
      this.got.total += chunk.length;
      if (this.got.total > limit) this.stop('ENOBUFS');
    });
  }

  private feedInput(): void {
    const stdin = this.child.stdin;
    if (stdin === null) return;
    stdin.on('error', ignore); // a child that exits without reading its input: EPIPE is not ours to report
    const input = this.o.input;
    if (input) stdin.end(input as string | Buffer);
    else stdin.end();
  }

  /**
   * What Node's spawnSync does at a timeout or maxBuffer (SyncProcessRunner::Kill): keep the
   * first error, signal the child once, close every pipe so nothing more is read and nothing
   * that holds the other end (a grandchild) can keep the call going; then wait for the exit.
   */
  stop(code: string | null): void {
    if (this.stopped) return;
    this.stopped = true;
    if (code !== null && this.got.error === null) this.got.error = syncError(code, this.child);
    this.clearTimer();
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(this.o.killSignal ?? 'SIGTERM');
      } catch {
        child.kill('SIGKILL'); // Node does the same when the signal cannot be sent
      }
    }
    for (const s of child.stdio) (s as { destroy?: () => void } | null)?.destroy?.();
  }

  /**
   * Node's setTimeout turns a delay past 2^31-1 ms into 1 ms; spawnSync's libuv timer does
   * not. A long timeout is therefore armed in steps.
   */
  private arm(ms: number): void {
    const step = Math.min(ms, MAX_TIMER_MS);
    this.timer = nodeSetTimeout(() => (ms > step ? this.arm(ms - step) : this.stop('ETIMEDOUT')), step);
  }

  private clearTimer(): void {
    if (this.timer !== null) nodeClearTimeout(this.timer);
    this.timer = null;
  }
}

function ignore(): void {}

/** Runs a normalized sync call with the original spawn and delivers spawnSync's result to `out`. */
function runSync(spawn: Spawn, form: SyncForm, out: Outcome<SpawnSyncReturns<any>>): (() => void) | void {
  const o = form.options;
  checkSyncOptions(o);
  // timeout, maxBuffer and input are enforced here; `signal` is not a spawnSync option.
  const { timeout: _t, maxBuffer: _m, input: _i, encoding: _e, signal: _s, ...rest } = o;
  let child: ChildProcess;
  try {
    child = spawn(form.file, form.args, { __proto__: null, ...rest, stdio: syncStdio(o.stdio) });
  } catch (e) {
    // A start that fails with an errno (EACCES, EAGAIN, ...) is in result.error for spawnSync.
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.errno === 'number' && typeof err.syscall === 'string' && err.syscall.startsWith('spawn')) {
      out.ok(failedResult(form.file, [form.file, ...(form.args as string[])], err.code ?? 'UNKNOWN'));
      return;
    }
    throw e;
  }
  holdChild(child);
  const run = new SyncRun(child, o, out);
  run.start();
  return () => run.stop(null);
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

function spawnSyncCall(spawn: Spawn, label: string, form: SyncForm) {
  return new PatchedCall<SpawnSyncReturns<any>>(label, (out) => runSync(spawn, form, out), ['child_process', 'spawnSync']);
}

/** An Op that runs spawnSync's emulation, then maps its result as execSync/execFileSync do. */
function execCall(spawn: Spawn, name: string, label: string, form: SyncForm, command: string) {
  const finishOut = (out: Outcome<unknown>): Outcome<SpawnSyncReturns<any>> => ({
    ok: (ret) => {
      let value: unknown;
      try {
        value = finishExec(ret, form.options, command);
      } catch (e) {
        out.fail(e);
        return;
      }
      out.ok(value);
    },
    fail: (e) => out.fail(e),
  });
  return new PatchedCall<unknown>(label, (out) => runSync(spawn, form, finishOut(out)), ['child_process', name]);
}

function label(name: string, args: ArrayLike<unknown>): string {
  return `${name}(${Array.from(args, showArg).join(', ')})`;
}

function makeWrappers(cp: typeof import('node:child_process')) {
  // Captured when the patch is applied, before anyone else can replace spawn.
  const spawn = cp.spawn as unknown as Spawn;
  return {
    spawnSync: (original: Function) =>
      function spawnSync(this: unknown, file: string, a?: unknown, o?: unknown) {
        if (getcurrent() === null) return original.apply(this, arguments);
        if (keepsNodeBehaviour(spawnSync)) return runNodeBlocking(label('spawnSync', arguments), original, this, arguments);
        return spawnSyncCall(spawn, label('spawnSync', arguments), spawnSyncForm(file, a, o));
      },
    execFileSync: (original: Function) =>
      function execFileSync(this: unknown, file: string, a?: unknown, o?: unknown) {
        if (getcurrent() === null) return original.apply(this, arguments);
        if (keepsNodeBehaviour(execFileSync)) return runNodeBlocking(label('execFileSync', arguments), original, this, arguments);
        const form = execFileSyncForm(file, a, o);
        const args = Array.isArray(form.args) ? form.args : [];
        const command = [form.options.argv0 || file, ...args].join(' ');
        return execCall(spawn, 'execFileSync', label('execFileSync', arguments), form, command);
      },
    execSync: (original: Function) =>
      function execSync(this: unknown, command: string, o?: unknown) {
        if (getcurrent() === null) return original.apply(this, arguments);
        if (keepsNodeBehaviour(execSync)) return runNodeBlocking(label('execSync', arguments), original, this, arguments);
        return execCall(spawn, 'execSync', label('execSync', arguments), execSyncForm(command, o), command);
      },
  };
}

/** The error Node gave (or would have given) a child that could not start, rebuilt from its exit code. */
function startError(child: ChildProcess): NodeJS.ErrnoException {
  const errno = child.exitCode as number;
  const code = getSystemErrorName(errno);
  const err: NodeJS.ErrnoException & { spawnargs?: string[] } = new Error(`spawn ${child.spawnfile} ${code}`);
  err.errno = errno;
  err.code = code;
  err.syscall = `spawn ${child.spawnfile}`;
  err.path = child.spawnfile;
  err.spawnargs = child.spawnargs.slice(1);
  return err;
}

/** True for a child whose start failed: Node leaves it without a pid, its exitCode a negative errno. */
function failedToStart(child: ChildProcess): boolean {
  return child.pid === undefined && typeof child.exitCode === 'number' && child.exitCode < 0;
}

/**
 * `yield child`: waits for a ChildProcess to exit, giving `{ code, signal }`; a child that could
 * not start (ENOENT, EACCES) throws its spawn error at the yield instead.
 */
function childExit(this: ChildProcess) {
  const child = this;
  return new PatchedCall<{ code: number | null; signal: NodeJS.Signals | null }>(`ChildProcess(${showArg(child.spawnfile)})`, (out) => {
    if (failedToStart(child)) return out.fail(startError(child));
    if (child.exitCode !== null || child.signalCode !== null) return out.ok({ code: child.exitCode, signal: child.signalCode });
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => out.ok({ code, signal });
    const onError = (err: Error) => {
      if (child.pid === undefined) out.fail(err); // a failed start; a failed kill() of a live child is not ours
    };
    child.once('exit', onExit);
    child.on('error', onError);
    return () => {
      child.off('exit', onExit);
      // A start error still to come would crash the process if nobody listened: the caller asked
      // to wait for this child, so it stays handled (and ignored) after the wait is cancelled.
      if (child.pid !== undefined) child.off('error', onError);
      else {
        child.off('error', onError);
        child.once('error', ignore);
      }
    };
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
