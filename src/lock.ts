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
import { describeValue } from './arg-checks.js';
import { getcurrent, wake } from './hub.js';
import { Op, PARK, Wait, doneOp, opFrom } from './op.js';
import { ParkingLot } from './parking-lot.js';

/** Options of `acquire`: `blocking: false` never waits; `timeout` in seconds. */
export interface AcquireOptions {
  blocking?: boolean;
  timeout?: number | null;
}

/** What `hold()` gives: disposing it releases the slot (once). */
export interface Held extends Disposable {}

function checkInitialValue(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number') {
    throw new TypeError(`${what} must be a number of slots, got ${describeValue(value)}; pass e.g. new Semaphore(2)`);
  }
  if (!(value >= 0) || (!Number.isInteger(value) && value !== Infinity)) {
    throw new RangeError(`${what} must be a whole number >= 0, got ${value}; pass 0 or more slots`);
  }
}

/** Waits for a slot; woken with `true` when a release hands one over. */
class AcquireWait extends Wait<boolean> {
  constructor(
    private readonly sem: Semaphore,
    private readonly blocking: boolean,
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'acquire({ timeout })');
  }

  override poll(): boolean | typeof PARK {
    if (this.sem._take()) return true;
    if (!this.blocking || this._timeoutMs === 0) return false;
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

  // The slot reached us but we were killed before running: pass it on. A wait woken by its
  // time limit was woken with false and holds no slot.
  override undo(_g: Greenlet, value: unknown): void {
    if (value === true) this.sem.release();
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
  private _held: Held | null = null;

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
  acquire(opts: AcquireOptions = {}): Op<boolean> {
    return new AcquireWait(this, opts.blocking ?? true, opts.timeout);
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
      if (wake(w.g!, true)) return this.counter;
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
  waitAvailable(opts: { timeout?: number | null } = {}): Op<number> {
    return new AvailableWait(this, opts.timeout);
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
    return opFrom(function* () {
      yield* acquire;
      return held;
    }, `${this.constructor.name}.hold()`);
  }
}

/**
 * A Semaphore that refuses to be released more often than acquired: the counter never goes
 * above its initial value (a release past it throws RangeError, naming the fix).
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
    if (this.counter >= this.initialValue) {
      throw new RangeError(
        `${this.constructor.name} released too many times (counter is already ${this.counter}); ` +
          'release only a slot you acquired',
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
  acquire(_opts: AcquireOptions = {}): Op<boolean> {
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
  waitAvailable(_opts: { timeout?: number | null } = {}): Op<number> {
    return doneOp(this.counter);
  }

  /** Gives a Disposable at once. */
  hold(): Op<Held> {
    return doneOp(this.held);
  }
}

/**
 * A re-entrant lock: the greenlet that holds it may acquire it again (each acquire needs its
 * release); other greenlets wait. Only the owner may release it. Outside any greenlet there is
 * no owner to track, so use it from greenlets.
 *
 * @example
 * const lock = new RLock();
 * function* outer() { using _ = yield* lock.hold(); yield* inner(); }
 * function* inner() { using _ = yield* lock.hold(); } // same greenlet: does not wait
 */
export class RLock {
  private readonly block = new Semaphore(1);
  private owner: Greenlet | null = null;
  private count = 0;
  private readonly held: Held = { [Symbol.dispose]: () => this.release() };

  /**
   * Acquires it (at once if this greenlet already owns it). Gives whether it got it.
   *
   * @example
   * if (yield* lock.acquire({ timeout: 1 })) try { ... } finally { lock.release(); }
   */
  acquire(opts: AcquireOptions = {}): Op<boolean> {
    const me = getcurrent();
    if (me !== null && this.owner === me) {
      this.count++;
      return doneOp(true);
    }
    const acquire = this.block.acquire(opts);
    return opFrom(() => this.takeOwnership(acquire), 'RLock.acquire()');
  }

  private *takeOwnership(acquire: Op<boolean>): Generator<unknown, boolean, unknown> {
    const me = getcurrent();
    // Re-checked: the op may have been made before this greenlet took the lock another way.
    if (me !== null && this.owner === me) {
      this.count++;
      return true;
    }
    if (!(yield* acquire)) return false;
    this.owner = getcurrent();
    this.count = 1;
    return true;
  }

  /**
   * Releases one level of ownership; the lock is free once every acquire is released.
   * Throws if the current greenlet does not own it.
   */
  release(): void {
    const me = getcurrent();
    if (this.owner === null || this.owner !== me) {
      const who = me === null ? 'code outside any greenlet' : String(me);
      throw new Error(
        `RLock.release(): ${who} does not own this lock` +
          (this.owner === null ? ' (it is not locked)' : ` (${this.owner} does)`) +
          '; release it from the greenlet that acquired it',
      );
    }
    if (--this.count === 0) {
      this.owner = null;
      this.block.release();
    }
  }

  /** True while some greenlet holds it. */
  locked(): boolean {
    return this.owner !== null;
  }

  /** True if the current greenlet holds it. */
  isOwned(): boolean {
    return this.owner !== null && this.owner === getcurrent();
  }

  /** Acquires (waiting as long as it takes) and gives a Disposable that releases. */
  hold(): Op<Held> {
    const acquire = this.acquire();
    const held = this.held;
    return opFrom(function* () {
      yield* acquire;
      return held;
    }, 'RLock.hold()');
  }
}
