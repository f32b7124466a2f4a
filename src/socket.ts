/**
 * Cooperative sockets on Node's own `net` (gevent.socket). A `GSocket` keeps the bytes Node
 * hands it in its own list of chunks and gives them out only when a reading greenlet actually
 * receives them, so a `recv` cut short by a kill or a Timeout loses nothing. Reading pauses
 * the Node socket while nobody reads and the buffer is full (the peer then slows down), and
 * `sendall` waits for 'drain'.
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
import { checkSeconds, describeValue } from './arg-checks.js';
import { runNow, wake, wakeError } from './hub.js';
import { Op, opFrom, PARK, Wait } from './op.js';
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
  constructor(
    private readonly sock: GSocket,
    readonly kind: number,
    readonly n: number,
  ) {
    super();
    if (sock._timeout !== null) this.expireAfter(sock._timeout, 'settimeout()');
  }

  override poll(): Buffer | typeof PARK {
    const s = this.sock;
    if (s._reader !== null) {
      throw new ConcurrentObjectUseError(
        `${this.describe()}: another greenlet (${s._reader.g}) is already reading this socket; read it from one greenlet at a time`,
      );
    }
    return s._tryRead(this);
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
    return ['recv', 'recvExactly', 'readline', 'read'][this.kind] + `(${this.n})`;
  }
}

/** Waits until Node's write buffer has drained (for `send`/`sendall`). */
class DrainWait extends Wait<number> {
  constructor(
    private readonly sock: GSocket,
    private readonly data: Buffer | null,
    private readonly all: boolean,
  ) {
    super();
    if (sock._timeout !== null) this.expireAfter(sock._timeout, 'settimeout()');
  }

  override poll(): number | typeof PARK {
    const s = this.sock;
    s._checkWritable(this.all ? 'sendall()' : 'send()');
    const data = this.data!;
    const n = data.length;
    if (this.all) return s._ns.write(data) ? n : PARK;
    // send(): write only once the buffer has room, as a non-blocking send would.
    if (!s._ns.writableNeedDrain) {
      s._ns.write(data);
      return n;
    }
    return PARK;
  }

  park(_g: Greenlet): void {
    this.sock._drainers.push(this);
  }

  override cancel(): void {
    this.sock._drainers.remove(this);
  }

