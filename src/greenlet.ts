/**
 * Greenlet: a generator function (or a plain or async function) run by the hub, with gevent's
 * life cycle: spawn, join, get, kill, links. A greenlet's `yield*` is where it may block; the
 * hub runs other greenlets and Node's I/O meanwhile.
 */
import type { AsyncResource } from 'node:async_hooks';
import { inspect } from 'node:util';
import { abortError, checkSignal } from './abort-signal.js';
import { captureContext } from './async-context.js';
import { GreenletExit } from './errors.js';
import { checkBoolean, checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { failureDied, nameOf, reportError, reportIfRejects } from './failure-report.js';
import { isGeneratorFunction, shareGeneratorPrototype } from './generator-prototype.js';
import { addLive, DEAD, enqueue, F_DYING, F_FAILED, getcurrent, INIT, interrupt, monitoringBlocking, PARKED, READY, removeLive, RUNNING, stateOf, timers, wake, withState } from './hub.js';
import { keepHiddenClass } from './hidden-classes.js';
import { holdWhileAlive, releaseHold, releaseOnDeath } from './lifetime.js';
import { doneOp, keepOpClass, Op, opTracking, PARK, untrack, Wait } from './op.js';
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
    /** A generator function: run in its own greenlet, as gevent's link() spawns (SpawnedLink). */
    private readonly spawned: boolean,
  ) {}

  _onDeath(g: Greenlet<T>): void {
    const ok = g.successful();
    if (this.kind === ON_VALUE && !ok) return;
    if (this.kind === ON_EXCEPTION && ok) return;
    if (this.spawned) {
      Greenlet.spawn(this.callback as (g: Greenlet<T>) => unknown, g);
      return;
    }
    try {
      reportIfRejects(this.callback(g), () => `a link callback of ${nameOf(g)}`);
    } catch (e) {
      reportError(e, `a link callback of ${nameOf(g)}`);
    }
  }
}

