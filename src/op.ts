/**
 * The suspension protocol's values. An `Op<T>` is a lazy operation: nothing happens until a
 * greenlet runs it with `yield* op` (which evaluates to `T`, fully typed), or top-level code
 * runs it with `await op` (in a fresh greenlet). Every call that can block returns an Op.
 *
 * `Wait<T>` is the primitive under every blocking call: it first tries to finish at once
 * (`poll`); otherwise the greenlet parks on it (`park`) until something calls `wake` or
 * `wakeError` from hub.ts. If the greenlet is killed or its Timeout fires first, the hub calls
 * `cancel` so nothing the wait asked for is consumed.
 */
import { inspect } from 'node:util';
import { checkTimeout } from './arg-checks.js';
import { ConcurrentObjectUseError } from './errors.js';
import type { Greenlet } from './greenlet.js';
import { keepHiddenClass } from './hidden-classes.js';
import type { ParkingLot, Waiter } from './parking-lot.js';

/**
 * The method name an object implements to be yieldable: `yield obj` runs `obj[toOp]()`.
 * Patches use it to make Node objects (a child process, a socket) waitable.
 *
 * @example
 * class Door { [toOp]() { return this.opened.wait(); } }
 * yield door; // waits until the door opens
 */
export const toOp: unique symbol = Symbol.for('geventjs.toOp') as never;

/** Returned by `Wait.poll` when the wait cannot finish without parking. */
export const PARK: unique symbol = Symbol('geventjs.park') as never;

/**
 * Bookkeeping for "forgot yield*": every Op created while a greenlet runs is listed here until
 * it starts; the hub reports what is left when that greenlet next parks or ends. The common
 * case (created, then started at once) fills and empties the one `last` slot; `list` holds
 * the older ones only while more than one is outstanding (no array traffic per Op). Ops made outside any
 * greenlet go to `outside`, which the hub checks once the current turn of the event loop
 * (and the greenlets it woke) has run: `await op` starts an Op within that turn.
 */
export const opTracking = {
  /** True while a greenlet's step runs (set by the hub). */
  active: false,
  /** Record creation stacks (config.debug): too dear for the hot path otherwise. */
  debug: false,
  /** The newest Op made in this step and not yet started, or null. */
  last: null as Op<unknown> | null,
  /** Older unstarted Ops of this step, oldest first (all made before `last`). */
  list: [] as Op<unknown>[],
  /**
   * Ops made outside any greenlet, not yet started. A Set: top-level code may make thousands
   * and start them in any order (`Promise.all(items.map((i) => q.put(i)))`).
   */
  outside: new Set<Op<unknown>>(),
  /** Asks the hub to check `outside` once this turn is over (set by hub.ts). */
  checkOutside: null as null | (() => void),
  /** How `await op` runs an Op: set by greenlet.ts (it spawns a greenlet). */
  runner: null as null | ((op: Op<unknown>) => Promise<unknown>),
  /** The hub's wake functions, set by hub.ts (op.ts cannot import the hub: it imports us). */
  wake: null as unknown as (g: Greenlet, value: unknown) => boolean,
  wakeError: null as unknown as (g: Greenlet, err: unknown) => boolean,
};

/**
 * @internal Lists `op` as "made, not yet started" (every Op's constructor calls it).
 *
 * @example
 * track(SLEEP0); // a shared Op handed out again is listed again
 */
export function track(op: Op<unknown>): void {
  // The usual case in a few bytes, so that V8 inlines it into every Op's constructor.
  if (opTracking.active && opTracking.last === null && !opTracking.debug) opTracking.last = op;
  else trackSlow(op);
}

function trackSlow(op: Op<unknown>): void {
  if (opTracking.active) {
    const prev = opTracking.last;
    if (prev !== null) opTracking.list.push(prev);
    opTracking.last = op;
  } else {
    if (opTracking.outside.size === 0 && opTracking.checkOutside !== null) opTracking.checkOutside();
    opTracking.outside.add(op);
  }
  if (opTracking.debug) op._site = new Error('created here').stack;
}

/**
 * Marks `op` as started (or as fine to drop): it is never reported as forgotten. Calls that
 * act at once and only optionally wait (`g.kill()`, `killall()`) untrack the Op they return.
 *
 * @example
 * const op = new JoinWait(g); untrack(op); return op; // `g.kill()` without yield* is fine
 */
