/**
 * gevent's DatagramServer on Node's `dgram`: `handle(data, [host, port])` runs in a greenlet
 * (or a pool slot) per datagram; `sendto` replies from the server's socket.
 *
 * @example
 * const server = new DatagramServer(['127.0.0.1', 0], function* (data, address) {
 *   yield* server.sendto(data, address);
 * }, { spawn: 100 });
 * yield* server.start();
 */
import * as dgram from 'node:dgram';
import { isGeneratorFunction } from './generator-prototype.js';
import { Greenlet, spawn } from './greenlet.js';
import { describeValue, ownOptions } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { holdProcess, releaseProcess } from './keep-alive.js';
import { Op, opFrom, Wait } from './op.js';
import { ParkingLot } from './parking-lot.js';
import type { Address } from './socket.js';
import { checkAddress, checkHandle, checkSpawn, checkStopTimeout, finishHandlers, runHandler, BindWait, ServerLifecycle, type SpawnPool, StateWait, wakeAll } from './server-common.js';

/**
 * A datagram handler: `handle(data, [host, port])`.
 *
 * @example
 * const upper: DatagramHandler = function* (data, address) { yield* server.sendto(data.toString().toUpperCase(), address); };
 */
export type DatagramHandler = (data: Buffer, address: Address) => unknown;

/**
 * Options of `DatagramServer` (own properties only are read).
 *
 * @example
 * const opts: DatagramServerOptions = { spawn: 100, recvBufferSize: 4 * 1024 * 1024 };
 */
export interface DatagramServerOptions {
  /**
   * A Pool, a greatest number of handlers at once, or omitted: a greenlet per datagram. While
   * the pool is full the server stops reading and the kernel's receive buffer holds (then
   * drops) what arrives, as gevent's does.
   */
  spawn?: SpawnPool | number | null;
  /** The socket's receive buffer in bytes (SO_RCVBUF; the OS caps it, on Linux at net.core.rmem_max). */
  recvBufferSize?: number;
}

/** Datagrams read while the pool is full, at most: then reading stops until the pool drains. */
const INBOX_LIMIT = 64;

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

  override describe(): string {
    return `DatagramServer.sendto(${this.address[0]}:${this.address[1]})`;
  }
}

function closeQuietly(sock: dgram.Socket): void {
  try {
    sock.close();
  } catch {
    // already closed
  }
}

/** Node's UDP handle, for stopping and restarting reads (no public API does it). */
interface UdpHandle {
  recvStart(): number;
  recvStop(): number;
}

/**
 * The handle, from the socket's internal state (Node keeps it under a symbol described
 * 'state symbol'; the `_handle` getter would print a deprecation warning, DEP0112).
 */
function udpHandle(sock: dgram.Socket): UdpHandle | null {
  const key = Object.getOwnPropertySymbols(sock).find((k) => k.description === 'state symbol');
  const h = key === undefined ? undefined : ((sock as unknown as Record<symbol, { handle?: Partial<UdpHandle> } | undefined>)[key]?.handle);
  return h && typeof h.recvStart === 'function' && typeof h.recvStop === 'function' ? (h as UdpHandle) : null;
}


