/**
 * gevent's `subprocess`: Python's Popen API on Node's own `child_process.spawn` (captured at
 * load, so a monkey patch never reaches it). Waiting for a child parks only the calling
 * greenlet. A greenlet killed, or hit by a gevent `Timeout`, while it waits on a child kills
 * the child (SIGKILL) and waits for it to be reaped before dying, so no child is orphaned.
 * Output on pipes is collected as it arrives, so `communicate()` after a `TimeoutExpired`
 * loses nothing.
 *
 * @example
 * import { run } from 'geventjs';
 * import { Popen, PIPE } from 'geventjs/subprocess';
 * await run(function* () {
 *   const p = new Popen(['sleep 0.1; uname'], { stdout: PIPE, shell: true, text: true });
 *   const [out] = yield* p.communicate();
 *   console.log(out.trim()); // 'Linux'
 * });
 */
import * as childProcess from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { Event } from './event.js';
import { describeValue } from './arg-checks.js';
import { Op, checkTimeout, opFrom } from './op.js';

// Captured at load: the monkey patch later wraps functions on this shared module.
const nodeSpawn = childProcess.spawn;

/**
 * Connect the stream to a pipe the parent reads or writes (`p.stdout`, `p.stdin`, ...).
 *
 * @example
 * new Popen(['ls'], { stdout: PIPE });
 */
export const PIPE = -1;
/**
 * For `stderr` only: send it where `stdout` goes.
 *
 * @example
 * new Popen(['sh', '-c', 'echo err >&2'], { stdout: PIPE, stderr: STDOUT });
 */
export const STDOUT = -2;
/**
 * Connect the stream to /dev/null.
 *
 * @example
 * new Popen(['ls'], { stdout: DEVNULL });
 */
export const DEVNULL = -3;

/**
 * Where one of the child's streams goes: a constant above, a file descriptor, a stream, or
 * inherit (undefined/null).
 *
 * @example
 * const toLog: StdioSpec = fs.openSync('/tmp/child.log', 'w');
 */
export type StdioSpec = typeof PIPE | typeof STDOUT | typeof DEVNULL | number | Readable | Writable | null | undefined;

/**
 * Popen's options (Python's keyword arguments).
 *
 * @example
 * const opts: PopenOptions = { stdout: PIPE, cwd: '/tmp', text: true };
 */
export interface PopenOptions {
  stdin?: StdioSpec;
  stdout?: StdioSpec;
  stderr?: StdioSpec;
  /** Run through /bin/sh: `args` is then a command line (a string, or an array whose items are joined with spaces). */
  shell?: boolean | string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Decode output as UTF-8 strings (and accept string input). */
  text?: boolean;
  /** Decode output with this encoding (implies text). */
  encoding?: BufferEncoding;
}

/**
 * Output as the options ask for it: strings with `text`/`encoding`, else Buffers.
 *
 * @example
 * const [out]: [Output | null, Output | null] = yield* p.communicate();
 */
export type Output = Buffer | string;

/**
 * Base class of the errors this module raises itself.
 *
 * @example
 * try { yield* checkCall(['false']); } catch (e) { e instanceof SubprocessError; } // true
 */
export class SubprocessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubprocessError';
  }
}

/**
 * A wait on a child ran out of time (`{ timeout }`). The child is left running by `wait` and
 * `communicate` (kill it and call `communicate()` again to get the rest); `run`, `call` and
 * friends kill it first.
 *
 * @example
 * try { yield* p.wait({ timeout: 0.1 }); } catch (e) { if (e instanceof TimeoutExpired) p.kill(); }
 */
export class TimeoutExpired extends SubprocessError {
  constructor(
    readonly cmd: string | string[],
    readonly timeout: number,
    readonly output: Output | null = null,
    readonly stderr: Output | null = null,
  ) {
    super(`Command ${JSON.stringify(cmd)} timed out after ${timeout} seconds`);
    this.name = 'TimeoutExpired';
  }

