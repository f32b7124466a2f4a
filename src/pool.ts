/**
 * Groups and pools of greenlets (gevent.pool). A `Group` tracks greenlets (each leaves the
 * group when it dies) and runs work across them: `map`, `imap`, `imapUnordered`, `apply`...
 * A `Pool` is a Group plus a Semaphore: at most `size` members run at once, and `spawn`
 * waits (it is an `Op<Greenlet>`) while the pool is full.
 */
import { Greenlet, type ErrorClass, type ResultOf } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { getcurrent, wake } from './hub.js';
import { Op, PARK, Wait, done, doneOp, opFrom } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { Semaphore } from './lock.js';
import { joinall } from './wait.js';

type Fn<A extends unknown[], R> = (...args: A) => R;
type AnyGreenlet = Greenlet<any>;

function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== 'function') {
    throw new TypeError(
      `${what} needs a function to run, got ${describeValue(fn)}; pass a generator function, a plain or an async function`,
    );
  }
}

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

/** How `map` and the imaps start one greenlet: at once (Group) or once a slot is free (Pool). */
interface Spawner {
  /** Starts `fn(...args)` now if a slot is free; null if it must wait for one. */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet | null;
  /** Waits for a slot and keeps it: `_start` must follow in the same step. */
  _waitSlot(): Op<unknown>;
  /** Starts `fn(...args)` in a slot already held. */
  _start(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet;
  readonly _group: Group;
}

/** `map`: start each item's greenlet (waiting for slots), then collect the values in order. */
function mapOp<T, R>(sp: Spawner, fn: (x: T) => R, items: Iterable<T>, what: string): Op<ResultOf<R>[]> {
  checkFunction(fn, what);
  checkIterable(items, what);
  return opFrom(function* () {
    const gs: AnyGreenlet[] = [];
    for (const x of items) {
      let g = sp._trySpawn(fn as Fn<any[], unknown>, [x]);
      if (g === null) {
        yield* sp._waitSlot();
        g = sp._start(fn as Fn<any[], unknown>, [x]);
      }
      gs.push(g);
    }
    const out: ResultOf<R>[] = new Array(gs.length);
    for (let i = 0; i < gs.length; i++) {
      const g = gs[i]!;
      if (!g.dead) yield* g.join();
      out[i] = resultOf(g);
    }
    return out;
  }, what);
}

/** Gives the next finished greenlet of an IMap (or the END mark); parks until there is one. */
class NextWait<R> extends Wait<IteratorResult<R, undefined>> {
  constructor(private readonly it: IMap<R>) {
    super();
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
    this.it._untake(value as AnyGreenlet | typeof END);
  }

  override next(value?: unknown): IteratorResult<unknown, IteratorResult<R, undefined>> {
    const r = super.next(value);
    if (!r.done) return r;
    const got = r.value as unknown as AnyGreenlet | typeof END;
    if (got === END) return done({ done: true, value: undefined });
    return done({ done: false, value: resultOf(got) as R });
  }

  override describe(): string {
    return 'imap().next()';
  }
}

const END: unique symbol = Symbol('geventjs.imap.end') as never;

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
export class IMap<R> implements AsyncIterable<R> {
  /** @internal Greenlets started, in item order (ordered) or finished ones (unordered). */
  private readonly results: (AnyGreenlet | undefined)[] = [];
  private head = 0;
  private spawned = 0;
  private finished = false;
  /** @internal */
  readonly _readers = new ParkingLot<NextWait<R>>();
  private readonly feeder: AnyGreenlet;

  /** @internal */
  constructor(sp: Spawner, fn: Fn<[any], unknown>, items: Iterable<unknown>, private readonly ordered: boolean) {
    const onDeath = (g: AnyGreenlet): void => {
      if (!this.ordered) this.results.push(g);
      this.poke();
    };
    this.feeder = new Greenlet(() => this.feed(sp, fn, items, onDeath));
    sp._group._feeders.add(this.feeder);
    this.feeder.rawlink(() => {
      sp._group._feeders.delete(this.feeder);
      this.finished = true;
      this.poke();
    });
    this.feeder.start();
  }

