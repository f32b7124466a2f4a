/**
 * gevent.server: `StreamServer` runs `handle(socket, address)` in a greenlet per TCP
 * connection (or in a Pool), `DatagramServer` runs `handle(data, address)` per UDP datagram.
 * With `{ workers: N }` a StreamServer serves from N processes through Node's `cluster`.
 *
 * @example
 * import { run } from 'geventjs';
 * import { StreamServer } from 'geventjs/server';
 * const server = new StreamServer(['127.0.0.1', 0], function* (sock) {
 *   for (let d = yield* sock.recv(4096); d.length > 0; d = yield* sock.recv(4096)) yield* sock.sendall(d);
 * });
 * await run(function* () { yield* server.serveForever(); });
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import * as dgram from 'node:dgram';
import { abortable } from './abortable.js';
import { Greenlet, spawn } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { doneOp, Op, opFrom, PARK, Wait } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { Pool } from './pool.js';
import { type Address, GListener, type GSocket, listen } from './socket.js';
import { joinall, killall } from './wait.js';

/**
 * What `{ spawn }` may be: a Pool (anything whose `spawn` is an Op of a Greenlet).
 *
 * @example
 * new StreamServer(['127.0.0.1', 0], handle, { spawn: new Pool(100) });
 */
export interface SpawnPool {
  spawn(fn: (...args: any[]) => unknown, ...args: any[]): Op<Greenlet<any>>;
}

/**
 * A connection handler: a generator function (or a plain or async one).
 *
 * @example
 * const hello: StreamHandler = function* (sock) { yield* sock.sendall('hello'); };
 */
export type StreamHandler = (socket: GSocket, address: Address) => unknown;

/**
 * Options of `StreamServer`.
 *
 * @example
 * const opts: StreamServerOptions = { spawn: 1000, workers: 2, backlog: 511 };
 */
export interface StreamServerOptions {
  /** A Pool, a greatest number of handlers at once, or omitted: a greenlet per connection. */
  spawn?: SpawnPool | number | null;
  /** Serve from this many processes through Node's cluster (the primary forks them). */
  workers?: number;
  /** listen() backlog. */
  backlog?: number;
}

/** Waits until the server stops (serveForever). */
class ServerWait extends Wait<void> {
  constructor(
    private readonly lot: ParkingLot<ServerWait>,
    private readonly ready: () => boolean,
    private readonly label: string,
  ) {
    super();
  }

  override poll(): void | typeof PARK {
    return this.ready() ? undefined : PARK;
  }

  park(): void {
    this.lot.push(this);
  }

  override cancel(): void {
    this.lot.remove(this);
  }

  override describe(): string {
    return this.label;
  }
}

function wakeAll(lot: ParkingLot<ServerWait>): void {
  for (let w = lot.shift(); w !== null; w = lot.shift()) wake(w.g!, undefined);
}

/** Runs a handler of any kind to the end inside a greenlet. */
function* runHandler(handle: (...args: any[]) => unknown, args: unknown[]): Generator<unknown, void, unknown> {
  const r = handle(...args) as any;
  if (r !== null && typeof r === 'object' && typeof r.next === 'function' && typeof r[Symbol.iterator] === 'function') {
    yield* r;
  } else if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
    yield r;
  }
}

function checkHandle(handle: unknown, what: string): void {
  if (typeof handle !== 'function') {
    throw new TypeError(`${what} needs a handle function, got ${describeValue(handle)}; pass e.g. function* (socket, address) { ... }`);
  }
}

function checkAddress(address: unknown, what: string): asserts address is Address {
  if (!Array.isArray(address) || address.length !== 2 || typeof address[0] !== 'string' || typeof address[1] !== 'number') {
    throw new TypeError(`${what} listens on [host, port], got ${describeValue(address)}; pass e.g. ['127.0.0.1', 0]`);
  }
}

