/**
 * Event and AsyncResult (gevent.event): one-shot signals greenlets wait on.
 *
 * Both keep their waiters in one ParkingLot and wake them all in one pass when they become
 * ready. Waiting consumes nothing, so a wait cancelled by a kill or a Timeout needs no undo.
 * Link callbacks (`rawlink`, what `wait()`/`iwait()` use) run inside `set()`, after the waiters
 * are woken; they must not block.
 */
import { reportError, type Greenlet } from './greenlet.js';
import { reportIfRejects } from './failure-report.js';
import { checkBoolean, describeValue, ownOption } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { keepOpClass, Op, PARK, toOp, Wait } from './op.js';
import { nodeQueueMicrotask } from './originals.js';
import { ParkingLot } from './parking-lot.js';
import { Timeout } from './timeout.js';
import { inspect } from 'node:util';
import { holdForAwait, releaseHold } from './lifetime.js';

/**
 * A link callback: called with the object once it is ready.
 *
 * @example
 * const cb: LinkCallback<Event> = (e) => console.log('set:', e.isSet());
 */
export type LinkCallback<O> = (obj: O) => void;

/**
 * Options of `wait` and `get`: seconds to wait at most (null: no limit).
 *
 * @example
 * yield* ev.wait({ timeout: 0.5 });
 */
export interface TimeoutOptions {
  timeout?: number | null;
}

/**
 * Options of `AsyncResult.get`: `block: false` never waits.
 *
 * @example
 * yield* ar.get({ block: false }); // throws Timeout at once if not ready
 */
export interface GetOptions extends TimeoutOptions {
  block?: boolean;
}

/** Options are read in place, own properties only: no copy on the hot path. null: none. */
function checkOptions(opts: unknown, what: string): void {
  if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts))) {
    throw new TypeError(`${what} takes an options object, got ${describeValue(opts)}; pass e.g. { timeout: 1 }`);
  }
}

function checkCallback(cb: unknown, what: string): void {
  if (typeof cb !== 'function') throw new TypeError(`${what} needs a function, got ${describeValue(cb)}`);
  // [audit1] Called inside set(), a generator function would only make an iterator: it would
  // silently never run.
  const kind = Object.prototype.toString.call(cb);
  if (kind === '[object GeneratorFunction]' || kind === '[object AsyncGeneratorFunction]') {
    throw new TypeError(
      `${what} runs its callback inside set() and cannot run the ${kind === '[object GeneratorFunction]' ? '' : 'async '}generator ` +
        `function ${cb.name || '(anonymous)'}; pass a plain function, and spawn a greenlet from it for work that waits: ` +
        'rawlink(() => spawn(job))',
    );
  }
}

/** Link callbacks of one object; an array only once a second one comes. */
class Links<O> {
  private list: LinkCallback<O>[] = [];

  add(cb: LinkCallback<O>, obj: O, isReady: boolean): void {
    this.list.push(cb);
    // Already ready: call it soon, as gevent does, never inside rawlink itself.
    if (isReady) nodeQueueMicrotask(() => this.fire(obj));
  }

  remove(cb: LinkCallback<O>): void {
    const i = this.list.indexOf(cb);
    if (i >= 0) this.list.splice(i, 1);
  }

  /**
   * Calls and drops the callbacks there when it starts, one at a time and in order, so that a
   * callback that unlinks a later one stops it (gevent's order); callbacks added meanwhile
   * wait for the next round.
   */
  fire(obj: O): void {
    const list = this.list;
    if (list.length === 0) return;
    let left = list.length;
    const last = list[left - 1];
    while (list.length > 0 && left-- > 0) {
      const cb = list.shift()!;
      try {
        reportIfRejects(cb(obj), () => `a link callback of ${describeValue(obj)} failed`);
      } catch (e) {
        reportError(e, `a link callback of ${describeValue(obj)} failed`);
      }
      if (cb === last) break;
    }
  }
}