export function untrack(op: Op<unknown>): void {
  if (opTracking.last === op) opTracking.last = null;
  else untrackOlder(op);
}

/** `untrack` of an Op that is not the newest: kept out of line so the common case inlines. */
function untrackOlder(op: Op<unknown>): void {
  const list = opTracking.list;
  const n = list.length;
  if (n !== 0) {
    if (list[n - 1] === op) {
      list.pop();
      return;
    }
    const i = list.lastIndexOf(op);
    if (i >= 0) {
      list.splice(i, 1);
      return;
    }
  }
  if (opTracking.outside.size !== 0) opTracking.outside.delete(op);
}

/**
 * @internal True when the running step made an Op it has not started yet.
 *
 * @example
 * if (hasUnstarted()) report(takeUnstarted());
 */
export function hasUnstarted(): boolean {
  return opTracking.last !== null || opTracking.list.length !== 0;
}

/**
 * @internal The running step's unstarted Ops, oldest first, and forgets them.
 *
 * @example
 * for (const op of takeUnstarted()) outside.add(op);
 */
export function takeUnstarted(): Op<unknown>[] {
  const ops = opTracking.list.slice();
  if (opTracking.last !== null) ops.push(opTracking.last);
  opTracking.list.length = 0;
  opTracking.last = null;
  return ops;
}

/**
 * A lazy, typed operation. `yield* op` in a greenlet gives `T`; `await op` elsewhere runs it
 * in a new greenlet. Subclass `Wait` for a primitive that parks, or use `opFrom` to build one
 * out of a generator.
 *
 * @example
 * const v: number = yield* q.get();   // inside a greenlet
 * const w = await q.get();            // in an async function
 */
export abstract class Op<T> implements Iterable<unknown, T, unknown>, PromiseLike<T> {
  // `declare`d, not initialized: most ops never have them, and a field costs 8 bytes per op.
  /** Creation stack, kept only when `config.debug` is on. */
  declare _site: string | undefined;
  /** True for ops whose loss must fail the greenlet (patched Node calls). */
  declare mustYield: boolean | undefined;

  constructor() {
    track(this);
  }

  abstract [Symbol.iterator](): Iterator<unknown, T, unknown>;

  /** What this operation is, for error messages: `Queue.get()`. */
  describe(): string {
    return `${this.constructor.name}()`;
  }

  /** @internal What `util.inspect` (and console.log) shows: the call and its state. */
  [inspect.custom](): string {
    return `Op ${safeDescribe(this)}${this._stateText()}`;
  }

  /** @internal ` (waiting in <Greenlet ...>)` and the like, for inspect. */
  _stateText(): string {
    return '';
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    untrack(this);
    const run = opTracking.runner;
    if (run === null) throw new Error('geventjs: greenlet.ts is not loaded');
    return (run(this) as Promise<T>).then(onfulfilled, onrejected);
  }
}

// One shared result object each for "yielded" and "done": a generator's `yield*` passes the
// inner iterator's result object straight to the hub, which reads it at once, so reusing one
// object saves an allocation per switch.
const YIELDED: { value: unknown; done: false } = { value: undefined, done: false };
const DONE: { value: unknown; done: true } = { value: undefined, done: true };

/** @internal An iterator result saying "park on `value`". */
export function yielded(value: unknown): IteratorResult<unknown, never> {
  YIELDED.value = value;
  return YIELDED as IteratorResult<unknown, never>;
}

/** @internal An iterator result saying "finished with `value`". */
export function done<T>(value: T): IteratorResult<never, T> {
  DONE.value = value;
  return DONE as IteratorResult<never, T>;
}

const FRESH = 0;
const PARKING = 1;
const FINISHED = 2;
/** FRESH for a run a RecycledOp lent: such a Wait is never tracked, so nothing to untrack. */
const LENT = 3;

