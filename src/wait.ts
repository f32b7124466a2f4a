/**
 * Waiting on many things at once: `wait` and `iwait` (gevent's), and `joinall` / `killall`
 * over greenlets. Anything with `ready()`, `rawlink(cb)` and `unlink(cb)` can be waited on:
 * greenlets, Events, AsyncResults.
 */
import { Greenlet, toException, type ErrorClass } from './greenlet.js';
import { checkBoolean, checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { wake } from './hub.js';
import { keepHiddenClass } from './hidden-classes.js';
import { doneOp, keepOpClass, Op, opFrom, PARK, untrack, Wait } from './op.js';
import { now } from './originals.js';
import { Timeout } from './timeout.js';

/** What `wait` / `iwait` accept: it can say whether it is ready and call back when it is. */
export interface Linkable {
  ready(): boolean;
  rawlink(callback: (obj: any) => void): void;
  unlink(callback: (obj: any) => void): void;
}

interface WaitOptions {
  /** Seconds to wait at most (null: no limit). */
  timeout?: number | null;
  /** Stop after this many objects are ready. */
  count?: number | null;
}

function checkLinkables<T>(objects: Iterable<T>, what: string): T[] {
  if (objects === null || typeof objects !== 'object' || !(Symbol.iterator in objects)) {
    throw new TypeError(`${what} needs an array of greenlets, Events or AsyncResults, got ${describeValue(objects)}`);
  }
  const list = Array.isArray(objects) ? (objects as T[]) : [...objects];
  for (const o of list) {
    if (o instanceof Greenlet) continue; // the usual case, without three property lookups
    const l = o as unknown as Linkable;
    if (l === null || typeof l !== 'object' || typeof l.ready !== 'function' || typeof l.rawlink !== 'function') {
      throw new TypeError(
        `${what} can wait on greenlets, Events and AsyncResults (anything with ready() and rawlink()), ` +
          `got ${describeValue(o)} in the list`,
      );
    }
  }
  return list;
}

/** The caller's options as own properties (null: none), timeout and count checked. */
function checkOptions<O extends WaitOptions>(opts: O | null | undefined, what: string): Partial<O> {
  const o = ownOptions(opts, `${what}(objects, options)`);
  if (o.timeout !== undefined && o.timeout !== null) checkSeconds(o.timeout, `${what}({ timeout })`);
  if (o.count !== undefined && o.count !== null && (!Number.isInteger(o.count) || o.count < 0)) {
    throw new RangeError(`${what}({ count }) must be a whole number >= 0, got ${describeValue(o.count)}`);
  }
  return o;
}

/** A greenlet handed to the caller by a wait: its outcome counts as observed (failure-report.ts). */
function observe(o: unknown): void {
  if (o instanceof Greenlet) o._markObserved();
}

/**
 * The objects of `iwait`, as they become ready. Inside a greenlet, `yield* it.next()`; in
 * async code, `for await (const x of it)`.
 */
export class WaitIterator<T> implements AsyncIterable<T> {
  /** Ready objects not yet given out: `arrived[head..]` (an index, as shift() is O(n)). */
  private arrived: T[] = [];
  private head = 0;
  /** The objects we linked to, for close(). */
  private linked: T[] = [];
  /** How many linked objects have not called back yet. */
  private linkedLeft = 0;
  private begun = false;
  private closed = false;
  private given = 0;
  private deadlineMs = Infinity;
  /** @internal The wait of the greenlet parked in next(), if any. */
  _waiter: NextWait<T> | null = null;
  private readonly onReady = (obj: T): void => {
    if (this.closed) return;
    this.linkedLeft--;
    this.arrived.push(obj);
    const w = this._waiter;
    if (w !== null) {
      this._waiter = null;
      wake(w.g!, this.take());
    }
  };

  constructor(
    private readonly objects: T[],
    private readonly timeoutS: number | null,
    private readonly count: number,
  ) {}

  /** The next ready object, or `{ done: true }` when all (or `count`) came, or time ran out. */
  next(): Op<IteratorResult<T, undefined>> {
    return new NextWait(this);
  }

  /** Stops listening to the objects not yet ready. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.linked) (o as unknown as Linkable).unlink(this.onReady);
    this.linked = [];
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next() as unknown as Promise<IteratorResult<T>>,
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  private begin(): void {
    this.begun = true;
    if (this.timeoutS !== null) this.deadlineMs = now() + this.timeoutS * 1000;
    for (const o of this.objects) {
      const l = o as unknown as Linkable;
      if (l.ready()) this.arrived.push(o);
      else {
        this.linked.push(o);
        this.linkedLeft++;
        l.rawlink(this.onReady);
      }
    }
  }

  /** @internal An immediate answer, or PARK. */
  _poll(): IteratorResult<T, undefined> | typeof PARK {
    if (!this.begun) this.begin();
    if (this.given >= this.count) return this.finish();
    if (this.head < this.arrived.length) return this.take();
    if (this.closed || this.linkedLeft === 0 || now() >= this.deadlineMs) return this.finish();
    return PARK;
  }

  /** @internal Seconds left before the overall deadline (null: none). */
  _secondsLeft(): number | null {
    return this.deadlineMs === Infinity ? null : Math.max(0, (this.deadlineMs - now()) / 1000);
  }

  /** @internal */
  finish(): IteratorResult<T, undefined> {
    this.close();
    return { value: undefined, done: true };
  }

  private take(): IteratorResult<T, undefined> {
    this.given++;
    if (this.given >= this.count) this.close();
    const value = this.arrived[this.head]!;
    observe(value);
    this.arrived[this.head++] = undefined as T; // let it go
    if (this.head === this.arrived.length) {
      this.arrived = [];
      this.head = 0;
    }
    return { value, done: false };
  }
}

class NextWait<T> extends Wait<IteratorResult<T, undefined>> {
  constructor(private readonly iter: WaitIterator<T>) {
    super();
  }

  override poll(): IteratorResult<T, undefined> | typeof PARK {
    const r = this.iter._poll();
    if (r === PARK) this.expireAfter(this.iter._secondsLeft(), 'iwait({ timeout })');
    return r;
  }

  park(): void {
    this.iter._waiter = this;
  }

  override cancel(): void {
    if (this.iter._waiter === this) this.iter._waiter = null;
  }

  override timedOut(): IteratorResult<T, undefined> {
    return this.iter.finish();
  }

  override describe(): string {
    return 'iwait().next()';
  }
}

/**
 * Iterates over `objects` as they become ready (gevent's iwait), up to `count` of them, for at
 * most `timeout` seconds in all.
 *
 * @example
 * const it = iwait([g1, g2, ev]);
 * for (let r = yield* it.next(); !r.done; r = yield* it.next()) console.log(r.value, 'is ready');
 */
export function iwait<T>(objects: Iterable<T>, opts?: WaitOptions | null): WaitIterator<T> {
  const o = checkOptions(opts, 'iwait');
  const list = checkLinkables(objects, 'iwait()');
  return new WaitIterator(list, o.timeout ?? null, o.count ?? Infinity);
}

/**
 * Waits until `objects` are ready (all, or `count` of them, or until `timeout`), and gives the
 * ready ones in the order they became ready.
 *
 * @example
 * const [first] = yield* wait([g1, g2], { count: 1 });
 */
export function wait<T>(objects: Iterable<T>, opts?: WaitOptions | null): Op<T[]> {
  const it = iwait(objects, opts);
  return opFrom(() => collectReady(it, false), 'wait()');
}

// The bodies of wait(), joinall() and killall() are hoisted generator functions: a `function*`
// written inside each call is a fresh closure, which V8 makes a prototype and a map at its
// first call (about 1 µs a call; docs/performance.md).

/** The objects `it` gives, in the order they became ready; with `raiseError`, a failure throws. */
function* collectReady<T>(it: WaitIterator<T>, raiseError: boolean): Generator<unknown, T[], unknown> {
  const out: T[] = [];
  try {
    for (let r = yield* it.next(); !r.done; r = yield* it.next()) {
      if (raiseError && (r.value as Greenlet<unknown>).exception !== undefined) throw (r.value as Greenlet<unknown>).exception;
      out.push(r.value);
    }
  } finally {
    it.close();
  }
  return out;
}

/** `killall`'s wait: the join, and Timeout if some outlived it. */
function* joinKilled(join: Op<Greenlet<any>[]>, count: number, timeout: number | null): Generator<unknown, void, unknown> {
  const dead = yield* join;
  if (dead.length < count) {
    throw new Timeout(timeout, undefined, `killall(): ${count - dead.length} of ${count} greenlets still alive after ${timeout} s`);
  }
}

/**
 * Waits for all greenlets, one park at a time: it parks on the first unfinished one and, each
 * time one dies, skips ahead over those already dead. Nothing is allocated per greenlet.
 */
class JoinAllWait extends Wait<Greenlet<any>[]> {
  private i = 0;
  private target: Greenlet<any> | null = null;

  constructor(
    private readonly gs: Greenlet<any>[],
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'joinall({ timeout })');
  }

  override poll(): Greenlet<any>[] | typeof PARK {
    return this.advance() ? this.gs : PARK;
  }

  /** Skips finished greenlets (the caller gets them: observed); true when none is left. */
  private advance(): boolean {
    const gs = this.gs;
    while (this.i < gs.length && gs[this.i]!.dead) gs[this.i++]!._markObserved();
    return this.i === gs.length;
  }

  park(): void {
    this.target = this.gs[this.i]!;
    this.target._addJoiner(this);
  }

  override cancel(): void {
    this.target?._removeJoiner(this);
    this.target = null;
  }

  _onDeath(): void {
    this.target = null;
    if (this.advance()) wake(this.g!, this.gs);
    else this.park();
  }

  override timedOut(): Greenlet<any>[] {
    const done = this.gs.filter((g) => g.dead);
    for (const g of done) g._markObserved();
    return done;
  }

  override describe(): string {
    return `joinall([${this.gs.length} greenlets])`;
  }
}

