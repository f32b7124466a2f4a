/**
 * Cooperative sockets on Node's own `net` (gevent.socket). A `GSocket` keeps the bytes Node
 * hands it in its own list of chunks and gives them out only when a reading greenlet actually
 * receives them, so a `recv` cut short by a kill or a Timeout loses nothing. Reading pauses
 * the Node socket while nobody reads and the buffer is full (the peer then slows down), and
 * `sendall` writes 64 KiB chunks, each once the one before reached the kernel, so an
 * interrupted sendall stops. `settimeout(0)` is Python's non-blocking mode.
 *
 * @example
 * import { run } from 'geventjs';
 * import { createConnection } from 'geventjs/socket';
 * await run(function* () {
 *   const sock = yield* createConnection(['127.0.0.1', 8000], { timeout: 5 });
 *   yield* sock.sendall('ping\n');
 *   const reply = yield* sock.recv(1024);
 *   sock.close();
 * });
 */
import * as net from 'node:net';
import { ConcurrentObjectUseError } from './errors.js';
import type { Greenlet } from './greenlet.js';
import { checkBoolean, checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { holdProcess, releaseProcess } from './keep-alive.js';
import { runNow, wake, wakeBeforeRunNow, wakeError } from './hub.js';
import { keepHiddenClass } from './hidden-classes.js';
import { keepOpClass, Op, opFrom, PARK, RecycledOp, timeLimitMs, untrack, Wait } from './op.js';
import { nodeSetImmediate } from './originals.js';
import { ParkingLot } from './parking-lot.js';

// Captured at load: monkey patches replace these on the shared `net` module later.
const netConnect = net.createConnection;
const netCreateServer = net.createServer;

/**
 * A `[host, port]` pair, as gevent's socket addresses are.
 *
 * @example
 * const address: Address = ['127.0.0.1', 8080];
 */
export type Address = [host: string, port: number];

/**
 * `shutdown(how)`: stop reading.
 *
 * @example
 * sock.shutdown(SHUT_RD);
 */
export const SHUT_RD = 0;
/**
 * `shutdown(how)`: stop writing; the peer reads EOF, and can still answer.
 *
 * @example
 * sock.shutdown(SHUT_WR);
 */
export const SHUT_WR = 1;
/**
 * `shutdown(how)`: stop both.
 *
 * @example
 * sock.shutdown(SHUT_RDWR);
 */
export const SHUT_RDWR = 2;

/** Above this many unread bytes, and while nobody reads, the Node socket is paused. */
const HIGH_WATER_MARK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/**
 * `send` hands Node at most this many bytes, and `sendall` writes its data in chunks of this
 * size, each once the one before has reached the kernel: the bound on what an interrupted
 * sendall still sends.
 */
const SEND_CHUNK = 64 * 1024;

/** True while an immediate is queued to run the readers woken by 'data' (see wakeReader). */
let readersPending = false;

function runReaders(): void {
  readersPending = false;
  runNow();
}

/**
 * Wakes a reader from a 'data' event. The readers woken during one poll of the event loop run
 * together, in one hub turn from an immediate queued by the first of them (before the loop
 * polls again, and before any timer), rather than each inside its own event (`runNow()`):
 *
 * - a greenlet step run inside Node's native callback scope costs more: the hub's
 *   `runInAsyncScope` there leaves Node's JS stack of async resources longer than its native
 *   one, which Node then trims through V8's slow property-set path when the callback returns;
 * - one hub turn (clock read, scope switch) serves every connection that had data, instead of
 *   one turn per message.
 *
 * B7 (50 connections): the server's CPU per round trip fell from ~5,700 to ~5,050 ns (raw Node:
 * ~4,950), and its round trips per second from ~0.89x to ~0.99x of raw Node's (servers
 * alternated in one session; docs/performance.md). No microtask drain is queued either (Node's
 * `queueMicrotask` makes an AsyncResource per call).
 */
function wakeReader(g: Greenlet, value: Buffer): void {
  if (wakeBeforeRunNow(g, value) && !readersPending) {
    readersPending = true;
    nodeSetImmediate(runReaders);
  }
}

/**
 * gevent's `socket.timeout`: a socket operation took longer than `settimeout()` (or the
 * `{ timeout }` of `createConnection`) allows.
 *
 * @example
 * sock.settimeout(0.5);
 * try { yield* sock.recv(10); } catch (e) { if (e instanceof SocketTimeout) console.log('timed out'); }
 */
export class SocketTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(message = 'timed out') {
    super(message);
    this.name = 'SocketTimeout';
  }
}

/**
 * Python's `BlockingIOError`: in non-blocking mode (`settimeout(0)` or `setblocking(false)`),
 * an operation that cannot finish at once. Code `EAGAIN` (the same as `EWOULDBLOCK` on Linux).
 *
 * @example
 * sock.settimeout(0);
 * try { yield* sock.recv(10); } catch (e) { if (e instanceof BlockingIOError) console.log('no data yet'); }
 */
export class BlockingIOError extends Error {
  readonly code = 'EAGAIN';
  constructor(message = 'Resource temporarily unavailable') {
    super(message);
    this.name = 'BlockingIOError';
  }
}

function wouldBlock(what: string): BlockingIOError {
  return new BlockingIOError(
    `${what} would block: the socket is in non-blocking mode (settimeout(0)); try again later, or settimeout(null) to wait`,
  );
}

