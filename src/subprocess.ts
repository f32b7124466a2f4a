/**
 * gevent's `subprocess`: Python's Popen API on Node's own `child_process.spawn` (captured at
 * load, so a monkey patch never reaches it). Waiting for a child parks only the calling
 * greenlet. A greenlet killed, or hit by a gevent `Timeout`, while it waits on a child kills
 * the child (SIGKILL) and waits for it to be reaped before dying, so no child is orphaned.
 * Output on pipes is collected as it arrives, up to PIPE_BUFFER_LIMIT bytes per pipe: past it
 * the pipe is no longer read, so a child that writes more than anyone reads blocks in its write,
 * as it would under Python (the parent's memory stays bounded). `communicate()` and `read()`
 * read on to the end, and `communicate()` after a `TimeoutExpired` loses nothing. Options are
 * read as own properties only (a `shell` planted on Object.prototype is never an option).
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
import { constants as bufferConstants } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { Event } from './event.js';
import { checkTimeout, describeValue, ownOptions } from './arg-checks.js';
import { holdProcess, releaseProcess, type Refable } from './keep-alive.js';
import { Op, opFrom, untrack } from './op.js';
import { now } from './originals.js';
import { Timeout } from './timeout.js';

// Captured at load: the monkey patch later wraps functions on this shared module.
const nodeSpawn = childProcess.spawn;

/**
 * Registers a child geventjs started for a greenlet with the keep-alive registry: once every
 * `run()` root has settled it no longer holds the process open. Its pipes are sockets with
 * their own hold on the event loop, so they are switched with it. Released at 'close' (or a
 * failed start).
 *
 * @example
 * const child = nodeSpawn(file, args, options);
 * holdChild(child);
 */
export function holdChild(child: ChildProcess): void {
  const handle: Refable = {
    ref() {
      child.ref();
      for (const s of child.stdio) (s as { ref?: () => void } | null)?.ref?.();
    },
    unref() {
      child.unref();
      for (const s of child.stdio) (s as { unref?: () => void } | null)?.unref?.();
    },
  };
  holdProcess(handle);
  child.once('close', () => releaseProcess(handle));
  child.once('error', () => {
    if (child.pid === undefined) releaseProcess(handle);
  });
}

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

/**
 * How many bytes a pipe's unread output may hold before the pipe is paused (1 MiB). A paused
 * pipe fills up in the kernel and the child then blocks in its write until someone reads.
 *
 * @example
 * const p = new Popen(['cat', '/dev/zero'], { stdout: PIPE });
 * yield* p.stdout!.read(65536); // at most PIPE_BUFFER_LIMIT (+ one read) is ever buffered
 */
export const PIPE_BUFFER_LIMIT = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Output read from one pipe (or two, for `stderr: STDOUT`) and not yet taken. The pipes are
 * paused while PIPE_BUFFER_LIMIT bytes wait unread and no reader asks for more.
 */
class Collected {
  private chunks: Buffer[] = [];
  /** Bytes buffered. */
  size = 0;
  /** Index of the first chunk still buffered (taken ones before it are dropped lazily). */
  private head = 0;
  /** Bytes at the front already searched for a newline (readline stays linear). */
  private scanned = 0;
  /** Where that search resumes: a chunk index, and the buffered offset at which it starts. */
  private scanIdx = 0;
  private scanPos = 0;
  private readonly sources: Readable[] = [];
  private open = 0;
  /** Greenlets waiting for more than is buffered: while there are any, the pipes flow. */
  private wanting = 0;
  /** Set when every source has closed (there may still be buffered bytes). */
  readonly ended = new Event();
  /** Set on each arrival (and at EOF); waiting readers clear it before they park. */
  private readonly arrived = new Event();

  constructor() {
    this.ended.set(); // until a source is added: no pipe means nothing to read
  }

  add(stream: Readable): void {
    this.sources.push(stream);
    this.open++;
    this.ended.clear();
    // A string means Node's stream picked up an `encoding` (set through a polluted prototype).
    stream.on('data', (chunk: Buffer | string) =>
      this.push(typeof chunk === 'string' ? Buffer.from(chunk, stream.readableEncoding ?? 'utf8') : chunk),
    );
    stream.once('close', () => {
      if (--this.open === 0) this.ended.set();
      this.arrived.set();
    });
  }