/** Parks until the Event is set; gives the flag (false when the time limit ran out). */
class EventWait extends Wait<boolean> {
  // Set in the constructor, not a parameter property (see Wait in op.ts).
  private declare readonly ev: Event;

  constructor(ev: Event, timeout: number | null | undefined) {
    super();
    this.ev = ev;
    this.expireAfter(timeout, 'Event.wait({ timeout })');
  }


  override poll(): boolean | typeof PARK {
    if (this.ev._flag) return true;
    return this._timeoutMs === 0 ? false : PARK;
  }

  park(): void {
    this.ev._waiters.push(this);
  }

  override cancel(): void {
    this.ev._waiters.remove(this);
  }

  override timedOut(): boolean {
    return this.ev._flag;
  }

  override describe(): string {
    return 'Event.wait()';
  }
}

/**
 * A flag greenlets can wait for: `set()` wakes every waiter, `clear()` lowers it again.
 *
 * @example
 * const ev = new Event();
 * spawn(function* () { yield* ev.wait(); console.log('go'); });
 * ev.set();
 */
export class Event {
  /** @internal The flag. */
  _flag = false;
  /** @internal Greenlets parked in wait(), FIFO. */
  readonly _waiters = new ParkingLot<EventWait>();
  private _links: Links<Event> | null = null;

  /**
   * Raises the flag and wakes every waiter, in the order they came, in one pass.
   *
   * @example
   * ev.set(); ev.isSet(); // true
   */
  set(): void {
    if (this._flag) return;
    this._flag = true;
    const lot = this._waiters;
    for (let w = lot.shift(); w !== null; w = lot.shift()) wake(w.g!, true);
    this._links?.fire(this);
  }

  /**
   * Lowers the flag; later `wait()` calls park again.
   *
   * @example
   * ev.clear(); ev.isSet(); // false
   */
  clear(): void {
    this._flag = false;
  }

  /**
   * Whether the flag is up.
   *
   * @example
   * new Event().isSet(); // false
   */
  isSet(): boolean {
    return this._flag;
  }

  /**
   * The same as `isSet()` (what `wait()`/`iwait()` ask).
   *
   * @example
   * if (ev.ready()) console.log('already set');
   */
  ready(): boolean {
    return this._flag;
  }

  /**
   * Waits until the flag is up; gives the flag, so `false` means the timeout ran out.
   *
   * @example
   * const wasSet: boolean = yield* ev.wait({ timeout: 0.5 });
   */
  wait(opts?: TimeoutOptions | null): Op<boolean> {
    if (opts === undefined || opts === null) return new EventWait(this, undefined);
    checkOptions(opts, 'Event.wait(options)');
    return new EventWait(this, ownOption(opts, 'timeout'));
  }

  /**
   * Calls `callback(this)` once, when the flag is next raised (soon, if it is up already).
   *
   * @example
   * ev.rawlink((e) => console.log('set', e.isSet()));
   */
  rawlink(callback: LinkCallback<Event>): void {
    checkCallback(callback, 'Event.rawlink(callback)');
    (this._links ??= new Links()).add(callback, this, this._flag);
  }

  /**
   * Removes a callback given to `rawlink`.
   *
   * @example
   * ev.unlink(cb);
   */
  unlink(callback: LinkCallback<Event>): void {
    this._links?.remove(callback);
  }

  /** `util.inspect` / `console.log`: set or not and who waits, not internals. */
  [inspect.custom](): string {
    const n = this._waiters.size;
    return `<${this.constructor.name} ${this._flag ? 'set' : 'unset'}${n === 0 ? '' : `, ${n} waiting`}>`;
  }
}

const PENDING = 0;
const VALUE = 1;
const EXCEPTION = 2;

