/**
 * gevent.server: `StreamServer` runs `handle(socket, address)` in a greenlet per TCP
 * connection (or in a Pool), `DatagramServer` runs `handle(data, address)` per UDP datagram.
 * With `{ workers: N }` a StreamServer serves from N processes through Node's `cluster`
 * (see server-cluster.ts for the primary's arbiter).
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
import * as net from 'node:net';
import { Greenlet, spawn } from './greenlet.js';
import { checkBoolean, describeValue, ownOptions } from './arg-checks.js';
import { holdProcess, releaseProcess } from './keep-alive.js';
import { Op, opFrom } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { type Address, GListener, GSocket } from './socket.js';
import {
  checkAddress,
  checkHandle,
  checkSpawn,
  checkStopTimeout,
  finishHandlers,
  NODE_DEFAULT_BACKLOG,
  reportLine,
  handlerSteps,
  type SpawnPool,
  BindWait,
  ServerLifecycle,
  StateWait,
  wakeAll,
} from './server-common.js';
import { inheritedPort, onStopRequest, tellPrimary, WorkerArbiter } from './server-cluster.js';
import { signalName, stopOnSignals } from './server-signals.js';

export { DatagramServer, type DatagramHandler, type DatagramServerOptions } from './datagram-server.js';

// Captured at load: a monkey patch replaces it on the shared `net` module later.
const netCreateServer = net.createServer;

export type { SpawnPool } from './server-common.js';

/**
 * A connection handler: a generator function (or a plain or async one).
 *
 * @example
 * const hello: StreamHandler = function* (sock) { yield* sock.sendall('hello'); };
 */
export type StreamHandler = (socket: GSocket, address: Address) => unknown;

/**
 * Options of `StreamServer` (own properties only are read).
 *
 * @example
 * const opts: StreamServerOptions = { spawn: 1000, workers: 2, backlog: 511, maxConnections: 2000 };
 */
export interface StreamServerOptions {
  /** A Pool, a greatest number of handlers at once, or omitted: a greenlet per connection. */
  spawn?: SpawnPool | number | null;
  /** Serve from this many processes through Node's cluster (the primary forks them). */
  workers?: number;
  /** listen() backlog (Node's default: 511). */
  backlog?: number;
  /**
   * The most connections held at once (handled plus waiting for a pool slot); the OS accepts
   * more and they are closed at once. Default: pool size + backlog with a bounded pool, no
   * limit without one.
   */
  maxConnections?: number;
  /** Seconds `serveForever()`'s own stop and the SIGTERM/SIGINT stop give handlers (default 1). */
  stopTimeout?: number | null;
  /** With `workers`: stop gracefully on SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
}

const PEER_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * A handler greenlet's body: the user's handler, then the socket closed whatever the end. A
 * handler killed by the peer (a reset or a broken pipe) gets one line, not a stack: it is the
 * network's doing, not a bug.
 */
function* serveConnection(handle: StreamHandler, sock: GSocket, address: Address): Generator<unknown, void, unknown> {
  try {
    yield* handlerSteps(handle, sock, address);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (typeof code !== 'string' || !PEER_ERRORS.has(code)) throw e;
    reportLine(`StreamServer handler for ${address[0]}:${address[1]} ended: the peer ${code === 'EPIPE' ? 'stopped reading (EPIPE)' : `dropped the connection (${code})`}`);
  } finally {
    sock.close();
  }
}

function ignoreError(): void {}

/** Per address, how many workers-servers this process made: the key that pairs primary and worker. */
const clusterKeys = new Map<string, number>();


/**
 * A TCP server (gevent's StreamServer). `handle(socket, address)` runs in a new greenlet (or
 * a pool slot) per connection, and the socket is closed when it returns.
 *
 * While a bounded pool is full the server reads nothing from the connections that wait for a
 * slot, and holds at most `maxConnections` of them (see the options).
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
  private readonly userListener: GListener | null;
  private readonly bindAddress: Address;
  private readonly pool: SpawnPool | null;
  private readonly workers: number;
  private readonly backlog: number | undefined;
  private readonly maxConnections: number | undefined;
  private readonly stopTimeout: number | null;
  private readonly handleSignals: boolean;
  private readonly clusterKey: string;
  private readonly life = new ServerLifecycle();
  private _closed = false;
  private _address: Address = ['', 0];
  /** Bumped by every stop: serveForever() waits for its generation to end. */
  private generation = 0;
  private failure: Error | null = null;
  private nodeServer: net.Server | null = null;
  private listener: GListener | null = null;
  /** Accepted connections not yet read from (paused), waiting for the accept loop. */
  private readonly waiting: net.Socket[] = [];
  private readonly acceptorLot = new ParkingLot<StateWait>();
  private acceptor: Greenlet<any> | null = null;
  /** The connection the accept loop holds while it waits for a pool slot. */
  private held: GSocket | null = null;
  private arbiter: WorkerArbiter | null = null;
  private cleanups: Array<() => void> = [];

