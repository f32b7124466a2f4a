/**
 * Greenlet: a generator function (or a plain or async function) run by the hub, with gevent's
 * life cycle: spawn, join, get, kill, links. A greenlet's `yield*` is where it may block; the
 * hub runs other greenlets and Node's I/O meanwhile.
 */
import type { AsyncResource } from 'node:async_hooks';
import { captureContext } from './async-context.js';
import { GreenletExit, LoopExit } from './errors.js';
import { checkSeconds, describeValue } from './arg-checks.js';
import { addLive, config, DEAD, describeThrown, writeReport, enqueue, F_DYING, F_FAILED, getcurrent, INIT, interrupt, READY, removeLive, RUNNING, timers, wake } from './hub.js';
import { doneOp, Op, opTracking, PARK, untrack, Wait } from './op.js';
import { now } from './originals.js';
import { ParkingLot, type Waiter } from './parking-lot.js';
import type { TimerEntry } from './timer-heap.js';

/** What a greenlet body's return value finishes with: a generator's or Op's result, a promise's value. */
export type ResultOf<R> =
  R extends Iterator<unknown, infer V, any> ? V : R extends PromiseLike<infer V> ? V : R;

/** A class of error (for `kill({ exception })` and Timeout). */
export type ErrorClass = new (...args: any[]) => Error;

/** Something that is told once, after death, about a greenlet. */
type LinkCallback<T> = (g: Greenlet<T>) => void;
const ALWAYS = 0;
const ON_VALUE = 1;
const ON_EXCEPTION = 2;

/**
 * A waiter in a greenlet's link list, told at its death in the order linked: joining
 * greenlets (`JoinWait`, `GetWait`, joinall's) and link callbacks alike.
 */
export interface Joiner extends Waiter {
  _onDeath(dead: Greenlet<any>): void;
}

/** A `link(callback)` in the link list. */
class LinkNode<T> implements Joiner {
  _prev: Waiter | null = null;
  _next: Waiter | null = null;
  _lot: ParkingLot<Waiter> | null = null;
  constructor(
    readonly callback: LinkCallback<T>,
    private readonly kind: number,
  ) {}

  _onDeath(g: Greenlet<T>): void {
    const ok = g.successful();
    if (this.kind === ON_VALUE && !ok) return;
    if (this.kind === ON_EXCEPTION && ok) return;
    try {
      this.callback(g);
    } catch (e) {
      reportError(e, `a link callback of ${g}`);
    }
  }
}

let counter = 0;
const NO_ARGS: unknown[] = [];

/**
 * A cooperative thread of execution. Make one with `spawn(fn, ...args)`, or subclass and
 * override `*_run()`.
 *
 * @example
 * const g = spawn(function* (n: number) { yield* sleep(0.1); return n * 2; }, 21);
 * const v = yield* g.get(); // 42 (inside a greenlet), or: await g (outside)
 *
 * class MyGreenlet extends Greenlet<void> {
 *   constructor(private message: string) { super(); }
 *   override *_run() { console.log(this.message); yield* sleep(1); }
 * }
 * new MyGreenlet('Hi there!').start();
 */
export class Greenlet<T = unknown> implements PromiseLike<T> {
  // Few fields on purpose: a parked greenlet's size is B6's memory figure. Rare state lives in
  // `_extra`; booleans are bits of `_flags`.
  // --- owned by the hub (hub.ts) ---
  /** @internal */ _state = INIT;
  /** @internal F_* bits (hub.ts). */
  _flags = 0;
  /** @internal What the next step resumes with (an error under F_THROW); after death, the result. */
  _resume: unknown = undefined;
  /** @internal The Wait parked on, or the one that woke it while READY. */
  _wait: Wait<unknown> | null = null;
  /** @internal The running iterator, and the ones suspended under it (`yield op` without `*`). */
  _it: Iterator<unknown, unknown, unknown> | null = null;
  /** @internal */ _stack: Iterator<unknown, unknown, unknown>[] | null = null;
  /** @internal The async context it was spawned in. */
  _ctx: AsyncResource;
  /** @internal */ _args: unknown[];
  /** @internal */ _liveNext: Greenlet<any> | null = null;
  /** @internal */ _livePrev: Greenlet<any> | null = null;