/**
 * A primitive wait: try at once (`poll`), else park the greenlet (`park`), to be woken once by
 * `wake(g, value)` / `wakeError(g, err)`; `cancel` undoes `park` when the greenlet is killed or
 * timed out first. `undo` (optional) gives back a value the wait was woken with but that the
 * greenlet never received because it was interrupted before it ran: implement it for waits
 * that consume something (a queue item, a semaphore slot, socket bytes).
 *
 * It is its own iterator, so `yield* op` costs no allocation beyond the op.
 *
 * @example
 * class Nap extends Wait<string> {
 *   park(g: Greenlet) { this.t = setTimeout(() => wake(g, 'rested'), 10); }
 *   cancel() { clearTimeout(this.t); }
 * }
 * const s = yield* new Nap(); // 'rested'
 */
export abstract class Wait<T> extends Op<T> implements Iterator<unknown, T, unknown>, Waiter {
  // Fields are `declare`d and set in the constructor: compiled as plain assignments, not ES2022
  // field definitions, which V8 (Node 20) makes ~40% slower for an object of this many fields,
  // and a Wait is made for every blocking call (docs/performance.md).
  /** FRESH, PARKING, FINISHED, or LENT (fresh, lent by a RecycledOp). */
  declare _st: number;
  /** The parked greenlet, set by the hub just before `park`. */
  declare g: Greenlet | null;
  declare _prev: Waiter | null;
  declare _next: Waiter | null;
  declare _lot: ParkingLot<Waiter> | null;
  /** Time limit in ms once parked (a double of any size), or -1 for none: set with `expireAfter`. */
  declare _timeoutMs: number;
  /** TimerEntry fields: the hub schedules a parked Wait that has a time limit. */
  declare deadline: number;
  declare _heapIndex: number;
  /** How many runs a RecycledOp lent this Wait (tells a run's Op whether the Wait is still its). */
  declare _runId: number;

  constructor() {
    super();
    this._runId = 0;
    this._st = FRESH;
    this.g = null;
    this._prev = null;
    this._next = null;
    this._lot = null;
    this._timeoutMs = -1;
    this.deadline = 0;
    this._heapIndex = -1;
  }

  /**
   * Gives the wait a time limit (`{ timeout }` in seconds; null or undefined for none). When it
   * runs out while parked, the wait is cancelled and the greenlet resumes with `timedOut()`.
   */
  protected expireAfter(seconds: number | null | undefined, what: string): void {
    if (seconds === null || seconds === undefined) return;
    try {
      this._timeoutMs = timeLimitMs(seconds, what);
    } catch (e) {
      untrack(this); // the constructor throws: the caller never gets this Op, so it is not dropped
      throw e;
    }
  }

  /**
   * @internal Readies a finished Wait for a new run lent by a RecycledOp, with `timeoutMs` (-1:
   * none, 0: must not park). Only a Wait whose last run is over (given back by `_runOver`).
   */
  _freshRun(timeoutMs: number): this {
    this._st = LENT;
    this.g = null;
    this._timeoutMs = timeoutMs;
    return this;
  }

  /** What the greenlet gets when the time limit runs out (return a value or throw). */
  timedOut(): T {
    return undefined as T;
  }

  /** @internal The time limit ran out (called by the hub's timer heap). */
  fire(): void {
    const g = this.g;
    if (g === null || g._wait !== this || g._state !== 3 /* PARKED */) return;
    let v: T;
    try {
      this.cancel(g); // a cancel that throws: its error, not the time-out, reaches the greenlet
      v = this.timedOut();
    } catch (e) {
      opTracking.wakeError(g, e);
      return;
    }
    opTracking.wake(g, v);
    // Woken by its own time limit, not by the primitive: if the greenlet is interrupted before
    // it runs, there is nothing to give back, so `undo` must not see this value.
    g._wait = null;
  }

  /** Finish without parking if possible; return PARK to park. */
  poll(): T | typeof PARK {
    return PARK;
  }

  /** Register `g` so that something wakes it exactly once. */
  abstract park(g: Greenlet): void;

  /** Undo `park`: `g` was not woken and no longer waits. */
  cancel(_g: Greenlet): void {}

  /** Give back `value`, which woke `g` but which `g` will never receive. */
  undo?(g: Greenlet, value: unknown): void;

  /**
   * True for a wait whose wake-up is an effect that cannot be given back (a put whose item is
   * already in the queue): an interruption that comes after the wake-up and before `g` runs
   * lets the wait finish and lands at `g`'s next suspension point instead.
   */
  get keepsWake(): boolean {
    return false;
  }