  /** Python's alias of `output`. */
  get stdout(): Output | null {
    return this.output;
  }
}

/**
 * A child checked with `check`/`checkCall`/`checkOutput` exited with a non-zero status.
 *
 * @example
 * try { yield* checkCall(['false']); } catch (e) { (e as CalledProcessError).returncode; } // 1
 */
export class CalledProcessError extends SubprocessError {
  constructor(
    readonly returncode: number,
    readonly cmd: string | string[],
    readonly output: Output | null = null,
    readonly stderr: Output | null = null,
  ) {
    super(
      returncode < 0
        ? `Command ${JSON.stringify(cmd)} died with signal ${-returncode}`
        : `Command ${JSON.stringify(cmd)} returned non-zero exit status ${returncode}`,
    );
    this.name = 'CalledProcessError';
  }

  /** Python's alias of `output`. */
  get stdout(): Output | null {
    return this.output;
  }
}

/**
 * The program could not be found (Python's FileNotFoundError): thrown at the first wait on a
 * child whose command does not exist. It keeps Node's fields: `code` 'ENOENT', `errno`,
 * `syscall`, `path`.
 *
 * @example
 * try { yield* call(['no-such-program']); } catch (e) { (e as FileNotFoundError).code; } // 'ENOENT'
 */
export class FileNotFoundError extends Error {
  readonly code = 'ENOENT';
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;
  constructor(cause: NodeJS.ErrnoException) {
    super(`${cause.message}: no such program or cwd; check the command name, PATH and cwd (or pass shell: true for a command line)`);
    this.name = 'FileNotFoundError';
    this.errno = cause.errno;
    this.syscall = cause.syscall;
    this.path = cause.path;
  }
}

/** Output collected from one pipe as it arrives. */
class Collected {
  chunks: Buffer[] = [];
  /** Set when the pipe reached EOF (or there is no pipe). */
  readonly ended = new Event();

  take(encoding: BufferEncoding | undefined): Output {
    const b = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    return encoding ? b.toString(encoding) : b;
  }
}

/**
 * The read end of a child's output pipe (`p.stdout`, `p.stderr`).
 *
 * @example
 * const p = new Popen(['echo', 'hi'], { stdout: PIPE, text: true });
 * yield* p.stdout!.read(); // 'hi\n'
 */
export class PipeReader {
  /** @internal */
  constructor(
    private readonly collected: Collected,
    private readonly encoding: BufferEncoding | undefined,
  ) {}

  /**
   * Everything the child writes on this pipe, once it closes it (Python's `read()`).
   *
   * @example
   * const all = yield* p.stdout!.read();
   */
  read(): Op<Output> {
    const c = this.collected;
    const encoding = this.encoding;
    return opFrom(function* () {
      yield* c.ended.wait();
      const out = c.take(encoding);
      c.chunks = [];
      return out;
    }, 'PipeReader.read()');
  }
}

/**
 * The write end of a child's stdin pipe (`p.stdin`).
 *
 * @example
 * const p = new Popen(['cat'], { stdin: PIPE, stdout: PIPE });
 * p.stdin!.write('hello'); p.stdin!.close();
 */
export class PipeWriter {
  /** @internal */
  constructor(private readonly stream: Writable) {
    // A child that exits without reading its input gives EPIPE: Python ignores it in communicate.
    stream.on('error', ignore);
  }

  /**
   * Queues `data` for the child (Node buffers it; the child reads at its own pace).
   *
   * @example
   * p.stdin!.write(Buffer.from('x'));
   */
  write(data: string | Uint8Array): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`PipeWriter.write(data) needs a string or a Buffer, got ${describeValue(data)}`);
    }
    this.stream.write(data);
  }

  /**
   * Closes the pipe: the child sees EOF.
   *
   * @example
   * p.stdin!.close();
   */
  close(): void {
    this.stream.end();
  }
}

