/**
 * Locks and semaphores (gevent.lock): `Semaphore`, `BoundedSemaphore`, `Lock`, `RLock`,
 * `DummySemaphore`.
 *
 * A released slot goes straight to the longest waiter (FIFO hand-off), so a newcomer cannot
 * barge in ahead of it; `counter` only grows when nobody waits. An `acquire` cancelled by a
 * kill or a Timeout takes no slot, and a slot handed to a greenlet that is interrupted before
 * it runs is given back (`undo`).
 *
 * Scoped use: `using _ = yield* sem.hold();` acquires now and releases at the end of the
 * block (gevent's `with sem:`).
 */
import type { Greenlet } from './greenlet.js';
import { checkBoolean, checkSeconds, describeValue, ownOption } from './arg-checks.js';
import { getcurrent, wake } from './hub.js';
import { keepOpClass, Op, PARK, RecycledOp, Wait, doneOp, opFrom, timeLimitMs, untrack } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { inspect } from 'node:util';

/** Options of `acquire`: `blocking: false` never waits; `timeout` in seconds. */
export interface AcquireOptions {
  blocking?: boolean;
  timeout?: number | null;
}

/** What `hold()` gives: disposing it releases the slot (once). */
export interface Held extends Disposable {}

/** Options objects are read in place, own properties only (no copy on the hot path). */
function checkOptions(opts: unknown, what: string): void {
  if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts))) {
    throw new TypeError(`${what} takes an options object, got ${describeValue(opts)}; pass e.g. { timeout: 1 }`);
  }
}

/**
 * Checks `acquire`'s options before anything waits and gives `blocking` (then read `timeout`
 * with `ownOption`). Messages, naming `owner`'s class, are built only when something is wrong.
 */
function blockingOption(owner: object, opts: AcquireOptions | null | undefined): boolean {
  if (opts === undefined || opts === null) return true;
  if (typeof opts !== 'object' || Array.isArray(opts)) checkOptions(opts, `${owner.constructor.name}.acquire(options)`);
  const timeout = ownOption(opts, 'timeout');
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout >= 0)) {
    checkSeconds(timeout, `${owner.constructor.name}.acquire({ timeout })`);
  }
  const blocking = ownOption(opts, 'blocking');
  if (blocking === undefined) return true;
  if (blocking === true || blocking === false) return blocking;
  return checkBoolean(blocking, `${owner.constructor.name}.acquire({ blocking })`, true);
}

function checkInitialValue(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number') {
    throw new TypeError(`${what} must be a number of slots, got ${describeValue(value)}; pass e.g. new Semaphore(2)`);
  }
  if (!(value >= 0) || (!Number.isInteger(value) && value !== Infinity)) {
    throw new RangeError(`${what} must be a whole number >= 0, got ${value}; pass 0 or more slots`);
  }
}

/**
 * `hold()`'s body: a hoisted generator function, not a `function*` written inside `hold()`: V8
 * makes a fresh generator closure a prototype and a map at its first call (about 1 µs a
 * `hold()`, measured; docs/performance.md).
 */
function* acquireThen(acquire: Op<boolean>, held: Held): Generator<unknown, Held, unknown> {
  yield* acquire;
  return held;
}

/** Waits for a slot; woken with `true` when a release hands one over. */
class AcquireWait extends Wait<boolean> {
  private declare readonly sem: Semaphore;

  // Made by Semaphore._borrowAcquire only, and lent to one run after another (RecycledOp).
  constructor(sem: Semaphore) {
    super();
    this.sem = sem;
    untrack(this); // never handed to the caller: the SemaphoreAcquire Op is what is tracked
  }

  override _runOver(): void {
    this.sem._spareAcquire = this;
  }

  override poll(): boolean | typeof PARK {
    if (this.sem._take()) return true;
    if (this._timeoutMs === 0) return false; // `blocking: false`, or `timeout: 0`
    return PARK;
  }

  park(): void {
    this.sem._acquirers.push(this);
  }

  override cancel(): void {
    this.sem._acquirers.remove(this);
  }

  override timedOut(): boolean {
    return false;
  }

  // Resumed with the slot a release handed over: it is ours now, no longer in flight.
  override next(value?: unknown): IteratorResult<unknown, boolean> {
    if (this.parking && value === true) this.sem._inFlight--;
    return super.next(value);
  }