  private push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.arrived.set();
    this.regulate();
  }

  /** Pauses the pipes at the limit unless a reader waits for more; resumes them below it. */
  private regulate(): void {
    const flow = this.wanting > 0 || this.size < PIPE_BUFFER_LIMIT;
    for (const s of this.sources) {
      if (flow && s.isPaused()) s.resume();
      else if (!flow && !s.isPaused()) s.pause();
    }
  }

  /** While held (communicate), the pipes flow whatever is buffered: every pipe is read at once. */
  hold(on: boolean): void {
    this.wanting += on ? 1 : -1;
    this.regulate();
  }

  /** Waits until more bytes arrive or the pipes close; the pipes flow meanwhile. */
  *more(): Generator<unknown, void, unknown> {
    this.arrived.clear();
    this.wanting++;
    this.regulate();
    try {
      yield* this.arrived.wait();
    } finally {
      this.wanting--;
      this.regulate();
    }
  }

  /**
   * Offset just past the first newline, or -1. The search resumes at the chunk where the last
   * one stopped, so a long line arriving in many small pieces costs linear time.
   */
  lineEnd(): number {
    const chunks = this.chunks;
    let pos = this.scanPos;
    for (let i = this.scanIdx; i < chunks.length; i++) {
      const c = chunks[i];
      const j = c.indexOf(10, Math.max(0, this.scanned - pos));
      if (j >= 0) return pos + j + 1;
      pos += c.length;
      this.scanIdx = i + 1;
      this.scanPos = pos;
    }
    this.scanned = this.size;
    return -1;
  }

  /** Removes and returns the first `n` bytes (all of them when n >= size). */
  take(n: number): Buffer {
    const chunks = this.chunks;
    let out: Buffer;
    if (n >= this.size) {
      out = chunks.length - this.head === 1 ? chunks[this.head] : Buffer.concat(chunks.slice(this.head), this.size);
      this.chunks = [];
      this.head = 0;
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = chunks[this.head];
        const need = n - off;
        if (c.length <= need) {
          c.copy(out, off);
          off += c.length;
          chunks[this.head++] = EMPTY; // dropped by index, not shift(): many small chunks stay linear
        } else {
          c.copy(out, off, 0, need);
          chunks[this.head] = c.subarray(need);
          off = n;
        }
      }
      if (this.head > 1024 && this.head * 2 > chunks.length) {
        this.chunks = chunks.slice(this.head);
        this.head = 0;
      }
    }
    this.size -= out.length;
    this.scanned = Math.max(0, this.scanned - out.length);
    this.scanIdx = this.head;
    this.scanPos = 0;
    this.regulate();
    return out;
  }

  /** A copy of what is buffered, left in place (for TimeoutExpired). */
  peek(): Buffer {
    return Buffer.concat(this.head === 0 ? this.chunks : this.chunks.slice(this.head), this.size);
  }
}

/**
 * The read end of a child's output pipe (`p.stdout`, `p.stderr`): Buffers, or strings when
 * the Popen was made with `text` or `encoding`. `O` is that output type.
 *
 * @example
 * const p = new Popen(['sh', '-c', 'echo a; echo b'], { stdout: PIPE, text: true });
 * yield* p.stdout!.readline(); // 'a\n'
 * yield* p.stdout!.read();     // 'b\n'
 */
export class PipeReader<O extends Output = Output> {
  private readonly decoder: StringDecoder | null;

  /** @internal */
  constructor(
    private readonly collected: Collected,
    private readonly encoding: BufferEncoding | undefined,
  ) {
    this.decoder = encoding ? new StringDecoder(encoding) : null;
  }

  private out(bytes: Buffer, atEnd: boolean): O {
    const d = this.decoder;
    if (d === null) return bytes as O;
    return (atEnd ? d.write(bytes) + d.end() : d.write(bytes)) as O;
  }

  /**
   * With no argument: everything the child writes on this pipe until it closes it. With `n`:
   * at most `n` bytes, as soon as `n` are there or the pipe closes (Python's `read(n)`);
   * empty at the end. In text mode `n` counts bytes, and a character cut at the end of one
   * read is given by the next.
   *
   * @example
   * const head = yield* p.stdout!.read(512);
   * const rest = yield* p.stdout!.read();
   */
  read(n?: number): Op<O> {
    if (n !== undefined && n !== null && !(Number.isInteger(n) && n >= 0)) {
      throw new TypeError(`PipeReader.read(n) takes a whole number of bytes >= 0 (or nothing for all), got ${describeValue(n)}`);
    }
    const self = this;
    const c = this.collected;
    const limit = n ?? Infinity;
    return opFrom(function* () {
      let want = limit;
      for (;;) {
        while (c.size < want && !c.ended.isSet()) yield* c.more();
        const atEnd = c.ended.isSet() && c.size <= want;
        const got = self.out(c.take(want), atEnd);
        // Text cut inside a character decodes to '' for now: '' must mean the end, so read on.
        if (got.length !== 0 || atEnd || want === 0) return got;
        want = 1;
      }
    }, n == null ? 'PipeReader.read()' : `PipeReader.read(${n})`);
  }