function ignore(): void {}

/**
 * Options of the waits that take a time limit (seconds; null or left out for none).
 *
 * @example
 * yield* p.wait({ timeout: 2.5 });
 */
export interface TimeoutOption {
  timeout?: number | null;
}

function stdioOf(spec: StdioSpec, which: string): 'pipe' | 'ignore' | 'inherit' | number | Readable | Writable {
  if (spec === undefined || spec === null) return 'inherit';
  if (spec === PIPE) return 'pipe';
  if (spec === DEVNULL) return 'ignore';
  if (typeof spec === 'number' && Number.isInteger(spec) && spec >= 0) return spec;
  if (typeof spec === 'object' && typeof (spec as { pipe?: unknown }).pipe === 'function') return spec;
  if (typeof spec === 'object' && typeof (spec as { write?: unknown }).write === 'function') return spec;
  if (spec === STDOUT) throw new RangeError(`Popen: ${which}: STDOUT is only allowed for stderr`);
  throw new TypeError(
    `Popen: ${which} must be PIPE, DEVNULL, a file descriptor or a stream (or undefined to inherit), got ${describeValue(spec)}`,
  );
}

function checkArgs(args: unknown): asserts args is string | string[] {
  if (typeof args === 'string') {
    if (args.length === 0) throw new RangeError('Popen(args): the command is empty; pass e.g. [\'ls\', \'-l\']');
    return;
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new TypeError(`Popen(args) needs an array of strings (or a string), got ${describeValue(args)}; pass e.g. ['ls', '-l']`);
  }
  if (args.length === 0) throw new RangeError('Popen(args): the argument list is empty; pass at least the program, e.g. [\'ls\']');
}

function checkOptions(opts: unknown, what: string): void {
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`${what} must be an options object, got ${describeValue(opts)}; pass e.g. { timeout: 1 }`);
  }
  const timeout = (opts as TimeoutOption).timeout;
  if (timeout !== undefined && timeout !== null) checkTimeout(timeout, `${what}: timeout`);
}

/** Python's returncode: the exit status, or minus the signal number for a signalled child. */
function returncodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? -(constants.signals[signal] ?? 0) : -1;
}

/**
 * A child process (Python's `subprocess.Popen`), started at once with Node's original
 * `child_process.spawn`. Blocking calls (`wait`, `communicate`) are Ops.
 *
 * @example
 * const p = new Popen(['ls', '-l'], { stdout: PIPE, text: true });
 * const [out] = yield* p.communicate();
 * console.log(p.returncode, out);
 */
export class Popen {
  /** The command as given. */
  readonly args: string | string[];
  /** The child's process id (undefined when it could not start). */
  readonly pid: number | undefined;
  /** The exit status; minus the signal number if a signal ended it; null while it runs. */
  returncode: number | null = null;
  /** Write end of its stdin when `stdin: PIPE`. */
  readonly stdin: PipeWriter | null = null;
  /** Read end of its stdout when `stdout: PIPE`. */
  readonly stdout: PipeReader | null = null;
  /** Read end of its stderr when `stderr: PIPE`. */
  readonly stderr: PipeReader | null = null;
  /** The Node ChildProcess underneath. */
  readonly child: ChildProcess;

  private readonly exited = new Event();
  private readonly out: Collected | null = null;
  private readonly err: Collected | null = null;
  private spawnError: Error | null = null;
  private readonly encoding: BufferEncoding | undefined;