/** An OSError-like Error with Node's `code` (EBADF for a closed socket). */
function osError(code: string, message: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.code = code;
  return e;
}

function checkAddress(address: unknown, what: string): asserts address is Address {
  if (!Array.isArray(address) || address.length !== 2) {
    throw new TypeError(`${what} takes an address [host, port], got ${describeValue(address)}; pass e.g. ['127.0.0.1', 8080]`);
  }
  const [host, port] = address as unknown[];
  if (typeof host !== 'string') {
    throw new TypeError(`${what}: the host must be a string, got ${describeValue(host)}; pass e.g. '127.0.0.1' ('' for all interfaces)`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw new TypeError(`${what}: the port must be an integer, got ${describeValue(port)}; pass e.g. 8080 (0 lets the OS choose)`);
  }
  if (port < 0 || port > 65535) {
    throw new RangeError(`${what}: the port must be between 0 and 65535, got ${port}`);
  }
}

function checkSize(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new TypeError(`${what} needs a whole number of bytes, got ${describeValue(n)}; pass e.g. 4096`);
  }
  if (n < 0) throw new RangeError(`${what}: the size must be >= 0, got ${n}; pass the most bytes you want`);
}

function toBuffer(data: unknown, what: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what} sends a Buffer, Uint8Array or string, got ${describeValue(data)}`);
}

function toAddress(host: string | undefined, port: number | undefined): Address {
  return [host ?? '', port ?? 0];
}

/** What a read wants; each kind decides when it can finish from the buffered bytes. */
const RECV = 0; // up to n bytes, as soon as there is any; empty at EOF
const EXACT = 1; // exactly n bytes; an error at an early EOF
const LINE = 2; // up to and including '\n' (at most n bytes); what is left at EOF
const READ = 3; // exactly n bytes, or fewer at EOF (a file's read(n)); n < 0: all until EOF

/**
 * One read in progress. It takes bytes from the socket only at the moment it finishes, so a
 * read that is cancelled consumed nothing, and `undo` puts back bytes a woken-but-interrupted
 * reader never saw.
 */
class ReadWait extends Wait<Buffer> {
  // Set in the constructor (see Wait in op.ts). `kind` and `n` are this run's: the socket
  // lends the same ReadWait to one read after another (SocketRead, a RecycledOp).
  private declare readonly sock: GSocket;
  declare kind: number;
  declare n: number;

  constructor(sock: GSocket) {
    super();
    this.sock = sock;
    this.kind = RECV;
    this.n = 0;
    untrack(this); // never handed to the caller: the SocketRead Op is what is tracked
  }

  override _runOver(): void {
    this.sock._spareRead = this;
  }

  override poll(): Buffer | typeof PARK {
    const s = this.sock;
    if (s._reader !== null) {
      throw new ConcurrentObjectUseError(
        `${this.describe()}: another greenlet (${s._reader.g}) is already reading this socket; read it from one greenlet at a time`,
      );
    }
    const v = s._tryRead(this);
    // Non-blocking mode (settimeout(0)): what cannot finish now fails at once, taking nothing.
    if (v === PARK && s._timeout === 0) throw wouldBlock(this.describe());
    return v;
  }

  park(_g: Greenlet): void {
    this.sock._reader = this;
    this.sock._wantMore();
  }

  override cancel(): void {
    if (this.sock._reader === this) this.sock._reader = null;
  }

  override undo(_g: Greenlet, value: unknown): void {
    if (Buffer.isBuffer(value) && value.length > 0) this.sock._unread(value);
  }

  override timedOut(): Buffer {
    throw new SocketTimeout();
  }

  override describe(): string {
    return readDescription(this.kind, this.n);
  }
}

/** What `recv`, `recvExactly`, `readline` and `read` return: each run borrows the socket's ReadWait. */
class SocketRead extends RecycledOp<Buffer, ReadWait> {
  private declare readonly sock: GSocket;
  private declare readonly kind: number;
  private declare readonly n: number;

  constructor(sock: GSocket, kind: number, n: number) {
    // The socket's timeout when the call was made, as a ReadWait made here took it.
    const t = sock._timeout;
    super(t !== null && t > 0 ? timeLimitMs(t, 'settimeout()') : -1);
    this.sock = sock;
    this.kind = kind;
    this.n = n;
  }

  protected borrow(): ReadWait {
    const w = this.sock._spareRead ?? new ReadWait(this.sock);
    this.sock._spareRead = null;
    w.kind = this.kind;
    w.n = this.n;
    return w;
  }

  override describe(): string {
    return readDescription(this.kind, this.n);
  }
}

function readDescription(kind: number, n: number): string {
  return ['recv', 'recvExactly', 'readline', 'read'][kind] + `(${n < 0 ? '' : n})`;
}

/**
 * One `send` or `sendall` in progress. `sendall` hands its data to Node in chunks of
 * `SEND_CHUNK` bytes and writes the next chunk only once the previous one has left Node's
 * buffer for the kernel's; so when it is killed or times out, it stops, and at most one chunk
 * beyond what the kernel had taken still goes out. One sendall writes at a time: others (and
 * `send`s) queue behind it, so concurrent senders never interleave their bytes.
 */
class SendWait extends Wait<number> {
  /** Bytes of `data` handed to Node so far. */
  private off = 0;
  /** True while parked and neither woken nor cancelled. */
  private active = false;

  constructor(
    private readonly sock: GSocket,
    private readonly data: Buffer,
    private readonly all: boolean,
  ) {
    super();
    const t = sock._timeout;
    if (t !== null && t > 0) this.expireAfter(t, 'settimeout()');
  }

  override poll(): number | typeof PARK {
    const s = this.sock;
    s._checkWritable(this.describe());
    const r = s._writing === null && !s._ns.writableNeedDrain ? this.step() : PARK;
    if (r === PARK && s._timeout === 0) {
      // Non-blocking mode: as Python, a send that cannot hand over anything, or a sendall
      // that cannot hand over everything, raises at once (a sendall's first chunks are sent).
      if (s._writing === this) s._releaseWriting();
      throw wouldBlock(this.describe());
    }
    return r;
  }

  park(_g: Greenlet): void {
    this.active = true;
    this.sock._drainers.push(this);
  }

  override cancel(): void {
    this.active = false;
    const s = this.sock;
    s._drainers.remove(this);
    if (s._writing === this) s._releaseWriting();
  }

  /** send: one chunk at most; sendall: chunks until one stays in Node's buffer. */
  private step(): number | typeof PARK {
    if (!this.all) {
      const n = Math.min(this.data.length, SEND_CHUNK);
      this.sock._ns.write(n === this.data.length ? this.data : this.data.subarray(0, n));
      return n;
    }
    const s = this.sock;
    const ns = s._ns;
    const data = this.data;
    const n = data.length;
    for (;;) {
      const end = Math.min(this.off + SEND_CHUNK, n);
      const chunk = this.off === 0 && end === n ? data : data.subarray(this.off, end);
      this.off = end;
      if (end === n) {
        // The last chunk: done once Node's buffer takes it, as before ('drain' otherwise).
        // Written before the turn passes, so the next writer's bytes come after it.
        const took = ns.write(chunk);
        if (s._writing === this) s._releaseWriting();
        return took || s._timeout === 0 ? n : PARK;
      }
      s._writing = this;
      ns.write(chunk, () => this.flushed(end));
      if (ns.writableLength !== 0) return PARK; // wait until it reaches the kernel
    }
  }

  /** The chunk ending at `end` left Node's buffer. */
  private flushed(end: number): void {
    if (this.active && this.off === end) this._retry();
    runNow();
  }

  /** @internal Parked: try to go on (after 'drain', a flushed chunk, or a writer's turn ended). */
  _retry(): void {
    if (!this.active) return;
    const s = this.sock;
    const g = this.g!;
    let r: number | typeof PARK;
    try {
      s._checkWritable(this.describe());
      const mayWrite = this.off > 0 ? s._writing === this : s._writing === null && !s._ns.writableNeedDrain;
      r = mayWrite ? this.step() : this.off === this.data.length && !s._ns.writableNeedDrain ? this.off : PARK;
    } catch (e) {
      this.finish();
      wakeError(g, e);
      return;
    }
    if (r === PARK) {
      if (this._lot === null) s._drainers.push(this);
      return;
    }
    this.finish();
    wake(g, r);
  }

  /** @internal The socket failed or closed under this parked writer. */
  _fail(e: unknown): void {
    if (!this.active) return;
    this.active = false;
    wakeError(this.g!, e);
  }

  private finish(): void {
    this.active = false;
    this.sock._drainers.remove(this);
    if (this.sock._writing === this) this.sock._releaseWriting();
  }

  override timedOut(): number {
    throw new SocketTimeout();
  }

  override describe(): string {
    return this.all ? 'sendall()' : 'send()';
  }
}

/**
 * A connected TCP socket with gevent's blocking-style methods, on a Node `net.Socket`.
 * Make one with `createConnection`, from `accept()`, or with `GSocket.wrap(netSocket)`.
 *
 * @example
 * const sock = yield* createConnection(['127.0.0.1', port]);
 * yield* sock.sendall('hello');
 * const echo = yield* sock.recvExactly(5);
 */
export class GSocket {
  /** @internal The Node socket. */
  readonly _ns: net.Socket;
  /** @internal The one greenlet reading, if any. */
  _reader: ReadWait | null = null;
  /** @internal The ReadWait lent to the next read once the last one's run is over (RecycledOp). */
  _spareRead: ReadWait | null = null;
  /** @internal Writers waiting: for 'drain', for their chunk to flush, or for their turn. */
  _drainers = new ParkingLot<SendWait>();
  /** @internal The sendall that is part way through its data (others wait for it). */
  _writing: SendWait | null = null;
  /** @internal settimeout() in seconds, or null (block forever); 0 is non-blocking mode. */
  _timeout: number | null = null;
  // The received bytes: chunks[head..] in order (a head index, so taking many small chunks
  // from the front is not quadratic).
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  // readline's progress: chunks[head..scanIdx), scanBytes bytes in all, hold no '\n', so
  // each byte is searched once however many pieces a long line arrives in.
  private scanIdx = 0;
  private scanBytes = 0;
  private eof = false;
  private paused = false;
  private error: Error | null = null;
  private _closed = false;

  private constructor(ns: net.Socket) {
    this._ns = ns;
    // A reader woken by 'data' runs with the others woken in the same poll (wakeReader); the
    // 'drain' handler runs the writers it woke before returning (runNow).
    ns.on('data', (chunk: Buffer) => {
      const r = this._reader;
      // The hot path: a recv() waits on an empty buffer and the chunk fits: hand it over whole.
      if (r !== null && this.buffered === 0 && r.kind === RECV && chunk.length <= r.n) {
        this._reader = null;
        wakeReader(r.g!, chunk);
      } else this.onData(chunk);
    });
    ns.on('end', () => this.onEnd());
    ns.on('error', (e: Error) => this.onError(e));
    ns.on('drain', () => {
      this.retryWriters();
      runNow();
    });
    ns.on('close', () => this.onClose());
  }

  /**
   * Wraps an existing Node socket (connected or connecting). Its 'data' from now on is read
   * through `recv` and friends; do not add other 'data' listeners. Wrapping the same socket
   * twice gives the same GSocket.
   *
   * @example
   * const sock = GSocket.wrap(net.connect(port, '127.0.0.1'));
   */
  static wrap(ns: net.Socket): GSocket {
    if (!(ns instanceof net.Socket)) {
      throw new TypeError(`GSocket.wrap() takes a net.Socket, got ${describeValue(ns)}`);
    }
    let sock = wrappedSockets.get(ns);
    if (sock === undefined) {
      sock = new GSocket(ns);
      wrappedSockets.set(ns, sock);
    }
    return sock;
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const r = this._reader;
    if (r !== null) {
      const v = this._tryRead(r);
      if (v !== PARK) {
        this._reader = null;
        wakeReader(r.g!, v);
      }
    }
    if (this._reader === null && this.buffered >= HIGH_WATER_MARK && !this.paused) {
      this.paused = true;
      this._ns.pause();
    }
  }

  private onEnd(): void {
    this.eof = true;
    this.finishReader();
  }

  private onError(e: Error): void {
    this.error ??= e;
    this.eof = true;
    this.finishReader();
    this.failWriters(e);
  }

  private onClose(): void {
    // Closed without 'end' or 'error' (destroyed): nothing more will arrive.
    this.eof = true;
    this.finishReader();
    if (this._drainers.size === 0) return; // the common case: no error object (and stack) to make
    this.failWriters(osError('EPIPE', 'the socket was closed before the data could be sent'));
  }

  private failWriters(e: Error): void {
    this._writing = null;
    for (let w = this._drainers.shift(); w !== null; w = this._drainers.shift()) w._fail(e);
  }

  /** Lets every parked writer try again, in order (a writer that must wait again re-queues). */
  private retryWriters(): void {
    // A retry can end a writer's turn and so retry the others itself (nested): then fewer
    // than `n` are left here, and the loop stops at the empty lot.
    for (let n = this._drainers.size; n > 0; n--) {
      const w = this._drainers.shift();
      if (w === null) return;
      w._retry();
    }
  }

  /** @internal The sendall in progress finished or was interrupted: the next writer's turn. */
  _releaseWriting(): void {
    this._writing = null;
    if (this._drainers.size > 0) this.retryWriters();
  }

  /** At EOF or an error the waiting reader finishes with what there is. */
  private finishReader(): void {
    const r = this._reader;
    if (r === null) return;
    this._reader = null;
    let v: Buffer | typeof PARK;
    try {
      v = this._tryRead(r);
    } catch (e) {
      wakeError(r.g!, e);
      return;
    }
    if (v !== PARK) wake(r.g!, v);
  }

  /** @internal Finishes `r` from the buffer if it can (taking the bytes), else PARK. */
  _tryRead(r: ReadWait): Buffer | typeof PARK {
    if (this._closed) throw osError('EBADF', `${r.describe()} on a closed socket; open a new connection`);
    const have = this.buffered;
    const n = r.n;
    // Zero bytes asked: Python's b'' at once, whatever the state of the stream.
    if (n === 0) return EMPTY;
    switch (r.kind) {
      case RECV:
        if (have > 0) return this.take(have < n ? have : n);
        break;
      case EXACT:
        if (have >= n) return this.take(n);
        if (this.eof && this.error === null) {
          throw osError('ECONNRESET', `recvExactly(${n}): the peer closed the connection after ${have} of ${n} bytes`);
        }
        break;
      case LINE: {
        const end = this.lineEnd(n);
        if (end > 0) return this.take(end);
        if (this.eof && have > 0) return this.take(have);
        break;
      }
      case READ:
        if (n >= 0 && have >= n) return this.take(n);
        if (this.eof && this.error === null) return this.take(have);
        break;
    }
    if (this.error !== null) {
      if (have > 0 && r.kind !== EXACT) return this.take(n >= 0 && have > n ? n : have);
      throw this.error;
    }
    if (this.eof) return EMPTY;
    return PARK;
  }

  /** @internal A reader parked: it needs bytes, so let Node read again. */
  _wantMore(): void {
    if (this.paused) {
      this.paused = false;
      this._ns.resume();
    }
  }

  /** @internal Puts bytes a reader never received back at the front. */
  _unread(b: Buffer): void {
    if (this.head > 0) this.chunks[--this.head] = b;
    else this.chunks.unshift(b);
    this.buffered += b.length;
    this.scanIdx = this.head;
    this.scanBytes = 0;
  }

  /**
   * Length of the first line (with its '\n') within `limit` bytes (all if < 0), else 0.
   * Searches only bytes no earlier call has searched.
   */
  private lineEnd(limit: number): number {
    const chunks = this.chunks;
    for (let i = this.scanIdx; i < chunks.length; i++) {
      const c = chunks[i];
      const j = c.indexOf(10);
      if (j >= 0) {
        const end = this.scanBytes + j + 1;
        return limit >= 0 && end > limit ? limit : end;
      }
      this.scanBytes += c.length;
      this.scanIdx = i + 1;
      if (limit >= 0 && this.scanBytes >= limit) return limit;
    }
    return 0;
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const chunks = this.chunks;
    let h = this.head;
    const first = chunks[h];
    let out: Buffer;
    if (first.length === n) {
      chunks[h++] = EMPTY;
      out = first;
    } else if (first.length > n) {
      chunks[h] = first.subarray(n);
      out = first.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = chunks[h];
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) chunks[h++] = EMPTY;
        else chunks[h] = c.subarray(k);
      }
    }
    this.head = h;
    this.buffered -= n;
    if (this.scanBytes >= n) this.scanBytes -= n;
    else {
      this.scanIdx = h;
      this.scanBytes = 0;
    }
    this.compact();
    if (this.paused && this.buffered < HIGH_WATER_MARK) {
      this.paused = false;
      this._ns.resume();
    }
    return out;
  }

  /** Drops the taken slots at the front of `chunks` once they are most of it. */
  private compact(): void {
    const h = this.head;
    if (h === this.chunks.length) {
      this.chunks.length = 0;
      this.head = this.scanIdx = 0;
    } else if (h >= 1024 && h * 2 >= this.chunks.length) {
      this.chunks.splice(0, h);
      this.head = 0;
      this.scanIdx -= h;
    }
  }

  /** @internal Throws the clear error for a write on a closed or failed socket. */
  _checkWritable(what: string): void {
    if (this._closed) throw osError('EBADF', `${what} on a closed socket; open a new connection`);
    if (this.error !== null) throw this.error;
    if (!this._ns.writable) throw osError('EPIPE', `${what} after shutdown(SHUT_WR) or after the peer reset the connection`);
  }

  /**
   * Receives up to `n` bytes: waits until at least one byte is there. An empty Buffer means
   * the peer closed its side (EOF); `recv(0)` gives an empty Buffer at once.
   *
   * @example
   * const data = yield* sock.recv(4096);
   * if (data.length === 0) return; // peer closed
   */
  recv(n: number): Op<Buffer> {
    checkSize(n, 'recv()');
    return new SocketRead(this, RECV, n);
  }

  /**
   * Receives exactly `n` bytes; throws (code ECONNRESET) if the peer closes first. Nothing is
   * taken until all `n` are there, so an interrupted call loses nothing.
   *
   * @example
   * const header = yield* sock.recvExactly(4);
   */
  recvExactly(n: number): Op<Buffer> {
    checkSize(n, 'recvExactly()');
    return new SocketRead(this, EXACT, n);
  }

  /**
   * Python's `recv_into(buffer, nbytes)`: receives up to `nbytes` (default: the buffer's
   * length) into `buffer` and gives how many bytes it wrote; 0 at EOF or for a size of 0.
   * The bytes are copied only when the greenlet resumes, so an interrupted call loses nothing.
   *
   * @example
   * const buf = Buffer.alloc(4096);
   * const n = yield* sock.recvInto(buf);
   */
  recvInto(buffer: Uint8Array, nbytes?: number): Op<number> {
    if (!(buffer instanceof Uint8Array)) {
      throw new TypeError(`recvInto() writes into a Buffer or Uint8Array, got ${describeValue(buffer)}; pass e.g. Buffer.alloc(4096)`);
    }
    if (nbytes !== undefined) {
      checkSize(nbytes, 'recvInto()');
      if (nbytes > buffer.length) {
        throw new RangeError(`recvInto(): nbytes (${nbytes}) is more than the buffer holds (${buffer.length}); pass at most buffer.length`);
      }
    }
    const sock = this;
    const n = nbytes ?? buffer.length;
    return opFrom(function* () {
      const d = yield* sock.recv(n);
      buffer.set(d);
      return d.length;
    }, 'recvInto()');
  }

  /**
   * Sends up to 64 KiB of `data` once Node's write buffer has room; gives the number of bytes
   * sent, which may be fewer than `data.length` (as Python's `send`: loop, or use `sendall`).
   * In non-blocking mode (`settimeout(0)`) it throws `BlockingIOError` when nothing fits.
   *
   * @example
   * const n = yield* sock.send('hi');
   */
  send(data: Buffer | Uint8Array | string): Op<number> {
    return new SendWait(this, toBuffer(data, 'send()'), false);
  }

  /**
   * Sends all of `data`, 64 KiB at a time, waiting for the kernel to take each chunk
   * (backpressure); gives `data.length`. Killed or timed out, it stops: at most one 64 KiB
   * chunk beyond what the kernel had taken still reaches the peer. In non-blocking mode
   * (`settimeout(0)`) it throws `BlockingIOError` once the kernel takes no more, with part of
   * the data sent (how much is not known, as in Python).
   *
   * @example
   * yield* sock.sendall(Buffer.from('hello'));
   */
  sendall(data: Buffer | Uint8Array | string): Op<number> {
    return new SendWait(this, toBuffer(data, 'sendall()'), true);
  }

  /**
   * A file-like view with `readline()`, `read(n)`, `write(data)` (gevent's `makefile()`); it
   * shares this socket's buffer. Closing the file leaves the socket open.
   *
   * @example
   * const f = sock.makefile();
   * const line = yield* f.readline();
   */
  makefile(): SocketFile {
    return new SocketFile(this);
  }

  /**
   * Time limit in seconds for each later recv/send (null: wait forever); past it they throw
   * `SocketTimeout`. 0 is non-blocking mode: an operation that cannot finish at once throws
   * `BlockingIOError` (code EAGAIN) instead of waiting.
   *
   * @example
   * sock.settimeout(2);
   */
  settimeout(seconds: number | null): void {
    if (seconds !== null) checkSeconds(seconds, 'settimeout()');
    this._timeout = seconds;
  }

  /**
   * The time limit set by `settimeout`, or null.
   *
   * @example
   * if (sock.gettimeout() === 0) console.log('non-blocking');
   */
  gettimeout(): number | null {
    return this._timeout;
  }

  /**
   * Python's `setblocking(flag)`: `false` is `settimeout(0)`, `true` is `settimeout(null)`.
   *
   * @example
   * sock.setblocking(false);
   */
  setblocking(flag: boolean): void {
    this._timeout = checkBoolean(flag, 'setblocking(flag)', true) ? null : 0;
  }

  /**
   * Shuts down reading (`SHUT_RD`), writing (`SHUT_WR`: the peer sees EOF) or both.
   *
   * @example
   * sock.shutdown(SHUT_WR); // done sending; can still recv
   */
  shutdown(how: number): void {
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) {
      throw new RangeError(`shutdown() takes SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2), got ${describeValue(how)}`);
    }
    if (this._closed) throw osError('EBADF', 'shutdown() on a closed socket');
    if (how !== SHUT_WR) {
      this.eof = true;
      this.finishReader();
    }
    if (how !== SHUT_RD) this._ns.end();
  }

  /**
   * Closes the socket at once. A greenlet still reading it gets an EBADF error, as in gevent.
   *
   * @example
   * sock.close();
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.chunks.length = 0;
    this.head = this.scanIdx = this.scanBytes = this.buffered = 0;
    this._ns.destroy();
    const r = this._reader;
    if (r !== null) {
      this._reader = null;
      wakeError(r.g!, osError('EBADF', 'the socket was closed by another greenlet while this one read it'));
    }
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this._closed;
  }

  /** The local `[host, port]` (gevent's getsockname()). */
  getsockname(): Address {
    return toAddress(this._ns.localAddress, this._ns.localPort);
  }

  /** The peer's `[host, port]` (gevent's getpeername()). */
  getpeername(): Address {
    return toAddress(this._ns.remoteAddress, this._ns.remotePort);
  }

  /** Disables Nagle's algorithm (TCP_NODELAY), as `setsockopt` would. */
  setNoDelay(on = true): void {
    this._ns.setNoDelay(on);
  }
}

const wrappedSockets = new WeakMap<net.Socket, GSocket>();

/**
 * A file-like view of a socket (gevent's `socket.makefile()`): line and sized reads on the
 * socket's own buffer, so it mixes safely with `recv` on the same socket. As Python's file
 * object, `close()` closes only the file: the socket stays open until `sock.close()`.
 *
 * @example
 * const f = sock.makefile();
 * const request = yield* f.readline();
 * yield* f.write('HTTP/1.0 200 OK\r\n\r\n');
 */
export class SocketFile {
  private _closed = false;

  constructor(readonly socket: GSocket) {}

  private check(what: string): void {
    if (this._closed) throw osError('EBADF', `${what} on a closed file (makefile().close() was called); call sock.makefile() again`);
  }

  /**
   * One line with its '\n'; at EOF what is left, then an empty Buffer. With `limit`, at most
   * that many bytes (the rest of the line comes with the next call), as Python's
   * `readline(limit)`: the knob against a peer that never sends '\n'. `readline(0)` gives an
   * empty Buffer at once.
   *
   * @example
   * const line = yield* f.readline(8192);
   */
  readline(limit: number | null = -1): Op<Buffer> {
    this.check('readline()');
    if (limit === null) limit = -1; // Python's readline(None)
    if (limit !== -1) checkSize(limit, 'readline()');
    return new SocketRead(this.socket, LINE, limit);
  }

  /**
   * `n` bytes, fewer only at EOF (an empty Buffer once nothing is left); with no `n`,
   * everything until EOF. `read(0)` gives an empty Buffer at once.
   *
   * @example
   * const body = yield* f.read(contentLength);
   */
  read(n: number | null = -1): Op<Buffer> {
    this.check('read()');
    if (n === null) n = -1; // Python's read(None)
    if (n !== -1) checkSize(n, 'read()');
    return new SocketRead(this.socket, READ, n);
  }

  /**
   * Sends all of `data` (sendall).
   *
   * @example
   * yield* f.write('hello\n');
   */
  write(data: Buffer | Uint8Array | string): Op<number> {
    this.check('write()');
    return this.socket.sendall(data);
  }

  /** Nothing to flush: writes go straight to the socket. */
  flush(): void {
    this.check('flush()');
  }

  /**
   * Closes the file only; the socket stays open (Python's `with sock.makefile() as f:`).
   *
   * @example
   * f.close(); yield* sock.sendall('still open');
   */
  close(): void {
    this._closed = true;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this._closed;
  }
}

/** Registers a handle geventjs made for greenlets until it closes (see keep-alive.ts). */
function holdUntilClosed(h: net.Socket | net.Server): void {
  holdProcess(h);
  h.once('close', () => releaseProcess(h));
}

/** Waits for a connection to open. */
class ConnectWait extends Wait<GSocket> {
  private ns: net.Socket | null = null;

  constructor(
    private readonly address: Address,
    private readonly timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'createConnection({ timeout })');
  }

  park(g: Greenlet): void {
    const [host, port] = this.address;
    const ns = (this.ns = netConnect({ host: host || 'localhost', port, allowHalfOpen: true }));
    holdUntilClosed(ns);
    // Stays attached until connected: an error after an interruption (a late ECONNREFUSED or
    // ENOTFOUND from a lookup still running) is dropped instead of killing the process.
    const onError = (e: Error) => {
      if (g._wait === this) wakeError(g, e);
    };
    ns.on('error', onError);
    ns.once('connect', () => {
      ns.removeListener('error', onError);
      const sock = GSocket.wrap(ns);
      // gevent's create_connection leaves the timeout on the socket.
      if (this.timeout !== undefined && this.timeout !== null) sock._timeout = this.timeout;
      if (g._wait === this) wake(g, sock);
      else sock.close();
    });
  }

  override cancel(): void {
    // Interrupted (kill or Timeout): the half-made connection goes away.
    this.ns?.destroy();
  }

  override undo(_g: Greenlet, value: unknown): void {
    (value as GSocket).close();
  }

  override timedOut(): GSocket {
    throw new SocketTimeout(`createConnection(): connecting to ${this.address.join(':')} timed out`);
  }

  override describe(): string {
    return `createConnection([${this.address.join(', ')}])`;
  }
}

/**
 * Connects to `[host, port]` (gevent's `create_connection`); gives the connected socket.
 * With `{ timeout }`, connecting throws `SocketTimeout` after that many seconds, and the
 * socket keeps that timeout for later reads and writes. A kill or Timeout while connecting
 * destroys the half-open socket.
 *
 * @example
 * const sock = yield* createConnection(['localhost', 8080], { timeout: 5 });
 */
export function createConnection(address: Address, opts?: { timeout?: number | null } | null): Op<GSocket> {
  checkAddress(address, 'createConnection()');
  if (address[1] === 0) throw new RangeError('createConnection(): port 0 is not a port to connect to; pass the port the server listens on');
  const o = ownOptions(opts, 'createConnection(address, options)');
  const timeout = o.timeout;
  if (timeout !== undefined && timeout !== null) checkSeconds(timeout, 'createConnection({ timeout })');
  return new ConnectWait(address, timeout);
}

/** Waits for an incoming connection. */
class AcceptWait extends Wait<[GSocket, Address]> {
  constructor(private readonly listener: GListener) {
    super();
  }

  override poll(): [GSocket, Address] | typeof PARK {
    return this.listener._takeConnection(this);
  }

  park(_g: Greenlet): void {
    this.listener._acceptors.push(this);
  }

  override cancel(): void {
    this.listener._acceptors.remove(this);
  }

  override undo(_g: Greenlet, value: unknown): void {
    this.listener._giveBack(value as [GSocket, Address]);
  }

  override describe(): string {
    return 'accept()';
  }
}

/**
 * A listening TCP socket (gevent's listener with `accept()`), on a Node `net.Server`.
 * Make one with `listen([host, port])` or `GListener.wrap(netServer)`.
 *
 * @example
 * const listener = yield* listen(['127.0.0.1', 0]);
 * const [sock, addr] = yield* listener.accept();
 */
export class GListener {
  /** @internal Connections not yet accepted. */
  _pending: [GSocket, Address][] = [];
  /** @internal Greenlets waiting in accept(). */
  _acceptors = new ParkingLot<AcceptWait>();
  /** @internal Accepted sockets hold the process too (set for listeners geventjs made). */
  _holds = false;
  private _closed = false;

  private constructor(readonly server: net.Server) {
    server.on('connection', (ns: net.Socket) => this.onConnection(ns));
  }

  /**
   * Wraps a Node server; connections it gets from now on are handed out by `accept()`.
   * Wrapping the same server twice gives the same GListener.
   *
   * @example
   * const listener = GListener.wrap(net.createServer().listen(0));
   */
  static wrap(server: net.Server): GListener {
    if (!(server instanceof net.Server)) {
      throw new TypeError(`GListener.wrap() takes a net.Server, got ${describeValue(server)}`);
    }
    let l = wrappedServers.get(server);
    if (l === undefined) {
      l = new GListener(server);
      wrappedServers.set(server, l);
    }
    return l;
  }

  /**
   * The GListener already made for `server`, if any (for code that must not make one).
   *
   * @example
   * GListener.existing(server)?.close();
   */
  static existing(server: net.Server): GListener | undefined {
    return wrappedServers.get(server);
  }

  private onConnection(ns: net.Socket): void {
    // TCP_NODELAY stays off by default, as in gevent (setNoDelay() turns it on). Wrapped at
    // once: its bytes (and a reset before accept) are kept by the GSocket until someone reads.
    if (this._holds) holdUntilClosed(ns);
    const sock = GSocket.wrap(ns);
    const conn: [GSocket, Address] = [sock, sock.getpeername()];
    if (this._closed) {
      sock.close();
      return;
    }
    const w = this._acceptors.shift();
    if (w === null) this._pending.push(conn);
    else wake(w.g!, conn);
  }

  /** @internal A connection an interrupted accept() never received: to the next acceptor. */
  _giveBack(conn: [GSocket, Address]): void {
    if (this._closed) {
      conn[0].close();
      return;
    }
    const w = this._acceptors.shift();
    if (w !== null) wake(w.g!, conn);
    else this._pending.unshift(conn);
  }

  /** @internal A pending connection for `w`, or PARK. */
  _takeConnection(_w: AcceptWait): [GSocket, Address] | typeof PARK {
    if (this._closed) throw osError('EBADF', 'accept() on a closed listener; listen() again');
    return this._pending.shift() ?? PARK;
  }

  /**
   * Waits for the next connection: gives `[socket, [host, port]]`.
   *
   * @example
   * const [sock, [host, port]] = yield* listener.accept();
   */
  accept(): Op<[GSocket, Address]> {
    return new AcceptWait(this);
  }

  /** The bound `[host, port]`: the real port when listening on port 0. */
  getsockname(): Address {
    return serverAddress(this.server);
  }

  /**
   * Stops listening and closes connections not yet accepted. Greenlets in `accept()` get an
   * EBADF error.
   *
   * @example
   * listener.close();
   */
  close(): void {
    if (this._closed) return;
    this._markClosed();
    this.server.close();
  }

  /**
   * @internal The server was closed (by `close()`, or by Node's `server.close()` under the
   * net patch): close what was not accepted and wake the acceptors.
   */
  _markClosed(): void {
    if (this._closed) return;
    this._closed = true;
    for (const [sock] of this._pending.splice(0)) sock.close();
    const e = osError('EBADF', 'the listener was closed while this greenlet waited in accept()');
    for (let w = this._acceptors.shift(); w !== null; w = this._acceptors.shift()) wakeError(w.g!, e);
  }

  /** @internal The Node server listens again after a close (Node allows it): accept again. */
  _reopen(): void {
    this._closed = false;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this._closed;
  }
}

const wrappedServers = new WeakMap<net.Server, GListener>();

/**
 * A Node server's bound `[host, port]` (`['', 0]` before it listens).
 *
 * @example
 * const [, port] = serverAddress(server);
 */
export function serverAddress(server: net.Server): Address {
  const a = server.address();
  if (a === null || typeof a === 'string') return ['', 0];
  return [a.address, a.port];
}

/** Waits for a Node server to be listening. */
class ListenWait extends Wait<GListener> {
  private server: net.Server | null = null;

  constructor(
    private readonly address: Address,
    private readonly backlog: number | undefined,
  ) {
    super();
  }

  park(g: Greenlet): void {
    const [host, port] = this.address;
    const server = (this.server = netCreateServer({ allowHalfOpen: true, pauseOnConnect: false }));
    holdUntilClosed(server);
    const listener = GListener.wrap(server);
    listener._holds = true;
    // Stays attached: an error after an interruption is dropped, not a crash.
    server.on('error', (e: NodeJS.ErrnoException) => {
      releaseProcess(server); // it never listened, so it will not emit 'close'
      if (g._wait !== this) return;
      if (e.code === 'EADDRINUSE') {
        e.message = `listen(): address ${host || '*'}:${port} is already in use (EADDRINUSE); stop the other server or pick another port (0 lets the OS choose)`;
      }
      wakeError(g, e);
    });
    server.listen({ host: host || undefined, port, backlog: this.backlog }, () => {
      if (g._wait === this) wake(g, listener);
      else listener.close();
    });
  }

  override cancel(): void {
    if (this.server !== null) GListener.wrap(this.server).close();
  }

  override undo(_g: Greenlet, value: unknown): void {
    (value as GListener).close();
  }

  override describe(): string {
    return `listen([${this.address.join(', ')}])`;
  }
}

/**
 * Binds and listens on `[host, port]` (port 0: the OS picks one, read it with
 * `getsockname()`); gives the listener. A port in use throws an error with code EADDRINUSE.
 *
 * @example
 * const listener = yield* listen(['127.0.0.1', 0], { backlog: 128 });
 * const [, port] = listener.getsockname();
 */
export function listen(address: Address, opts?: { backlog?: number } | null): Op<GListener> {
  checkAddress(address, 'listen()');
  const backlog = ownOptions(opts, 'listen(address, options)').backlog;
  if (backlog !== undefined && (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0)) {
    throw new RangeError(`listen(): backlog must be a whole number >= 0, got ${describeValue(backlog)}`);
  }
  return new ListenWait(address, backlog);
}

/**
 * Reads lines until EOF: an Op of all of them (a convenience over `makefile().readline()`).
 *
 * @example
 * const lines = yield* readLines(sock);
 */
export function readLines(sock: GSocket): Op<string[]> {
  const f = sock.makefile();
  return opFrom(function* () {
    const lines: string[] = [];
    for (let l = yield* f.readline(); l.length > 0; l = yield* f.readline()) lines.push(l.toString());
    return lines;
  }, 'readLines()');
}

// The kinds made per read and write keep their hidden classes across full GCs
// (hidden-classes.ts); the socket they are made on has no handle (never connected).
{
  const sock = keepHiddenClass(GSocket.wrap(new net.Socket()));
  keepOpClass(new ReadWait(sock));
  keepOpClass(new SocketRead(sock, RECV, 1));
  keepOpClass(new SendWait(sock, Buffer.alloc(0), true));
}