/**
 * Waits for the greenlets to finish and gives those that did, in the order given. With
 * `raiseError`, the first exception (in order of death) is thrown; with `count`, it stops
 * after that many have finished and gives them in order of death.
 *
 * @example
 * yield* joinall([spawn(foo), spawn(bar)]);
 * const done = yield* joinall(jobs, { timeout: 2 });
 */
export function joinall<G extends Greenlet<any>>(
  greenlets: Iterable<G>,
  opts?: { timeout?: number | null; raiseError?: boolean; count?: number | null } | null,
): Op<G[]> {
  const o = checkOptions(opts, 'joinall');
  const raiseError = checkBoolean(o.raiseError, 'joinall({ raiseError })', false);
  const list = checkLinkables(greenlets, 'joinall()');
  if (!raiseError && (o.count === undefined || o.count === null)) {
    return new JoinAllWait(list, o.timeout) as unknown as Op<G[]>;
  }
  const it = iwait(list, { timeout: o.timeout, count: o.count });
  return opFrom(() => collectReady(it, raiseError), 'joinall()');
}

/**
 * Kills every greenlet (see `Greenlet.kill`) at once and, with `block` (the default), waits
 * for them to die; if they outlive `timeout` seconds, the wait throws `Timeout` (gevent's).
 * Every argument is checked before anything is killed. The kills happen whether or not the
 * returned Op is yielded.
 *
 * @example
 * yield* killall(workers);
 * yield* killall(workers, { timeout: 5 }); // Timeout if one is still cleaning up after 5 s
 */