let counter = 0;
const NO_ARGS: unknown[] = [];
/** A `_flags` bit of greenlet.ts's own (the hub's F_* bits are 1 to 16): its outcome was observed. */
const F_OBSERVED = 32;
/** Before the first step, `_resume` holds the one spawn argument itself, not an array (see spawn). */
const F_ONE_ARG = 128;
/** GreenletExtra.holder: nobody at top level waits for it / an `await op` / a `run()` root. */
const NOT_HELD = 0;
const AWAITED_OP = 1;
const MAIN = 2;

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
  /** @internal F_* bits (hub.ts), and above them the life state (see `_state`). */
  _flags = 0;
  /**
   * @internal What the next step resumes with (an error under F_THROW); after death, the
   * result. Before the first step: the arguments to call the function with (an array, or the
   * one argument itself under F_ONE_ARG), so that they cost no field of their own.
   */
  _resume: unknown;
  /** @internal The Wait parked on, or the one that woke it while READY. */
  _wait: Wait<unknown> | null = null;
  /** @internal The running iterator, and the ones suspended under it (`yield op` without `*`). */
  _it: Iterator<unknown, unknown, unknown> | null = null;
  /** @internal */ _stack: Iterator<unknown, unknown, unknown>[] | null = null;
  /** @internal The async context it was spawned in. */
  _ctx: AsyncResource;
  /** @internal */ _liveNext: Greenlet<any> | null = null;
  /** @internal */ _livePrev: Greenlet<any> | null = null;
  /** @internal The number of the greenlet that spawned it (0: top-level code), for run info. */
  _parentId: number;

  // --- the greenlet's own ---
  private _fn: ((...args: any[]) => unknown) | null;
  /** Joiners and link callbacks, told in order at death. */
  private _links: ParkingLot<Joiner> | null = null;
  private _extra: GreenletExtra | null = null;
  /** @internal Its number, unique in the thread. */
  readonly _id = ++counter;

  /**
   * @internal The life state (hub.ts: INIT, READY, RUNNING, PARKED, DEAD). Kept in `_flags`
   * rather than a field of its own: a field is 8 bytes on every greenlet, and 100,000 spawned
   * greenlets are copied by the young-generation GC before they run (docs/performance.md).
   */
  get _state(): number {
    return stateOf(this._flags);
  }

  set _state(s: number) {
    this._flags = withState(this._flags, s);
  }

  constructor(fn?: (...args: any[]) => unknown, ...args: unknown[]);
  constructor(fn?: (...args: any[]) => unknown) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(
        `Greenlet needs a function to run, got ${describeValue(fn)}; pass a generator function, ` +
          'a plain or an async function (or subclass Greenlet and override *_run)',
      );
    }
    if (fn !== undefined) {
      refuseAsyncGenerator(fn, 'Greenlet');
      shareGeneratorPrototype(fn); // see generator-prototype.ts: half the cost of an inline spawn
    }
    this._fn = fn ?? null;
    // (`arguments`, not a rest array: spawn() passes fn alone, and an empty array per spawn is
    // young garbage that brings the next scavenge of the greenlets waiting to start nearer)
    this._resume = arguments.length <= 1 ? NO_ARGS : Array.prototype.slice.call(arguments, 1);
    this._ctx = captureContext();
    this._parentId = getcurrent()?._id ?? 0;
    if (opTracking.debug || monitoringBlocking()) this.extra().spawnSite = new Error('spawned').stack;
  }

  /**
   * Creates and starts a greenlet (gevent's classmethod `Greenlet.spawn`): on a subclass,
   * `MySub.spawn(...args)` builds `new MySub(...args)`.
   *
   * @example
   * const g = Greenlet.spawn(function* (n: number) { return n + 1; }, 41);
   * const m = MyGreenlet.spawn('Hi there!'); // a MyGreenlet
   */
  static spawn<A extends unknown[], R>(this: typeof Greenlet, fn: (...args: A) => R, ...args: A): Greenlet<ResultOf<R>>;
  static spawn<G extends Greenlet<any>, A extends unknown[]>(this: new (...args: A) => G, ...args: A): G;
  static spawn(this: any, ...args: unknown[]): Greenlet<any> {
    if (this === Greenlet) checkFunction(args[0], 'spawn()');
    const g = new this(...args);
    g.start();
    return g;
  }

  /**
   * Creates a greenlet that starts after `seconds` (on a subclass, `new MySub(...args)`).
   * `Infinity` never starts it, and holds nothing: a `join()` of it is reported as a wait
   * that would block forever.
   *
   * @example
   * Greenlet.spawnLater(0.5, function* () { console.log('later'); });
   */
  static spawnLater<A extends unknown[], R>(
    this: typeof Greenlet,
    seconds: number,
    fn: (...args: A) => R,
    ...args: A
  ): Greenlet<ResultOf<R>>;
  static spawnLater<G extends Greenlet<any>, A extends unknown[]>(this: new (...args: A) => G, seconds: number, ...args: A): G;
  static spawnLater(this: any, seconds: number, ...args: unknown[]): Greenlet<any> {
    checkSeconds(seconds, 'spawnLater(seconds)');
    if (this === Greenlet) checkFunction(args[0], 'spawnLater()');
    const g = new this(...args);
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

  /**
   * @internal Sets the arguments the first step calls the function with (before it starts):
   * one is kept as itself, more in their array (see `_call`).
   */
  _setArgs(args: unknown[]): void {
    if (args.length === 1) this._setArg(args[0]);
    else if (args.length !== 0) {
      this._resume = args;
      this._flags &= ~F_ONE_ARG;
    }
  }

  /** @internal `_setArgs` of one argument, kept as itself (no array). */
  _setArg(arg: unknown): void {
    this._resume = arg;
    this._flags |= F_ONE_ARG;
  }

  /**
   * @internal The hub's first step: runs the body with `args`, what `_resume` held until then.
   * A plain Greenlet calls its function directly (no spread, no rest array): this is on every
   * spawn's path.
   */
  _call(args: unknown): unknown {
    const one = (this._flags & F_ONE_ARG) !== 0;
    this._flags &= ~F_ONE_ARG;
    const fn = this._fn;
    if (this._run !== defaultRun || fn === null) return one ? this._run(args) : this._run(...(args as unknown[]));
    if (one) return fn.call(this, args);
    return (args as unknown[]).length === 0 ? fn.call(this) : fn.apply(this, args as unknown[]);
  }

  /** Schedules the greenlet to run on a later hub turn (once; later calls do nothing). */
  start(): void {
    if (this._state !== INIT || this._extra?.later) return;
    this._state = READY;
    addLive(this);
    enqueue(this);
  }

  /**
   * Schedules the greenlet to start after `seconds` (Infinity: never; nothing is armed, so it
   * holds nothing).
   */
  startLater(seconds: number): void {
    checkSeconds(seconds, 'startLater(seconds)');
    if (this._state !== INIT || this._extra?.later) return;
    // A double on the monotonic clock: any length, at any uptime.
    const later = new StartLater(this, now() + seconds * 1000);
    this.extra().later = later;
    if (seconds !== Infinity) {
      timers.add(later);
      scheduledLater.add(this);
    }
  }

  /** @internal The delayed start is due. */
  _startNow(): void {
    this._extra!.later = null;
    scheduledLater.delete(this);
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

  /** The error the greenlet died of, or undefined. Reading it counts as handling the failure. */
  get exception(): unknown {
    if ((this._flags & F_FAILED) === 0) return undefined;
    this._flags |= F_OBSERVED;
    return this._resume;
  }

  /** @internal Someone observed (or will observe) its outcome: its failure is not reported. */
  _markObserved(): void {
    this._flags |= F_OBSERVED;
  }

  /** @internal */
  _observed(): boolean {
    return (this._flags & F_OBSERVED) !== 0;
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

  /** @internal Top-level code awaits it (`run()`, `await op`): it gets LoopExit when the loop runs dry. */
  get _awaited(): boolean {
    return this._extra?.awaited ?? false;
  }

  set _awaited(v: boolean) {
    this.extra().awaited = v;
  }

  /**
   * @internal The short-lived greenlet that runs an `await op` of top-level code: code that
   * acts as top-level code (an RLock's owner is then "outside any greenlet").
   */
  get _runsTopLevelAwait(): boolean {
    return this._extra?.holder === AWAITED_OP;
  }

  private extra(): GreenletExtra {
    return (this._extra ??= new GreenletExtra());
  }

  /** @internal */
  extra_(): GreenletExtra {
    return this.extra();
  }

  toString(): string {
    const fn = this._fn?.name;
    return `<${this.constructor.name} "${this.name}"${fn ? `: ${fn}` : ''}>`;
  }

  /**
   * Its state in words, for run info and `util.inspect`: "running", "ready to run",
   * "waiting on Queue.get()", "dead (failed with Error)".
   *
   * @example
   * g.describeState(); // 'waiting on sleep(10)'
   */
  describeState(): string {
    switch (this._state) {
      case INIT:
        return this._extra?.later ? 'scheduled to start later' : 'not started';
      case READY:
        return 'ready to run';
      case RUNNING:
        return 'running';
      case PARKED:
        return `waiting on ${describeWait(this)}`;
      default:
        if ((this._flags & F_FAILED) === 0) return 'dead (successful)';
        return `dead (failed with ${this._resume instanceof Error ? this._resume.name : describeValue(this._resume)})`;
    }
  }

  /** `util.inspect` / `console.log`: name and state, not internals. */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    return options.stylize(`${this} (${this.describeState()})`, 'special');
  }

  /**
   * Waits until the greenlet is dead, or `timeout` seconds pass; gives nothing either way
   * (check `dead`), as gevent's join.
   *
   * @example
   * yield* g.join({ timeout: 1 });
   */
  join(opts?: { timeout?: number | null } | null): Op<void> {
    const o = ownOptions(opts, 'join(options)');
    this.checkNotSelf('join');
    this._flags |= F_OBSERVED;
    return new JoinWait(this, o.timeout);
  }

  /**
   * The greenlet's value once it is dead, or its exception thrown. `block: false` on a
   * greenlet still running throws `Timeout`, as does running out of `timeout`.
   *
   * @example
   * const v = yield* g.get({ timeout: 5 });
   */
  get(opts?: { block?: boolean; timeout?: number | null } | null): Op<T> {
    const o = ownOptions(opts, 'get(options)');
    const block = checkBoolean(o.block, 'get({ block })', true);
    this.checkNotSelf('get');
    this._flags |= F_OBSERVED;
    return new GetWait<T>(this, block, o.timeout);
  }

  /**
   * Kills the greenlet: `exception` (GreenletExit by default) is thrown at its suspension
   * point at once, its wait cancelled first, so its `finally` blocks run. Every kill delivers,
   * as in gevent: a greenlet that caught one GreenletExit is interrupted again by the next.
   * A greenlet that has not started never runs. A greenlet that kills itself with `block`
   * (the default) gets the exception thrown at once, from this call. The Op waits for the
   * death (`block`, up to `timeout` seconds); the kill happens whether or not it is yielded.
   *
   * @example
   * yield* g.kill();                               // and wait for it to die
   * g.kill({ exception: new Error('stop'), block: false });
   */
  kill(opts?: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } | null): Op<void> {
    const o = ownOptions(opts, 'kill(options)');
    const err = toException(o.exception, 'kill({ exception })');
    const block = checkBoolean(o.block, 'kill({ block })', true);
    if (o.timeout !== undefined && o.timeout !== null) checkSeconds(o.timeout, 'kill({ timeout })');
    // The killer chose the outcome: a death by its exception is not an unobserved failure.
    this._flags |= F_OBSERVED;
    if (this._state !== DEAD) {
      if (this._it === null && this._state !== RUNNING) this.killBeforeStart(err);
      else if (block && this === getcurrent()) throw err; // gevent raises in the current greenlet
      else {
        this._flags |= F_DYING;
        interrupt(this, err);
      }
    }
    if (!block || this._state === DEAD || this === getcurrent()) return doneOp(undefined);
    const join = new JoinWait(this, o.timeout);
    untrack(join); // the kill already happened: leaving the wait unyielded loses nothing
    return join;
  }

  private killBeforeStart(err: Error): void {
    const later = this._extra?.later;
    if (later) {
      timers.remove(later);
      this._extra!.later = null;
      scheduledLater.delete(this);
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
  link(callback: LinkCallback<T> | ((g: Greenlet<T>) => Generator<unknown, unknown, any>)): void {
    this.addLink(callback as LinkCallback<T>, ALWAYS, false);
  }

  /** Like `link`, only if it dies successfully. */
  linkValue(callback: LinkCallback<T> | ((g: Greenlet<T>) => Generator<unknown, unknown, any>)): void {
    this.addLink(callback as LinkCallback<T>, ON_VALUE, false);
  }

  /** Like `link`, only if it dies with an exception. */
  linkException(callback: LinkCallback<T> | ((g: Greenlet<T>) => Generator<unknown, unknown, any>)): void {
    this.addLink(callback as LinkCallback<T>, ON_EXCEPTION, false);
  }

  /**
   * gevent's rawlink: like `link`, for containers and waits (Group, `wait`/`iwait`); the
   * callback runs in the hub and must not block, and a rawlink alone does not count as
   * handling a failure (a Group's bookkeeping does not silence its members' failures).
   */
  rawlink(callback: LinkCallback<T>): void {
    this.addLink(callback, ALWAYS, true);
  }

  /**
   * Removes every link to `callback`; also while the links are being told of the death, so
   * a callback that unlinks a later one stops it (as gevent).
   */
  unlink(callback: LinkCallback<T>): void {
    const links = this._links;
    if (links === null) return;
    for (const j of links.drain()) {
      if (!(j instanceof LinkNode && j.callback === callback)) links.push(j);
    }
  }

  private addLink(callback: LinkCallback<T>, kind: number, raw: boolean): void {
    checkFunction(callback, raw ? 'rawlink()' : 'link()');
    const spawned = isGeneratorFunction(callback);
    if (spawned && raw) {
      throw new TypeError(
        `rawlink() callbacks run in the hub and cannot block, got the generator function ${callback.name || '(anonymous)'}; ` +
          'use link(), which runs a generator function in its own greenlet, or pass a plain function',
      );
    }
    if (!raw) this._flags |= F_OBSERVED;
    this._addJoiner(new LinkNode(callback, kind, spawned));
  }

  /** @internal Tells every joiner and link callback of the death (queued after death). */
  _notifyLinks(): void {
    const links = this._links;
    if (links === null) return;
    // The list stays reachable while it is walked, so unlink() from a callback takes effect.
    // Each joiner is guarded: one that throws (a subclass's successful(), say) is reported and
    // the links after it are still told.
    for (let j = links.shift(); j !== null; j = links.shift()) {
      try {
        j._onDeath(this);
      } catch (e) {
        reportError(e, `a link callback of ${nameOf(this)}`);
      }
    }
    if (this._links === links) this._links = null;
    const x = this._extra;
    if (x !== null && x.holding) this.releaseHold(x); // the run() promise is settled now
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
    this._flags = withState(F_DYING | (this._flags & F_OBSERVED), DEAD);
    this._resume = value;
    removeLive(this);
    const x = this._extra;
    if (x !== null) x.cancelTimeouts();
    const fails = failed && !(value instanceof GreenletExit);
    if (fails) this._flags |= F_FAILED;
    if (x !== null && x.holder !== NOT_HELD) {
      // A run() root or an `await op`: its failure goes to the awaiting code only (gevent's main).
      releaseOnDeath(this, fails ? value : undefined);
    } else if (fails) failureDied(this, value);
    // Joiners and links hear of it on a later hub turn, in order (the hub calls _notifyLinks).
    if (this._links !== null) enqueue(this as Greenlet<any>);
    else if (x !== null && x.holding) this.releaseHold(x); // nobody to tell: nothing to hold for
  }

  /** Its death was told (or there was nobody to tell): it stops holding the process. */
  private releaseHold(x: GreenletExtra): void {
    x.holding = false;
    releaseHold();
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
    this._flags |= F_OBSERVED; // the promise carries a failure on: Node reports it if unhandled
    // Code outside greenlets waits for it (`await g`): it holds the process until its death
    // is told, as an `await op` does, also after every run() root settled (when leftover
    // greenlets hold nothing). Otherwise Node could exit with the await never settled.
    if (this._state !== DEAD && getcurrent() === null) this.holdUntilTold();
    return this.promise().then(onfulfilled, onrejected);
  }

  private holdUntilTold(): void {
    const x = this.extra();
    if (x.holding) return;
    x.holding = true;
    holdWhileAlive(this, false);
  }

  private promise(): Promise<T> {
    const x = this.extra();
    x.promise ??= new Promise<T>((resolve, reject) => {
      this.rawlink((g) => (g.successful() ? resolve(g.value as T) : reject(g.exception)));
    });
    return x.promise as Promise<T>;
  }
}

/** Greenlet's own `_run`: a subclass that overrides it is called through it. */
const defaultRun = Greenlet.prototype._run;

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
  /** Whether top-level code waits for it (NOT_HELD, or AWAITED_OP / MAIN: see lifetime.ts). */
  holder = NOT_HELD;
  /** It holds the process (lifetime.ts) until its death has been told to its links. */
  holding = false;

  cancelTimeouts(): void {
    for (const t of this.timeouts) timers.remove(t);
    this.timeouts.length = 0;
  }
}

/**
 * Greenlets a finite spawnLater/startLater scheduled that have not started yet: not live, yet
 * `shutdown()` must kill them too (so they never run), as gevent's killall of pending
 * spawn_later greenlets. A `startLater(Infinity)` greenlet never runs and is not held here.
 */
const scheduledLater = new Set<Greenlet<any>>();

/**
 * Every greenlet scheduled by a finite `spawnLater` that has not started yet (not a hot path).
 *
 * @example
 * spawnLater(5, job);
 * scheduledGreenlets().length; // 1, until it starts or is killed
 */
export function scheduledGreenlets(): Greenlet<any>[] {
  return [...scheduledLater];
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

/**
 * Checks what `spawn`-like calls are given to run: a TypeError naming `what` for anything but
 * a generator, plain or async function.
 *
 * @example
 * checkFunction(fn, 'Group.spawn()');
 */
export function checkFunction(fn: unknown, what: string): asserts fn is Function {
  if (typeof fn !== 'function') {
    throw new TypeError(
      `${what} needs a function to run, got ${describeValue(fn)}; pass a generator function ` +
        '(function* () { ... }), a plain or an async function',
    );
  }
  refuseAsyncGenerator(fn, what);
}

/**
 * An `async function*` cannot be a greenlet: its `next()` gives a promise, and the hub drives
 * a greenlet's steps synchronously. Refused where it is given, naming the fix.
 */
function refuseAsyncGenerator(fn: Function, what: string): void {
  // The usual kinds are told by their prototype alone (a lookup of Symbol.toStringTag on
  // every spawn cost more than the rest of the check); a generator function first.
  if (isGeneratorFunction(fn)) return;
  const proto = Object.getPrototypeOf(fn);
  if (proto === Function.prototype || proto === AsyncFunctionPrototype) return;
  if (Object.prototype.toString.call(fn) === '[object AsyncGeneratorFunction]') {
    throw new TypeError(
      `${what} cannot run the async generator function ${fn.name || '(anonymous)'}: a greenlet is a plain ` +
        'generator function; write function* and `yield*` the Ops (a `yield promise` waits for a promise)',
    );
  }
}

const AsyncFunctionPrototype = Object.getPrototypeOf(async function () {}) as object;

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

/** What a parked greenlet waits on, in words; never throws (describe() is user code for custom Waits). */
function describeWait(g: Greenlet<any>): string {
  try {
    return g._wait?.describe() ?? 'something';
  } catch {
    return 'a wait that cannot describe itself';
  }
}

// Printing lives in failure-report.ts; event.ts and others import it from here.
export { reportError };

/**
 * Spawns a greenlet running `fn(...args)`; it starts on a later hub turn, in spawn order.
 *
 * @example
 * const g = spawn(function* (url: string) { return yield* fetchPage(url); }, 'http://127.0.0.1:8080/');
 */
export function spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<ResultOf<R>>;
export function spawn(fn: (...args: unknown[]) => unknown): Greenlet<unknown> {
  checkFunction(fn, 'spawn()'); // (cheap: the constructor's own check then finds nothing)
  const g = new Greenlet<unknown>(fn);
  // One argument is kept as itself, not in an array: 56 bytes less per greenlet waiting to
  // start (100,000 spawned in a loop all wait). Read from `arguments`: a rest array would be
  // made on every call, and even young garbage brings the next scavenge of them nearer.
  const n = arguments.length;
  if (n === 2) g._setArg(arguments[1]);
  else if (n > 2) g._setArgs(Array.prototype.slice.call(arguments, 1));
  g.start();
  return g;
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
 * code enters the greenlet world. The greenlet is a root, gevent's main greenlet:
 * - its failure goes to the promise only (no report is printed for it);
 * - once every root has settled, greenlets left over no longer keep the process alive;
 * - Ctrl-C throws `KeyboardInterrupt` into it (unless the program listens to SIGINT itself);
 * - if it waits on something that can never finish, it gets `LoopExit` when Node's event loop
 *   runs dry;
 * - `{ signal }`: an abort interrupts it with an `AbortError` whose `cause` is the reason.
 *
 * @example
 * await run(function* main() { yield* joinall([spawn(foo), spawn(bar)]); });
 * await run(main, { signal: AbortSignal.timeout(5000) });
 */
export function run<R>(
  fn: (() => R) | Op<R>,
  opts?: { signal?: AbortSignal } | null,
): Promise<ResultOf<R> | (R extends Op<infer V> ? V : never)> {
  const o = ownOptions(opts, 'run(fn, options)');
  const signal = o.signal;
  if (signal !== undefined) checkSignal(signal, 'run(fn, { signal })');
  if (!(fn instanceof Op)) checkFunction(fn, 'run()');
  if (signal?.aborted) return Promise.reject(abortError(signal.reason));
  const g = fn instanceof Op ? new Greenlet(() => fn) : new Greenlet(fn);
  startHeld(g, MAIN);
  if (signal !== undefined) {
    const onAbort = (): void => interrupt(g, abortError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    g.rawlink(() => signal.removeEventListener('abort', onAbort));
  }
  return settledWith(g) as Promise<any>;
}

/**
 * The promise of a greenlet top-level code waits for, linked now: `Promise.resolve(g)` would
 * link it only on a later microtask, after the hub may have run the greenlet to its end; the
 * greenlet would then release the process with nobody told, and a process left with nothing
 * else to do would exit before the hub's next turn told the late link (`await run()` never
 * settled, exit status 0).
 */
function settledWith<T>(g: Greenlet<T>): Promise<T> {
  return g.then();
}

/** Starts a greenlet that top-level code waits for (see lifetime.ts). */
function startHeld(g: Greenlet<any>, holder: number): void {
  g._awaited = true;
  const x = g.extra_();
  x.holder = holder;
  x.holding = true;
  holdWhileAlive(g, holder === MAIN);
  g.start();
}

// `await op` outside greenlets: a greenlet top-level code waits for, but not a main greenlet
// (it gets no KeyboardInterrupt, and before any run() it changes nothing to Node's rule).
opTracking.runner = (op) => {
  const g = new Greenlet(() => op);
  startHeld(g, AWAITED_OP);
  return settledWith(g);
};

/**
 * @internal Makes a greenlet that takes no number (a kind kept for its hidden class, see
 * hidden-classes.ts): a program's first greenlet is still Greenlet-1.
 *
 * @example
 * keepHiddenClass(unnumbered(() => new Member(fn, group, null, 0)));
 */
export function unnumbered<G extends Greenlet<any>>(make: () => G): G {
  const saved = counter;
  try {
    return make();
  } finally {
    counter = saved;
  }
}

// The kinds made per task keep their hidden classes across full GCs (hidden-classes.ts).
{
  const g = keepHiddenClass(unnumbered(() => new Greenlet(() => undefined)));
  keepHiddenClass(new GreenletExtra());
  keepHiddenClass(new LinkNode(() => undefined, ON_VALUE, false));
  keepOpClass(new JoinWait(g, null));
  keepOpClass(new GetWait(g, true, null));
}