  private *feed(sp: Spawner, fn: Fn<[any], unknown>, items: Iterable<unknown>, onDeath: (g: AnyGreenlet) => void) {
    for (const x of items) {
      let g = sp._trySpawn(fn, [x]);
      if (g === null) {
        yield* sp._waitSlot();
        g = sp._start(fn, [x]);
      }
      this.spawned++;
      if (this.ordered) this.results.push(g);
      g.rawlink(onDeath);
    }
  }

  /** The next result: `{ done: false, value }`, or `{ done: true }` after the last one. */
  next(): Op<IteratorResult<R, undefined>> {
    return new NextWait<R>(this);
  }

  /** @internal The next finished greenlet, END, or PARK. */
  _take(): AnyGreenlet | typeof END | typeof PARK {
    const g = this.results[this.head];
    if (g !== undefined && g.dead) {
      this.results[this.head++] = undefined;
      return g;
    }
    // All spawned, every one handed out (in order: results has exactly `spawned` entries).
    if (this.finished && this.head === this.spawned) return END;
    return PARK;
  }

  /** @internal */
  _untake(g: AnyGreenlet | typeof END): void {
    if (g !== END) this.results[--this.head] = g;
  }

  private poke(): void {
    for (let w = this._readers.peek(); w !== null; w = this._readers.peek()) {
      const r = this._take();
      if (r === PARK) return;
      this._readers.shift();
      if (!wake(w.g!, r)) this._untake(r);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<R> {
    return {
      next: () => Promise.resolve(this.next()) as Promise<IteratorResult<R>>,
      return: async () => ({ done: true, value: undefined }),
    };
  }
}

function living(gs: Iterable<AnyGreenlet>): AnyGreenlet[] {
  const out: AnyGreenlet[] = [];
  for (const g of gs) if (!g.dead) out.push(g);
  return out;
}

/** A `{ timeout }` that is not a number gets a clear error before anything waits. */
function remaining(deadline: number): number | null {
  return deadline === Infinity ? null : Math.max(0, (deadline - Date.now()) / 1000);
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
  private readonly members = new Set<AnyGreenlet>();
  /** @internal imap feeders running for this group (killed with it). */
  readonly _feeders = new Set<AnyGreenlet>();
  /** @internal Told of each member that leaves (Pool releases its slot). */
  _onLeave: ((g: AnyGreenlet) => void) | null = null;
  private readonly leave = (g: AnyGreenlet): void => this.discard(g);

  constructor(greenlets: Iterable<AnyGreenlet> = []) {
    checkIterable(greenlets, 'new Group(greenlets)');
    for (const g of greenlets) this.add(g);
  }

  /** @internal */
  get _group(): Group {
    return this;
  }

  /**
   * Adds a greenlet; it leaves the group when it dies.
   *
   * @example
   * group.add(spawn(worker));
   */
  add(g: AnyGreenlet): void {
    if (!(g instanceof Greenlet)) {
      throw new TypeError(`Group.add() takes a Greenlet, got ${describeValue(g)}; spawn one with spawn(fn)`);
    }
    if (this.members.has(g)) return;
    this.members.add(g);
    g.rawlink(this.leave);
  }

  /** @internal So that after join() or kill() the group is empty at once, not a hub turn later. */
  _pruneDead(): void {
    for (const g of this.members) if (g.dead) this.discard(g);
  }

  /** Removes a greenlet (it keeps running). */
  discard(g: AnyGreenlet): void {
    if (!this.members.delete(g)) return;
    if (!g.dead) g.unlink(this.leave);
    if (this._onLeave !== null) this._onLeave(g);
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
  _start(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet {
    const g = new Greenlet(fn, ...args);
    this.add(g);
    g.start();
    return g;
  }

  /** @internal */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet | null {
    return this._start(fn, args);
  }

  /** @internal A Group never waits for a slot. */
  _waitSlot(): Op<unknown> {
    return doneOp(undefined);
  }

  /** How many members (gevent's `len(group)`). */
  get size(): number {
    return this.members.size;
  }

  /** How many members. */
  len(): number {
    return this.members.size;
  }

  /** True if `g` is a member. */
  has(g: AnyGreenlet): boolean {
    return this.members.has(g);
  }

  /** True if `g` is a member (gevent's `g in group`). */
  contains(g: AnyGreenlet): boolean {
    return this.members.has(g);
  }

  /** A Group is never full. */
  full(): boolean {
    return false;
  }

  /** The members, as a snapshot array. */
  get greenlets(): AnyGreenlet[] {
    return [...this.members];
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
  join(opts: { timeout?: number | null; raiseError?: boolean } = {}): Op<boolean> {
    const timeout = opts.timeout ?? null;
    const deadline = timeout === null ? Infinity : Date.now() + checkedSeconds(timeout, 'Group.join({ timeout })') * 1000;
    const members = this.members;
    const self = this;
    return opFrom(function* () {
      // The dead leave on a later hub turn (their links run then): wait only for the living.
      for (let gs = living(members); gs.length > 0; gs = living(members)) {
        const left = remaining(deadline);
        if (left === 0) return false;
        yield* joinall(gs, { timeout: left, raiseError: opts.raiseError ?? false });
      }
      self._pruneDead();
      return true;
    }, 'Group.join()');
  }

  /**
   * Kills every member (and any imap still starting greenlets); with `block` (the default)
   * waits up to `timeout` seconds for them to die.
   *
   * @example
   * yield* group.kill();
   */
  kill(opts: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } = {}): Op<void> {
    const timeout = opts.timeout ?? null;
    if (timeout !== null) checkedSeconds(timeout, 'Group.kill({ timeout })');
    const all = (): AnyGreenlet[] => living(this._feeders).concat(living(this.members));
    for (const g of all()) g.kill({ exception: opts.exception, block: false });
    if (opts.block === false) return doneOp(undefined);
    const deadline = timeout === null ? Infinity : Date.now() + timeout * 1000;
    const me = getcurrent();
    const self = this;
    return opFrom(function* () {
      // Members spawned while we wait get killed too, as gevent's Group.kill does.
      for (let gs = all().filter((g) => g !== me); gs.length > 0; gs = all().filter((g) => g !== me)) {
        const left = remaining(deadline);
        if (left === 0) return;
        for (const g of gs) g.kill({ exception: opts.exception, block: false });
        yield* joinall(gs, { timeout: left });
      }
      self._pruneDead();
    }, 'Group.kill()');
  }

  /**
   * Kills one member (nothing if it is not one).
   *
   * @example
   * yield* group.killone(g);
   */
  killone(
    g: AnyGreenlet,
    opts: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } = {},
  ): Op<void> {
    if (!this.members.has(g)) return doneOp(undefined);
    return g.kill(opts);
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

  /** Like `map`, streaming the values in item order as they become available. */
  imap<T, R>(fn: (x: T) => R, items: Iterable<T>): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, true, 'Group.imap()');
  }

  /** Like `imap`, giving each value as soon as its greenlet finishes. */
  imapUnordered<T, R>(fn: (x: T) => R, items: Iterable<T>): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, false, 'Group.imapUnordered()');
  }