export function killall(
  greenlets: Iterable<Greenlet<any>>,
  opts?: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } | null,
): Op<void> {
  const o = ownOptions(opts, 'killall(greenlets, options)');
  const block = checkBoolean(o.block, 'killall({ block })', true);
  const timeout = o.timeout ?? null;
  if (timeout !== null) checkSeconds(timeout, 'killall({ timeout })');
  toException(o.exception, 'killall({ exception })'); // checked before the first kill
  const list = checkLinkables(greenlets, 'killall()');
  for (const g of list) {
    if (!(g instanceof Greenlet)) throw new TypeError(`killall() kills greenlets, got ${describeValue(g)} in the list`);
  }
  for (const g of list) g.kill({ exception: o.exception, block: false });
  if (!block) return doneOp(undefined);
  const join = joinall(list, { timeout });
  untrack(join);
  const op = opFrom(() => joinKilled(join, list.length, timeout), 'killall()');
  untrack(op); // the kills already happened: leaving the wait unyielded loses nothing
  return op;
}

// The kinds made per call keep their hidden classes across full GCs (hidden-classes.ts).
{
  const it = new WaitIterator<unknown>([], null, Infinity);
  keepHiddenClass(it);
  keepOpClass(new NextWait(it));
  keepOpClass(new JoinAllWait([], null));
}