  // --- the greenlet's own ---
  private _fn: ((...args: any[]) => unknown) | null;
  /** Joiners and link callbacks, told in order at death. */
  private _links: ParkingLot<Joiner> | null = null;
  private _extra: GreenletExtra | null = null;
  private _id = ++counter;

  constructor(fn?: (...args: any[]) => unknown, ...args: unknown[]) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(
        `Greenlet needs a function to run, got ${describeValue(fn)}; pass a generator function, ` +
          'a plain or an async function (or subclass Greenlet and override *_run)',
      );
    }
    this._fn = fn ?? null;
    this._args = args.length === 0 ? NO_ARGS : args;
    this._ctx = captureContext();
    if (opTracking.debug || config.maxBlockingTime !== null) this.extra().spawnSite = new Error('spawned').stack;
  }

  /** Creates and starts a greenlet (gevent's `Greenlet.spawn`). */
  static spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<ResultOf<R>> {
    checkFunction(fn, 'spawn()');
    const g = new Greenlet<ResultOf<R>>(fn as (...args: any[]) => unknown, ...args);
    g.start();
    return g;
  }

  /** Creates a greenlet that starts after `seconds`. */
  static spawnLater<A extends unknown[], R>(
    seconds: number,
    fn: (...args: A) => R,
    ...args: A
  ): Greenlet<ResultOf<R>> {
    checkFunction(fn, 'spawnLater()');
    checkSeconds(seconds, 'spawnLater(seconds)');
    const g = new Greenlet<ResultOf<R>>(fn as (...args: any[]) => unknown, ...args);
    g.startLater(seconds);
    return g;
  }

  /**
   * The body. By default it calls the function given to the constructor; subclasses override
   * it, usually as a generator method `*_run()`.
   */
  _run(...args: unknown[]): unknown {
    if (this._fn === null) {
      throw new TypeError(`${this} has nothing to run; pass a function to new Greenlet(fn) or override *_run()`);
    }
    return this._fn.apply(this, args);
  }

  /** Schedules the greenlet to run on a later hub turn (once; later calls do nothing). */
  start(): void {
    if (this._state !== INIT || this._extra?.later) return;
    this._state = READY;
    addLive(this);
    enqueue(this);
  }

  /** Schedules the greenlet to start after `seconds`. */
  startLater(seconds: number): void {
    checkSeconds(seconds, 'startLater(seconds)');
    if (this._state !== INIT || this._extra?.later) return;
    const later = new StartLater(this, Math.ceil(now() + seconds * 1000));
    this.extra().later = later;
    timers.add(later);
  }

  /** @internal The delayed start is due. */
  _startNow(): void {
    this._extra!.later = null;
    this.start();
  }

  /** True once started (or scheduled to start, or dead). */
  get started(): boolean {
    return this._state !== INIT || Boolean(this._extra?.later);
  }

  /** True once the greenlet has finished, or was killed before it started. */
  get dead(): boolean {
    return this._state === DEAD;
  }

  /** True once finished (gevent: a result or an exception is there). */
  ready(): boolean {
    return this._state === DEAD;
  }

  /** True if it finished without an exception (a GreenletExit kill counts as success). */
  successful(): boolean {
    return this._state === DEAD && (this._flags & F_FAILED) === 0;
  }

  /** What the function returned (for a kill with GreenletExit: the GreenletExit instance). */
  get value(): T | undefined {
    return this._state === DEAD && (this._flags & F_FAILED) === 0 ? (this._resume as T) : undefined;
  }

  /** The error the greenlet died of, or undefined. */
  get exception(): unknown {
    return (this._flags & F_FAILED) !== 0 ? this._resume : undefined;
  }

  /** @internal Interruptions postponed while it ran: [error, stillWanted, ...]. */
  _pendingList(): unknown[] {
    return this.extra().pending;
  }

  /** The greenlet's name; "Greenlet-N" unless set. */
  get name(): string {
    return this._extra?.name ?? `Greenlet-${this._id}`;
  }

  set name(n: string) {
    this.extra().name = String(n);
  }

  /** @internal Where it was spawned (config.debug or config.maxBlockingTime). */
  get _spawnSite(): string | undefined {
    return this._extra?.spawnSite;
  }

  /** @internal */
  get _reportedStuck(): boolean {
    return this._extra?.reportedStuck ?? false;
  }

  set _reportedStuck(v: boolean) {
    this.extra().reportedStuck = v;
  }

  /** @internal Top-level code awaits it (`run()`): it gets LoopExit when the loop runs dry. */
  get _awaited(): boolean {
    return this._extra?.awaited ?? false;
  }

  set _awaited(v: boolean) {
    this.extra().awaited = v;
  }

  private extra(): GreenletExtra {
    return (this._extra ??= new GreenletExtra());
  }

  toString(): string {
    const fn = this._fn?.name;
    return `<${this.constructor.name} "${this.name}"${fn ? `: ${fn}` : ''}>`;
  }

  /**
   * Waits until the greenlet is dead, or `timeout` seconds pass; gives nothing either way
   * (check `dead`), as gevent's join.
   *
   * @example
   * yield* g.join({ timeout: 1 });
   */
  join(opts: { timeout?: number | null } = {}): Op<void> {
    this.checkNotSelf('join');
    return new JoinWait(this, opts.timeout);
  }

  /**
   * The greenlet's value once it is dead, or its exception thrown. `block: false` on a
   * greenlet still running throws `Timeout`, as does running out of `timeout`.
   *
   * @example
   * const v = yield* g.get({ timeout: 5 });
   */
  get(opts: { block?: boolean; timeout?: number | null } = {}): Op<T> {
    this.checkNotSelf('get');
    return new GetWait<T>(this, opts.block ?? true, opts.timeout);
  }

  /**
   * Kills the greenlet: `exception` (GreenletExit by default) is thrown at its suspension
   * point at once, its wait cancelled first, so its `finally` blocks run. A greenlet that has
   * not started never runs. The Op waits for its death (`block`, up to `timeout` seconds).
   *
   * @example
   * yield* g.kill();                               // and wait for it to die
   * g.kill({ exception: new Error('stop'), block: false });
   */
  kill(
    opts: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } = {},
  ): Op<void> {
    const err = toException(opts.exception, 'kill({ exception })');
    const block = opts.block ?? true;
    if (opts.timeout !== undefined && opts.timeout !== null) checkSeconds(opts.timeout, 'kill({ timeout })');
    if (this._state !== DEAD) {
      if (this._it === null && this._state !== RUNNING) this.killBeforeStart(err);
      else if ((this._flags & F_DYING) === 0) {
        this._flags |= F_DYING;
        interrupt(this, err);
      }
    }
    if (!block || this._state === DEAD || this === getcurrent()) return doneOp(undefined);
    return untracked(new JoinWait(this, opts.timeout)); // (hub helper) the kill is done: waiting is optional
  }

  private killBeforeStart(err: Error): void {
    const later = this._extra?.later;
    if (later) {
      timers.remove(later);
      this._extra!.later = null;
    }
    // If it is in the ready queue, the hub finds it dead there and only notifies its links.
    this._die(err, true);
  }

  private checkNotSelf(what: string): void {
    if (this === getcurrent()) {
      throw new Error(`${this} cannot ${what}() itself: it would wait forever; ${what}() it from another greenlet`);
    }
  }

  /**
   * Calls `callback(greenlet)` once after it dies, in the order links were added (also when
   * added after death).
   */
  link(callback: LinkCallback<T>): void {
    this.addLink(callback, ALWAYS);
  }

  /** Like `link`, only if it dies successfully. */
  linkValue(callback: LinkCallback<T>): void {
    this.addLink(callback, ON_VALUE);
  }

  /** Like `link`, only if it dies with an exception. */
  linkException(callback: LinkCallback<T>): void {
    this.addLink(callback, ON_EXCEPTION);
  }

  /** gevent's rawlink: the same as `link` here (what `wait`/`iwait` use). */
  rawlink(callback: LinkCallback<T>): void {
    this.addLink(callback, ALWAYS);
  }

  /** Removes every link to `callback`. */
  unlink(callback: LinkCallback<T>): void {
    const links = this._links;
    if (links === null) return;
    for (const j of links.drain()) {
      if (!(j instanceof LinkNode && j.callback === callback)) links.push(j);
    }
  }

  private addLink(callback: LinkCallback<T>, kind: number): void {
    checkFunction(callback, 'link()');
    this._addJoiner(new LinkNode(callback, kind));
  }

  /** @internal Tells every joiner and link callback of the death (queued after death). */
  _notifyLinks(): void {
    const links = this._links;
    if (links === null) return;
    this._links = null;
    for (let j = links.shift(); j !== null; j = links.shift()) j._onDeath(this);
  }

  /** @internal Joiners park here; one joining a dead greenlet is told on a later hub turn. */
  _addJoiner(j: Joiner): void {
    const links = (this._links ??= new ParkingLot<Joiner>());
    links.push(j);
    if (this._state === DEAD && links.size === 1) enqueue(this as Greenlet<any>);
  }

  /** @internal */
  _removeJoiner(j: Joiner): void {
    this._links?.remove(j);
  }

  /** @internal The end: called by the hub when the body returns or throws. */
  _die(value: unknown, failed: boolean): void {
    this._state = DEAD;
    this._flags = F_DYING;
    this._args = NO_ARGS;
    this._resume = value;
    removeLive(this);
    if (this._extra !== null) this._extra.cancelTimeouts();
    if (failed && !(value instanceof GreenletExit)) {
      this._flags |= F_FAILED;
      // (hub helper) A root's LoopExit is its caller's to report: the hub says it once, there.
      if (!(value instanceof LoopExit && this._awaited)) reportError(value, `${this} failed with ${errorName(value)}`);
    }
    // Joiners and links hear of it on a later hub turn, in order (the hub calls _notifyLinks).
    if (this._links !== null) enqueue(this as Greenlet<any>);
  }

  /** @internal Timeouts armed in this greenlet, cancelled at its death. */
  _addTimeout(t: TimerEntry): void {
    this.extra().timeouts.push(t);
  }

  /** @internal */
  _removeTimeout(t: TimerEntry): void {
    const list = this._extra?.timeouts;
    if (!list) return;
    const i = list.lastIndexOf(t);
    if (i >= 0) list.splice(i, 1);
  }

  /** A Greenlet is awaitable: its value, or its exception thrown. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.promise().then(onfulfilled, onrejected);
  }

  private promise(): Promise<T> {
    const x = this.extra();
    x.promise ??= new Promise<T>((resolve, reject) => {
      this.rawlink((g) => (g.successful() ? resolve(g.value as T) : reject(g.exception)));
    });
    return x.promise as Promise<T>;
  }
}

/** Rarely used per-greenlet state, kept off the Greenlet so a parked greenlet stays small. */
class GreenletExtra {
  name: string | undefined = undefined;
  spawnSite: string | undefined = undefined;
  later: StartLater | null = null;
  timeouts: TimerEntry[] = [];
  pending: unknown[] = [];
  promise: Promise<unknown> | undefined = undefined;
  reportedStuck = false;
  awaited = false;