  // The slot reached us but we were killed before running: pass it on. A wait woken by its
  // time limit was woken with false and holds no slot.
  override undo(_g: Greenlet, value: unknown): void {
    if (value !== true) return;
    this.sem._inFlight--;
    this.sem.release();
  }

  override describe(): string {
    return `${this.sem.constructor.name}.acquire()`;
  }
}

/** What `sem.acquire()` returns: each run borrows the semaphore's AcquireWait (RecycledOp). */
class SemaphoreAcquire extends RecycledOp<boolean, AcquireWait> {
  private declare readonly sem: Semaphore;

  constructor(sem: Semaphore, limitMs: number) {
    super(limitMs);
    this.sem = sem;
  }

  protected borrow(): AcquireWait {
    return this.sem._borrowAcquire();
  }

  override describe(): string {
    return `${this.sem.constructor.name}.acquire()`;
  }
}

/** Waits until a slot is free without taking it (gevent's `Semaphore.wait`). */
class AvailableWait extends Wait<number> {
  constructor(
    private readonly sem: Semaphore,
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'waitAvailable({ timeout })');
  }


  override poll(): number | typeof PARK {
    return this.sem.counter > 0 ? this.sem.counter : PARK;
  }

  park(): void {
    this.sem._watchers.push(this);
  }

  override cancel(): void {
    this.sem._watchers.remove(this);
  }

  override timedOut(): number {
    return this.sem.counter;
  }

  override describe(): string {
    return `${this.sem.constructor.name}.waitAvailable()`;
  }
}

/**
 * A counter of free slots: `acquire` takes one (waiting while there is none), `release` gives
 * one back. Fair: waiters get slots in the order they asked.
 *
 * @example
 * const sem = new Semaphore(2);
 * if (yield* sem.acquire({ timeout: 1 })) {
 *   try { yield* work(); } finally { sem.release(); }
 * }
 * { using _ = yield* sem.hold(); yield* work(); } // released at the end of the block
 */
export class Semaphore {
  /** Free slots (0 while anyone waits: releases go straight to waiters). */
  counter: number;
  /** @internal Greenlets waiting in acquire, FIFO. */
  readonly _acquirers = new ParkingLot<AcquireWait>();
  /** @internal Greenlets waiting in waitAvailable. */
  readonly _watchers = new ParkingLot<AvailableWait>();
  /**
   * @internal Slots a release handed to a waiter that has not run yet. Until it runs, gevent
   * still counts such a slot in its counter, so BoundedSemaphore counts it in its bound.
   */
  _inFlight = 0;
  private _held: Held | null = null;
  /** @internal An AcquireWait whose run is over, for the next acquire run (RecycledOp). */
  _spareAcquire: AcquireWait | null = null;

  constructor(value = 1) {
    checkInitialValue(value, `new ${new.target.name}(value)`);
    this.counter = value;
  }

  /**
   * Takes a slot: gives `true` once it has one, or `false` if `blocking` is false and none is
   * free, or if `timeout` seconds pass first (the slot is then left for others).
   *
   * @example
   * const got = yield* sem.acquire({ timeout: 0.5 });
   */
  acquire(opts?: AcquireOptions | null): Op<boolean> {
    if (opts === undefined || opts === null) return new SemaphoreAcquire(this, -1);
    if (!blockingOption(this, opts)) return new SemaphoreAcquire(this, 0); // (options checked)
    return new SemaphoreAcquire(this, timeLimitMs(ownOption(opts, 'timeout') as number | null | undefined, 'acquire({ timeout })'));
  }

  /** @internal The AcquireWait for a new run of an acquire (the spare, if its last run is over). */
  _borrowAcquire(): AcquireWait {
    const w = this._spareAcquire ?? new AcquireWait(this);
    this._spareAcquire = null;
    return w;
  }

  /** @internal Takes a free slot if there is one, without any Op (the pools' fast path). */
  _take(): boolean {
    if (this.counter > 0) {
      this.counter--;
      return true;
    }
    return false;
  }

  /**
   * Gives a slot back: to the longest waiter if there is one, else to the counter. Returns
   * the counter.
   *
   * @example
   * sem.release();
   */
  release(): number {
    this.checkRelease();
    for (let w = this._acquirers.shift(); w !== null; w = this._acquirers.shift()) {
      if (wake(w.g!, true)) {
        this._inFlight++;
        return this.counter;
      }
    }
    this.counter++;
    for (let w = this._watchers.shift(); w !== null; w = this._watchers.shift()) wake(w.g!, this.counter);
    return this.counter;
  }