/**
 * A TCP server (gevent's StreamServer). `handle(socket, address)` runs in a new greenlet
 * per connection, and the socket is closed when it returns.
 *
 * @example
 * const server = new StreamServer(['127.0.0.1', 0], function* (sock, [host]) {
 *   yield* sock.sendall(`hello ${host}\n`);
 * }, { spawn: 100 });
 * yield* server.start();
 * console.log(server.serverPort);
 * yield* server.stop({ timeout: 1 });
 */
export class StreamServer {
  /** Handler greenlets still running. */
  readonly handlers = new Set<Greenlet<any>>();
  private listener: GListener | null;
  private readonly bindAddress: Address | null;
  private readonly pool: SpawnPool | null;
  private readonly workers: number;
  private readonly backlog: number | undefined;
  private acceptor: Greenlet<any> | null = null;
  private _started = false;
  private _closed = false;
  private _address: Address = ['', 0];
  private readonly stoppedLot = new ParkingLot<ServerWait>();
  private readonly clusterWorkers: Worker[] = [];

  constructor(
    listener: Address | GListener,
    private readonly handle: StreamHandler,
    opts: StreamServerOptions = {},
  ) {
    checkHandle(handle, 'new StreamServer()');
    if (listener instanceof GListener) {
      this.listener = listener;
      this.bindAddress = null;
    } else {
      checkAddress(listener, 'new StreamServer()');
      this.listener = null;
      this.bindAddress = listener;
    }
    const spawnOpt = opts.spawn ?? null;
    this.pool = null;
    if (typeof spawnOpt === 'number') {
      if (!Number.isInteger(spawnOpt) || spawnOpt < 1) {
        throw new RangeError(`new StreamServer({ spawn }): a size must be a whole number >= 1, got ${spawnOpt}`);
      }
      this.pool = new Pool(spawnOpt); // as gevent: a size means a Pool of that size
    } else if (spawnOpt !== null) {
      if (typeof (spawnOpt as SpawnPool).spawn !== 'function') {
        throw new TypeError(`new StreamServer({ spawn }) takes a Pool or a size, got ${describeValue(spawnOpt)}`);
      }
      this.pool = spawnOpt;
    }
    const workers = opts.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RangeError(`new StreamServer({ workers }) must be a whole number of processes >= 0, got ${describeValue(workers)}`);
    }
    this.workers = workers;
    this.backlog = opts.backlog;
  }

  /** True once `start()` finished. */
  get started(): boolean {
    return this._started;
  }

  /** True once `stop()` was called. */
  get closed(): boolean {
    return this._closed;
  }

  /** The bound `[host, port]` (the real port after `start()` on port 0). */
  get address(): Address {
    return this._address;
  }

  /** The bound port, after `start()`. */
  get serverPort(): number {
    return this._address[1];
  }

  /** How many handlers are running now. */
  handlerCount(): number {
    return this.handlers.size;
  }

  /** True in the primary process of a `workers` server: it forks, and serves nothing itself. */
  private get isPrimaryOfCluster(): boolean {
    return this.workers > 0 && cluster.isPrimary;
  }

  /**
   * Binds (if given an address) and starts accepting connections. With `workers`, the
   * primary forks them and finishes once all listen.
   *
   * @example
   * yield* server.start();
   */
  start(): Op<void> {
    if (this._started || this._closed) {
      return doneOp(undefined);
    }
    return opFrom(() => (this.isPrimaryOfCluster ? this.startCluster() : this.startServing()), 'StreamServer.start()');
  }

  private *startServing(): Generator<unknown, void, unknown> {
    if (this.listener === null) this.listener = yield* listen(this.bindAddress!, { backlog: this.backlog });
    this._address = this.listener.getsockname();
    this._started = true;
    this.acceptor = spawn(() => this.acceptLoop());
    if (this.workers > 0 && cluster.isWorker) {
      // The primary's stop() disconnects us: stop gracefully, so the process can exit.
      cluster.worker!.once('disconnect', () => spawn(() => this.stop()));
    }
  }

  private *startCluster(): Generator<unknown, void, unknown> {
    const [host, port] = this.bindAddress ?? this.listener!.getsockname();
    for (let i = 0; i < this.workers; i++) this.clusterWorkers.push(cluster.fork());
    const listening = this.clusterWorkers.map(
      (w) =>
        new Promise<number>((resolve, reject) => {
          w.once('listening', (a) => resolve(a.port));
          w.once('exit', (code) => reject(new Error(`StreamServer: worker ${w.process.pid} exited (code ${code}) before listening`)));
        }),
    );
    const ports = yield* abortable(() => Promise.all(listening));
    this._address = [host, ports[0]];
    this._started = true;
  }

  private *acceptLoop(): Generator<unknown, void, unknown> {
    const listener = this.listener!;
    for (;;) {
      let conn: [GSocket, Address];
      try {
        conn = yield* listener.accept();
      } catch (e) {
        if (listener.closed) return;
        throw e;
      }
      const [sock, address] = conn;
      // The handler is the greenlet's own function (no wrapper generator to pass through on
      // every resume); its socket is closed when it dies, whatever the way.
      const g: Greenlet<any> =
        this.pool !== null ? yield* this.pool.spawn(this.handle, sock, address) : spawn(this.handle, sock, address);
      g.rawlink(() => sock.close());
      this.track(g);
    }
  }

  private track(g: Greenlet<any>): void {
    if (g.dead) return;
    this.handlers.add(g);
    g.rawlink(() => this.handlers.delete(g));
  }

  /**
   * Starts if needed, then waits until `stop()` is called (gevent's serve_forever).
   *
   * @example
   * yield* server.serveForever();
   */
  serveForever(): Op<void> {
    return opFrom(
      function* (this: StreamServer) {
        yield* this.start();
        yield* new ServerWait(this.stoppedLot, () => this._closed, 'StreamServer.serveForever()');
      }.bind(this),
      'StreamServer.serveForever()',
    );
  }

  /**
   * Stops gracefully: stops accepting, lets running handlers finish for up to `timeout`
   * seconds (default 1, as gevent), then kills the rest. With `workers`, disconnects the
   * worker processes and waits for them to exit.
   *
   * @example
   * yield* server.stop({ timeout: 5 });
   */
  stop(opts: { timeout?: number | null } = {}): Op<void> {
    const timeout = opts.timeout === undefined ? 1 : opts.timeout;
    if (timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0))) {
      throw new RangeError(`StreamServer.stop({ timeout }) must be a number of seconds >= 0 or null, got ${describeValue(timeout)}`);
    }
    return opFrom(() => this.stopNow(timeout), 'StreamServer.stop()');
  }

  private *stopNow(timeout: number | null): Generator<unknown, void, unknown> {
    if (this._closed) return;
    this._closed = true;
    this.listener?.close();
    if (this.acceptor !== null) yield* this.acceptor.kill();
    if (this.clusterWorkers.length > 0) yield* stopWorkers(this.clusterWorkers, timeout);
    if (this.handlers.size > 0) yield* joinall([...this.handlers], { timeout });
    if (this.handlers.size > 0) yield* killall([...this.handlers]);
    wakeAll(this.stoppedLot);
  }
}

