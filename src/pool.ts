/**
 * Groups and pools of greenlets (gevent.pool). A `Group` tracks greenlets (each leaves the
 * group when it dies) and runs work across them: `map`, `imap`, `imapUnordered`, `apply`...
 * A `Pool` is a Group plus a Semaphore: at most `size` members run at once, and `spawn`
 * waits (it is an `Op<Greenlet>`) while the pool is full.
 */
import { isGeneratorFunction } from './generator-prototype.js';
import { checkFunction, Greenlet, type ErrorClass, type Joiner, type ResultOf, unnumbered } from './greenlet.js';
import { checkBoolean, checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { getcurrent, wake } from './hub.js';
import { keepHiddenClass } from './hidden-classes.js';
import { keepOpClass, Op, PARK, Wait, done, doneOp, opFrom, untrack } from './op.js';
import { now } from './originals.js';
import { Event } from './event.js';
import { ParkingLot, type Waiter } from './parking-lot.js';
import { Semaphore } from './lock.js';
import { joinall } from './wait.js';
import { inspect } from 'node:util';

type Fn<A extends unknown[], R> = (...args: A) => R;
type AnyGreenlet = Greenlet<any>;

function checkIterable(items: unknown, what: string): asserts items is Iterable<unknown> {
  if (items === null || typeof items !== 'object' || typeof (items as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${what} needs an iterable of items, got ${describeValue(items)}; pass an array or another iterable`);
  }
}

/** The result of a dead greenlet: its value, or its exception thrown. */
function resultOf<R>(g: Greenlet<R>): R {
  if (!g.successful()) throw g.exception;
  return g.value as R;
}

/**
 * What hears of a member's death besides its group, through the member's one link: a `map`
 * run or an imap (`index`: the item's number). Saves a link (and its checks) per item.
 */
interface DeathSink {
  _memberDied(g: AnyGreenlet, index: number): void;
}

/**
 * A group's membership of one greenlet, and the greenlet's link to the group: at death the
 * member leaves its group (freeing a Pool's slot), then its `sink`, if any, hears of it.
 *
 * The group's members are a list of these links (`before`/`after`); a greenlet the group
 * spawned holds its own (`Member._home`), so spawning and leaving touch no Map or Set: a Map
 * entry per member cost about 180 ns per item in B5 (a `set` at spawn and a `delete` at
 * death, in a table that outlives its young keys). Only a greenlet given to `add()` is found
 * through a Map (`Group.added`), and its link sits in its link list (`_prev`/`_next`).
 */
class MemberLink implements Joiner {
  declare _prev: Waiter | null;
  declare _next: Waiter | null;
  declare _lot: ParkingLot<Waiter> | null;
  /** The group, or null once the member left it (its sink may still want its death). */
  declare group: Group | null;
  declare readonly g: AnyGreenlet;
  /** Neighbours in the group's member list, in the order the members joined. */
  declare before: MemberLink | null;
  declare after: MemberLink | null;
  declare readonly sink: DeathSink | null;
  declare readonly index: number;

  constructor(group: Group, g: AnyGreenlet, sink: DeathSink | null, index: number) {
    this._prev = null;
    this._next = null;
    this._lot = null;
    this.group = group;
    this.g = g;
    this.before = null;
    this.after = null;
    this.sink = sink;
    this.index = index;
  }

  _onDeath(g: AnyGreenlet): void {
    const group = this.group;
    if (group !== null) group._left(this);
    if (this.sink !== null) this.sink._memberDied(g, this.index);
  }
}

/**
 * A greenlet a group spawned (`spawn`, `map`, the imaps): it leaves the group at its death,
 * synchronously, instead of through a link in its link list. A link is told one hub step
 * after the death (the hub queues the dead greenlet again to tell its links), and that step
 * with its link list cost about 130 ns per item in B5. The member leaves as the greenlet dies,
 * before any of its links are told, as a group's link (added first) saw it before. A greenlet
 * added with `add()` keeps a link in its link list instead.
 */
class Member extends Greenlet<any> {
  /** Its membership of the group that spawned it; null once dead (a kept greenlet keeps no link). */
  declare _home: MemberLink | null;

  constructor(fn: Fn<any[], unknown>, group: Group, sink: DeathSink | null, index: number) {
    super(fn);
    this._home = new MemberLink(group, this, sink, index);
  }

  /** @internal */
  override _die(value: unknown, failed: boolean): void {
    super._die(value, failed);
    const link = this._home!;
    this._home = null;
    const group = link.group;
    if (group !== null) group._left(link);
    if (link.sink !== null) link.sink._memberDied(this, link.index);
  }
}
// Shown as any greenlet is (`<Greenlet "Greenlet-7": fetch>`): the subclass is an internal matter.
Object.defineProperty(Member, 'name', { value: 'Greenlet' });

/** How `map` and the imaps start one greenlet: at once (Group) or once a slot is free (Pool). */
interface Spawner {
  /** Starts `fn(...args)` now if a slot is free; null if it must wait for one. */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[], sink?: DeathSink | null, index?: number): AnyGreenlet | null;
  /** Waits for a slot and keeps it: `_start` must follow in the same step. */
  _waitSlot(): Op<unknown>;
  /** Starts `fn(...args)` in a slot already held. */
  _start(fn: Fn<any[], unknown>, args: unknown[], sink?: DeathSink | null, index?: number): AnyGreenlet;
  readonly _group: Group;
}

const ARRAY_ITERATOR = Array.prototype[Symbol.iterator];

/** An item of a map run still running. */
const RUNNING: unique symbol = Symbol('geventjs.map.running') as never;

/** An item of a map run that failed: its exception is read (observed) only if it is thrown. */
class Failed {
  constructor(readonly g: AnyGreenlet) {}
}

/**
 * One `map`: each item's value lands in `out` at its death, so a run holds values, not its
 * finished greenlets (100,000 dead greenlets kept to the end cost most of the time in GC).
 * `head` is the first item not finished successfully; the map gives `out` once every item
 * finished, or throws the first failure in item order once every item before it finished.
 */
class MapRun implements DeathSink {
  /**
   * The values, RUNNING where an item is still running. For an array of items it is made
   * full-length at once: pushing 100,000 marks one by one (growing it) cost ~20 ns per item.
   */
  readonly out: unknown[];
  /** Items started: `out[n..]` are not items (yet). */
  n = 0;
  head = 0;
  /** Every item is started (the map greenlet waits for the rest). */
  fed = false;
  /** The map greenlet left (killed, or the source threw): later deaths are of no interest. */
  closed = false;
  waiter: MapWait | null = null;

  constructor(expected: number) {
    this.out = expected > 0 ? new Array<unknown>(expected).fill(RUNNING) : [];
  }

  /** The number of the next item, marked running. */
  begin(): number {
    const i = this.n++;
    if (i === this.out.length) this.out.push(RUNNING);
    return i;
  }

  _memberDied(g: AnyGreenlet, index: number): void {
    if (this.closed) return;
    this.out[index] = g.successful() ? g.value : new Failed(g);
    if (index === this.head) this.advance();
  }

  private advance(): void {
    const out = this.out;
    let h = this.head;
    const n = this.n;
    while (h < n) {
      const v = out[h];
      if (v === RUNNING) break;
      if (v instanceof Failed) {
        // The failure this map will throw: observed now, not reported as nobody's on a later
        // turn while the map still starts its other items.
        v.g._markObserved();
        break;
      }
      h++;
    }
    this.head = h;
    const w = this.waiter;
    if (w !== null && this.settled()) {
      this.waiter = null;
      wake(w.g!, undefined);
    }
  }

  /** True once the map can give its values or throw its first failure. */
  settled(): boolean {
    return this.fed && (this.head === this.n || this.out[this.head] !== RUNNING);
  }

  /** The values, or the first failure (in item order) thrown. */
  result(): unknown[] {
    if (this.head < this.n) throw (this.out[this.head] as Failed).g.exception;
    if (this.out.length !== this.n) this.out.length = this.n; // the array of items shrank meanwhile
    return this.out;
  }
}

/** The map greenlet waits here for its last items. */
class MapWait extends Wait<void> {
  constructor(private readonly run: MapRun, private readonly what: string) {
    super();
  }

  override poll(): void | typeof PARK {
    return this.run.settled() ? undefined : PARK;
  }

  park(): void {
    this.run.waiter = this;
  }

  override cancel(): void {
    this.run.waiter = null;
  }

  override describe(): string {
    return this.what;
  }
}

/**
 * `map`: start each item's greenlet (waiting for slots), then give the values in order.
 *
 * The Ops of this file run hoisted generator functions (an arrow closure per call makes the
 * generator): a fresh `function*` closure per call, `opFrom(function* () { ... })`, costs V8 a
 * prototype object and a generator map of its own at its first call (about 1 µs: it was most
 * of a `Pool.apply()`).
 */
function mapOp<T, R>(sp: Spawner, fn: (x: T) => R, items: Iterable<T>, what: string): Op<ResultOf<R>[]> {
  checkFunction(fn, what);
  checkIterable(items, what);
  return opFrom(() => mapItems(sp, fn, items, what), what);
}

function* mapItems<T, R>(sp: Spawner, fn: (x: T) => R, items: Iterable<T>, what: string): Generator<unknown, ResultOf<R>[], unknown> {
  // A plain array is walked by index, as its own iterator would (its length read each time).
  const array = Array.isArray(items) && items[Symbol.iterator] === ARRAY_ITERATOR ? (items as T[]) : null;
  const run = new MapRun(array !== null ? array.length : 0);
  const it = array === null ? items[Symbol.iterator]() : null;
  let inBody = false; // (a source whose next() threw is not closed, as for-of)
  try {
    for (let k = 0; ; k++) {
      let x: T;
      if (array !== null) {
        if (k >= array.length) break;
        x = array[k]!;
      } else {
        inBody = false;
        const r = it!.next();
        if (r.done === true) break;
        inBody = true;
        x = r.value;
      }
      const i = run.begin();
      const args = [x];
      if (sp._trySpawn(fn as Fn<any[], unknown>, args, run, i) === null) {
        yield* sp._waitSlot();
        sp._start(fn as Fn<any[], unknown>, args, run, i);
      }
    }
    run.fed = true;
    if (!run.settled()) yield* new MapWait(run, what);
    return run.result() as ResultOf<R>[];
  } finally {
    run.closed = true;
    // Left early (killed, or a spawn threw): close the source, as for-of would.
    if (inBody && !run.fed && typeof it!.return === 'function') it!.return();
  }
}

/** Gives the next finished greenlet of an IMap (or the END mark); parks until there is one. */
class NextWait<R> extends Wait<IteratorResult<R, undefined>> {
  // Set in the constructor, not as a class field (one is made per result: see Wait in op.ts).
  declare private readonly it: IMap<R>;

  constructor(it: IMap<R>) {
    super();
    this.it = it;
  }

  override poll(): any {
    return this.it._take();
  }

  park(): void {
    this.it._readers.push(this);
  }

  override cancel(): void {
    this.it._readers.remove(this);
  }

  // Woken with a finished greenlet but killed before running: it stays next in line.
  override undo(_g: Greenlet, value: unknown): void {
    this.it._untake(value as Taken);
  }

  override next(value?: unknown): IteratorResult<unknown, IteratorResult<R, undefined>> {
    const r = super.next(value);
    if (!r.done) return r;
    const got = r.value as unknown as Taken;
    if (got === END) return done({ done: true, value: undefined });
    if (got === SOURCE_FAILED) throw this.it._sourceError;
    return done({ done: false, value: resultOf(got) as R });
  }

  override describe(): string {
    return 'imap().next()';
  }
}

const END: unique symbol = Symbol('geventjs.imap.end') as never;
/** The source iterable threw: the reader gets its error once, after every earlier result. */
const SOURCE_FAILED: unique symbol = Symbol('geventjs.imap.sourceFailed') as never;
type Taken = AnyGreenlet | typeof END | typeof SOURCE_FAILED;

/** Below this many taken slots the results array is not worth compacting. */
const COMPACT_AT = 1024;

/**
 * The results of `imap` (in order) or `imapUnordered` (as they finish). Inside a greenlet,
 * `yield* it.next()` gives the next result (an exception of an item is thrown there); outside,
 * iterate it with `for await`.
 *
 * @example
 * const it = pool.imap(fetchPage, urls);
 * for (let r = yield* it.next(); !r.done; r = yield* it.next()) console.log(r.value);
 * for await (const page of pool.imapUnordered(fetchPage, urls)) console.log(page); // outside
 */
export class IMap<R> implements AsyncIterable<R>, DeathSink {
  /**
   * Greenlets started, in item order (ordered) or finished ones (unordered), from `head` on;
   * the taken front is cut off now and then, so a long pipeline holds only what is unread.
   */
  private results: (AnyGreenlet | undefined)[] = [];
  private head = 0;
  private spawned = 0;
  private taken = 0;
  private finished = false;
  private sourceFailed = false;
  /** @internal The error the source iterable threw. */
  _sourceError: unknown = undefined;
  /** @internal */
  readonly _readers = new ParkingLot<NextWait<R>>();
  private readonly feeder: AnyGreenlet;
  /** Set when the reader takes a result: the feeder waits on it while `maxsize` are unread. */
  private readonly room: Event | null;

  /** @internal */
  constructor(
    sp: Spawner,
    fn: Fn<[any], unknown>,
    items: Iterable<unknown>,
    private readonly ordered: boolean,
    private readonly maxsize: number,
  ) {
    this.room = maxsize === Infinity ? null : new Event();
    this.feeder = new Greenlet(() => this.feed(sp, fn, items));
    sp._group._feeders.add(this.feeder);
    this.feeder.rawlink(() => {
      sp._group._feeders.delete(this.feeder);
      sp._group._dying.delete(this.feeder);
      this.finished = true;
      this.poke();
    });
    this.feeder.start();
  }

  private *feed(sp: Spawner, fn: Fn<[any], unknown>, items: Iterable<unknown>) {
    let it: Iterator<unknown> | undefined;
    let exhausted = false;
    try {
      for (;;) {
        // gevent's maxsize: no more than that many started and unread, however slow the reader.
        while (this.room !== null && this.spawned - this.taken >= this.maxsize) {
          this.room.clear();
          yield* this.room.wait();
        }
        // Only what the source itself throws goes to the reader; a kill of this feeder
        // (Group.kill) just ends the results.
        let r: IteratorResult<unknown>;
        try {
          it ??= items[Symbol.iterator]();
          r = it.next();
        } catch (e) {
          exhausted = true;
          this.sourceFailed = true;
          this._sourceError = e;
          return;
        }
        if (r.done === true) {
          exhausted = true;
          return;
        }
        const args = [r.value];
        let g = sp._trySpawn(fn, args, this);
        if (g === null) {
          yield* sp._waitSlot();
          g = sp._start(fn, args, this);
        }
        this.spawned++;
        if (this.ordered) this.results.push(g);
      }
    } finally {
      // Stopped early (killed): close the source, as for-of would.
      if (!exhausted && it !== undefined && typeof it.return === 'function') it.return();
    }
  }

  /** @internal A started item died (its group link tells us, after its group). */
  _memberDied(g: AnyGreenlet): void {
    if (!this.ordered) this.results.push(g);
    this.poke();
  }

  /** The next result: `{ done: false, value }`, or `{ done: true }` after the last one. */
  next(): Op<IteratorResult<R, undefined>> {
    return new NextWait<R>(this);
  }

  /** @internal The next finished greenlet, SOURCE_FAILED, END, or PARK. */
  _take(): Taken | typeof PARK {
    if (this.head >= COMPACT_AT && this.head * 2 >= this.results.length) {
      this.results = this.results.slice(this.head);
      this.head = 0;
    }
    const g = this.results[this.head];
    if (g !== undefined && g.dead) {
      this.results[this.head++] = undefined;
      this.taken++;
      this.room?.set();
      return g;
    }
    // Every started greenlet handed out (in order: results had exactly `spawned` entries).
    if (this.finished && this.taken === this.spawned) {
      if (this.sourceFailed) {
        this.sourceFailed = false;
        return SOURCE_FAILED;
      }
      return END;
    }
    return PARK;
  }

  /** @internal Gives back what a reader took but never received. */
  _untake(got: Taken): void {
    if (got === SOURCE_FAILED) this.sourceFailed = true;
    else if (got !== END) {
      this.results[--this.head] = got;
      this.taken--;
    }
  }

  /** @internal The results array's length, read or not (for memory checks). */
  get _bufferLength(): number {
    return this.results.length;
  }

  private poke(): void {
    for (let w = this._readers.peek(); w !== null; w = this._readers.peek()) {
      const r = this._take();
      if (r === PARK) return;
      this._readers.shift();
      if (!wake(w.g!, r)) this._untake(r);
    }
  }

  /**
   * For `for await`. Leaving the loop early (`break`, `return`, a throw) stops the imap as
   * leaving a `for...of` closes a generator: no more items are taken or started, and the
   * source is closed (its `finally` runs); greenlets already started finish by themselves.
   * Without this an endless source kept feeding the pool forever and the program never ended.
   */
  [Symbol.asyncIterator](): AsyncIterator<R> {
    return {
      next: () => Promise.resolve(this.next()) as Promise<IteratorResult<R>>,
      return: async () => {
        this.feeder.kill({ block: false });
        return { done: true, value: undefined };
      },
    };
  }
}

function living(gs: Iterable<AnyGreenlet>): AnyGreenlet[] {
  const out: AnyGreenlet[] = [];
  for (const g of gs) if (!g.dead) out.push(g);
  return out;
}

/** Seconds left until `deadline` (monotonic ms, a double of any size), or null for none. */
function remaining(deadline: number): number | null {
  return deadline === Infinity ? null : Math.max(0, (deadline - now()) / 1000);
}

/** A deadline on the monotonic clock for `{ timeout }` (null or undefined: none). */
function deadlineAfter(timeout: number | null | undefined, what: string): number {
  if (timeout === undefined || timeout === null) return Infinity;
  checkSeconds(timeout, what);
  return now() + timeout * 1000;
}

/** Options of `kill` and `killone`. */
export interface KillOptions {
  exception?: ErrorClass | Error;
  block?: boolean;
  timeout?: number | null;
}

/** Options of `join`. */
export interface JoinOptions {
  timeout?: number | null;
  raiseError?: boolean;
}

/**
 * Runs `fn(...args)` in the calling greenlet (gevent's `_apply_immediately`): a generator's
 * body is run with `yield*`, a promise is waited for, a plain value is returned.
 */
function* applyInline(fn: Fn<any[], unknown>, args: unknown[]): Generator<unknown, unknown, unknown> {
  const r = fn(...args);
  if (r !== null && typeof r === 'object') {
    if (typeof (r as Iterator<unknown>).next === 'function' || typeof (r as PromiseLike<unknown>).then === 'function') {
      return yield r;
    }
  }
  return r;
}

/**
 * A set of greenlets: each leaves the group when it dies. Spawns never wait.
 *
 * @example
 * const group = new Group();
 * group.spawn(talk, 'bar'); group.spawn(talk, 'foo');
 * yield* group.join();
 * const doubled = yield* group.map(function* (x: number) { yield* sleep(0); return x * 2; }, [1, 2, 3]);
 */
export class Group implements Iterable<AnyGreenlet>, Spawner {
  /** The members' links, oldest first (see MemberLink), and how many. */
  private first: MemberLink | null = null;
  private last: MemberLink | null = null;
  private count = 0;
  /** @internal imap feeders running for this group (killed with it). */
  readonly _feeders = new Set<AnyGreenlet>();
  /**
   * @internal Members (and feeders) this group already shot: `kill` and `killone` never shoot
   * one twice (gevent's `dying`), since every `Greenlet.kill()` interrupts again.
   */
  readonly _dying = new Set<AnyGreenlet>();
  /** @internal A Pool's free slots: each member that leaves releases one. */
  _slots: Semaphore | null = null;
  /** Members given to `add()` (not spawned by this group), and their links. */
  private added: Map<AnyGreenlet, MemberLink> | null = null;

  constructor(greenlets: Iterable<AnyGreenlet> = []) {
    checkIterable(greenlets, 'new Group(greenlets)');
    for (const g of greenlets) this.add(g);
  }

  /** @internal */
  get _group(): Group {
    return this;
  }

  /**
   * Adds a greenlet; it leaves the group when it dies (a dead one is not added).
   *
   * @example
   * group.add(spawn(worker));
   */
  add(g: AnyGreenlet): void {
    if (!(g instanceof Greenlet)) {
      throw new TypeError(`Group.add() takes a Greenlet, got ${describeValue(g)}; spawn one with spawn(fn)`);
    }
    // A dead greenlet is not tracked at all (gevent): it would only count until its link ran.
    if (g.dead || this.linkOf(g) !== null) return;
    const link = new MemberLink(this, g, null, 0);
    this.attach(link);
    (this.added ??= new Map()).set(g, link);
    g._addJoiner(link);
  }

  /** g's link to this group, or null if it is not a member. */
  private linkOf(g: AnyGreenlet): MemberLink | null {
    if (g instanceof Member && g._home !== null && g._home.group === this) return g._home;
    return this.added === null ? null : (this.added.get(g) ?? null);
  }

  /** The members, oldest first. */
  private members(): AnyGreenlet[] {
    const out: AnyGreenlet[] = [];
    for (let l = this.first; l !== null; l = l.after) out.push(l.g);
    return out;
  }

  /** Appends a member's link to the member list. */
  private attach(link: MemberLink): void {
    const last = this.last;
    link.before = last;
    if (last === null) this.first = link;
    else last.after = link;
    this.last = link;
    this.count++;
  }

  /** @internal A member leaves (its death, or discard): once per link. */
  _left(link: MemberLink): void {
    link.group = null;
    const { before, after } = link;
    if (before === null) this.first = after;
    else before.after = after;
    if (after === null) this.last = before;
    else after.before = before;
    link.before = link.after = null;
    this.count--;
    if (this.added !== null && this.added.get(link.g) === link) this.added.delete(link.g);
    if (this._dying.size !== 0) this._dying.delete(link.g);
    if (this._slots !== null) this._slots.release();
  }

  /** @internal So that after join() or kill() the group is empty at once, not a hub turn later. */
  _pruneDead(): void {
    for (const g of this.members()) if (g.dead) this.discard(g);
  }

  /** Removes a greenlet (it keeps running). */
  discard(g: AnyGreenlet): void {
    const link = this.linkOf(g);
    if (link === null) return;
    this._left(link);
    // A link in its link list stays only while a map or imap waits for its death.
    if (link.sink === null && !g.dead) g._removeJoiner(link);
  }

  /**
   * Spawns `fn(...args)` as a member and gives the greenlet.
   *
   * @example
   * const g = group.spawn(function* (n: number) { yield* sleep(0.1); return n; }, 7);
   */
  spawn<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): Greenlet<ResultOf<R>> {
    checkFunction(fn, 'Group.spawn()');
    return this._start(fn as Fn<any[], unknown>, args) as Greenlet<ResultOf<R>>;
  }

  /** @internal */
  _start(fn: Fn<any[], unknown>, args: unknown[], sink: DeathSink | null = null, index = 0): AnyGreenlet {
    const g = new Member(fn, this, sink, index);
    g._setArgs(args);
    this.attach(g._home!);
    g.start();
    return g;
  }

  /** @internal */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[], sink: DeathSink | null = null, index = 0): AnyGreenlet | null {
    return this._start(fn, args, sink, index);
  }

  /** @internal A Group never waits for a slot. */
  _waitSlot(): Op<unknown> {
    return doneOp(undefined);
  }

  /** How many members (gevent's `len(group)`). */
  get size(): number {
    return this.count;
  }

  /** How many members. */
  len(): number {
    return this.count;
  }

  /** True if `g` is a member. */
  has(g: AnyGreenlet): boolean {
    return this.linkOf(g) !== null;
  }

  /** True if `g` is a member (gevent's `g in group`). */
  contains(g: AnyGreenlet): boolean {
    return this.linkOf(g) !== null;
  }

  /** A Group is never full. */
  full(): boolean {
    return false;
  }

  /** The members, as a snapshot array. */
  get greenlets(): AnyGreenlet[] {
    return this.members();
  }

  [Symbol.iterator](): Iterator<AnyGreenlet> {
    return this.greenlets[Symbol.iterator]();
  }

  /**
   * Waits until every member (including ones added meanwhile) is dead, or `timeout` seconds
   * pass; gives whether the group is empty. With `raiseError`, the first member to fail
   * throws its exception here.
   *
   * @example
   * const allDone = yield* group.join({ timeout: 5 });
   */
  join(opts?: JoinOptions | null): Op<boolean> {
    const o = ownOptions(opts, 'Group.join(options)');
    const deadline = deadlineAfter(o.timeout, 'Group.join({ timeout })');
    const raiseError = checkBoolean(o.raiseError, 'Group.join({ raiseError })', false);
    return opFrom(() => this.joinMembers(deadline, raiseError), 'Group.join()');
  }

  private *joinMembers(deadline: number, raiseError: boolean): Generator<unknown, boolean, unknown> {
    // Members added with add() leave a hub step after their death (their link runs then):
    // wait only for the living.
    for (let gs = living(this.members()); gs.length > 0; gs = living(this.members())) {
      const left = remaining(deadline);
      if (left === 0) return false;
      yield* joinall(gs, { timeout: left, raiseError });
    }
    this._pruneDead();
    return true;
  }

  /** Shoots `g` unless this group already did. */
  private shoot(g: AnyGreenlet, exception: ErrorClass | Error | undefined): void {
    if (this._dying.has(g)) return;
    // Marked first: a member that has not started dies within kill() and leaves (unmarked) there.
    this._dying.add(g);
    g.kill({ exception, block: false });
  }

  /**
   * Kills every member (and any imap still starting greenlets) at once, each only once
   * however often the group is killed; with `block` (the default) the Op waits up to
   * `timeout` seconds for them to die. Not yielding that Op is fine: the kill already
   * happened.
   *
   * @example
   * yield* group.kill();
   */
  kill(opts?: KillOptions | null): Op<void> {
    const o = ownOptions(opts, 'Group.kill(options)');
    const deadline = deadlineAfter(o.timeout, 'Group.kill({ timeout })');
    const block = checkBoolean(o.block, 'Group.kill({ block })', true);
    const exception = checkException(o.exception, 'Group.kill({ exception })');
    const me = getcurrent();
    const all = (): AnyGreenlet[] => living(this._feeders).concat(living(this.members())).filter((g) => g !== me);
    for (const g of all()) this.shoot(g, exception);
    if (me !== null && (this.has(me) || this._feeders.has(me))) this.shoot(me, exception);
    if (!block) return doneOp(undefined);
    const op = opFrom(() => this.killMembers(all, deadline, exception), 'Group.kill()');
    untrack(op);
    return op;
  }

  private *killMembers(
    all: () => AnyGreenlet[],
    deadline: number,
    exception: ErrorClass | Error | undefined,
  ): Generator<unknown, void, unknown> {
    // Members spawned while we wait get killed too, as gevent's Group.kill does.
    for (let gs = all(); gs.length > 0; gs = all()) {
      const left = remaining(deadline);
      if (left === 0) return;
      for (const g of gs) this.shoot(g, exception);
      yield* joinall(gs, { timeout: left });
    }
    this._pruneDead();
  }

  /**
   * Kills one member, unless this group already shot it (nothing if it is not a member);
   * with `block` (the default) the Op waits up to `timeout` seconds for its death. The kill
   * happens at once, whether the Op is yielded or not.
   *
   * @example
   * yield* group.killone(g);
   */
  killone(g: AnyGreenlet, opts?: KillOptions | null): Op<void> {
    const o = ownOptions(opts, 'Group.killone(g, options)');
    const timeout = o.timeout ?? null;
    if (timeout !== null) checkSeconds(timeout, 'Group.killone({ timeout })');
    const block = checkBoolean(o.block, 'Group.killone({ block })', true);
    const exception = checkException(o.exception, 'Group.killone({ exception })');
    if (g.dead || !this.has(g)) return doneOp(undefined);
    this.shoot(g, exception);
    if (!block || g === getcurrent()) return doneOp(undefined);
    const op = g.join({ timeout });
    untrack(op);
    return op;
  }

  /**
   * Runs `fn(x)` for each item in its own greenlet; gives the values in item order (or
   * throws the first failure, in item order).
   *
   * @example
   * const squares = yield* group.map((x: number) => x * x, [1, 2, 3]); // [1, 4, 9]
   */
  map<T, R>(fn: (x: T) => R, items: Iterable<T>): Op<ResultOf<R>[]> {
    return mapOp(this, fn, items, 'Group.map()');
  }

  /**
   * Like `map`, streaming the values in item order as they become available; `maxsize`
   * bounds how many are started and not yet read.
   *
   * @example
   * for await (const v of group.imap(double, [1, 2, 3], { maxsize: 2 })) console.log(v);
   */
  imap<T, R>(fn: (x: T) => R, items: Iterable<T>, opts?: IMapOptions | null): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, opts, true, 'Group.imap()');
  }

  /**
   * Like `imap`, giving each value as soon as its greenlet finishes.
   *
   * @example
   * for await (const v of group.imapUnordered(double, [1, 2, 3])) console.log(v);
   */
  imapUnordered<T, R>(fn: (x: T) => R, items: Iterable<T>, opts?: IMapOptions | null): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, opts, false, 'Group.imapUnordered()');
  }

  /**
   * Runs `fn(...args)` in a member greenlet and gives its value (or throws its exception).
   *
   * @example
   * const n = yield* group.apply(function* (a: number, b: number) { return a + b; }, [1, 2]);
   */
  apply<A extends unknown[], R>(fn: Fn<A, R>, args: A = [] as unknown as A): Op<ResultOf<R>> {
    checkFunction(fn, 'Group.apply()');
    checkArgs(args, 'Group.apply(fn, args)');
    return opFrom(() => this.applyIn(fn as Fn<any[], unknown>, args), 'Group.apply()') as Op<ResultOf<R>>;
  }

  private *applyIn(fn: Fn<any[], unknown>, args: unknown[]): Generator<unknown, unknown, unknown> {
    const me = getcurrent();
    if (me !== null && this.has(me)) return yield* applyInline(fn, args);
    return yield* this._start(fn, [...args]).get();
  }

  /**
   * Spawns `fn(...args)` and gives the greenlet; `callback(value)` runs when it succeeds.
   *
   * @example
   * group.applyAsync(fetchPage, [url], (page) => console.log(page.length));
   */
  applyAsync<A extends unknown[], R>(
    fn: Fn<A, R>,
    args: A = [] as unknown as A,
    callback?: (value: ResultOf<R>) => void,
  ): Greenlet<ResultOf<R>> {
    checkArgs(args, 'Group.applyAsync(fn, args)');
    if (callback !== undefined) checkFunction(callback, 'Group.applyAsync(fn, args, callback)');
    const g = this.spawn(fn, ...args);
    if (callback !== undefined) linkCallback(g, callback);
    return g;
  }

  /**
   * Runs `map` in a new greenlet and gives it; `callback(values)` runs when it succeeds.
   *
   * @example
   * const g = group.mapAsync(double, [1, 2]); const vs = yield* g.get();
   */
  mapAsync<T, R>(fn: (x: T) => R, items: Iterable<T>, callback?: (values: ResultOf<R>[]) => void): Greenlet<ResultOf<R>[]> {
    checkFunction(fn, 'mapAsync()');
    checkIterable(items, 'mapAsync()');
    // The map Op is made inside the new greenlet: made here, it would count as never started.
    const g = Greenlet.spawn(() => this.map(fn, items)) as unknown as Greenlet<ResultOf<R>[]>;
    if (callback !== undefined) linkCallback(g, callback);
    return g;
  }

  /** `util.inspect` / `console.log`: how many members, not internals. */
  [inspect.custom](): string {
    return `<${this.constructor.name} ${this.count} member${this.count === 1 ? '' : 's'}>`;
  }
}

function linkCallback<R>(g: Greenlet<R>, callback: (value: R) => void): void {
  checkFunction(callback, 'callback');
  // A generator function runs in a greenlet of its own, as link() runs one (called in the
  // hub it would only make an iterator and silently never run).
  if (isGeneratorFunction(callback)) {
    const gen = callback as unknown as (value: R) => Generator<unknown, unknown, unknown>;
    g.linkValue(function* (dead: Greenlet<R>) {
      return yield* gen(dead.value as R);
    });
    return;
  }
  g.linkValue((dead) => callback(dead.value as R));
}

/** A kill's `exception`, checked before any member is shot. */
function checkException(e: unknown, what: string): ErrorClass | Error | undefined {
  if (e === undefined || e instanceof Error) return e;
  if (typeof e === 'function' && (e === Error || e.prototype instanceof Error)) return e as ErrorClass;
  throw new TypeError(`${what} must be an Error class or instance, got ${describeValue(e)}; pass e.g. GreenletExit or new Error("why")`);
}

function checkArgs(args: unknown, what: string): void {
  if (!Array.isArray(args)) throw new TypeError(`${what} takes the arguments as an array, got ${describeValue(args)}; pass e.g. [1, 2]`);
}

/**
 * Options of `imap` and `imapUnordered`: `maxsize` bounds how many results may be started and
 * not yet read (gevent's `maxsize`); further items wait to start. Nothing, null or 0: no bound.
 *
 * @example
 * pool.imap(fetchPage, urls, { maxsize: 100 });
 */
export interface IMapOptions {
  maxsize?: number | null;
}

function newIMap<T, R>(
  sp: Spawner,
  fn: (x: T) => R,
  items: Iterable<T>,
  opts: IMapOptions | null | undefined,
  ordered: boolean,
  what: string,
): IMap<ResultOf<R>> {
  checkFunction(fn, what);
  checkIterable(items, what);
  const maxsize = ownOptions(opts, `${what.slice(0, -1)}fn, items, options)`).maxsize;
  let bound = Infinity;
  if (maxsize !== undefined && maxsize !== null && maxsize !== 0 && maxsize !== Infinity) {
    if (typeof maxsize !== 'number' || !Number.isInteger(maxsize) || maxsize < 0) {
      throw new (typeof maxsize === 'number' ? RangeError : TypeError)(
        `${what.slice(0, -1)}fn, items, { maxsize }) must be a whole number of results >= 1 (or nothing for no bound), got ${describeValue(maxsize)}`,
      );
    }
    bound = maxsize;
  }
  return new IMap<ResultOf<R>>(sp, fn as Fn<[any], unknown>, items, ordered, bound);
}

function checkPoolSize(size: unknown): number {
  if (size === undefined || size === null || size === Infinity) return Infinity;
  if (typeof size !== 'number') {
    throw new TypeError(`new Pool(size) needs a number of greenlets, got ${describeValue(size)}; pass e.g. new Pool(10), or nothing for no limit`);
  }
  if (!Number.isInteger(size) || size < 0) {
    throw new RangeError(`new Pool(size) must be a whole number >= 0, got ${size}; pass e.g. 10, or nothing for no limit`);
  }
  return size;
}

/**
 * `Pool.spawn()`: starts the greenlet at once if a slot is free, else waits for one, FIFO,
 * among the pool's other slot waiters (it parks with the Semaphore's acquirers and follows
 * AcquireWait's protocol: a release hands it the slot in flight, an interrupted wait takes
 * none, and a slot that reached it after it was interrupted is passed on). One object per
 * spawn, where an `opFrom` body cost an Op, a closure, a generator and an AcquireWait.
 * Like that body, each run spawns afresh, and two greenlets may run the same Op at once.
 */
class SpawnWait extends Wait<AnyGreenlet> {
  // Set in the constructor, not as class fields (one is made per spawn: see Wait in op.ts).
  declare private readonly pool: Pool;
  declare private readonly fn: Fn<any[], unknown>;
  declare private readonly args: unknown[];

  constructor(pool: Pool, fn: Fn<any[], unknown>, args: unknown[]) {
    super();
    this.pool = pool;
    this.fn = fn;
    this.args = args;
  }

  override [Symbol.iterator](): this {
    // Busy in another greenlet: this run gets a wait of its own (opFrom's runs were independent).
    if (this.parking) return new SpawnWait(this.pool, this.fn, this.args)[Symbol.iterator]() as this;
    return WAIT_ITERATOR.call(this) as this; // (`super[Symbol.iterator]()` is a slow keyed super load)
  }

  override poll(): AnyGreenlet | typeof PARK {
    return this.pool._trySpawn(this.fn, this.args) ?? PARK;
  }

  park(): void {
    this.pool._sem._acquirers.push(this as unknown as AcquireWaiter);
  }

  override cancel(): void {
    this.pool._sem._acquirers.remove(this as unknown as AcquireWaiter);
  }

  override next(value?: unknown): IteratorResult<unknown, AnyGreenlet> {
    if (!this.parking) return super.next(value);
    // Resumed by a release, which handed us its slot (`true`): ours now, no longer in flight.
    super.next(value);
    this.pool._sem._inFlight--;
    return done(this.pool._start(this.fn, this.args));
  }

  // The slot reached us but we were interrupted before running: pass it on.
  override undo(_g: Greenlet, value: unknown): void {
    if (value !== true) return;
    this.pool._sem._inFlight--;
    this.pool._sem.release();
  }

  override describe(): string {
    return 'Pool.spawn()';
  }
}

const WAIT_ITERATOR = Wait.prototype[Symbol.iterator];

/** What a Semaphore's acquirers list holds (a SpawnWait parks there as one). */
type AcquireWaiter = Semaphore['_acquirers'] extends ParkingLot<infer W> ? W : never;

/**
 * A Group that runs at most `size` greenlets at once: `spawn` waits while it is full, so it
 * is an Op (`const g = yield* pool.spawn(fn)`). Built from a Group and a Semaphore. As in
 * gevent, `new Pool()` has no limit, and `new Pool(0)` can never run anything (only useful
 * with `waitAvailable({ timeout })`).
 *
 * @example
 * const pool = new Pool(10);
 * const pages = yield* pool.map(fetchPage, urls); // at most 10 fetches at a time
 */
export class Pool implements Iterable<AnyGreenlet>, Spawner {
  /** The most members running at once; null for no limit. */
  readonly size: number | null;
  /** @internal */
  readonly _group = new Group();
  /** @internal Free slots (Infinity for no limit). */
  readonly _sem: Semaphore;
  constructor(size?: number | null) {
    const limit = checkPoolSize(size);
    this.size = limit === Infinity ? null : limit;
    this._sem = new Semaphore(limit);
    // A member that dies (or is discarded) frees its slot: to the longest waiting spawner.
    this._group._slots = this._sem;
  }

  /** @internal Starts `fn(...args)` if a slot is free, else null (never ahead of a waiter). */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[], sink: DeathSink | null = null, index = 0): AnyGreenlet | null {
    return this._sem._take() ? this._group._start(fn, args, sink, index) : null;
  }

  /** @internal Waits for a slot, FIFO; an interrupted wait takes none. */
  _waitSlot(): Op<unknown> {
    return this._sem.acquire();
  }

  /** @internal */
  _start(fn: Fn<any[], unknown>, args: unknown[], sink: DeathSink | null = null, index = 0): AnyGreenlet {
    return this._group._start(fn, args, sink, index);
  }

  /**
   * Spawns `fn(...args)` as a member once a slot is free; gives the greenlet.
   *
   * @example
   * const g = yield* pool.spawn(function* () { yield* sleep(1); });
   */
  spawn<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): Op<Greenlet<ResultOf<R>>> {
    checkFunction(fn, 'Pool.spawn()');
    return new SpawnWait(this, fn as Fn<any[], unknown>, args) as unknown as Op<Greenlet<ResultOf<R>>>;
  }

  /**
   * Adds a running greenlet as a member, waiting for a slot first.
   *
   * @example
   * yield* pool.add(spawn(worker));
   */
  add(g: AnyGreenlet): Op<void> {
    if (!(g instanceof Greenlet)) {
      throw new TypeError(`Pool.add() takes a Greenlet, got ${describeValue(g)}; spawn one with spawn(fn)`);
    }
    return opFrom(() => this.addWhenFree(g), 'Pool.add()');
  }

  private *addWhenFree(g: AnyGreenlet): Generator<unknown, void, unknown> {
    const group = this._group;
    const sem = this._sem;
    if (group.has(g) || g.dead) return;
    if (!sem._take()) yield* sem.acquire();
    // It may have died while we waited: then the slot goes straight back.
    if (g.dead) sem.release();
    else group.add(g);
  }

  /**
   * Removes a member (it keeps running) and frees its slot.
   *
   * @example
   * pool.discard(g);
   */
  discard(g: AnyGreenlet): void {
    this._group.discard(g);
  }

  /**
   * True when `spawn` would wait.
   *
   * @example
   * if (!pool.full()) yield* pool.spawn(job);
   */
  full(): boolean {
    return this.freeCount() === 0;
  }

  /**
   * How many more greenlets could start now without waiting (Infinity for no limit).
   *
   * @example
   * new Pool(3).freeCount(); // 3
   */
  freeCount(): number {
    return this.size === null ? Infinity : Math.max(0, this.size - this._group.size);
  }

  /**
   * Waits until at least one slot is free (or `timeout` seconds pass); gives `freeCount()`.
   *
   * @example
   * yield* pool.waitAvailable({ timeout: 1 });
   */
  waitAvailable(opts?: { timeout?: number | null } | null): Op<number> {
    const timeout = ownOptions(opts, 'Pool.waitAvailable(options)').timeout;
    if (timeout !== undefined && timeout !== null) checkSeconds(timeout, 'Pool.waitAvailable({ timeout })');
    return opFrom(() => this.waitFree(timeout), 'Pool.waitAvailable()');
  }

  private *waitFree(timeout: number | null | undefined): Generator<unknown, number, unknown> {
    // The Wait is made only when needed: made and left unused, it would count as dropped.
    if (this.freeCount() === 0) yield* this._sem.waitAvailable({ timeout });
    return this.freeCount();
  }

  /**
   * How many members are running.
   *
   * @example
   * pool.len(); // 0
   */
  len(): number {
    return this._group.size;
  }

  /**
   * True if `g` is a member.
   *
   * @example
   * pool.has(g);
   */
  has(g: AnyGreenlet): boolean {
    return this._group.has(g);
  }

  /**
   * True if `g` is a member.
   *
   * @example
   * pool.contains(g);
   */
  contains(g: AnyGreenlet): boolean {
    return this._group.has(g);
  }

  /** The members, as a snapshot array. */
  get greenlets(): AnyGreenlet[] {
    return this._group.greenlets;
  }

  [Symbol.iterator](): Iterator<AnyGreenlet> {
    return this._group[Symbol.iterator]();
  }

  /**
   * Waits for every member to die (see `Group.join`).
   *
   * @example
   * yield* pool.join({ timeout: 5 });
   */
  join(opts?: JoinOptions | null): Op<boolean> {
    return this._group.join(opts);
  }

  /**
   * Kills every member at once, each only once (see `Group.kill`).
   *
   * @example
   * yield* pool.kill();
   */
  kill(opts?: KillOptions | null): Op<void> {
    return this._group.kill(opts);
  }

  /**
   * Kills one member, unless this pool already shot it.
   *
   * @example
   * yield* pool.killone(g);
   */
  killone(g: AnyGreenlet, opts?: KillOptions | null): Op<void> {
    return this._group.killone(g, opts);
  }

  /**
   * `Group.map`, never more than `size` at once.
   *
   * @example
   * const out = yield* pool.map(double, [1, 2, 3]);
   */
  map<T, R>(fn: (x: T) => R, items: Iterable<T>): Op<ResultOf<R>[]> {
    return mapOp(this, fn, items, 'Pool.map()');
  }

  /**
   * `Group.imap`, never more than `size` at once.
   *
   * @example
   * for await (const v of pool.imap(double, [1, 2, 3])) console.log(v);
   */
  imap<T, R>(fn: (x: T) => R, items: Iterable<T>, opts?: IMapOptions | null): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, opts, true, 'Pool.imap()');
  }

  /**
   * `Group.imapUnordered`, never more than `size` at once.
   *
   * @example
   * for await (const v of pool.imapUnordered(double, [1, 2, 3])) console.log(v);
   */
  imapUnordered<T, R>(fn: (x: T) => R, items: Iterable<T>, opts?: IMapOptions | null): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, opts, false, 'Pool.imapUnordered()');
  }

  /**
   * Runs `fn(...args)` in a member (once a slot is free) and gives its value. Called from a
   * member of this same pool, it runs `fn` right there instead (gevent's rule), so a nested
   * `apply` in a full pool cannot deadlock.
   *
   * @example
   * const n = yield* pool.apply(add, [1, 2]);
   */
  apply<A extends unknown[], R>(fn: Fn<A, R>, args: A = [] as unknown as A): Op<ResultOf<R>> {
    checkFunction(fn, 'Pool.apply()');
    checkArgs(args, 'Pool.apply(fn, args)');
    return opFrom(() => this.applyIn(fn as Fn<any[], unknown>, args), 'Pool.apply()') as Op<ResultOf<R>>;
  }

  private *applyIn(fn: Fn<any[], unknown>, args: unknown[]): Generator<unknown, unknown, unknown> {
    const me = getcurrent();
    if (me !== null && this.has(me)) return yield* applyInline(fn, args);
    const g = yield* new SpawnWait(this, fn, [...args]);
    return yield* g.get();
  }

  /**
   * Starts `fn(...args)` and gives its greenlet at once, never waiting: in the pool if a slot
   * is free, else in a greenlet outside the pool that waits for a slot and runs it there
   * (gevent's rule; that greenlet's value is `fn`'s). `callback(value)` runs on success.
   *
   * @example
   * const g = pool.applyAsync(fetchPage, [url], (page) => console.log(page.length));
   */
  applyAsync<A extends unknown[], R>(
    fn: Fn<A, R>,
    args: A = [] as unknown as A,
    callback?: (value: ResultOf<R>) => void,
  ): Greenlet<ResultOf<R>> {
    checkFunction(fn, 'Pool.applyAsync()');
    checkArgs(args, 'Pool.applyAsync(fn, args)');
    if (callback !== undefined) checkFunction(callback, 'Pool.applyAsync(fn, args, callback)');
    let g = this._trySpawn(fn as Fn<any[], unknown>, args) as Greenlet<ResultOf<R>> | null;
    // Full: the Op is made inside the new greenlet (made here, it would count as never started).
    g ??= Greenlet.spawn(() => this.apply(fn, args)) as unknown as Greenlet<ResultOf<R>>;
    if (callback !== undefined) linkCallback(g, callback);
    return g;
  }

  /**
   * Runs `map` in a new greenlet (not a member) and gives it.
   *
   * @example
   * const g = pool.mapAsync(double, [1, 2]); const vs = yield* g.get();
   */
  mapAsync<T, R>(fn: (x: T) => R, items: Iterable<T>, callback?: (values: ResultOf<R>[]) => void): Greenlet<ResultOf<R>[]> {
    checkFunction(fn, 'mapAsync()');
    checkIterable(items, 'mapAsync()');
    // The map Op is made inside the new greenlet: made here, it would count as never started.
    const g = Greenlet.spawn(() => this.map(fn, items)) as unknown as Greenlet<ResultOf<R>[]>;
    if (callback !== undefined) linkCallback(g, callback);
    return g;
  }

  /** `util.inspect` / `console.log`: size, members and who waits for a slot, not internals. */
  [inspect.custom](): string {
    const n = this._sem._acquirers.size;
    return `<${this.constructor.name} size=${this.size ?? 'none'} running=${this.len()}${n === 0 ? '' : `, ${n} waiting for a slot`}>`;
  }
}

// The kinds made per item or call keep their hidden classes across full GCs (hidden-classes.ts).
{
  const group = new Group();
  const member = keepHiddenClass(unnumbered(() => new Member(() => undefined, group, null, 0))); // (never attached or run)
  keepHiddenClass(new MemberLink(group, member, null, 0));
  const pool = new Pool(1);
  const run = keepHiddenClass(new MapRun(1));
  keepOpClass(new MapWait(run, 'Pool.map()'));
  keepOpClass(new SpawnWait(pool, () => undefined, []));
}