  constructor(args: string | string[], opts: PopenOptions = {}) {
    checkArgs(args);
    checkOptions(opts, 'Popen(args, opts)');
    this.args = args;
    this.encoding = opts.encoding ?? (opts.text ? 'utf8' : undefined);
    const mergeErr = opts.stderr === STDOUT;
    const stdoutSpec = stdioOf(opts.stdout, 'stdout');
    const stdio: StdioOptions = [
      stdioOf(opts.stdin, 'stdin'),
      stdoutSpec,
      // 2>&1 onto a pipe: give stderr its own pipe and collect it into stdout's buffer.
      mergeErr ? (stdoutSpec === 'pipe' ? 'pipe' : stdoutSpec) : stdioOf(opts.stderr, 'stderr'),
    ];
    const [file, argv] = typeof args === 'string' ? [args, []] : [args[0], args.slice(1)];
    const child = nodeSpawn(file, argv, { stdio, shell: opts.shell, cwd: opts.cwd, env: opts.env });
    this.child = child;
    this.pid = child.pid;
    child.once('error', (e: NodeJS.ErrnoException) => this.onSpawnError(e));
    child.once('exit', (code, signal) => this.onExit(code, signal));
    if (child.stdin) this.stdin = new PipeWriter(child.stdin);
    if (child.stdout) {
      this.out = collect(child.stdout);
      this.stdout = new PipeReader(this.out, this.encoding);
    }
    if (child.stderr) {
      this.err = mergeErr && this.out ? collect(child.stderr, this.out, false) : collect(child.stderr);
      if (!mergeErr) this.stderr = new PipeReader(this.err, this.encoding);
    }
  }

  private onSpawnError(e: NodeJS.ErrnoException): void {
    // 'error' also reports a failed kill() of a live child; only a child that never started matters here.
    if (this.pid !== undefined) return;
    this.spawnError = e.code === 'ENOENT' ? new FileNotFoundError(e) : e;
    this.returncode = 255;
    this.out?.ended.set();
    this.err?.ended.set();
    this.exited.set();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.returncode = returncodeOf(code, signal);
    this.exited.set();
  }

  /**
   * The returncode if the child has exited, else null; never blocks.
   *
   * @example
   * if (p.poll() === null) console.log('still running');
   */
  poll(): number | null {
    return this.exited.isSet() ? this.returncode : null;
  }

  /**
   * Waits for the child to exit and gives its returncode. With `{ timeout }` (seconds) it
   * throws TimeoutExpired and leaves the child running.
   *
   * @example
   * const rc = yield* p.wait({ timeout: 5 });
   */
  wait(opts: TimeoutOption = {}): Op<number> {
    checkOptions(opts, 'Popen.wait(opts)');
    const self = this;
    return opFrom(function* () {
      yield* self.waitFor(self.exited, opts.timeout);
      return self.finish();
    }, 'Popen.wait()');
  }

  /**
   * Sends `input` (if given) to stdin and closes it, then waits for the child to exit and its
   * pipes to close; gives `[stdout, stderr]` (null for a stream that is not a PIPE). With
   * `{ timeout }` it throws TimeoutExpired, leaves the child running and keeps the output so
   * far: call `communicate()` again (after `kill()`, say) to get all of it.
   *
   * @example
   * const [out, err] = yield* p.communicate('some input', { timeout: 10 });
   */
  communicate(input?: string | Uint8Array | null, opts: TimeoutOption = {}): Op<[Output | null, Output | null]> {
    checkOptions(opts, 'Popen.communicate(input, opts)');
    this.sendInput(input);
    const self = this;
    return opFrom(function* () {
      const deadline = opts.timeout == null ? null : Date.now() + opts.timeout * 1000;
      const left = () => (deadline === null ? null : Math.max(0, deadline - Date.now()) / 1000);
      if (self.out) yield* self.waitFor(self.out.ended, left(), opts.timeout);
      if (self.err) yield* self.waitFor(self.err.ended, left(), opts.timeout);
      yield* self.waitFor(self.exited, left(), opts.timeout);
      self.finish();
      return self.takeOutput();
    }, 'Popen.communicate()');
  }

  private sendInput(input: string | Uint8Array | null | undefined): void {
    if (input === undefined || input === null) {
      if (this.stdin) this.stdin.close();
      return;
    }
    if (!this.stdin) throw new RangeError('Popen.communicate(input): the child has no stdin pipe; create it with { stdin: PIPE }');
    this.stdin.write(input);
    this.stdin.close();
  }