/** Disconnects cluster workers (they stop their servers) and kills any still alive after. */
function stopWorkers(workers: Worker[], timeout: number | null): Op<void> {
  const exits = workers.map(
    (w) =>
      new Promise<void>((resolve) => {
        if (w.isDead()) resolve();
        else w.once('exit', () => resolve());
      }),
  );
  return opFrom(function* () {
    for (const w of workers) if (w.isConnected()) w.disconnect();
    const grace = (timeout ?? 1) + 1;
    const timer = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, grace * 1000);
    try {
      yield* abortable(() => Promise.all(exits));
    } finally {
      clearTimeout(timer);
    }
  }, 'stopWorkers()');
}

/**
 * A datagram handler: `handle(data, [host, port])`.
 *
 * @example
 * const upper: DatagramHandler = function* (data, address) { yield* server.sendto(data.toString().toUpperCase(), address); };
 */
export type DatagramHandler = (data: Buffer, address: Address) => unknown;

/** Waits for a datagram to be handed to the OS. */
class SendtoWait extends Wait<number> {
  constructor(
    private readonly sock: dgram.Socket,
    private readonly data: Buffer,
    private readonly address: Address,
  ) {
    super();
  }

  park(g: Greenlet): void {
    this.sock.send(this.data, this.address[1], this.address[0], (err, n) => {
      if (g._wait !== this) return;
      if (err) wakeError(g, err);
      else wake(g, n);
    });
  }
}