  /**
   * One line, newline included; the last line may lack it; empty at the end (Python's
   * `readline()`). With `limit`, at most that many bytes.
   *
   * @example
   * for (let line; (line = yield* p.stdout!.readline()).length > 0; ) console.log(line);
   */
  readline(limit?: number): Op<O> {
    if (limit !== undefined && limit !== null && !(Number.isInteger(limit) && limit > 0)) {
      throw new TypeError(`PipeReader.readline(limit) takes a whole number of bytes > 0 (or nothing), got ${describeValue(limit)}`);
    }
    const self = this;
    const c = this.collected;
    const max = limit ?? Infinity;
    return opFrom(function* () {
      let end = c.lineEnd();
      while (end < 0 && c.size < max && !c.ended.isSet()) {
        yield* c.more();
        end = c.lineEnd();
      }
      const n = Math.min(end < 0 ? c.size : end, max);
      return self.out(c.take(n), c.ended.isSet() && c.size === 0);
    }, 'PipeReader.readline()');
  }

  /** @internal Everything buffered, decoded; the pipe has closed. */
  takeAll(): O {
    return this.out(this.collected.take(Infinity), true);
  }

  /**
   * @internal A decoded copy of what is buffered, for a TimeoutExpired. A text past V8's
   * longest string (communicate keeps everything) is cut there rather than fail the report.
   */
  peekAll(): O {
    const b = this.collected.peek();
    if (this.encoding === undefined) return b as O;
    return b.subarray(0, Math.min(b.length, MAX_STRING_LENGTH)).toString(this.encoding) as O;
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
  /** Set when the stream has drained or closed; cleared by a writer before it waits. */
  private readonly drained = new Event();

  /** @internal */
  constructor(private readonly stream: Writable) {
    // A child that exits without reading its input gives EPIPE: Python ignores it in communicate.
    stream.on('error', () => this.drained.set());
    stream.on('drain', () => this.drained.set());
    stream.once('close', () => this.drained.set());
  }

  /**
   * Sends `data` to the child. It is queued at once; `yield*` the returned Op to wait until the
   * child has taken enough of what is queued (the pipe's backpressure, as Python's blocking
   * write): a loop that writes more than the child reads then stays bounded. Left unyielded,
   * the data is still sent (that is not an error).
   *
   * @example
   * for (const chunk of chunks) yield* p.stdin!.write(chunk);
   */
  write(data: string | Uint8Array): Op<void> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`PipeWriter.write(data) needs a string or a Buffer, got ${describeValue(data)}`);
    }
    const stream = this.stream;
    const drained = this.drained;
    stream.write(data);
    const op = opFrom(function* () {
      while (stream.writableNeedDrain && !stream.destroyed) {
        drained.clear();
        yield* drained.wait();
      }
    }, 'PipeWriter.write()');
    untrack(op); // waiting is optional: an unyielded write is not a forgotten one
    return op;
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

const MAX_STRING_LENGTH = bufferConstants.MAX_STRING_LENGTH;

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

/**
 * The caller's options as own properties only (a value planted on Object.prototype is never an
 * option), with the timeout checked. undefined or null mean none.
 */
function readOptions<T extends object>(opts: T | null | undefined, what: string): Partial<T> & TimeoutOption {
  const o = ownOptions(opts, what) as Partial<T> & TimeoutOption;
  if (o.timeout !== undefined && o.timeout !== null) checkTimeout(o.timeout, `${what}: timeout`);
  return o;
}

/** Python's returncode: the exit status, or minus the signal number for a signalled child. */
function returncodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? -(constants.signals[signal] ?? 0) : -1;
}

/**
 * The output type that options ask for: `string` with `text: true` or an `encoding`, `Buffer`
 * with neither, and either when that is only known at run time.
 *
 * @example
 * type A = OutputFor<{ text: true }>; // string
 * type B = OutputFor<{}>;             // Buffer
 */
export type OutputFor<O> = OutputOfFlags<FieldOf<O, 'text'>, FieldOf<O, 'encoding'>>;

