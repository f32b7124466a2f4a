/**
 * What StreamServer and DatagramServer share: argument checks, the state wait, running a
 * handler of any kind, and the graceful end of the handlers at stop().
 *
 * @example
 * const pool = checkSpawn(100, 'new DatagramServer({ spawn })'); // a Pool(100)
 */
import type { Greenlet } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { config, getcurrent, wake, wakeError } from './hub.js';
import { hasUnstarted, Op, opTracking, PARK, takeUnstarted, Wait } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { Pool } from './pool.js';
import type { Address } from './socket.js';
import { joinall } from './wait.js';

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
 * The backlog Node uses when none is given; waiting connections are bounded by it.
 *
 * @example
 * const most = poolSize + (backlog ?? NODE_DEFAULT_BACKLOG);
 */
export const NODE_DEFAULT_BACKLOG = 511;
/** How long stop() waits for killed handlers to die before abandoning them (gevent's 1 s). */
const KILL_WAIT_S = 1;

/**
 * Waits until `ready()` holds; woken by `wakeAll(lot)` whenever the server's state changes.
 *
 * @example
 * yield* new StateWait(this.stateLot, () => this.state === 'idle', 'StreamServer.stop()');
 */
export class StateWait extends Wait<void> {
  constructor(
    private readonly lot: ParkingLot<StateWait>,
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

/**
 * Wakes every waiter of `lot` (they check their condition again).
 *
 * @example
 * wakeAll(this.stateLot);
 */
export function wakeAll(lot: ParkingLot<StateWait>): void {
  for (let w = lot.shift(); w !== null; w = lot.shift()) wake(w.g!, undefined);
}

/**
 * Waits for a server's socket to listen (TCP) or bind (UDP), the one wait both servers' start()
 * share: `begin(done)` starts the listen or bind, the socket's 'error' fails the wait (an
 * EADDRINUSE message names the fix), and a greenlet interrupted meanwhile closes the socket.
 *
 * @example
 * yield* new BindWait('StreamServer.start()', server, [host, port], (done) => server.listen(port, host, done), () => server.close());
 */
export class BindWait extends Wait<void> {
  constructor(
    private readonly what: string,
    private readonly socket: NodeJS.EventEmitter,
    private readonly address: Address,
    private readonly begin: (done: () => void) => void,
    private readonly close: () => void,
  ) {
    super();
  }

  park(g: Greenlet): void {
    const [host, port] = this.address;
    const onError = (e: NodeJS.ErrnoException) => {
      if (g._wait !== this) return;
      if (e.code === 'EADDRINUSE') {
        e.message = `${this.what}: address ${host || '*'}:${port} is already in use (EADDRINUSE); stop the other server or pick another port (0 lets the OS choose)`;
      }
      wakeError(g, e);
    };
    this.socket.once('error', onError);
    this.begin(() => {
      this.socket.removeListener('error', onError);
      if (g._wait === this) wake(g, undefined);
    });
  }

  override cancel(): void {
    this.close();
  }

  override undo(): void {
    this.close();
  }

  override describe(): string {
    return `${this.what} (bind ${this.address[0]}:${this.address[1]})`;
  }
}

/** Where a server is in its life. */
export type ServerState = 'idle' | 'starting' | 'started' | 'stopping';

/**
 * A server's state and the greenlets waiting for it to change: the one machine StreamServer
 * and DatagramServer share, so that a second `start()` waits for the first, a `stop()` waits
 * for a start under way, and `serveForever()` hears of every change.
 *
 * @example
 * if ((yield* this.life.settled('StreamServer.start()')) === 'started') return;
 * this.life.set('starting');
 */
export class ServerLifecycle {
  state: ServerState = 'idle';
  readonly lot = new ParkingLot<StateWait>();

  /** Moves to `s` and wakes everyone waiting on a change (they check their condition again). */
  set(s: ServerState): void {
    this.state = s;
    wakeAll(this.lot);
  }

  /** Waits while a start or a stop is under way; gives the state it settled in. */
  *settled(what: string): Generator<unknown, 'idle' | 'started', unknown> {
    while (this.state === 'starting' || this.state === 'stopping') {
      yield* new StateWait(this.lot, () => this.state === 'started' || this.state === 'idle', what);
    }
    return this.state as 'idle' | 'started';
  }
}

/**
 * Runs a handler of any kind (generator, plain or async function) to its end.
 *
 * @example
 * yield* runHandler(handle, [sock, address]);
 */
export function* runHandler(handle: (...args: any[]) => unknown, args: unknown[]): Generator<unknown, void, unknown> {
  const r = handle(...args) as any;
  if (r !== null && typeof r === 'object' && typeof r.next === 'function' && typeof r[Symbol.iterator] === 'function') {
    yield* r;
  } else if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
    releaseOpsToAwaits();
    yield r;
  }
}

/**
 * An async handler (a function that returned a promise) made Ops in its synchronous part that
 * its `await`s start on later microtasks, after its greenlet parks on the promise. As the hub
 * does for an async greenlet body, they follow top-level code's rule (reported only if never
 * started by the end of the turn) instead of failing the greenlet as forgotten `yield*`s.
 */
function releaseOpsToAwaits(): void {
  if (!hasUnstarted()) return;
  const ops = takeUnstarted();
  if (opTracking.outside.size === 0) opTracking.checkOutside?.();
  for (const op of ops) opTracking.outside.add(op);
}

/**
 * What `yield*` runs for a handler of any kind: a generator handler's own generator, so its
 * greenlet resumes it directly instead of through one more delegating generator at every
 * wake-up (per message on a busy connection); otherwise a generator that waits for a
 * promise the handler returned. The handler is called now.
 *
 * @example
 * yield* handlerSteps(handle, sock, address);
 */
export function handlerSteps(handle: (...args: any[]) => unknown, ...args: unknown[]): Iterable<unknown, void, unknown> {
  const r = handle(...args) as any;
  if (r !== null && typeof r === 'object' && typeof r.next === 'function' && typeof r[Symbol.iterator] === 'function') {
    return r as Iterable<unknown, void, unknown>;
  }
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') releaseOpsToAwaits();
  return awaitResult(r);
}

function* awaitResult(r: any): Generator<unknown, void, unknown> {
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') yield r;
}

/**
 * Checks `{ spawn }`: a size makes a Pool of that size (as gevent), a Pool is used as is;
 * a size or a Pool of 0 is refused (it would never run a handler).
 *
 * @example
 * const pool = checkSpawn(opts.spawn, 'new StreamServer({ spawn })');
 */
export function checkSpawn(spawnOpt: unknown, what: string): SpawnPool | null {
  if (spawnOpt === undefined || spawnOpt === null) return null;
  if (typeof spawnOpt === 'number') {
    if (!Number.isInteger(spawnOpt) || spawnOpt < 1) {
      throw new RangeError(`${what}: a size must be a whole number >= 1, got ${spawnOpt}; pass e.g. 100 or a Pool`);
    }
    return new Pool(spawnOpt);
  }
  if (typeof spawnOpt !== 'object' || typeof (spawnOpt as SpawnPool).spawn !== 'function') {
    throw new TypeError(`${what} takes a Pool or a size, got ${describeValue(spawnOpt)}; pass e.g. new Pool(100) or 100`);
  }
  // A Pool of size 0 can never run anything: the server would accept and never serve.
  if ((spawnOpt as { size?: unknown }).size === 0) {
    throw new RangeError(`${what}: a Pool of size 0 never runs a handler, so nothing would be served; pass a Pool of size >= 1 (e.g. new Pool(100)) or a size`);
  }
  return spawnOpt as SpawnPool;
}

/**
 * Checks a handle function.
 *
 * @example
 * checkHandle(handle, 'new StreamServer()');
 */
export function checkHandle(handle: unknown, what: string): void {
  if (typeof handle !== 'function') {
    throw new TypeError(`${what} needs a handle function, got ${describeValue(handle)}; pass e.g. function* (socket, address) { ... }`);
  }
}

/**
 * Checks a `[host, port]` address.
 *
 * @example
 * checkAddress(['127.0.0.1', 0], 'new StreamServer()');
 */
export function checkAddress(address: unknown, what: string): asserts address is Address {
  if (
    !Array.isArray(address) ||
    address.length !== 2 ||
    typeof address[0] !== 'string' ||
    typeof address[1] !== 'number' ||
    !Number.isInteger(address[1]) ||
    address[1] < 0 ||
    address[1] > 65535
  ) {
    throw new TypeError(`${what} listens on [host, port] (port 0-65535), got ${describeValue(address)}; pass e.g. ['127.0.0.1', 0]`);
  }
}

/**
 * Checks a stop timeout: seconds >= 0, or null (wait for the handlers forever).
 *
 * @example
 * checkStopTimeout(o.timeout, 'StreamServer.stop({ timeout })');
 */
export function checkStopTimeout(timeout: unknown, what: string): asserts timeout is number | null {
  if (timeout !== null && (typeof timeout !== 'number' || !(timeout >= 0))) {
    throw new RangeError(`${what} must be a number of seconds >= 0 or null (no limit), got ${describeValue(timeout)}`);
  }
}

/**
 * Lets running handlers finish for up to `timeout` seconds, kills the rest (their `finally`
 * blocks run), waits up to 1 s more for them to die (gevent's `pool.kill(timeout=1)`), and
 * abandons any that ignore the kill, with a report: the caller returns whatever they do.
 *
 * @example
 * yield* finishHandlers(this.handlers, 1, 'StreamServer');
 */
export function* finishHandlers(handlers: Set<Greenlet<any>>, timeout: number | null, who: string): Generator<unknown, void, unknown> {
  // A handler that calls stop() itself is not waited for (it would wait for itself).
  const me = getcurrent();
  const others = () => [...handlers].filter((g) => g !== me);
  if (others().length > 0) yield* joinall(others(), { timeout });
  if (others().length === 0) return;
  for (const g of others()) g.kill({ block: false });
  yield* joinall(others(), { timeout: KILL_WAIT_S });
  const left = others();
  if (left.length === 0) return;
  for (const g of left) g.kill({ block: false }); // gevent delivers every kill: try once more
  reportLine(`${who}.stop(): ${left.length} handler(s) still running ${KILL_WAIT_S} s after being killed (they catch GreenletExit); left running`);
}

/**
 * One line on the error stream (no stack), for things the server reports rather than raises.
 *
 * @example
 * reportLine('StreamServer: SIGTERM: stopping gracefully');
 */
export function reportLine(line: string): void {
  try {
    config.errorStream.write(`geventjs: ${line}\n`);
  } catch {
    // a broken error stream must not take a server down
  }
}