/**
 * A UDP server (gevent's DatagramServer): `handle(data, address)` runs in a new greenlet per
 * datagram; reply with `sendto`.
 *
 * @example
 * const server = new DatagramServer(['127.0.0.1', 0], function* (data, address) {
 *   yield* server.sendto(data, address);
 * });
 * yield* server.start();
 */
export class DatagramServer {
  /** Handler greenlets still running. */
  readonly handlers = new Set<Greenlet<any>>();
  private sock: dgram.Socket | null = null;
  private _address: Address = ['', 0];
  private _started = false;
  private _closed = false;
  private readonly stoppedLot = new ParkingLot<ServerWait>();

  constructor(
    private readonly bindAddress: Address,
    private readonly handle: DatagramHandler,
  ) {
    checkAddress(bindAddress, 'new DatagramServer()');
    checkHandle(handle, 'new DatagramServer()');
  }

  /** The bound `[host, port]` after `start()`. */
  get address(): Address {
    return this._address;
  }

  /** The bound port after `start()`. */
  get serverPort(): number {
    return this._address[1];
  }

  /** True once `start()` finished. */
  get started(): boolean {
    return this._started;
  }

  /** True once `stop()` was called. */
  get closed(): boolean {
    return this._closed;
  }

  /** Binds and starts handling datagrams. */
  start(): Op<void> {
    if (this._started || this._closed) return doneOp(undefined);
    const [host, port] = this.bindAddress;
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const bound = () =>
      new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, host || undefined, () => {
          sock.removeListener('error', reject);
          resolve();
        });
      });
    return opFrom(
      function* (this: DatagramServer) {
        yield* abortable(bound);
        this.sock = sock;
        const a = sock.address();
        this._address = [a.address, a.port];
        this._started = true;
        sock.on('message', (data, rinfo) => this.onMessage(data, [rinfo.address, rinfo.port]));
        sock.on('error', () => {}); // ICMP errors from sendto surface in its callback
      }.bind(this),
      'DatagramServer.start()',
    );
  }

  private onMessage(data: Buffer, address: Address): void {
    const g = spawn(runHandler, this.handle, [data, address]);
    this.handlers.add(g);
    g.rawlink(() => this.handlers.delete(g));
  }

  /**
   * Sends `data` to `[host, port]` from the server's socket; gives the bytes sent.
   *
   * @example
   * yield* server.sendto('pong', address);
   */
  sendto(data: Buffer | string, address: Address): Op<number> {
    if (this.sock === null) throw new Error('DatagramServer.sendto() before start(); yield* server.start() first');
    checkAddress(address, 'DatagramServer.sendto()');
    return new SendtoWait(this.sock, typeof data === 'string' ? Buffer.from(data) : data, address);
  }

  /** Starts if needed, then waits until `stop()`. */
  serveForever(): Op<void> {
    return opFrom(
      function* (this: DatagramServer) {
        yield* this.start();
        yield* new ServerWait(this.stoppedLot, () => this._closed, 'DatagramServer.serveForever()');
      }.bind(this),
      'DatagramServer.serveForever()',
    );
  }

  /** Closes the socket, lets handlers finish for up to `timeout` seconds, kills the rest. */
  stop(opts: { timeout?: number | null } = {}): Op<void> {
    const timeout = opts.timeout === undefined ? 1 : opts.timeout;
    return opFrom(
      function* (this: DatagramServer) {
        if (this._closed) return;
        this._closed = true;
        this.sock?.close();
        if (this.handlers.size > 0) yield* joinall([...this.handlers], { timeout });
        if (this.handlers.size > 0) yield* killall([...this.handlers]);
        wakeAll(this.stoppedLot);
      }.bind(this),
      'DatagramServer.stop()',
    );
  }
}