  cancelTimeouts(): void {
    for (const t of this.timeouts) timers.remove(t);
    this.timeouts.length = 0;
  }
}

class StartLater implements TimerEntry {
  _heapIndex = -1;
  constructor(
    private readonly g: Greenlet<any>,
    public deadline: number,
  ) {}

  fire(): void {
    this.g._startNow();
  }
}

/** `join()`: parks until the target dies. */
class JoinWait extends Wait<void> implements Joiner {
  constructor(
    private readonly target: Greenlet<any>,
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'join({ timeout })');
  }

  override poll(): void | typeof PARK {
    return this.target.dead ? undefined : PARK;
  }

  park(): void {
    this.target._addJoiner(this);
  }

  override cancel(): void {
    this.target._removeJoiner(this);
  }

  _onDeath(): void {
    wake(this.g!, undefined);
  }

  override describe(): string {
    return `${this.target}.join()`;
  }
}

/** `get()`: like join, then the value or the exception. */
class GetWait<T> extends Wait<T> implements Joiner {
  constructor(
    private readonly target: Greenlet<T>,
    private readonly block: boolean,
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'get({ timeout })');
  }

  override poll(): T | typeof PARK {
    if (this.target.dead) return this.result();
    if (!this.block) return this.timedOut();
    return PARK;
  }

  park(): void {
    this.target._addJoiner(this);
  }

  override cancel(): void {
    this.target._removeJoiner(this);
  }

  _onDeath(): void {
    const g = this.g!;
    try {
      wake(g, this.result());
    } catch (e) {
      opTracking.wakeError(g, e);
    }
  }

  override timedOut(): T {
    throw new timeoutClass!(null, undefined, `${this.target} is not finished`);
  }

  private result(): T {
    if (this.target.successful()) return this.target.value as T;
    throw this.target.exception;
  }

  override describe(): string {
    return `${this.target}.get()`;
  }
}