  private takeOutput(): [Output | null, Output | null] {
    const out = this.out ? this.out.take(this.encoding) : null;
    const err = this.err && this.stderr ? this.err.take(this.encoding) : null;
    return [out, err];
  }

  /** Throws what a finished child leaves to throw (a spawn failure), else gives the returncode. */
  private finish(): number {
    if (this.spawnError) throw this.spawnError;
    return this.returncode!;
  }

  /**
   * Waits for `ev`; an own timeout throws TimeoutExpired (child left running); any other
   * interruption (a kill, a gevent Timeout) kills the child and waits for it to be reaped first.
   */
  private *waitFor(ev: Event, timeout: number | null | undefined, shownTimeout = timeout): Generator<unknown, void, unknown> {
    let set: boolean;
    try {
      set = yield* ev.wait({ timeout });
    } catch (e) {
      yield* this.reap();
      throw e;
    }
    if (!set) {
      const partial = this.out || this.err ? this.takePartial() : [null, null];
      throw new TimeoutExpired(this.args, shownTimeout ?? 0, partial[0], partial[1]);
    }
  }

  private takePartial(): [Output | null, Output | null] {
    const enc = this.encoding;
    const copy = (c: Collected | null) => (c ? (enc ? Buffer.concat(c.chunks).toString(enc) : Buffer.concat(c.chunks)) : null);
    return [copy(this.out), this.stderr ? copy(this.err) : null];
  }

  /** Kills a child that still runs and waits until Node has reaped it (its pid is gone). */
  private *reap(): Generator<unknown, void, unknown> {
    if (this.exited.isSet()) return;
    this.child.kill('SIGKILL');
    yield* this.exited.wait();
  }

  /**
   * Sends `signal` (a name like 'SIGTERM' or a number) to the child, if it still runs.
   *
   * @example
   * p.sendSignal('SIGUSR1');
   */
  sendSignal(signal: NodeJS.Signals | number): void {
    if (typeof signal !== 'string' && typeof signal !== 'number') {
      throw new TypeError(`Popen.sendSignal(signal) needs a signal name or number, got ${describeValue(signal)}; pass e.g. 'SIGTERM'`);
    }
    if (typeof signal === 'string' && !(signal in constants.signals)) {
      throw new RangeError(`Popen.sendSignal(signal): unknown signal ${JSON.stringify(signal)}; pass e.g. 'SIGTERM'`);
    }
    if (this.exited.isSet()) return;
    this.child.kill(signal);
  }

  /**
   * Asks the child to stop (SIGTERM).
   *
   * @example
   * p.terminate(); yield* p.wait(); // p.returncode === -15
   */
  terminate(): void {
    this.sendSignal('SIGTERM');
  }

  /**
   * Kills the child (SIGKILL).
   *
   * @example
   * p.kill(); yield* p.wait(); // p.returncode === -9
   */
  kill(): void {
    this.sendSignal('SIGKILL');
  }
}

/** Collects a pipe's bytes into `into` (its own Collected by default) and marks EOF. */
function collect(stream: Readable, into = new Collected(), marksEnd = true): Collected {
  stream.on('data', (chunk: Buffer) => into.chunks.push(chunk));
  if (marksEnd) stream.once('close', () => into.ended.set());
  return into;
}

/**
 * Options of `run` (and `call`, `checkCall`, `checkOutput`): Popen's plus Python's own.
 *
 * @example
 * yield* run(['cat'], { input: 'hi', captureOutput: true, check: true, timeout: 5 });
 */
export interface RunOptions extends PopenOptions {
  /** Sent to the child's stdin (which becomes a pipe). */
  input?: string | Uint8Array | null;
  /** Capture stdout and stderr (as PIPE). */
  captureOutput?: boolean;
  /** Throw CalledProcessError on a non-zero returncode. */
  check?: boolean;
  /** Seconds; when it runs out the child is killed, reaped, and TimeoutExpired is thrown. */
  timeout?: number | null;
}

