/**
 * Timeout: a deadline for the current greenlet. When it passes while the greenlet is parked,
 * the wait is cancelled (nothing consumed) and the Timeout (or the exception given) is thrown
 * at the suspension point. gevent's `with Timeout(5):` is `using t = Timeout.start(5)`.
 */
import { type ErrorClass, type Greenlet, setTimeoutClass, toException } from './greenlet.js';
import { checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { getcurrent, interrupt, timers } from './hub.js';
import { inspect } from 'node:util';
import { keepHiddenClass } from './hidden-classes.js';
import { Op, opFrom, untrack } from './op.js';
import { now } from './originals.js';
import type { TimerEntry } from './timer-heap.js';

/**
 * A deadline for the greenlet that starts it. Catch it by identity: nested timeouts each
 * catch only their own.
 *
 * @example
 * using t = Timeout.start(5);          // cancelled when the block ends
 * try {
 *   yield* q.get();
 * } catch (e) {
 *   if (e !== t) throw e;              // someone else's timeout or error
 *   console.log('no item within 5 s');
 * }
 *
 * class TooLong extends Error {}
 * using t2 = Timeout.start(5, TooLong); // throws a TooLong instead
 */
export class Timeout extends Error implements TimerEntry, Disposable {
  /** The limit in seconds; null means never. */
  readonly seconds: number | null;
  deadline = 0;
  _heapIndex = -1;
  private readonly exception: Error | ErrorClass | undefined;
  private owner: Greenlet<any> | null = null;
  /** Fired, then cancelled before the hub could deliver it: not wanted any more. */
  private withdrawn = false;
  /** Counts start() calls, so a firing postponed before a restart stays withdrawn after it. */
  private armings = 0;

  /**
   * A timeout of `seconds` (null: never), not yet armed: call `start()` in the greenlet to
   * limit. `exception` (an Error class or instance) is thrown instead of the Timeout itself.
   */
  constructor(seconds?: number | null, exception?: Error | ErrorClass, message?: string) {
    super(message ?? (seconds === null || seconds === undefined ? 'Timeout' : `${seconds} second${seconds === 1 ? '' : 's'}`));
    this.name = 'Timeout';
    if (seconds !== null && seconds !== undefined) checkSeconds(seconds, 'Timeout(seconds)');
    if (exception !== undefined) toException(exception, 'Timeout(seconds, exception)'); // validate early
    this.seconds = seconds ?? null;
    this.exception = exception;
  }

  /**
   * Creates and arms a timeout for the current greenlet (gevent's `Timeout.start_new`).
   *
   * @example
   * const t = Timeout.start(0.5);
   * try { yield* work(); } finally { t.cancel(); }
   */
  static start(seconds: number | null, exception?: Error | ErrorClass): Timeout {
    const t = new Timeout(seconds, exception);
    t.start();
    return t;
  }

  /** Arms it for the current greenlet; throws outside a greenlet or when already armed. */
  start(): this {
    const g = getcurrent();
    if (g === null) {
      throw new TypeError(
        'Timeout.start() limits the running greenlet, and none is running; call it inside a ' +
          'greenlet, or use `await withTimeout(seconds, op)` from top-level code',
      );
    }
    if (this.pending) throw new Error(`${this.describe()} is already running; cancel() it before start() again`);
    this.withdrawn = false;
    this.armings++;
    if (this.seconds === null || this.seconds === Infinity) return this;
    this.owner = g;
    // A double of any size: `| 0` here once made a 30-day Timeout fire within milliseconds.
    this.deadline = now() + this.seconds * 1000;
    timers.add(this);
    g._addTimeout(this);
    return this;
  }

  /** True while armed and not yet expired. */
  get pending(): boolean {
    return this._heapIndex >= 0;
  }

  /** Disarms it; a Timeout that already fired but was not yet delivered is withdrawn. */
  cancel(): void {
    if (timers.remove(this)) this.owner?._removeTimeout(this);
    else this.withdrawn = true;
    this.owner = null;
  }

  /** gevent's name for cancel. */
  close(): void {
    this.cancel();
  }

  [Symbol.dispose](): void {
    this.cancel();
  }

  /** @internal The deadline passed. */
  fire(): void {
    const g = this.owner;
    this.owner = null;
    if (g === null) return;
    g._removeTimeout(this);
    let err: unknown;
    try {
      err = this.exception === undefined ? this : toException(this.exception, 'Timeout exception');
    } catch (e) {
      err = e; // the exception class's constructor threw: that error lands instead
    }
    const arming = this.armings;
    interrupt(g, err, () => !this.withdrawn && this.armings === arming);
  }

  private describe(): string {
    return `Timeout(${this.seconds})`;
  }

  /**
   * What `util.inspect` and console.log show: the stack (it is an Error), then the seconds and
   * whether it is armed; not the heap bookkeeping.
   */
  [inspect.custom](): string {
    let text = `${this.stack ?? `${this.name}: ${this.message}`}`;
    text += ` { seconds: ${this.seconds}, pending: ${this.pending}`;
    if (this.pending) text += `, left: ${Math.max(0, (this.deadline - now()) / 1000).toFixed(3)}`;
    return `${text} }`;
  }
}
setTimeoutClass(Timeout as never);

/**
 * Runs `op` (or a function that returns one) with a time limit: past `seconds` it is
 * interrupted and `Timeout` thrown, or `timeoutValue` given back if the option is there.
 *
 * @example
 * const item = yield* withTimeout(1, q.get(), { timeoutValue: null }); // null after 1 s
 * const v = await withTimeout(0.5, fetchOp);                          // from top-level code
 */
export function withTimeout<T, V = never>(
  seconds: number,
  op: Op<T> | Iterable<unknown, T, unknown> | (() => Iterable<unknown, T, unknown> | Iterator<unknown, T, unknown>),
  opts?: { timeoutValue: V } | null,
): Op<T | V> {
  let o: Partial<{ timeoutValue: V }>;
  try {
    checkSeconds(seconds, 'withTimeout(seconds)');
    checkBody(op);
    o = ownOptions(opts, 'withTimeout(seconds, op, options)');
  } catch (e) {
    if (op instanceof Op) untrack(op); // handed to a call that refused it: not the caller's drop
    throw e;
  }
  const hasValue = 'timeoutValue' in o;
  const timeoutValue = o.timeoutValue as V;
  return opFrom(() => runWithTimeout(seconds, op, hasValue, timeoutValue), `withTimeout(${seconds}, …)`);
}

/**
 * `withTimeout`'s body: hoisted, not a `function*` written inside each call (V8 makes a fresh
 * generator closure a prototype and a map at its first call: about 1 µs; docs/performance.md).
 */
function* runWithTimeout<T, V>(
  seconds: number,
  op: Op<T> | Iterable<unknown, T, unknown> | (() => Iterable<unknown, T, unknown> | Iterator<unknown, T, unknown>),
  hasValue: boolean,
  timeoutValue: V,
): Generator<unknown, T | V, unknown> {
  const t = Timeout.start(seconds);
  try {
    const body = typeof op === 'function' ? op() : op;
    return (yield* asIterable(body)) as T;
  } catch (e) {
    if (e === t && hasValue) return timeoutValue;
    throw e;
  } finally {
    t.cancel();
  }
}

/** Refuses, before anything starts, what withTimeout could never run. */
function checkBody(op: unknown): void {
  if (op instanceof Op || typeof op === 'function') return;
  if (op !== null && typeof op === 'object' && (Symbol.iterator in op || typeof (op as Iterator<unknown>).next === 'function')) return;
  throw new TypeError(
    `withTimeout(seconds, op) needs an Op, a generator, or a function returning one, got ${describeValue(op)}; ` +
      'pass e.g. q.get() or function* () { ... }',
  );
}

function asIterable<T>(x: Iterable<unknown, T, unknown> | Iterator<unknown, T, unknown>): Iterable<unknown, T, unknown> {
  if (x !== null && typeof x === 'object' && Symbol.iterator in x) return x as Iterable<unknown, T, unknown>;
  if (x !== null && typeof x === 'object' && typeof (x as Iterator<unknown>).next === 'function') {
    return { [Symbol.iterator]: () => x as Iterator<unknown, T, unknown> };
  }
  throw new TypeError('withTimeout(seconds, op) needs an Op, a generator, or a function returning one');
}

// Made per Timeout: keeps its hidden classes across full GCs (hidden-classes.ts); its
// deadline holds a fraction first, as a started one's does.
keepHiddenClass(new Timeout(1)).deadline = 0.5;