/** Set by timeout.ts (it imports this file), so that get() can throw gevent's Timeout. */
let timeoutClass: (new (seconds: number | null, exception?: unknown, message?: string) => Error) | null = null;
export function setTimeoutClass(c: typeof timeoutClass): void {
  timeoutClass = c;
}

function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== 'function') {
    throw new TypeError(
      `${what} needs a function, got ${describeValue(fn)}; pass a generator function ` +
        '(function* () { ... }), a plain or an async function',
    );
  }
}

/** An exception option as an Error instance: a class is instantiated, an instance kept. */
export function toException(exception: unknown, what: string): Error {
  if (exception === undefined) return new GreenletExit();
  if (exception instanceof Error) return exception;
  if (typeof exception === 'function' && exception.prototype instanceof Error) {
    return new (exception as ErrorClass)();
  }
  if (exception === Error) return new Error();
  throw new TypeError(
    `${what} must be an Error class or instance, got ${describeValue(exception)}; ` +
      'pass e.g. GreenletExit or new Error("why")',
  );
}

/** (hub helper) An Op that is fine to drop: the call already acted, waiting is optional. */
function untracked<O extends Op<unknown>>(op: O): O {
  untrack(op);
  return op;
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : describeValue(e);
}

/** Prints a failure as gevent's hub does: the stack, then a line naming who failed. */
export function reportError(e: unknown, who: string): void {
  // (hub helper) describeThrown/writeReport never throw: a null-prototype error or a broken
  // config.errorStream must not crash the hub.
  writeReport(`${describeThrown(e)}\n${new Date().toISOString()} ${who}\n`);
}