  /** Drained: sendall is done; send can now write. */
  _drained(g: Greenlet): void {
    if (!this.all) this.sock._ns.write(this.data!);
    wake(g, this.data!.length);
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
  /** @internal Writers waiting for 'drain'. */
  _drainers = new ParkingLot<DrainWait>();
  /** @internal settimeout() in seconds, or null (block forever). */
  _timeout: number | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private paused = false;
  private error: Error | null = null;
  private _closed = false;

  private constructor(ns: net.Socket) {
    this._ns = ns;
    // Each handler runs the greenlet it woke before returning (runNow): a reader resumes
    // inside the 'data' event rather than one microtask hop later.
    ns.on('data', (chunk: Buffer) => {
      this.onData(chunk);
      runNow();
    });
    ns.on('end', () => this.onEnd());
    ns.on('error', (e: Error) => this.onError(e));
    ns.on('drain', () => {
      this.onDrain();
      runNow();
    });
    ns.on('close', () => this.onClose());
  }

  /**
   * Wraps an existing Node socket (connected or connecting). Its 'data' from now on is read
   * through `recv` and friends; do not add other 'data' listeners.
   *
   * @example
   * const sock = GSocket.wrap(net.connect(port, '127.0.0.1'));
   */
  static wrap(ns: net.Socket): GSocket {
    if (!(ns instanceof net.Socket)) {
      throw new TypeError(`GSocket.wrap() takes a net.Socket, got ${describeValue(ns)}`);
    }
    return new GSocket(ns);
  }

  private onData(chunk: Buffer): void {
    const r0 = this._reader;
    // The hot path: a recv() waits on an empty buffer and the chunk fits: hand it over whole.
    if (r0 !== null && this.buffered === 0 && r0.kind === RECV && chunk.length <= r0.n) {
      this._reader = null;
      wake(r0.g!, chunk);
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const r = this._reader;
    if (r !== null) {
      const v = this._tryRead(r);
      if (v !== PARK) {
        this._reader = null;
        wake(r.g!, v);
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
    for (let w = this._drainers.shift(); w !== null; w = this._drainers.shift()) wakeError(w.g!, e);
  }

  private onClose(): void {
    // Closed without 'end' or 'error' (destroyed): nothing more will arrive.
    this.eof = true;
    this.finishReader();
    if (this._drainers.size === 0) return; // the common case: no error object (and stack) to make
    const e = osError('EPIPE', 'the socket was closed before the data could be sent');
    for (let w = this._drainers.shift(); w !== null; w = this._drainers.shift()) wakeError(w.g!, e);
  }

  private onDrain(): void {
    for (let w = this._drainers.shift(); w !== null; w = this._drainers.shift()) w._drained(w.g!);
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
    switch (r.kind) {
      case RECV:
        if (n === 0) return EMPTY;
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
    this.chunks.unshift(b);
    this.buffered += b.length;
  }

  /** Length of the first line (with its '\n') within `limit` bytes (all if < 0), else 0. */
  private lineEnd(limit: number): number {
    let seen = 0;
    for (const c of this.chunks) {
      const i = c.indexOf(10);
      if (i >= 0) {
        const end = seen + i + 1;
        return limit >= 0 && end > limit ? limit : end;
      }
      seen += c.length;
      if (limit >= 0 && seen >= limit) return limit;
    }
    return 0;
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    const chunks = this.chunks;
    const first = chunks[0];
    let out: Buffer;
    if (first.length === n) {
      chunks.shift();
      out = first;
    } else if (first.length > n) {
      chunks[0] = first.subarray(n);
      out = first.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = chunks[0];
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) chunks.shift();
        else chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    if (this.paused && this.buffered < HIGH_WATER_MARK) {
      this.paused = false;
      this._ns.resume();
    }
    return out;
  }

  /** @internal Throws the clear error for a write on a closed or failed socket. */
  _checkWritable(what: string): void {
    if (this._closed) throw osError('EBADF', `${what} on a closed socket; open a new connection`);
    if (this.error !== null) throw this.error;
    if (!this._ns.writable) throw osError('EPIPE', `${what} after shutdown(SHUT_WR) or after the peer reset the connection`);
  }

  /**
   * Receives up to `n` bytes: waits until at least one byte is there. An empty Buffer means
   * the peer closed its side (EOF).
   *
   * @example
   * const data = yield* sock.recv(4096);
   * if (data.length === 0) return; // peer closed
   */
  recv(n: number): Op<Buffer> {
    checkSize(n, 'recv()');
    return new ReadWait(this, RECV, n);
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
    return new ReadWait(this, EXACT, n);
  }

  /**
   * Sends `data` once Node's write buffer has room; gives the number of bytes sent (all).
   *
   * @example
   * const n = yield* sock.send('hi');
   */
  send(data: Buffer | Uint8Array | string): Op<number> {
    return new DrainWait(this, toBuffer(data, 'send()'), false);
  }

  /**
   * Sends all of `data` and waits until Node's write buffer drains (backpressure).
   *
   * @example
   * yield* sock.sendall(Buffer.from('hello'));
   */
  sendall(data: Buffer | Uint8Array | string): Op<number> {
    return new DrainWait(this, toBuffer(data, 'sendall()'), true);
  }

  /**
   * A file-like view with `readline()`, `read(n)`, `write(data)` (gevent's `makefile()`); it
   * shares this socket's buffer.
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
   * `SocketTimeout`.
   *
   * @example
   * sock.settimeout(2);
   */
  settimeout(seconds: number | null): void {
    if (seconds !== null) checkSeconds(seconds, 'settimeout()');
    this._timeout = seconds;
  }

  /** The time limit set by `settimeout`, or null. */
  gettimeout(): number | null {
    return this._timeout;
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
    this.buffered = 0;
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

/**
 * A file-like view of a socket (gevent's `socket.makefile()`): line and sized reads on the
 * socket's own buffer, so it mixes safely with `recv` on the same socket.
 *
 * @example
 * const f = sock.makefile();
 * const request = yield* f.readline();
 * yield* f.write('HTTP/1.0 200 OK\r\n\r\n');
 */
export class SocketFile {
  constructor(readonly socket: GSocket) {}

  /**
   * One line with its '\n' (at most `limit` bytes if given); at EOF what is left, then an
   * empty Buffer.
   */
  readline(limit = -1): Op<Buffer> {
    if (limit !== -1) checkSize(limit, 'readline()');
    return new ReadWait(this.socket, LINE, limit);
  }

  /** `n` bytes, fewer only at EOF; with no `n`, everything until EOF. */
  read(n = -1): Op<Buffer> {
    if (n !== -1) checkSize(n, 'read()');
    return new ReadWait(this.socket, READ, n);
  }

  /** Sends all of `data` (sendall). */
  write(data: Buffer | Uint8Array | string): Op<number> {
    return this.socket.sendall(data);
  }

  /** Nothing to flush: writes go straight to the socket. */
  flush(): void {}

  /** Closes the socket. */
  close(): void {
    this.socket.close();
  }
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
    const onError = (e: Error) => {
      if (g._wait === this) wakeError(g, e);
    };
    ns.once('error', onError);
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
 * socket keeps that timeout for later reads and writes.
 *
 * @example
 * const sock = yield* createConnection(['localhost', 8080], { timeout: 5 });
 */
export function createConnection(address: Address, opts: { timeout?: number | null } = {}): Op<GSocket> {
  checkAddress(address, 'createConnection()');
  if (address[1] === 0) throw new RangeError('createConnection(): port 0 is not a port to connect to; pass the port the server listens on');
  return new ConnectWait(address, opts.timeout);
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
  private _closed = false;

  private constructor(readonly server: net.Server) {
    server.on('connection', (ns: net.Socket) => this.onConnection(ns));
  }

  /**
   * Wraps a Node server; connections it gets from now on are handed out by `accept()`.
   *
   * @example
   * const listener = GListener.wrap(net.createServer().listen(0));
   */
  static wrap(server: net.Server): GListener {
    if (!(server instanceof net.Server)) {
      throw new TypeError(`GListener.wrap() takes a net.Server, got ${describeValue(server)}`);
    }
    return new GListener(server);
  }

  private onConnection(ns: net.Socket): void {
    // TCP_NODELAY stays off by default, as in gevent (setNoDelay() turns it on). Wrapped at
    // once: its bytes (and a reset before accept) are kept by the GSocket until someone reads.
    const sock = GSocket.wrap(ns);
    const conn: [GSocket, Address] = [sock, sock.getpeername()];
    const w = this._acceptors.shift();
    if (w === null) this._pending.push(conn);
    else wake(w.g!, conn);
  }

  /** @internal A connection an interrupted accept() never received: to the next acceptor. */
  _giveBack(conn: [GSocket, Address]): void {
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
    const a = this.server.address();
    if (a === null || typeof a === 'string') return ['', 0];
    return [a.address, a.port];
  }

  /**
   * Stops listening and closes connections not yet accepted. Greenlets in `accept()` get an
   * EBADF error.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.server.close();
    for (const [sock] of this._pending.splice(0)) sock.close();
    const e = osError('EBADF', 'the listener was closed while this greenlet waited in accept()');
    for (let w = this._acceptors.shift(); w !== null; w = this._acceptors.shift()) wakeError(w.g!, e);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this._closed;
  }
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
    const listener = GListener.wrap(server);
    server.once('error', (e: NodeJS.ErrnoException) => {
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
    this.server?.close();
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
export function listen(address: Address, opts: { backlog?: number } = {}): Op<GListener> {
  checkAddress(address, 'listen()');
  const backlog = opts.backlog;
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