/**
 * What `run` gives: the command, its returncode and the output it captured.
 *
 * @example
 * const r: CompletedProcess = yield* run(['true']);
 * r.returncode; // 0
 */
export class CompletedProcess {
  constructor(
    readonly args: string | string[],
    readonly returncode: number,
    readonly stdout: Output | null = null,
    readonly stderr: Output | null = null,
  ) {}

  /**
   * Throws CalledProcessError if the returncode is not zero.
   *
   * @example
   * (yield* run(['false'])).checkReturncode(); // throws
   */
  checkReturncode(): void {
    if (this.returncode !== 0) throw new CalledProcessError(this.returncode, this.args, this.stdout, this.stderr);
  }
}

/**
 * Runs a command, waits for it, and gives a CompletedProcess (Python's `subprocess.run`).
 * On `{ timeout }` the child is killed and reaped before TimeoutExpired is thrown.
 *
 * @example
 * const r = yield* run(['echo', 'hi'], { captureOutput: true, text: true });
 * r.stdout; // 'hi\n'
 */
export function run(args: string | string[], opts: RunOptions = {}): Op<CompletedProcess> {
  checkOptions(opts, 'run(args, opts)');
  if (opts.captureOutput && (opts.stdout != null || opts.stderr != null)) {
    throw new RangeError('run(args, opts): captureOutput cannot be combined with stdout or stderr; pass one or the other');
  }
  const popenOpts: PopenOptions = opts.captureOutput ? { ...opts, stdout: PIPE, stderr: PIPE } : opts;
  if (opts.input != null) popenOpts.stdin = PIPE;
  checkArgs(args);
  return opFrom(function* () {
    // Started here, at the yield, so an Op that is never run starts no child.
    const p = new Popen(args, popenOpts);
    let out: [Output | null, Output | null];
    try {
      out = yield* p.communicate(opts.input, { timeout: opts.timeout });
    } catch (e) {
      if (e instanceof TimeoutExpired) {
        p.kill();
        yield* p.wait(); // reap it before reporting
      }
      throw e;
    }
    const done = new CompletedProcess(args, p.returncode!, out[0], out[1]);
    if (opts.check) done.checkReturncode();
    return done;
  }, 'run()');
}

/**
 * Runs a command and gives its returncode (Python's `subprocess.call`).
 *
 * @example
 * const rc = yield* call(['true']); // 0
 */
export function call(args: string | string[], opts: RunOptions = {}): Op<number> {
  checkOptions(opts, 'call(args, opts)');
  if (opts.timeout == null && opts.input == null) {
    return opFrom(function* () {
      return yield* new Popen(args, opts).wait();
    }, 'call()');
  }
  const r = run(args, opts);
  return opFrom(function* () {
    return (yield* r).returncode;
  }, 'call()');
}

/**
 * Runs a command; throws CalledProcessError unless it exits with 0.
 *
 * @example
 * yield* checkCall(['mkdir', '-p', '/tmp/x']);
 */
export function checkCall(args: string | string[], opts: RunOptions = {}): Op<0> {
  const r = run(args, { ...opts, check: true });
  return opFrom(function* () {
    yield* r;
    return 0 as const;
  }, 'checkCall()');
}

/**
 * Runs a command and gives its stdout; throws CalledProcessError (with the output) unless it
 * exits with 0.
 *
 * @example
 * const out = yield* checkOutput(['uname'], { text: true }); // 'Linux\n'
 */
export function checkOutput(args: string | string[], opts: RunOptions = {}): Op<Output> {
  const r = run(args, { ...opts, stdout: PIPE, check: true });
  return opFrom(function* () {
    return (yield* r).stdout!;
  }, 'checkOutput()');
}