  /**
   * Runs `fn(...args)` in a member greenlet and gives its value (or throws its exception).
   *
   * @example
   * const n = yield* group.apply(function* (a: number, b: number) { return a + b; }, [1, 2]);
   */
  apply<A extends unknown[], R>(fn: Fn<A, R>, args: A = [] as unknown as A): Op<ResultOf<R>> {
    checkFunction(fn, 'Group.apply()');
    const g = this.spawn(fn, ...args);
    return g.get();
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
}

function linkCallback<R>(g: Greenlet<R>, callback: (value: R) => void): void {
  checkFunction(callback, 'callback');
  g.linkValue((dead) => callback(dead.value as R));
}

function checkedSeconds(s: unknown, what: string): number {
  if (typeof s !== 'number') throw new TypeError(`${what} must be a number of seconds, got ${describeValue(s)}; pass e.g. 0.5`);
  if (Number.isNaN(s) || s < 0) throw new RangeError(`${what} must be >= 0 seconds, got ${s}; pass 0 or more`);
  return s;
}

function newIMap<T, R>(sp: Spawner, fn: (x: T) => R, items: Iterable<T>, ordered: boolean, what: string): IMap<ResultOf<R>> {
  checkFunction(fn, what);
  checkIterable(items, what);
  return new IMap<ResultOf<R>>(sp, fn as Fn<[any], unknown>, items, ordered);
}

/**
 * A Group that runs at most `size` greenlets at once: `spawn` waits while it is full, so it
 * is an Op (`const g = yield* pool.spawn(fn)`). Built from a Group and a Semaphore.
 *
 * @example
 * const pool = new Pool(10);
 * const pages = yield* pool.map(fetchPage, urls); // at most 10 fetches at a time
 */
export class Pool implements Iterable<AnyGreenlet>, Spawner {
  /** The most members running at once. */
  readonly size: number;
  /** @internal */
  readonly _group = new Group();
  /** @internal Free slots. */
  readonly _sem: Semaphore;
  constructor(size: number) {
    if (typeof size !== 'number') {
      throw new TypeError(`new Pool(size) needs a number of greenlets, got ${describeValue(size)}; pass e.g. new Pool(10)`);
    }
    if (!(size >= 1) || (!Number.isInteger(size) && size !== Infinity)) {
      throw new RangeError(
        `new Pool(size) must be a whole number >= 1, got ${size}; pass 1 or more (use a Group for no limit)`,
      );
    }
    this.size = size;
    this._sem = new Semaphore(size);
    // A member that dies (or is discarded) frees its slot: to the longest waiting spawner.
    this._group._onLeave = () => void this._sem.release();
  }