/** Parks until the AsyncResult is ready; `raise` says whether an exception is thrown. */
class ResultWait<T> extends Wait<T> {
  constructor(
    private readonly ar: AsyncResult<T>,
    private readonly raise: boolean,
    block: boolean,
    timeout: number | null | undefined,
  ) {
    super();
    if (!block) this._timeoutMs = 0;
    else this.expireAfter(timeout, raise ? 'AsyncResult.get({ timeout })' : 'AsyncResult.wait({ timeout })');
  }


  override poll(): T | typeof PARK {
    const ar = this.ar;
    if (ar._state !== PENDING) return this.outcome();
    return this._timeoutMs === 0 ? this.timedOut() : PARK;
  }

  park(): void {
    this.ar._waiters.push(this);
  }

  override cancel(): void {
    this.ar._waiters.remove(this);
  }

  /** @internal What this waiter gets once the result is ready. */
  outcome(): T {
    const ar = this.ar;
    if (ar._state === EXCEPTION && this.raise) throw ar._exception;
    return ar._value as T;
  }

  /** @internal Wakes the parked greenlet with the outcome. */
  deliver(g: Greenlet): void {
    if (this.ar._state === EXCEPTION && this.raise) wakeError(g, this.ar._exception);
    else wake(g, this.ar._value);
  }

  override timedOut(): T {
    if (this.raise) throw new Timeout(this._timeoutMs / 1000, undefined, 'AsyncResult.get() timed out: no value was set');
    return undefined as T;
  }

  override describe(): string {
    return this.raise ? 'AsyncResult.get()' : 'AsyncResult.wait()';
  }
}

/**
 * A value (or an exception) that will be ready later, set once by one greenlet and read by
 * any number of others. It is PromiseLike (`await ar`) and yieldable (`yield ar`).
 *
 * @example
 * const ar = new AsyncResult<string>();
 * spawn(function* () { yield* sleep(0.1); ar.set('hello'); });
 * const v: string = yield* ar.get(); // 'hello'
 */
export class AsyncResult<T = unknown> implements PromiseLike<T> {
  /** @internal PENDING, VALUE or EXCEPTION. */
  _state = PENDING;
  /** @internal */
  _value: T | undefined = undefined;
  /** @internal */
  _exception: unknown = undefined;
  /** @internal Greenlets parked in get()/wait(), FIFO. */
  readonly _waiters = new ParkingLot<ResultWait<T>>();
  private _links: Links<AsyncResult<T>> | null = null;

  /**
   * Stores `value` and wakes every waiter. Setting again replaces the value (as in gevent).
   *
   * @example
   * ar.set(42);
   */
  set(value: T): void {
    this._state = VALUE;
    this._value = value;
    this._exception = undefined;
    this.wakeAll();
  }

  /**
   * Stores `exception`: `get()` throws it at every waiter, `wait()` gives undefined.
   *
   * @example
   * ar.setException(new Error('failed'));
   */
  setException(exception: unknown): void {
    this._state = EXCEPTION;
    this._exception = exception;
    this._value = undefined;
    this.wakeAll();
  }

  private wakeAll(): void {
    const lot = this._waiters;
    for (let w = lot.shift(); w !== null; w = lot.shift()) w.deliver(w.g!);
    this._links?.fire(this);
  }

  /**
   * The value, waiting for it; throws the stored exception, or `Timeout` if `timeout` passes or
   * `block` is false and nothing is ready.
   *
   * @example
   * const v = yield* ar.get({ timeout: 1 });
   */
  get(opts?: GetOptions | null): Op<T> {
    if (opts === undefined || opts === null) return new ResultWait(this, true, true, undefined);
    checkOptions(opts, 'AsyncResult.get(options)');
    const block = checkBoolean(ownOption(opts, 'block'), 'AsyncResult.get({ block })', true);
    return new ResultWait(this, true, block, ownOption(opts, 'timeout'));
  }