  /**
   * One run at a time: a Wait is its own iterator and holds one parked greenlet, so a second
   * greenlet starting it while the first still waits is refused (it would steal the wake-up
   * and lose what the first waited for). Run it again once it finished: each run is fresh.
   */
  [Symbol.iterator](): this {
    if (this._st === PARKING) throw this.inUse();
    this._st = FRESH;
    return this;
  }

  /** @internal The error for a second greenlet starting this Wait while it still waits. */
  inUse(op: Op<unknown> = this): ConcurrentObjectUseError {
    const who = this.g === null ? 'another greenlet' : String(this.g);
    return new ConcurrentObjectUseError(
      `${safeDescribe(op)} is already being waited on by ${who}; an Op runs in one greenlet ` +
        'at a time: make one Op per waiter (call the method again, e.g. two q.get() calls)',
    );
  }

  override _stateText(): string {
    if (this._st !== PARKING) return this._st === FINISHED ? ' (finished)' : ' (not started)';
    return this.g === null ? ' (waiting)' : ` (waiting in ${String(this.g)})`;
  }

  next(value?: unknown): IteratorResult<unknown, T> {
    const st = this._st;
    if (st === FRESH || st === LENT) {
      if (st === FRESH) untrack(this);
      let r: T | typeof PARK;
      try {
        r = this.poll();
      } catch (e) {
        this.finishRun(); // (Empty, Full: this run is over)
        throw e;
      }
      if (r !== PARK) {
        this.finishRun();
        return done(r as T);
      }
      this._st = PARKING;
      this.g = null; // the hub sets it when it parks this run: set already means another run
      return yielded(this);
    }
    // Resumed by the hub with what woke us.
    if (st === PARKING) this.finishRun();
    return done(value as T);
  }

  throw(err: unknown): IteratorResult<unknown, T> {
    if (this._st !== FINISHED) this.finishRun();
    throw err;
  }

  // `value: T`, not `value?: unknown`: TypeScript reads the type of `yield* wait` from this parameter too.
  return(value: T): IteratorResult<unknown, T> {
    if (this._st !== FINISHED) this.finishRun();
    return done(value as T);
  }

  private finishRun(): void {
    this._st = FINISHED;
    this._runOver();
  }

  /**
   * @internal Called once when a run ends (finished, failed, or interrupted and unwound): a
   * Wait a RecycledOp lent goes back to its primitive here, to be lent to the next run (one
   * spare per kind: taken by the next run, replaced by the Wait whose run ended last). Nothing
   * for other Waits.
   */
  _runOver(): void {}

  /** @internal True while the hub should `park` it (it was started and did not finish). */
  get parking(): boolean {
    return this._st === PARKING;
  }
}

/**
 * A `{ timeout }` in seconds as a Wait's time limit in ms: -1 for none (null, undefined,
 * Infinity), else rounded up. Throws the TypeError or RangeError of `checkTimeout`, naming `what`.
 *
 * @example
 * timeLimitMs(0.0015, 'get({ timeout })'); // 2
 */
export function timeLimitMs(seconds: number | null | undefined, what: string): number {
  if (seconds === null || seconds === undefined) return -1;
  checkTimeout(seconds, what);
  // Never `| 0`: a limit over 2^31 ms (24.8 days) must last as asked, not wrap to a few ms.
  return seconds === Infinity ? -1 : Math.ceil(seconds * 1000);
}

/**
 * An Op whose runs borrow their Wait from the primitive instead of being one. `q.get()` then
 * makes only this small object, which says what to do; each run takes the primitive's spare
 * Wait (the parking record: wait-list links, parked greenlet, timer) if its last run is over,
 * or a new one while that one is still in use. A blocking call thus allocates a few fields
 * instead of a dozen, and parking the long-lived spare writes no pointer to a young object
 * into an old one (V8 records each such write for its next scavenge). Measured in
 * docs/performance.md.
 *
 * The Wait contract holds for the Op: it runs only when yielded, one run at a time (a second
 * concurrent run is refused with ConcurrentObjectUseError), and again once finished.
 *
 * @example
 * class GetOp<T> extends RecycledOp<T, GetWait<T>> {
 *   constructor(private readonly q: Queue<T>) { super(-1); } // no time limit
 *   protected borrow() { return this.q._borrowGet(); }
 * }
 */