// keyof rather than `O extends { text?: ... }`: an all-optional shape is a "weak type" that
// an object without any of its keys does not extend.
type FieldOf<O, K extends string> = K extends keyof O ? O[K] : undefined;
type OutputOfFlags<T, E> = [E] extends [undefined]
  ? [T] extends [true]
    ? string
    : [T] extends [false | undefined]
      ? Buffer
      : Output
  : [E] extends [BufferEncoding]
    ? string
    : Output;

/**
 * The child's environment as its own entries only. Node's spawn copies every key a `for...in`
 * sees, inherited ones included, so a `NODE_OPTIONS` planted on Object.prototype would reach
 * every child (with `env` given or not); a null-prototype copy has nothing to inherit.
 */
function ownEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv | undefined {
  const from = env ?? process.env;
  return from !== null && typeof from === 'object' ? ({ __proto__: null, ...from } as unknown as NodeJS.ProcessEnv) : env;
}

/**
 * A child process (Python's `subprocess.Popen`), started at once with Node's original
 * `child_process.spawn`. Blocking calls (`wait`, `communicate`, the pipes' reads) are Ops.
 * Its output type `O` is chosen by the options given to `new Popen` (see PopenConstructor).
 *
 * @example
 * const p = new Popen(['ls', '-l'], { stdout: PIPE, text: true });
 * const [out] = yield* p.communicate(); // out: string | null
 * console.log(p.returncode, out);
 */
class PopenProcess<O extends Output = Output> {
  /** The command as given. */
  readonly args: string | string[];
  /** The child's process id (undefined when it could not start). */
  readonly pid: number | undefined;
  /** The exit status; minus the signal number if a signal ended it; null while it runs. */
  returncode: number | null = null;
  /** Write end of its stdin when `stdin: PIPE`. */
  readonly stdin: PipeWriter | null = null;
  /** Read end of its stdout when `stdout: PIPE` (stderr joins it with `stderr: STDOUT`). */
  readonly stdout: PipeReader<O> | null = null;
  /** Read end of its stderr when `stderr: PIPE`. */
  readonly stderr: PipeReader<O> | null = null;
  /** The Node ChildProcess underneath. */
  readonly child: ChildProcess;

  private readonly exited = new Event();
  private readonly out: Collected | null = null;
  private readonly err: Collected | null = null;
  private spawnError: Error | null = null;

  constructor(args: string | string[], opts?: PopenOptions) {
    checkArgs(args);
    const o = readOptions<PopenOptions>(opts, 'Popen(args, opts)');
    this.args = args;
    const encoding = o.encoding ?? (o.text ? 'utf8' : undefined);
    const mergeErr = o.stderr === STDOUT;
    const stdoutSpec = stdioOf(o.stdout, 'stdout');
    // stderr: STDOUT goes wherever stdout goes (2>&1). Onto a pipe it gets its own pipe whose
    // bytes join stdout's buffer; onto an inherited stdout it is the parent's fd 1, not fd 2.
    const stderrSpec = mergeErr ? (stdoutSpec === 'inherit' ? 1 : stdoutSpec) : stdioOf(o.stderr, 'stderr');
    const stdio: StdioOptions = [stdioOf(o.stdin, 'stdin'), stdoutSpec, stderrSpec];
    const [file, argv] = typeof args === 'string' ? [args, []] : [args[0], args.slice(1)];
    const spawnOptions = { __proto__: null, stdio, shell: o.shell, cwd: o.cwd, env: ownEnv(o.env) };
    const child = nodeSpawn(file, argv, spawnOptions as childProcess.SpawnOptions);
    this.child = child;
    this.pid = child.pid;
    holdChild(child);
    child.once('error', (e: NodeJS.ErrnoException) => this.onSpawnError(e));
    child.once('exit', (code, signal) => this.onExit(code, signal));
    if (child.stdin) this.stdin = new PipeWriter(child.stdin);
    if (child.stdout) {
      this.out = new Collected();
      this.out.add(child.stdout);
      this.stdout = new PipeReader(this.out, encoding);
    }
    if (child.stderr) {
      if (mergeErr && this.out) this.out.add(child.stderr);
      else {
        this.err = new Collected();
        this.err.add(child.stderr);
        this.stderr = new PipeReader(this.err, encoding);
      }
    }
  }