  /**
   * The value if ready; else throws `Timeout` at once (or the stored exception).
   *
   * @example
   * try { ar.getNowait(); } catch (e) { if (!(e instanceof Timeout)) throw e; }
   */
  getNowait(): T {
    if (this._state === PENDING) throw new Timeout(0, undefined, 'AsyncResult.getNowait(): no value yet; yield* get() to wait for it');
    if (this._state === EXCEPTION) throw this._exception;
    return this._value as T;
  }

  /**
   * Waits until ready without throwing: gives the value (undefined after an exception or when
   * the timeout passes).
   *
   * @example
   * const v = yield* ar.wait({ timeout: 0.2 }); // undefined if not ready by then
   */
  wait(opts?: TimeoutOptions | null): Op<T | undefined> {
    checkOptions(opts, 'AsyncResult.wait(options)');
    return new ResultWait<T | undefined>(this as AsyncResult<T | undefined>, false, true, ownOption(opts, 'timeout'));
  }

  /**
   * Whether a value or an exception was set.
   *
   * @example
   * ar.ready(); // false until set or setException
   */
  ready(): boolean {
    return this._state !== PENDING;
  }

  /**
   * Whether a value (not an exception) was set.
   *
   * @example
   * ar.set(1); ar.successful(); // true
   */
  successful(): boolean {
    return this._state === VALUE;
  }

  /**
   * The value, or undefined while not ready or after an exception.
   *
   * @example
   * ar.set(3); ar.value; // 3
   */
  get value(): T | undefined {
    return this._value;
  }

  /**
   * The exception, or undefined while not ready or after a value.
   *
   * @example
   * ar.setException(err); ar.exception === err; // true
   */
  get exception(): unknown {
    return this._exception;
  }

  /**
   * Calls `callback(this)` once, when the result is next set (soon, if it is ready already).
   *
   * @example
   * ar.rawlink((r) => console.log(r.value));
   */
  rawlink(callback: LinkCallback<AsyncResult<T>>): void {
    checkCallback(callback, 'AsyncResult.rawlink(callback)');
    (this._links ??= new Links()).add(callback, this, this._state !== PENDING);
  }

  /**
   * Removes a callback given to `rawlink`.
   *
   * @example
   * ar.unlink(cb);
   */
  unlink(callback: LinkCallback<AsyncResult<T>>): void {
    this._links?.remove(callback);
  }

  /**
   * `yield ar` inside a greenlet waits for it like `yield* ar.get()` (untyped).
   *
   * @example
   * const v = (yield ar) as number;
   */
  [toOp](): Op<T> {
    return this.get();
  }

  /**
   * `await ar` outside greenlets: the value, or the exception as a rejection.
   *
   * @example
   * const v = await ar;
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    const p = new Promise<T>((resolve, reject) => {
      if (this._state === VALUE) resolve(this._value as T);
      else if (this._state === EXCEPTION) reject(this._exception);
      else {
        // Held while it waits, as an `await op` is: the greenlet that will set it may be a
        // leftover of a settled run(), which alone would not keep the process alive.
        holdForAwait();
        this.rawlink((r) => {
          releaseHold();
          if (r._state === VALUE) resolve(r._value as T);
          else reject(r._exception);
        });
      }
    });
    return p.then(onfulfilled, onrejected);
  }

  /** `util.inspect` / `console.log`: its value or exception, or who waits, not internals. */
  [inspect.custom](_depth: number, options: object): string {
    const n = this._waiters.size;
    let state = 'unset';
    if (this._state === VALUE) state = `value=${inspect(this._value, { ...options, depth: 1 })}`;
    else if (this._state === EXCEPTION) state = `exception=${this._exception instanceof Error ? `${this._exception.name}: ${this._exception.message}` : describeValue(this._exception)}`;
    return `<${this.constructor.name} ${state}${n === 0 ? '' : `, ${n} waiting`}>`;
  }
}

// The kinds made per call keep their hidden classes across full GCs (hidden-classes.ts).
keepOpClass(new EventWait(new Event(), null));
keepOpClass(new ResultWait(new AsyncResult(), true, true, null));