  /** @internal Starts `fn(...args)` if a slot is free, else null (never ahead of a waiter). */
  _trySpawn(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet | null {
    return this._sem._take() ? this._group._start(fn, args) : null;
  }

  /** @internal Waits for a slot, FIFO; an interrupted wait takes none. */
  _waitSlot(): Op<unknown> {
    return this._sem.acquire();
  }

  /** @internal */
  _start(fn: Fn<any[], unknown>, args: unknown[]): AnyGreenlet {
    return this._group._start(fn, args);
  }

  /**
   * Spawns `fn(...args)` as a member once a slot is free; gives the greenlet.
   *
   * @example
   * const g = yield* pool.spawn(function* () { yield* sleep(1); });
   */
  spawn<A extends unknown[], R>(fn: Fn<A, R>, ...args: A): Op<Greenlet<ResultOf<R>>> {
    checkFunction(fn, 'Pool.spawn()');
    return opFrom(() => this.spawnWhenFree(fn as Fn<any[], unknown>, args), 'Pool.spawn()') as Op<
      Greenlet<ResultOf<R>>
    >;
  }

  private *spawnWhenFree(fn: Fn<any[], unknown>, args: unknown[]): Generator<unknown, AnyGreenlet, unknown> {
    const g = this._trySpawn(fn, args);
    if (g !== null) return g;
    yield* this._sem.acquire();
    return this._start(fn, args);
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
    const group = this._group;
    const sem = this._sem;
    return opFrom(function* () {
      if (group.has(g)) return;
      if (!sem._take()) yield* sem.acquire();
      group.add(g);
    }, 'Pool.add()');
  }

  /** Removes a member (it keeps running) and frees its slot. */
  discard(g: AnyGreenlet): void {
    this._group.discard(g);
  }

  /** True when `spawn` would wait. */
  full(): boolean {
    return this.freeCount() === 0;
  }

  /** How many more greenlets could start now without waiting. */
  freeCount(): number {
    return this.size - this._group.size;
  }

  /**
   * Waits until at least one slot is free (or `timeout` seconds pass); gives `freeCount()`.
   *
   * @example
   * yield* pool.waitAvailable({ timeout: 1 });
   */
  waitAvailable(opts: { timeout?: number | null } = {}): Op<number> {
    const wait = this._sem.waitAvailable(opts);
    return opFrom(
      function* (this: Pool) {
        if (this.freeCount() > 0) return this.freeCount();
        yield* wait;
        return this.freeCount();
      }.bind(this),
      'Pool.waitAvailable()',
    );
  }

  /** How many members are running. */
  len(): number {
    return this._group.size;
  }

  /** True if `g` is a member. */
  has(g: AnyGreenlet): boolean {
    return this._group.has(g);
  }

  /** True if `g` is a member. */
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

  /** Waits for every member to die (see `Group.join`). */
  join(opts: { timeout?: number | null; raiseError?: boolean } = {}): Op<boolean> {
    return this._group.join(opts);
  }

  /** Kills every member (see `Group.kill`). */
  kill(opts: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } = {}): Op<void> {
    return this._group.kill(opts);
  }