export abstract class RecycledOp<T, W extends Wait<T>> extends Op<T> {
  /** The Wait of the latest run, and which of its runs that was. */
  private declare _run: W | null;
  private declare _runId: number;
  /** Each run's time limit in ms (-1: none, 0: must not park), as `_freshRun` takes it. */
  private declare readonly _limitMs: number;

  constructor(limitMs: number) {
    super();
    this._run = null;
    this._runId = 0;
    this._limitMs = limitMs;
  }

  /** The Wait for a new run, set up for this Op: the primitive's spare, or a new one. */
  protected abstract borrow(): W;

  [Symbol.iterator](): W {
    const last = this._run;
    if (last !== null && last._runId === this._runId && last.parking) throw last.inUse(this);
    untrack(this);
    const w = this.borrow()._freshRun(this._limitMs);
    this._run = w;
    this._runId = ++w._runId;
    return w;
  }

  override _stateText(): string {
    const w = this._run;
    if (w === null) return ' (not started)';
    return w._runId === this._runId ? w._stateText() : ' (finished)'; // its Wait went on to other runs
  }
}

class GeneratorOp<T> extends Op<T> {
  constructor(
    private readonly body: () => Iterator<unknown, T, unknown>,
    private readonly label: string,
  ) {
    super();
  }

  [Symbol.iterator](): Iterator<unknown, T, unknown> {
    untrack(this);
    const it = this.body();
    if (it === null || typeof it !== 'object' || typeof (it as Iterator<unknown>).next !== 'function') {
      throw new TypeError(
        `opFrom(body, ${JSON.stringify(this.label)}): body returned ${describeReturn(it)}, not an iterator; ` +
          'pass a generator function: opFrom(function* () { ... })',
      );
    }
    return it;
  }

  override describe(): string {
    return this.label;
  }
}

function describeReturn(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? 'an object without next()' : `a ${typeof v}`;
}

/**
 * Builds an Op from a generator function: a blocking operation composed of other Ops.
 * `label` names it in "never started" reports.
 *
 * @example
 * function getTwo<T>(q: Queue<T>): Op<[T, T]> {
 *   return opFrom(function* () { return [yield* q.get(), yield* q.get()] as [T, T]; }, 'getTwo()');
 * }
 */
export function opFrom<T>(body: () => Iterator<unknown, T, unknown>, label = 'op'): Op<T> {
  if (typeof body !== 'function') {
    throw new TypeError(`opFrom(body) needs a generator function, got ${typeof body}; write opFrom(function* () { ... })`);
  }
  return new GeneratorOp(body, label);
}

/**
 * `op.describe()` that never throws (a user's Op subclass may): for reports and messages.
 *
 * @example
 * safeDescribe(q.get()); // 'Queue.get()'
 */
export function safeDescribe(op: Op<unknown>): string {
  try {
    return String(op.describe());
  } catch {
    return `${op.constructor?.name ?? 'Op'}()`;
  }
}

/** An Op that is already finished with `value` and is not tracked (nothing to forget). */
class DoneOp<T> extends Op<T> {
  constructor(private readonly value: T) {
    super();
    untrack(this);
  }

  [Symbol.iterator](): Iterator<unknown, T, unknown> {
    const value = this.value;
    return { next: () => done(value) };
  }
}

/**
 * An Op that finishes at once with `value`, for calls whose blocking part is optional
 * (`kill({ block: false })`); forgetting to yield it is harmless, so it is never reported.
 *
 * @example
 * yield* g.kill({ block: false }); // or just g.kill({ block: false });
 */
export function doneOp<T>(value: T): Op<T> {
  return new DoneOp(value);
}

/**
 * Keeps an Op of a short-lived kind alive for good, untracked, so that V8 keeps its hidden
 * classes across full garbage collections (hidden-classes.ts). For a Wait, its `deadline`
 * holds a fraction first, so the map kept is the one with that field as a double, as it is
 * once any wait of the kind had a time limit.
 *
 * @example
 * keepOpClass(new QueueGet(q, -1)); // at the end of queue.ts
 */
export function keepOpClass(op: Op<unknown>): void {
  untrack(op);
  if (op instanceof Wait) op.deadline = 0.5;
  keepHiddenClass(op);
}