/**
 * Spawns a greenlet running `fn(...args)`; it starts on a later hub turn, in spawn order.
 *
 * @example
 * const g = spawn(function* (url: string) { return yield* fetchPage(url); }, 'http://127.0.0.1:8080/');
 */
export function spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<ResultOf<R>> {
  return Greenlet.spawn(fn, ...args);
}

/**
 * Spawns a greenlet that starts after `seconds`.
 *
 * @example
 * spawnLater(0.5, function* () { console.log('half a second later'); });
 */
export function spawnLater<A extends unknown[], R>(
  seconds: number,
  fn: (...args: A) => R,
  ...args: A
): Greenlet<ResultOf<R>> {
  return Greenlet.spawnLater(seconds, fn, ...args);
}

/**
 * Runs `fn` (or an Op) in a new greenlet and gives a Promise of its result: how top-level
 * code enters the greenlet world. If it waits on something that can never finish, the promise
 * rejects with `LoopExit` when Node's event loop runs dry.
 *
 * @example
 * await run(function* main() { yield* joinall([spawn(foo), spawn(bar)]); });
 */
export function run<R>(fn: (() => R) | Op<R>): Promise<ResultOf<R> | (R extends Op<infer V> ? V : never)> {
  let g: Greenlet<any>;
  if (fn instanceof Op) g = new Greenlet(() => fn);
  else {
    checkFunction(fn, 'run()');
    g = new Greenlet(fn);
  }
  g._awaited = true;
  g.start();
  return Promise.resolve(g) as Promise<any>;
}

opTracking.runner = (op) => run(op);