  constructor(listener: Address | GListener, handle: StreamHandler, opts?: StreamServerOptions);
  constructor(
    listener: Address | GListener,
    private readonly handle: StreamHandler,
    opts?: StreamServerOptions,
  ) {
    checkHandle(handle, 'new StreamServer()');
    if (listener instanceof GListener) {
      this.userListener = listener;
      this.bindAddress = listener.getsockname();
    } else {
      checkAddress(listener, 'new StreamServer()');
      this.userListener = null;
      this.bindAddress = [listener[0], listener[1]];
    }
    const o = ownOptions(opts, 'new StreamServer(address, handle, options)');
    this.pool = checkSpawn(o.spawn, 'new StreamServer({ spawn })');
    const workers = o.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) {
      throw new RangeError(`new StreamServer({ workers }) must be a whole number of processes >= 0, got ${describeValue(workers)}`);
    }
    this.workers = workers;
    const backlog = o.backlog;
    if (backlog !== undefined && (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0)) {
      throw new RangeError(`new StreamServer({ backlog }) must be a whole number >= 0, got ${describeValue(backlog)}`);
    }
    this.backlog = backlog;
    const maxConnections = o.maxConnections;
    if (maxConnections !== undefined && (typeof maxConnections !== 'number' || !(maxConnections >= 1) || (!Number.isInteger(maxConnections) && maxConnections !== Infinity))) {
      throw new RangeError(`new StreamServer({ maxConnections }) must be a whole number >= 1 (or Infinity), got ${describeValue(maxConnections)}`);
    }
    const poolSize = (this.pool as { size?: unknown } | null)?.size;
    this.maxConnections =
      maxConnections ?? (typeof poolSize === 'number' && Number.isFinite(poolSize) ? poolSize + (backlog ?? NODE_DEFAULT_BACKLOG) : undefined);
    const stopTimeout = o.stopTimeout === undefined ? 1 : o.stopTimeout;
    checkStopTimeout(stopTimeout, 'new StreamServer({ stopTimeout })');
    this.stopTimeout = stopTimeout;
    this.handleSignals = checkBoolean(o.handleSignals, 'new StreamServer({ handleSignals })', true);
    const where = `${this.bindAddress[0]}:${this.bindAddress[1]}`;
    const n = clusterKeys.get(where) ?? 0;
    if (workers > 0) clusterKeys.set(where, n + 1);
    this.clusterKey = `${where}#${n}`;
  }

  /** True while the server is started (between `start()` and `stop()`). */
  get started(): boolean {
    return this.life.state === 'started';
  }

  /** True once `stop()` was called (until a new `start()`). */
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

  private get isWorkerOfCluster(): boolean {
    return this.workers > 0 && cluster.isWorker;
  }

  /**
   * Binds (if given an address) and starts accepting connections. With `workers`, the
   * primary forks them and finishes once each one's server listens (or raises its error).
   * A second `start()` while one runs waits for it; on a started server it does nothing; after
   * `stop()` it binds again (the same port).
   *
   * @example
   * yield* server.start();
   */
  start(): Op<void> {
    return opFrom(() => this.startOnce(), 'StreamServer.start()');
  }

  private *startOnce(): Generator<unknown, void, unknown> {
    if ((yield* this.life.settled('StreamServer.start() (another start or stop is under way)')) === 'started') return;
    this.life.set('starting');
    this.failure = null;
    let ok = false;
    try {
      if (this.isPrimaryOfCluster) yield* this.startCluster();
      else yield* this.startServing();
      ok = true;
    } finally {
      if (!ok) this.undoStart();
      this.life.set(ok ? 'started' : 'idle');
    }
    this._closed = false;
    if (this.workers > 0 && this.handleSignals) this.installSignalHandlers();
  }

  /** A start that failed or was interrupted half way leaves nothing listening or running. */
  private undoStart(): void {
    this.closeListener();
    this.acceptor?.kill({ block: false });
    this.acceptor = null;
    for (const f of this.cleanups.splice(0)) f();
  }

  private *startServing(): Generator<unknown, void, unknown> {
    if (this.userListener !== null) {
      if (this.userListener.closed) {
        throw new Error('StreamServer.start(): this server was made from a listener that stop() closed; make the StreamServer from an address to start it again');
      }
      this.listener = this.userListener;
      if (this.maxConnections !== undefined) this.listener.server.maxConnections = this.maxConnections;
      this._address = this.listener.getsockname();
    } else {
      yield* this.bind();
    }
    this.acceptor = spawn(() => this.acceptLoop());
    if (this.isWorkerOfCluster) yield* this.joinCluster();
  }

  private *bind(): Generator<unknown, void, unknown> {
    const server = netCreateServer({ allowHalfOpen: true, pauseOnConnect: true });
    if (this.maxConnections !== undefined) server.maxConnections = this.maxConnections;
    const [host, bindPort] = this.bindAddress;
    // After stop(), start() binds the port it had (gevent); a replacement worker the cluster's.
    const port = this.isWorkerOfCluster ? (inheritedPort(this.clusterKey) ?? bindPort) : this._address[1] || bindPort;
    try {
      const backlog = this.backlog;
      yield* new BindWait('StreamServer.start()', server, [host, port], (done) => server.listen({ host: host || undefined, port, backlog }, done), () => server.close());
    } catch (e) {
      if (this.isWorkerOfCluster) yield* tellPrimary(this.clusterKey, { event: 'error', code: (e as NodeJS.ErrnoException).code, message: (e as Error).message });
      throw e;
    }
    holdProcess(server);
    server.once('close', () => releaseProcess(server));
    server.on('connection', (ns: net.Socket) => this.onConnection(ns));
    this.nodeServer = server;
    const a = server.address() as net.AddressInfo;
    this._address = [a.address, a.port];
  }

  /** Tells the primary we listen, and obeys its stop request (and its disconnect). */
  private *joinCluster(): Generator<unknown, void, unknown> {
    yield* tellPrimary(this.clusterKey, { event: 'listening', port: this._address[1] });
    const stopAndLeave = (timeout: number | null) => {
      spawn(function* (server: StreamServer) {
        yield* server.stop({ timeout });
      }, this);
    };
    this.cleanups.push(onStopRequest(this.clusterKey, stopAndLeave));
    const onDisconnect = () => stopAndLeave(this.stopTimeout);
    cluster.worker!.once('disconnect', onDisconnect);
    this.cleanups.push(() => cluster.worker!.removeListener('disconnect', onDisconnect));
  }

  private *startCluster(): Generator<unknown, void, unknown> {
    const arbiter = new WorkerArbiter(this.clusterKey, this.workers);
    arbiter.whenGivenUp((e) => {
      this.failure = e;
      wakeAll(this.life.lot);
    });
    // After stop(), the workers bind the port the server had (as a single process does).
    const port = yield* arbiter.start([this.bindAddress[0], this._address[1] || this.bindAddress[1]]);
    this.arbiter = arbiter;
    this._address = [this.bindAddress[0], port];
    this.acceptor = spawn(() => this.standInForAcceptLoop());
  }

  /**
   * The primary of a cluster accepts nothing itself; this greenlet stands for its accept loop
   * so that killing the server's greenlets (shutdown() kills every greenlet but the run()
   * roots) stops the server, workers included, as it does a single-process server.
   */
  private *standInForAcceptLoop(): Generator<unknown, void, unknown> {
    try {
      yield* new StateWait(this.acceptorLot, () => false, 'StreamServer cluster primary (its workers accept)');
    } finally {
      if (this.life.state === 'started') {
        spawn(function* (server: StreamServer) {
          yield* server.stop({ timeout: server.stopTimeout });
        }, this);
      }
    }
  }

  /** SIGTERM and SIGINT stop the server gracefully, then end the process as the signal would. */
  private installSignalHandlers(): void {
    this.cleanups.push(
      stopOnSignals(this, () => {
        reportLine(`StreamServer on port ${this.serverPort}: ${signalName()}: stopping gracefully (handlers get ${this.stopTimeout ?? 'unlimited'} s)`);
        return this.stop({ timeout: this.stopTimeout });
      }),
    );
  }

  private onConnection(ns: net.Socket): void {
    ns.on('error', ignoreError); // a reset while it waits is seen by its handler's first read
    if (this.life.state !== 'started' && this.life.state !== 'starting') {
      ns.destroy();
      return;
    }
    this.waiting.push(ns);
    wakeAll(this.acceptorLot);
  }

  /** The next connection, wrapped and reading: from our own queue or the user's listener. */
  private *nextConnection(): Generator<unknown, [GSocket, Address], unknown> {
    if (this.listener !== null) return yield* this.listener.accept();
    let ns: net.Socket;
    do {
      yield* new StateWait(this.acceptorLot, () => this.waiting.length > 0, 'StreamServer accept loop (waiting for a connection)');
      ns = this.waiting.shift()!;
    } while (ns.destroyed); // gone while it waited: nothing to hand over
    const sock = GSocket.wrap(ns);
    ns.resume(); // accepted paused (pauseOnConnect): it reads only from now on
    return [sock, [ns.remoteAddress ?? '', ns.remotePort ?? 0]];
  }

  private *acceptLoop(): Generator<unknown, void, unknown> {
    try {
      for (;;) {
        const [sock, address] = yield* this.nextConnection();
        this.held = sock;
        // While the pool is full this waits, holding one connection; the rest wait unread.
        const g: Greenlet<any> =
          this.pool !== null ? yield* this.pool.spawn(serveConnection, this.handle, sock, address) : spawn(serveConnection, this.handle, sock, address);
        this.held = null;
        this.track(g);
      }
    } catch (e) {
      if (this.life.state === 'stopping' || this.life.state === 'idle') return; // the listener closed under us
      throw e;
    } finally {
      this.held?.close();
      this.held = null;
      // Killed from outside (shutdown() kills every greenlet but the run() roots): a server
      // with no accept loop must not stay open, so it stops, and serveForever() returns.
      if (this.life.state === 'started') {
        spawn(function* (server: StreamServer) {
          yield* server.stop({ timeout: server.stopTimeout });
        }, this);
      }
    }
  }

  private track(g: Greenlet<any>): void {
    if (g.dead) return;
    this.handlers.add(g);
    g.rawlink(() => this.handlers.delete(g));
  }

  /**
   * Starts if needed, then waits until `stop()` is called (gevent's serve_forever). However it
   * ends (a stop elsewhere, or this greenlet killed), the server is stopped: a killed
   * `serveForever()` stops it with `stopTimeout` (default 1 s) before the kill goes on.
   *
   * @example
   * yield* server.serveForever();
   */
  serveForever(opts?: { stopTimeout?: number | null }): Op<void> {
    const o = ownOptions(opts, 'StreamServer.serveForever(options)');
    const stopTimeout = o.stopTimeout === undefined ? this.stopTimeout : o.stopTimeout;
    checkStopTimeout(stopTimeout, 'StreamServer.serveForever({ stopTimeout })');
    return opFrom(() => this.serve(stopTimeout), 'StreamServer.serveForever()');
  }

  private *serve(stopTimeout: number | null): Generator<unknown, void, unknown> {
    yield* this.start();
    const gen = this.generation;
    try {
      yield* new StateWait(this.life.lot, () => this.generation !== gen || this.failure !== null, 'StreamServer.serveForever()');
      if (this.failure !== null) throw this.failure;
    } finally {
      if (this.generation === gen) {
        // In a greenlet of its own, as gevent: a second kill of this one cannot cut the stop short.
        const stopper = spawn(function* (server: StreamServer) {
          yield* server.stop({ timeout: stopTimeout });
        }, this);
        yield* stopper.join();
      }
    }
  }

  /**
   * Stops gracefully: stops accepting (connections not yet handled are closed), lets running
   * handlers finish for up to `timeout` seconds (default 1, as gevent; `null`: no limit), then
   * kills the rest (their `finally` blocks run) and returns within 1 s more, even if a handler
   * ignores the kill. With `workers`, each worker does this itself, then exits.
   *
   * @example
   * yield* server.stop({ timeout: 5 });
   */
  stop(opts?: { timeout?: number | null }): Op<void> {
    const o = ownOptions(opts, 'StreamServer.stop(options)');
    const timeout = o.timeout === undefined ? 1 : o.timeout;
    checkStopTimeout(timeout, 'StreamServer.stop({ timeout })');
    return opFrom(() => this.stopOnce(timeout), 'StreamServer.stop()');
  }

  private *stopOnce(timeout: number | null): Generator<unknown, void, unknown> {
    if ((yield* this.life.settled('StreamServer.stop() (a start or stop is under way)')) === 'idle') return;
    this.life.set('stopping');
    this._closed = true;
    const userListener = this.listener;
    try {
      this.closeListener();
      if (this.acceptor !== null) yield* this.acceptor.kill();
      this.acceptor = null;
      // An accept() interrupted by that kill hands its connection back to the closed listener.
      if (userListener !== null) for (const [sock] of userListener._pending.splice(0)) sock.close();
      if (this.arbiter !== null) yield* this.arbiter.stop(timeout);
      this.arbiter = null;
      yield* finishHandlers(this.handlers, timeout, 'StreamServer');
    } finally {
      this.acceptor?.kill({ block: false });
      for (const f of this.cleanups.splice(0)) f();
      this.generation++;
      this.life.set('idle');
      if (this.isWorkerOfCluster && cluster.worker!.isConnected()) cluster.worker!.disconnect();
    }
  }

  /** Stops accepting and closes every connection accepted but not handed to a handler. */
  private closeListener(): void {
    if (this.nodeServer !== null) {
      this.nodeServer.close();
      this.nodeServer = null;
    }
    for (const ns of this.waiting.splice(0)) ns.destroy();
    if (this.listener !== null) {
      this.listener.close();
      // A connection handed back to the closed listener by an interrupted accept().
      for (const [sock] of this.listener._pending.splice(0)) sock.close();
      this.listener = null;
    }
  }
}