  /** Subclasses refuse a release here (BoundedSemaphore). */
  protected checkRelease(): void {}

  /**
   * True when an `acquire` would have to wait.
   *
   * @example
   * if (!sem.locked()) yield* sem.acquire();
   */
  locked(): boolean {
    return this.counter <= 0;
  }

  /**
   * Waits until a slot is free, without taking it; gives the counter (also after `timeout`
   * seconds pass, as gevent's `wait` does).
   *
   * @example
   * yield* sem.waitAvailable({ timeout: 1 });
   */
  waitAvailable(opts?: { timeout?: number | null } | null): Op<number> {
    if (opts !== undefined && opts !== null && typeof opts !== 'object') checkOptions(opts, `${this.constructor.name}.waitAvailable(options)`);
    if (Array.isArray(opts)) checkOptions(opts, `${this.constructor.name}.waitAvailable(options)`);
    return new AvailableWait(this, ownOption(opts, 'timeout'));
  }

  /**
   * Acquires (waiting as long as it takes) and gives a Disposable that releases: use it with
   * `using`. For a time limit, put a `Timeout` around it.
   *
   * @example
   * { using _ = yield* sem.hold(); yield* work(); }
   */
  hold(): Op<Held> {
    const held = (this._held ??= { [Symbol.dispose]: () => void this.release() });
    const acquire = this.acquire();
    return opFrom(() => acquireThen(acquire, held), `${this.constructor.name}.hold()`);
  }

  /** `util.inspect` / `console.log`: free slots and who waits, not internals. */
  [inspect.custom](): string {
    const n = this._acquirers.size;
    return `<${this.constructor.name} counter=${this.counter}${n === 0 ? '' : `, ${n} waiting`}>`;
  }
}

/**
 * A Semaphore that refuses to be released more often than acquired: the counter never goes
 * above its initial value (a release past it throws RangeError, gevent's ValueError, naming the
 * fix). A slot handed to a waiter that has not run yet still counts, as in gevent: releasing a
 * Lock twice while a greenlet waits for it throws rather than letting two greenlets hold it.
 *
 * @example
 * const sem = new BoundedSemaphore(2);
 * yield* sem.acquire(); sem.release(); sem.release(); // throws: released too many times
 */
export class BoundedSemaphore extends Semaphore {
  /** The initial value: the most `counter` can be. */
  readonly initialValue: number;

  constructor(value = 1) {
    super(value);
    this.initialValue = value;
  }

  protected override checkRelease(): void {
    if (this.counter + this._inFlight >= this.initialValue) {
      throw new RangeError(
        `${this.constructor.name} released too many times (${this.counter} free` +
          (this._inFlight > 0 ? ` and ${this._inFlight} handed to a waiting greenlet` : '') +
          ` of ${this.initialValue}); release only a slot you acquired, once`,
      );
    }
  }
}

/**
 * A mutual-exclusion lock: a BoundedSemaphore of one slot, so releasing it while unlocked
 * throws. Not re-entrant (see RLock).
 *
 * @example
 * const lock = new Lock();
 * { using _ = yield* lock.hold(); balance += yield* fetchDelta(); }
 */
export class Lock extends BoundedSemaphore {
  constructor() {
    super(1);
  }
}

/**
 * A semaphore with infinitely many slots: nothing ever waits. Stands in for a real one where
 * the resource is not limited.
 *
 * @example
 * const sem = limited ? new Semaphore(10) : new DummySemaphore();
 */
export class DummySemaphore {
  /** Always Infinity. */
  readonly counter = Infinity;
  private readonly held: Held = { [Symbol.dispose]: () => {} };

  /** Gives `true` at once. */
  acquire(opts?: AcquireOptions | null): Op<boolean> {
    blockingOption(this, opts);
    return doneOp(true);
  }

  /** Does nothing; gives the counter. */
  release(): number {
    return this.counter;
  }

  /** Always false. */
  locked(): boolean {
    return false;
  }

  /** Gives the counter at once. */
  waitAvailable(opts?: { timeout?: number | null } | null): Op<number> {
    checkOptions(opts, 'DummySemaphore.waitAvailable(options)');
    const timeout = ownOption(opts, 'timeout');
    if (timeout !== undefined && timeout !== null) checkSeconds(timeout, 'DummySemaphore.waitAvailable({ timeout })');
    return doneOp(this.counter);
  }