  /** Kills one member. */
  killone(
    g: AnyGreenlet,
    opts: { exception?: ErrorClass | Error; block?: boolean; timeout?: number | null } = {},
  ): Op<void> {
    return this._group.killone(g, opts);
  }

  /** `Group.map`, never more than `size` at once. */
  map<T, R>(fn: (x: T) => R, items: Iterable<T>): Op<ResultOf<R>[]> {
    return mapOp(this, fn, items, 'Pool.map()');
  }

  /** `Group.imap`, never more than `size` at once. */
  imap<T, R>(fn: (x: T) => R, items: Iterable<T>): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, true, 'Pool.imap()');
  }

  /** `Group.imapUnordered`, never more than `size` at once. */
  imapUnordered<T, R>(fn: (x: T) => R, items: Iterable<T>): IMap<ResultOf<R>> {
    return newIMap(this, fn, items, false, 'Pool.imapUnordered()');
  }

  /** Runs `fn(...args)` in a member (once a slot is free) and gives its value. */
  apply<A extends unknown[], R>(fn: Fn<A, R>, args: A = [] as unknown as A): Op<ResultOf<R>> {
    const spawn = this.spawn(fn, ...args);
    return opFrom(function* () {
      const g = yield* spawn;
      return yield* g.get();
    }, 'Pool.apply()');
  }

  /** Spawns `fn(...args)` once a slot is free; gives the greenlet. */
  applyAsync<A extends unknown[], R>(
    fn: Fn<A, R>,
    args: A = [] as unknown as A,
    callback?: (value: ResultOf<R>) => void,
  ): Op<Greenlet<ResultOf<R>>> {
    const spawn = this.spawn(fn, ...args);
    return opFrom(function* () {
      const g = yield* spawn;
      if (callback !== undefined) linkCallback(g, callback);
      return g;
    }, 'Pool.applyAsync()');
  }

  /** Runs `map` in a new greenlet (not a member) and gives it. */
  mapAsync<T, R>(fn: (x: T) => R, items: Iterable<T>, callback?: (values: ResultOf<R>[]) => void): Greenlet<ResultOf<R>[]> {
    checkFunction(fn, 'mapAsync()');
    checkIterable(items, 'mapAsync()');
    // The map Op is made inside the new greenlet: made here, it would count as never started.
    const g = Greenlet.spawn(() => this.map(fn, items)) as unknown as Greenlet<ResultOf<R>[]>;
    if (callback !== undefined) linkCallback(g, callback);
    return g;
  }
}