  private onSpawnError(e: NodeJS.ErrnoException): void {
    // 'error' also reports a failed kill() of a live child; only a child that never started matters here.
    if (this.pid !== undefined) return;
    this.spawnError = e.code === 'ENOENT' ? new FileNotFoundError(e) : e;
    this.returncode = 255;
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
   * throws TimeoutExpired and leaves the child running. As in Python, a child that writes more
   * than PIPE_BUFFER_LIMIT to a PIPE nobody reads blocks, and then so does `wait()`: read the
   * pipe, or use `communicate()`.
   *
   * @example
   * const rc = yield* p.wait({ timeout: 5 });
   */
  wait(opts?: TimeoutOption): Op<number> {
    const o = readOptions(opts, 'Popen.wait(opts)');
    const self = this;
    return opFrom(function* () {
      yield* self.waitFor(self.exited, o.timeout);
      return self.finish();
    }, 'Popen.wait()');
  }

  /**
   * Sends `input` (if given) to stdin and closes it, then reads every pipe to its end and waits
   * for the child to exit; gives `[stdout, stderr]` (null for a stream that is not a PIPE).
   * With `{ timeout }` it throws TimeoutExpired, leaves the child running and keeps the output
   * so far: call `communicate()` again (after `kill()`, say) to get all of it.
   *
   * @example
   * const [out, err] = yield* p.communicate('some input', { timeout: 10 });
   */
  communicate(input?: string | Uint8Array | null, opts?: TimeoutOption): Op<[O | null, O | null]> {
    const o = readOptions(opts, 'Popen.communicate(input, opts)');
    this.sendInput(input);
    const self = this;
    return opFrom(function* () {
      const deadline = o.timeout == null ? null : now() + o.timeout * 1000;
      const left = () => (deadline === null ? null : Math.max(0, deadline - now()) / 1000);
      // Both pipes flow for the whole call: reading one to its end while the other is paused
      // would deadlock a child that fills the other first.
      self.out?.hold(true);
      self.err?.hold(true);
      try {
        if (self.out) yield* self.drain(self.out, left, o.timeout);
        if (self.err) yield* self.drain(self.err, left, o.timeout);
      } finally {
        self.out?.hold(false);
        self.err?.hold(false);
      }
      yield* self.waitFor(self.exited, left(), o.timeout);
      self.finish();
      return [self.stdout ? self.stdout.takeAll() : null, self.stderr ? self.stderr.takeAll() : null];
    }, 'Popen.communicate()');
  }

  /** Reads a pipe to its end, with no bound (communicate keeps everything, as Python's does). */
  private *drain(c: Collected, left: () => number | null, shownTimeout: number | null | undefined): Generator<unknown, void, unknown> {
    while (!c.ended.isSet()) yield* this.waitFor(null, left(), shownTimeout, () => c.more());
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

  /** Throws what a finished child leaves to throw (a spawn failure), else gives the returncode. */
  private finish(): number {
    if (this.spawnError) throw this.spawnError;
    return this.returncode!;
  }

  /**
   * Waits for `ev` (or runs `body`); an own timeout throws TimeoutExpired (child left running);
   * any other interruption (a kill, a gevent Timeout) kills the child and waits for it to be
   * reaped first.
   */
  private *waitFor(
    ev: Event | null,
    timeout: number | null | undefined,
    shownTimeout = timeout,
    body?: () => Iterator<unknown, unknown, unknown>,
  ): Generator<unknown, void, unknown> {
    let set: boolean;
    try {
      set = body ? yield* withTimeout(body, timeout) : yield* ev!.wait({ timeout });
    } catch (e) {
      yield* this.reap();
      throw e;
    }
    if (!set) {
      const out = this.stdout ? this.stdout.peekAll() : null;
      const err = this.stderr ? this.stderr.peekAll() : null;
      throw new TimeoutExpired(this.args, shownTimeout ?? 0, out, err);
    }
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
// Errors and util.inspect show the name users write.
Object.defineProperty(PopenProcess, 'name', { value: 'Popen' });

/**
 * What `new Popen(...)` is typed as: the options given decide the output type (`OutputFor`).
 *
 * @example
 * const make: PopenConstructor = Popen;
 */
export interface PopenConstructor {
  new <const Opts extends PopenOptions = {}>(args: string | string[], opts?: Opts): Popen<OutputFor<Opts>>;
  readonly prototype: Popen;
}

/**
 * A child process (Python's `subprocess.Popen`); `O` is its output type, `Buffer | string` for
 * the bare type, which therefore takes a Popen made with any options.
 *
 * @example
 * function logPid(p: Popen) { console.log(p.pid); }
 */
export type Popen<O extends Output = Output> = PopenProcess<O>;

/**
 * A child process (Python's `subprocess.Popen`), started at once with Node's original
 * `child_process.spawn`. Blocking calls (`wait`, `communicate`, the pipes' reads) are Ops.
 * Its output is typed by its options: strings with `text`/`encoding`, Buffers without.
 *
 * @example
 * const p = new Popen(['ls', '-l'], { stdout: PIPE, text: true });
 * const [out] = yield* p.communicate(); // out: string | null
 * console.log(p.returncode, out);
 */
export const Popen: PopenConstructor = PopenProcess as unknown as PopenConstructor;

/** Runs `body` under a time limit: true when it finished, false when the limit ran out first. */
function* withTimeout(body: () => Iterator<unknown, unknown, unknown>, seconds: number | null | undefined): Generator<unknown, boolean, unknown> {
  const t = seconds === null || seconds === undefined ? null : Timeout.start(seconds);
  try {
    yield* { [Symbol.iterator]: body };
    return true;
  } catch (e) {
    if (t !== null && e === t) return false;
    throw e;
  } finally {
    t?.close();
  }
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
 * What `run` gives: the command, its returncode and the output it captured (strings when
 * `text`/`encoding` was asked for, Buffers otherwise).
 *
 * @example
 * const r: CompletedProcess = yield* run(['true']);
 * r.returncode; // 0
 */
export class CompletedProcess<O extends Output = Output> {
  constructor(
    readonly args: string | string[],
    readonly returncode: number,
    readonly stdout: O | null = null,
    readonly stderr: O | null = null,
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
 * r.stdout; // 'hi\n' (typed string | null)
 */
export function run<const Opts extends RunOptions = {}>(args: string | string[], opts?: Opts): Op<CompletedProcess<OutputFor<Opts>>> {
  const o = readOptions<RunOptions>(opts, 'run(args, opts)');
  if (o.captureOutput && (o.stdout != null || o.stderr != null)) {
    throw new RangeError('run(args, opts): captureOutput cannot be combined with stdout or stderr; pass one or the other');
  }
  const popenOpts: PopenOptions = o.captureOutput ? { ...o, stdout: PIPE, stderr: PIPE } : { ...o };
  if (o.input != null) popenOpts.stdin = PIPE;
  checkArgs(args);
  return opFrom(function* () {
    // Started here, at the yield, so an Op that is never run starts no child.
    const p = new Popen(args, popenOpts);
    let out: [Output | null, Output | null];
    try {
      out = yield* p.communicate(o.input, { timeout: o.timeout });
    } catch (e) {
      if (e instanceof TimeoutExpired) {
        p.kill();
        yield* p.wait(); // reap it before reporting
      }
      throw e;
    }
    const done = new CompletedProcess(args, p.returncode!, out[0] as OutputFor<Opts> | null, out[1] as OutputFor<Opts> | null);
    if (o.check) done.checkReturncode();
    return done;
  }, 'run()');
}

/**
 * Runs a command and gives its returncode (Python's `subprocess.call`).
 *
 * @example
 * const rc = yield* call(['true']); // 0
 */
export function call(args: string | string[], opts?: RunOptions): Op<number> {
  const o = readOptions(opts, 'call(args, opts)');
  if (o.timeout == null && o.input == null) {
    return opFrom(function* () {
      return yield* new Popen(args, o).wait();
    }, 'call()');
  }
  const r = run(args, o);
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
export function checkCall(args: string | string[], opts?: RunOptions): Op<0> {
  const r = run(args, { ...readOptions(opts, 'checkCall(args, opts)'), check: true });
  return opFrom(function* () {
    yield* r;
    return 0 as const;
  }, 'checkCall()');
}

/**
 * Runs a command and gives its stdout (a string with `text`/`encoding`, a Buffer otherwise);
 * throws CalledProcessError (with the output) unless it exits with 0.
 *
 * @example
 * const out = yield* checkOutput(['uname'], { text: true }); // 'Linux\n', typed string
 */
export function checkOutput<const Opts extends RunOptions = {}>(args: string | string[], opts?: Opts): Op<OutputFor<Opts>> {
  const r = run(args, { ...readOptions<RunOptions>(opts, 'checkOutput(args, opts)'), stdout: PIPE, check: true });
  return opFrom(function* () {
    return (yield* r).stdout as OutputFor<Opts>;
  }, 'checkOutput()');
}