  /** Gives a Disposable at once. */
  hold(): Op<Held> {
    return doneOp(this.held);
  }
}

/**
 * Who owns an RLock taken outside any greenlet: all top-level code counts as one owner, as
 * all of gevent's code outside spawned greenlets runs in its main greenlet.
 */
const OUTSIDE = { toString: () => 'code outside any greenlet' };
type Owner = Greenlet | typeof OUTSIDE;

/**
 * The owner the running code acts as: its greenlet, or OUTSIDE for top-level code, including
 * the greenlet that runs an `await lock.acquire()` (or an `await` of an Op that acquires) for it.
 */
function currentOwner(): Owner {
  const g = getcurrent();
  return g === null || g._runsTopLevelAwait ? OUTSIDE : g;
}

/**
 * A re-entrant lock: the greenlet that holds it may acquire it again (each acquire needs its
 * release); other greenlets wait. Only the owner may release it. Code outside any greenlet
 * (`await lock.acquire()` at top level) counts as one owner, like gevent's main greenlet.
 *
 * @example
 * const lock = new RLock();
 * function* outer() { using _ = yield* lock.hold(); yield* inner(); }
 * function* inner() { using _ = yield* lock.hold(); } // same greenlet: does not wait
 */
export class RLock {
  private readonly block = new Semaphore(1);
  private owner: Owner | null = null;
  private count = 0;
  private readonly held: Held = { [Symbol.dispose]: () => this.release() };

  /**
   * Acquires it (at once if this greenlet already owns it). Gives whether it got it.
   *
   * @example
   * if (yield* lock.acquire({ timeout: 1 })) try { ... } finally { lock.release(); }
   */
  acquire(opts?: AcquireOptions | null): Op<boolean> {
    blockingOption(this, opts);
    // The owner is whoever runs the Op, decided when it runs: an Op made in one place and
    // yielded in another greenlet (or by two) must not make its maker the owner, and an
    // acquire never yielded must not count a level.
    return opFrom(() => this.takeOwnership(opts), 'RLock.acquire()');
  }

  private *takeOwnership(opts: AcquireOptions | null | undefined): Generator<unknown, boolean, unknown> {
    const me = currentOwner();
    if (this.owner === me) {
      this.count++;
      return true;
    }
    if (!(yield* this.block.acquire(opts))) return false;
    this.owner = me;
    this.count = 1;
    return true;
  }

  /**
   * Releases one level of ownership; the lock is free once every acquire is released.
   * Throws if the caller does not own it.
   *
   * @example
   * lock.release();
   */
  release(): void {
    const me = currentOwner();
    if (this.owner === null || this.owner !== me) {
      throw new Error(
        `RLock.release(): ${String(me)} does not own this lock` +
          (this.owner === null ? ' (it is not locked)' : ` (${String(this.owner)} does)`) +
          '; release it from the greenlet that acquired it (all top-level code counts as one owner)',
      );
    }
    if (--this.count === 0) {
      this.owner = null;
      this.block.release();
    }
  }

  /**
   * True while someone holds it.
   *
   * @example
   * lock.locked(); // false
   */
  locked(): boolean {
    return this.owner !== null;
  }

  /**
   * True if the caller (this greenlet, or top-level code) holds it.
   *
   * @example
   * if (!lock.isOwned()) yield* lock.acquire();
   */
  isOwned(): boolean {
    return this.owner !== null && this.owner === currentOwner();
  }

  /**
   * Acquires (waiting as long as it takes) and gives a Disposable that releases.
   *
   * @example
   * { using _ = yield* lock.hold(); yield* work(); }
   */
  hold(): Op<Held> {
    const acquire = this.acquire();
    return opFrom(() => acquireThen(acquire, this.held), 'RLock.hold()');
  }

  /** `util.inspect` / `console.log`: the owner and its count, not internals. */
  [inspect.custom](): string {
    const n = this.block._acquirers.size;
    const held = this.owner === null ? 'unlocked' : `owned by ${String(this.owner)} (count ${this.count})`;
    return `<${this.constructor.name} ${held}${n === 0 ? '' : `, ${n} waiting`}>`;
  }
}

// The kinds made per call keep their hidden classes across full GCs (hidden-classes.ts).
{
  const sem = new Semaphore(1);
  keepOpClass(new SemaphoreAcquire(sem, -1));
  keepOpClass(new AcquireWait(sem));
}