/**
 * A UDP server (gevent's DatagramServer): `handle(data, address)` runs in a new greenlet (or a
 * pool slot, `{ spawn }`) per datagram; reply with `sendto`.
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
  private readonly life = new ServerLifecycle();
  private _closed = false;
  private generation = 0;
  private readonly pool: SpawnPool | null;
  private readonly recvBufferSize: number | undefined;
  /** Datagrams read but not yet given to a pool slot (bounded by INBOX_LIMIT). */
  private readonly inbox: Array<[Buffer, Address]> = [];
  private readonly inboxLot = new ParkingLot<StateWait>();
  private dispatcher: Greenlet<any> | null = null;
  private reading = true;

  constructor(bindAddress: Address, handle: DatagramHandler, opts?: DatagramServerOptions);
  constructor(
    private readonly bindAddress: Address,
    private readonly handle: DatagramHandler,
    opts?: DatagramServerOptions,
  ) {
    checkAddress(bindAddress, 'new DatagramServer()');
    checkHandle(handle, 'new DatagramServer()');
    this.bindAddress = [bindAddress[0], bindAddress[1]];
    const o = ownOptions(opts, 'new DatagramServer(address, handle, options)');
    this.pool = checkSpawn(o.spawn, 'new DatagramServer({ spawn })');
    const size = o.recvBufferSize;
    if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size < 1)) {
      throw new RangeError(`new DatagramServer({ recvBufferSize }) must be a whole number of bytes >= 1, got ${describeValue(size)}`);
    }
    this.recvBufferSize = size;
  }

  /** The bound `[host, port]` after `start()`. */
  get address(): Address {
    return this._address;
  }

  /** The bound port after `start()`. */
  get serverPort(): number {
    return this._address[1];
  }

  /** True while the server is started (between `start()` and `stop()`). */
  get started(): boolean {
    return this.life.state === 'started';
  }

  /** True once `stop()` was called (until a new `start()`). */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * Binds and starts handling datagrams. A second `start()` while one runs waits for it; on a
   * started server it does nothing; after `stop()` it binds again (the same port).
   *
   * @example
   * yield* server.start();
   */
  start(): Op<void> {
    return opFrom(() => this.startOnce(), 'DatagramServer.start()');
  }

  private *startOnce(): Generator<unknown, void, unknown> {
    if ((yield* this.life.settled('DatagramServer.start() (another start or stop is under way)')) === 'started') return;
    this.life.set('starting');
    let ok = false;
    try {
      yield* this.bind();
      ok = true;
    } finally {
      this.life.set(ok ? 'started' : 'idle');
    }
    this._closed = false;
  }

  private *bind(): Generator<unknown, void, unknown> {
    const [host, bindPort] = this.bindAddress;
    const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: this.recvBufferSize });
    const port = this._address[1] || bindPort;
    yield* new BindWait('DatagramServer.start()', sock, [host, port], (done) => sock.bind(port, host || undefined, done), () => closeQuietly(sock));
    holdProcess(sock);
    sock.once('close', () => releaseProcess(sock));
    sock.on('error', () => {}); // ICMP errors from sendto surface in its callback
    const a = sock.address();
    this._address = [a.address, a.port];
    this.sock = sock;
    this.reading = true;
    if (this.pool !== null) {
      sock.on('message', (data, rinfo) => this.queue(data, [rinfo.address, rinfo.port]));
    } else {
      // A generator function is the greenlet's own body (no wrapper generator per datagram).
      const direct = isGeneratorFunction(this.handle);
      sock.on('message', (data, rinfo) => {
        const address: Address = [rinfo.address, rinfo.port];
        this.track(direct ? spawn(this.handle, data, address) : spawn(runHandler, this.handle, [data, address]));
      });
    }
    // Without a pool its inbox stays empty: it then only stops the server if it is killed.
    this.dispatcher = spawn(() => this.dispatch(this.pool));
  }

  /** With a pool: keep the datagram for the dispatcher; stop reading once INBOX_LIMIT wait. */
  private queue(data: Buffer, address: Address): void {
    // geventjs's own Pool can start a handler at once when a slot is free and nothing waits
    // (a hop through the dispatcher greenlet costs about a third more CPU per datagram).
    const trySpawn = (this.pool as { _trySpawn?: (fn: unknown, args: unknown[]) => Greenlet<any> | null })._trySpawn;
    if (this.inbox.length === 0 && typeof trySpawn === 'function') {
      const g = trySpawn.call(this.pool, runHandler, [this.handle, [data, address]]);
      if (g !== null) {
        this.track(g);
        return;
      }
    }
    this.inbox.push([data, address]);
    if (this.inbox.length === 1) wakeAll(this.inboxLot);
    if (this.inbox.length >= INBOX_LIMIT) this.setReading(false);
  }

  private setReading(on: boolean): void {
    if (on === this.reading || this.sock === null) return;
    const h = udpHandle(this.sock);
    if (h === null) return; // no way to pause on this Node: the inbox grows instead
    this.reading = on;
    if (on) h.recvStart();
    else h.recvStop();
  }

  /**
   * Gives queued datagrams to the pool, waiting while it is full. Killed from outside
   * (shutdown() kills every greenlet but the run() roots), it stops the server, so that
   * serveForever() returns and the socket does not hold the program open.
   */
  private *dispatch(pool: SpawnPool | null): Generator<unknown, void, unknown> {
    try {
      for (;;) {
        yield* new StateWait(this.inboxLot, () => this.inbox.length > 0, 'DatagramServer dispatcher (waiting for a datagram)');
        const [data, address] = this.inbox.shift()!;
        const g = yield* pool!.spawn(runHandler, this.handle, [data, address]);
        this.track(g);
        if (this.inbox.length === 0 && this.life.state === 'started') this.setReading(true);
      }
    } finally {
      if (this.life.state === 'started') {
        spawn(function* (server: DatagramServer) {
          yield* server.stop();
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
   * Sends `data` to `[host, port]` from the server's socket; gives the bytes sent. Handlers
   * still finishing during `stop()` can reply; after `stop()` it is an error.
   *
   * @example
   * yield* server.sendto('pong', address);
   */
  sendto(data: Buffer | string | Uint8Array, address: Address): Op<number> {
    if (this.sock === null) {
      throw new Error(
        this._closed
          ? 'DatagramServer.sendto(): the server is stopped (stop() closed its socket); start() it again before sending'
          : 'DatagramServer.sendto() before start(); yield* server.start() first',
      );
    }
    checkAddress(address, 'DatagramServer.sendto()');
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`DatagramServer.sendto() sends a Buffer or a string, got ${describeValue(data)}`);
    }
    return new SendtoWait(this.sock, typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength), address);
  }

  /**
   * Starts if needed, then waits until `stop()`. However it ends (a stop elsewhere, or this
   * greenlet killed), the server is stopped.
   *
   * @example
   * yield* server.serveForever();
   */
  serveForever(opts?: { stopTimeout?: number | null }): Op<void> {
    const o = ownOptions(opts, 'DatagramServer.serveForever(options)');
    const stopTimeout = o.stopTimeout === undefined ? 1 : o.stopTimeout;
    checkStopTimeout(stopTimeout, 'DatagramServer.serveForever({ stopTimeout })');
    return opFrom(
      function* (this: DatagramServer) {
        yield* this.start();
        const gen = this.generation;
        try {
          yield* new StateWait(this.life.lot, () => this.generation !== gen, 'DatagramServer.serveForever()');
        } finally {
          if (this.generation === gen) {
            const stopper = spawn(function* (server: DatagramServer) {
              yield* server.stop({ timeout: stopTimeout });
            }, this);
            yield* stopper.join();
          }
        }
      }.bind(this),
      'DatagramServer.serveForever()',
    );
  }

  /**
   * Stops reading datagrams (those queued for a full pool are dropped), lets handlers finish
   * (and reply) for up to `timeout` seconds (default 1; `null`: no limit), kills the rest, then
   * closes the socket. Returns within 1 s after `timeout` even if a handler ignores the kill.
   *
   * @example
   * yield* server.stop({ timeout: 2 });
   */
  stop(opts?: { timeout?: number | null }): Op<void> {
    const o = ownOptions(opts, 'DatagramServer.stop(options)');
    const timeout = o.timeout === undefined ? 1 : o.timeout;
    checkStopTimeout(timeout, 'DatagramServer.stop({ timeout })');
    return opFrom(() => this.stopOnce(timeout), 'DatagramServer.stop()');
  }

  private *stopOnce(timeout: number | null): Generator<unknown, void, unknown> {
    if ((yield* this.life.settled('DatagramServer.stop() (a start or stop is under way)')) === 'idle') return;
    this.life.set('stopping');
    this._closed = true;
    const sock = this.sock!;
    try {
      sock.removeAllListeners('message');
      this.setReading(false);
      this.inbox.length = 0;
      if (this.dispatcher !== null) yield* this.dispatcher.kill();
      this.dispatcher = null;
      yield* finishHandlers(this.handlers, timeout, 'DatagramServer');
    } finally {
      this.dispatcher?.kill({ block: false });
      this.sock = null;
      closeQuietly(sock);
      this.generation++;
      this.life.set('idle');
    }
  }
}
