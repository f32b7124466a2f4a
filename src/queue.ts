/**
 * Queues (gevent.queue): `Queue`, `PriorityQueue`, `LifoQueue`, `JoinableQueue`, `Channel`,
 * `SimpleQueue`, and the `Empty` / `Full` errors.
 *
 * Fairness and nothing lost, as in gevent: a `put` hands its item straight to the longest
 * waiting getter (the item never enters the buffer, so a newcomer cannot take it first), and a
 * `get` that frees a slot of a full queue lets the longest waiting putter in. A getter woken
 * with an item but interrupted (kill, Timeout) before it ran gives the item back (`undo`) to
 * the next getter or the front of the queue; a wait cancelled while parked took nothing.
 */
import { checkBoolean, checkSeconds, describeValue, ownOption, ownOptions } from './arg-checks.js';
import type { Greenlet } from './greenlet.js';
import { F_PENDING, getcurrent, wake } from './hub.js';
import { keepOpClass, Op, PARK, RecycledOp, timeLimitMs, untrack, Wait } from './op.js';
import { ParkingLot } from './parking-lot.js';
import { inspect } from 'node:util';
import { GeventjsError } from './errors.js';

/**
 * Thrown by `get` when the queue stays empty (`block: false`, `getNowait`, or the timeout).
 *
 * @example
 * try { q.getNowait(); } catch (e) { if (!(e instanceof Empty)) throw e; }
 */
export class Empty extends GeventjsError<'GEVENTJS_EMPTY'> {
  constructor(message = 'the queue is empty') {
    super(message, 'Empty', 'GEVENTJS_EMPTY');
  }
}

/**
 * Thrown by `put` when a bounded queue stays full (`block: false`, `putNowait`, or the timeout).
 *
 * @example
 * try { q.putNowait(x); } catch (e) { if (!(e instanceof Full)) throw e; }
 */
export class Full extends GeventjsError<'GEVENTJS_FULL'> {
  constructor(message = 'the queue is full') {
    super(message, 'Full', 'GEVENTJS_FULL');
  }
}

/**
 * The end-of-stream item: put it to make `next()` (and `for await`) stop, as gevent's queue
 * iteration stops on `StopIteration`. Declare it in the item type to put it.
 *
 * @example
 * const q = new Queue<number | typeof StopIteration>();
 * q.putNowait(1); q.putNowait(StopIteration);
 */
export const StopIteration: unique symbol = Symbol('geventjs.StopIteration') as never;

/**
 * Options of `get`, `put` and `peek`: `block: false` never waits; `timeout` in seconds.
 *
 * @example
 * yield* q.get({ timeout: 1 });
 */
export interface QueueOptions {
  block?: boolean;
  timeout?: number | null;
}

/**
 * Options of a queue's constructor: the first items.
 *
 * @example
 * new Queue<number>(10, { items: [1, 2, 3] });
 */
export interface QueueInit<T> {
  items?: Iterable<T>;
}

/**
 * Items without the end-of-stream marker (what `next()` gives).
 *
 * @example
 * type N = Item<number | typeof StopIteration>; // number
 */
export type Item<T> = Exclude<T, typeof StopIteration>;

function checkMaxsize(maxsize: unknown, what: string): number {
  if (maxsize === undefined || maxsize === null || maxsize === Infinity) return Infinity;
  if (typeof maxsize !== 'number') {
    throw new TypeError(`${what} must be a number of items or null, got ${describeValue(maxsize)}; pass e.g. 10, or nothing for no limit`);
  }
  if (!Number.isInteger(maxsize) || maxsize < 0) {
    throw new RangeError(`${what} must be a whole number >= 0, got ${maxsize}; pass e.g. 10, or nothing (or 0) for no limit`);
  }
  // gevent: Queue(0) means no limit; a rendezvous is a Channel.
  return maxsize === 0 ? Infinity : maxsize;
}

/**
 * Options of the hot calls (get, put, peek) are read in place, own properties only: no copy,
 * so a `get({ timeout })` allocates nothing beyond its Wait. `null` means no options.
 */
function checkOptions(opts: unknown, what: string): void {
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(`${what} takes an options object, got ${describeValue(opts)}; pass e.g. { timeout: 1 } or { block: false }`);
  }
}

/**
 * Checks the options of `q[method]` and gives `block`. The messages are built only when
 * something is wrong: a valid call allocates nothing here.
 */
function blockOption(q: Queue<unknown>, method: string, opts: QueueOptions): boolean {
  if (typeof opts !== 'object' || Array.isArray(opts)) checkOptions(opts, `${q.constructor.name}.${method}(options)`);
  const block = ownOption(opts, 'block');
  if (block === undefined) return true;
  if (block === true || block === false) return block;
  return checkBoolean(block, `${q.constructor.name}.${method}({ block })`, true);
}

/**
 * The time limit of `q[method](opts)` in ms for its Wait: 0 for `block: false`, -1 for none,
 * checked (a message is built only when something is wrong).
 */
function limitOption(q: Queue<unknown>, method: string, opts: QueueOptions | null | undefined): number {
  if (opts === undefined || opts === null) return -1;
  const block = blockOption(q, method, opts);
  const timeout = ownOption(opts, 'timeout');
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout >= 0)) {
    checkSeconds(timeout, `${q.constructor.name}.${method}({ timeout })`);
  }
  if (!block) return 0;
  return timeLimitMs(timeout as number | null | undefined, `${method}({ timeout })`);
}

/** The items of a constructor's `{ items }`, checked before anything is stored. */
function initialItems<T>(init: unknown, what: string): Iterable<T> | undefined {
  const items = ownOptions(init as QueueInit<T> | undefined, `${what} options`).items;
  if (items === undefined) return undefined;
  if (items === null || typeof (items as Iterable<T>)[Symbol.iterator] !== 'function' || typeof items === 'string') {
    throw new TypeError(`${what} { items } must be an iterable of items, got ${describeValue(items)}; pass e.g. { items: [1, 2, 3] }`);
  }
  return items;
}

/** Parks until an item comes; the item is handed over in the wake-up. */
class GetWait<T> extends Wait<T> {
  /** Getters and peekers share one FIFO lot; this one takes the item. (A getter, not a field: no bytes per wait.) */
  get peeks(): boolean {
    return false;
  }

  // Set in the constructor, not a parameter property: that compiles to a field definition and
  // then an assignment (see Wait in op.ts).
  private declare readonly q: Queue<T>;

  // Made by Queue._borrowGet only, and lent to one run after another (RecycledOp).
  constructor(q: Queue<T>) {
    super();
    this.q = q;
    untrack(this); // never handed to the caller: the QueueGet Op is what is tracked
  }

  override _runOver(): void {
    this.q._spareGet = this;
  }


  override poll(): T | typeof PARK {
    const q = this.q;
    if (q._size() > 0 || q._putters.size > 0) return q._take();
    if (this._timeoutMs === 0) throw new Empty();
    return PARK;
  }

  park(): void {
    this.q._getters.push(this);
  }

  override cancel(): void {
    this.q._getters.remove(this);
  }

  override timedOut(): T {
    throw new Empty(`${this.q.constructor.name}.get() timed out: no item came`);
  }

  // The item reached us but we were interrupted before running: the next getter gets it.
  override undo(_g: unknown, item: unknown): void {
    this.q._giveBack(item as T);
  }

  override describe(): string {
    return `${this.q.constructor.name}.get()`;
  }
}

/** Parks until the queue has room (or, for a Channel, a getter takes the item). */
class PutWait<T> extends Wait<void> {
  /** A Channel put handed its item to a parked getter: it parks only to let the getter run first. */
  private declare handed: boolean;
  // Set in the constructor, not parameter properties (see Wait in op.ts).
  private declare readonly q: Queue<T>;
  declare readonly item: T;


  // Made by Queue._borrowPut only, and lent to one run after another (RecycledOp).
  constructor(q: Queue<T>, item: T) {
    super();
    this.handed = false;
    this.q = q;
    this.item = item;
    untrack(this); // never handed to the caller: the QueuePut Op is what is tracked
  }

  override _runOver(): void {
    (this as { item: T | undefined }).item = undefined; // not kept alive by a spare
    this.q._sparePut = this;
  }

  /** @internal This run's item (the Wait is lent to one put after another). */
  _forItem(item: T): this {
    this.handed = false;
    (this as { item: T }).item = item;
    return this;
  }


  override poll(): void | typeof PARK {
    const q = this.q;
    if (q._offer(this.item)) {
      // gevent's Channel switches to the getter before the putter goes on.
      if (q._cap !== 0) return;
      // (soak) An interruption already due for this greenlet would be thrown at the park
      // below, after the item went: the put is done, so finish now and let it land later.
      if ((getcurrent()!._flags & F_PENDING) !== 0) return;
      this.handed = true;
      return PARK;
    }
    if (this._timeoutMs === 0) throw new Full();
    return PARK;
  }

  park(g: Greenlet): void {
    if (this.handed) {
      // Already delivered: back of the ready queue, behind the getter just woken.
      this.handed = false;
      wake(g, undefined);
      return;
    }
    this.q._putters.push(this);
  }

  override cancel(): void {
    this.q._putters.remove(this);
  }

  override timedOut(): void {
    throw new Full(`${this.q.constructor.name}.put() timed out: no room came`);
  }

  // Woken, the item is in the queue (or with a getter): a kill before this greenlet runs
  // cannot take it back, so the put returns and the kill lands at the next suspension.
  override get keepsWake(): boolean {
    return true;
  }

  override describe(): string {
    return `${this.q.constructor.name}.put()`;
  }
}

/** Parks until an item is there; takes nothing. */
class PeekWait<T> extends Wait<T> {
  /** In the getters' lot: sees an item only if no getter came before it (gevent's order). */
  get peeks(): boolean {
    return true;
  }

  private declare readonly q: Queue<T>;

  // Made by Queue._borrowPeek only, and lent to one run after another (RecycledOp).
  constructor(q: Queue<T>) {
    super();
    this.q = q;
    untrack(this); // never handed to the caller: the QueuePeek Op is what is tracked
  }

  override _runOver(): void {
    this.q._sparePeek = this;
  }


  override poll(): T | typeof PARK {
    const q = this.q;
    if (q._size() > 0) return q._front();
    if (q._putters.size > 0) return q._putters.peek()!.item;
    if (this._timeoutMs === 0) throw new Empty();
    return PARK;
  }

  park(): void {
    this.q._getters.push(this);
  }

  override cancel(): void {
    this.q._getters.remove(this);
  }

  override timedOut(): T {
    throw new Empty(`${this.q.constructor.name}.peek() timed out: no item came`);
  }

  override describe(): string {
    return `${this.q.constructor.name}.peek()`;
  }
}

/** What `q.get()` returns: each run borrows the queue's GetWait (see RecycledOp in op.ts). */
class QueueGet<T> extends RecycledOp<T, GetWait<T>> {
  private declare readonly q: Queue<T>;

  constructor(q: Queue<T>, limitMs: number) {
    super(limitMs);
    this.q = q;
  }

  protected borrow(): GetWait<T> {
    return this.q._borrowGet();
  }

  override describe(): string {
    return `${this.q.constructor.name}.get()`;
  }
}

/** What `q.put(item)` returns: each run borrows the queue's PutWait. */
class QueuePut<T> extends RecycledOp<void, PutWait<T>> {
  private declare readonly q: Queue<T>;
  private declare readonly item: T;

  constructor(q: Queue<T>, item: T, limitMs: number) {
    super(limitMs);
    this.q = q;
    this.item = item;
  }

  protected borrow(): PutWait<T> {
    return this.q._borrowPut(this.item);
  }

  override describe(): string {
    return `${this.q.constructor.name}.put()`;
  }
}

/** What `q.peek()` returns: each run borrows the queue's PeekWait. */
class QueuePeek<T> extends RecycledOp<T, PeekWait<T>> {
  private declare readonly q: Queue<T>;

  constructor(q: Queue<T>, limitMs: number) {
    super(limitMs);
    this.q = q;
  }

  protected borrow(): PeekWait<T> {
    return this.q._borrowPeek();
  }

  override describe(): string {
    return `${this.q.constructor.name}.peek()`;
  }
}

/** `next()` of a queue: get, and `{ done: true }` on the StopIteration item. */
class NextOp<T> extends Op<IteratorResult<Item<T>, undefined>> {
  constructor(private readonly q: Queue<T>) {
    super();
  }

  *[Symbol.iterator](): Generator<unknown, IteratorResult<Item<T>, undefined>, unknown> {
    untrack(this);
    const item = yield* this.q.get();
    return item === StopIteration ? { value: undefined, done: true } : { value: item as Item<T>, done: false };
  }

  override describe(): string {
    return `${this.q.constructor.name}.next()`;
  }
}

/**
 * A FIFO queue of up to `maxsize` items (nothing, null or 0: no limit). `get` waits while it
 * is empty, `put` while it is full; both are Ops. Waiters are served first come, first served.
 *
 * @example
 * const q = new Queue<string>(3);
 * yield* q.put('job');
 * const job: string = yield* q.get({ timeout: 1 }); // throws Empty after 1 s
 */
export class Queue<T> implements AsyncIterable<Item<T>> {
  /** The item limit; null for none. */
  readonly maxsize: number | null;
  /** @internal The limit as a number (Infinity: none; 0 only for Channel). */
  _cap: number;
  /** @internal Greenlets parked in get() and peek(), in one FIFO (as gevent's getters). */
  readonly _getters = new ParkingLot<GetWait<T> | PeekWait<T>>();
  /** @internal Greenlets parked in put(), FIFO, each holding its item. */
  readonly _putters = new ParkingLot<PutWait<T>>();
  // A ring buffer (power-of-two capacity): O(1) at both ends, no shifting.
  private _buf: (T | undefined)[] = new Array(8);
  private _head = 0;
  private _len = 0;
  /** @internal A Wait whose run is over, per kind, for the next get, put, peek (RecycledOp). */
  _spareGet: GetWait<T> | null = null;
  _sparePut: PutWait<T> | null = null;
  _sparePeek: PeekWait<T> | null = null;

  constructor(maxsize?: number | null, init?: QueueInit<T>) {
    this._cap = checkMaxsize(maxsize, `new ${new.target.name}(maxsize)`);
    this.maxsize = this._cap === Infinity ? null : this._cap;
    const items = initialItems<T>(init, `new ${new.target.name}(maxsize, options)`);
    if (items !== undefined) for (const x of items) this._store(x);
  }

  /**
   * How many items are in the queue (not counting items held by waiting putters).
   *
   * @example
   * q.qsize(); // 0
   */
  qsize(): number {
    return this._size();
  }

  /**
   * Whether the queue holds no item.
   *
   * @example
   * if (q.empty()) console.log('nothing to do');
   */
  empty(): boolean {
    return this._size() === 0;
  }

  /**
   * Whether a `put` would wait now.
   *
   * @example
   * new Queue(1).full(); // false
   */
  full(): boolean {
    return this._size() >= this._cap;
  }

  /**
   * Puts `item` in, waiting while the queue is full; `block: false` or the timeout throws Full.
   *
   * @example
   * yield* q.put(item, { timeout: 0.5 });
   */
  put(item: T, opts?: QueueOptions | null): Op<void> {
    return new QueuePut(this, item, limitOption(this as Queue<unknown>, 'put', opts));
  }

  /**
   * Puts `item` in at once, or throws Full.
   *
   * @example
   * q.putNowait('x');
   */
  putNowait(item: T): void {
    if (!this._offer(item)) throw new Full();
  }

  /**
   * Takes the next item, waiting while the queue is empty; `block: false` or the timeout
   * throws Empty. Never switches when an item is there.
   *
   * @example
   * const x = yield* q.get();
   */
  get(opts?: QueueOptions | null): Op<T> {
    return new QueueGet(this, limitOption(this as Queue<unknown>, 'get', opts));
  }

  /**
   * Takes the next item at once, or throws Empty.
   *
   * @example
   * const x = q.getNowait();
   */
  getNowait(): T {
    if (this._size() === 0 && this._putters.size === 0) throw new Empty();
    return this._take();
  }

  /**
   * The next item without taking it, waiting while the queue is empty.
   *
   * @example
   * const next = yield* q.peek({ timeout: 1 });
   */
  peek(opts?: QueueOptions | null): Op<T> {
    return new QueuePeek(this, limitOption(this as Queue<unknown>, 'peek', opts));
  }

  /**
   * The next item without taking it, or throws Empty.
   *
   * @example
   * q.peekNowait();
   */
  peekNowait(): T {
    if (this._size() > 0) return this._front();
    if (this._putters.size > 0) return this._putters.peek()!.item;
    throw new Empty();
  }

  /**
   * The next item as an iterator result; `done` once the StopIteration item is got.
   *
   * @example
   * for (let r = yield* q.next(); !r.done; r = yield* q.next()) console.log(r.value);
   */
  next(): Op<IteratorResult<Item<T>, undefined>> {
    return new NextOp(this);
  }

  /**
   * Outside greenlets: `for await (const x of q)` until the StopIteration item.
   *
   * @example
   * for await (const x of q) console.log(x);
   */
  [Symbol.asyncIterator](): AsyncIterator<Item<T>, undefined> {
    return { next: () => Promise.resolve(this.next()) };
  }

  /** @internal The GetWait for a new run of a get (the spare, if its last run is over). */
  _borrowGet(): GetWait<T> {
    const w = this._spareGet ?? new GetWait(this);
    this._spareGet = null;
    return w;
  }

  /** @internal The PutWait for a new run of a put of `item`. */
  _borrowPut(item: T): PutWait<T> {
    const w = this._sparePut ?? new PutWait(this, item);
    this._sparePut = null;
    return w._forItem(item);
  }

  /** @internal The PeekWait for a new run of a peek. */
  _borrowPeek(): PeekWait<T> {
    const w = this._sparePeek ?? new PeekWait(this);
    this._sparePeek = null;
    return w;
  }

  /**
   * @internal Accepts `item` if it can go in now: to the longest waiting getter, else into the
   * buffer if there is room. Peekers see it either way.
   */
  _offer(item: T): boolean {
    if (this._getters.size > 0 && this.handToWaiters(item)) {
      this._accepted();
      return true;
    }
    if (this._size() >= this._cap) return false;
    this._accepted();
    this._store(item);
    return true;
  }

  /** @internal Takes an item (there is one in the buffer or with a putter). */
  _take(): T {
    if (this._size() === 0) {
      // A Channel (or a queue emptied while full of putters): straight from the putter.
      const p = this._putters.shift()!;
      this._accepted();
      wake(p.g!, undefined);
      return p.item;
    }
    const item = this._remove();
    if (this._putters.size > 0) this.admitPutter();
    return item;
  }

  /** @internal An item a getter never received: to the next getter, else the front. */
  _giveBack(item: T): void {
    if (!this.handToWaiters(item)) this._restore(item);
  }

  /** One slot came free: the longest waiting putter's item goes in. */
  private admitPutter(): void {
    if (this._size() >= this._cap) return;
    const p = this._putters.shift()!;
    this._accepted();
    this._store(p.item);
    wake(p.g!, undefined);
  }

  /**
   * Shows `item` to the parked getters and peekers in the order they came, as gevent's
   * unlock loop does: peekers ahead of the first getter see it, that getter takes it, and
   * peekers behind it keep waiting for an item of their own. Returns whether a getter took it.
   */
  private handToWaiters(item: T): boolean {
    const lot = this._getters;
    for (let w = lot.shift(); w !== null; w = lot.shift()) {
      if (wake(w.g!, item) && !w.peeks) return true;
    }
    return false;
  }

  /** @internal Hook: an item was accepted by put (JoinableQueue counts it). */
  _accepted(): void {}

  // Storage: FIFO in a ring buffer; PriorityQueue and LifoQueue override these five.

  /** @internal Items in the buffer. */
  _size(): number {
    return this._len;
  }

  /** @internal Adds an item at the back. */
  _store(item: T): void {
    if (this._len === this._buf.length) this.grow();
    this._buf[(this._head + this._len) & (this._buf.length - 1)] = item;
    this._len++;
  }

  /** @internal Removes the next item. */
  _remove(): T {
    const buf = this._buf;
    const item = buf[this._head] as T;
    buf[this._head] = undefined; // let it go
    this._head = (this._head + 1) & (buf.length - 1);
    this._len--;
    return item;
  }

  /** @internal The next item, left in place. */
  _front(): T {
    return this._buf[this._head] as T;
  }

  /** @internal Puts an item back so that it is the next one out. */
  _restore(item: T): void {
    if (this._len === this._buf.length) this.grow();
    this._head = (this._head - 1) & (this._buf.length - 1);
    this._buf[this._head] = item;
    this._len++;
  }

  private grow(): void {
    const old = this._buf;
    const buf = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this._len; i++) buf[i] = old[(this._head + i) & (old.length - 1)];
    this._buf = buf;
    this._head = 0;
  }

  /** `util.inspect` / `console.log`: the limit, the items held and who waits, not internals. */
  [inspect.custom](): string {
    const max = this.maxsize === null ? 'none' : String(this.maxsize);
    const getters = this._getters.size;
    const putters = this._putters.size;
    return `<${this.constructor.name} maxsize=${max} size=${this._size()}` +
      `${getters === 0 ? '' : `, ${getters} getting`}${putters === 0 ? '' : `, ${putters} putting`}>`;
  }
}

/**
 * An unbounded FIFO queue without task tracking (gevent's SimpleQueue).
 *
 * @example
 * const q = new SimpleQueue<number>();
 * q.putNowait(1);
 */
export class SimpleQueue<T> extends Queue<T> {
  constructor(init?: QueueInit<T>) {
    super(null, init);
  }
}

/**
 * A queue with no buffer: `put` waits until a getter takes the item, `get` until a putter
 * offers one (a rendezvous, gevent's Channel).
 *
 * @example
 * const ch = new Channel<string>();
 * spawn(function* () { yield* ch.put('hi'); console.log('taken'); });
 * yield* ch.get(); // 'hi'
 */
export class Channel<T> extends Queue<T> {
  constructor() {
    super(null);
    this._cap = 0;
    (this as { maxsize: number | null }).maxsize = 0;
  }
}

/**
 * How PriorityQueue orders items by default, like Python: numbers, bigints and strings by
 * value, arrays element by element (tuples: `[priority, item]`). Mixed types throw TypeError.
 *
 * @example
 * pythonOrder([1, 'b'], [1, 'a']); // > 0
 */
export function pythonOrder(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = pythonOrder(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  const ta = typeof a;
  if (ta === typeof b && (ta === 'number' || ta === 'string' || ta === 'bigint' || ta === 'boolean')) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
  throw new TypeError(
    `PriorityQueue cannot order ${describeValue(a)} and ${describeValue(b)}; put numbers, strings or ` +
      `[priority, item] arrays, or pass new PriorityQueue(maxsize, { compare: (a, b) => ... })`,
  );
}

/**
 * Options of PriorityQueue: `compare(a, b)` < 0 when `a` comes out first.
 *
 * @example
 * new PriorityQueue<Job>(null, { compare: (a, b) => a.due - b.due });
 */
export interface PriorityQueueInit<T> extends QueueInit<T> {
  compare?: (a: T, b: T) => number;
}

/**
 * A queue that gives the smallest item first (a binary heap), by `compare` or Python's order.
 *
 * @example
 * const q = new PriorityQueue<[number, string]>();
 * q.putNowait([2, 'later']); q.putNowait([1, 'first']);
 * q.getNowait(); // [1, 'first']
 */
export class PriorityQueue<T> extends Queue<T> {
  private heap!: T[];
  private readonly compare: (a: T, b: T) => number;

  constructor(maxsize?: number | null, init?: PriorityQueueInit<T>) {
    const o = ownOptions(init, 'new PriorityQueue(maxsize, options)');
    const compare = o.compare ?? pythonOrder;
    if (typeof compare !== 'function') {
      throw new TypeError(`new PriorityQueue(maxsize, { compare }) must be a function, got ${describeValue(compare)}`);
    }
    const items = initialItems<T>(o, 'new PriorityQueue(maxsize, options)');
    super(maxsize);
    this.heap = [];
    this.compare = compare;
    if (items !== undefined) for (const x of items) this._store(x);
  }

  override _size(): number {
    return this.heap.length;
  }

  override _store(item: T): void {
    const h = this.heap;
    let i = h.length;
    h.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(h[parent]!, item) <= 0) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
  }

  override _remove(): T {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) this.siftDown(last);
    return top;
  }

  private siftDown(item: T): void {
    const h = this.heap;
    const n = h.length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.compare(h[child + 1]!, h[child]!) < 0) child++;
      if (this.compare(item, h[child]!) <= 0) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = item;
  }

  override _front(): T {
    return this.heap[0]!;
  }

  // In a heap, "back at the front" is just back in: it is still the smallest.
  override _restore(item: T): void {
    this._store(item);
  }
}

/**
 * A queue that gives the newest item first (a stack).
 *
 * @example
 * const q = new LifoQueue<number>();
 * q.putNowait(1); q.putNowait(2);
 * q.getNowait(); // 2
 */
export class LifoQueue<T> extends Queue<T> {
  private stack: T[] = [];

  constructor(maxsize?: number | null, init?: QueueInit<T>) {
    const items = initialItems<T>(init, 'new LifoQueue(maxsize, options)');
    super(maxsize);
    if (items !== undefined) for (const x of items) this._store(x);
  }

  override _size(): number {
    return this.stack.length;
  }

  override _store(item: T): void {
    this.stack.push(item);
  }

  override _remove(): T {
    return this.stack.pop()!;
  }

  override _front(): T {
    return this.stack[this.stack.length - 1]!;
  }

  override _restore(item: T): void {
    this.stack.push(item);
  }
}

/** Parks until every task is done. */
class JoinWait extends Wait<boolean> {
  constructor(
    private readonly q: JoinableQueue<unknown>,
    timeout: number | null | undefined,
  ) {
    super();
    this.expireAfter(timeout, 'JoinableQueue.join({ timeout })');
  }


  override poll(): boolean | typeof PARK {
    if (this.q.unfinishedTasks === 0) return true;
    return this._timeoutMs === 0 ? false : PARK;
  }

  park(): void {
    this.q._joiners.push(this);
  }

  override cancel(): void {
    this.q._joiners.remove(this);
  }

  override timedOut(): boolean {
    return this.q.unfinishedTasks === 0;
  }

  override describe(): string {
    return 'JoinableQueue.join()';
  }
}

/**
 * A Queue that counts unfinished tasks: each `put` adds one, each `taskDone()` removes one,
 * and `join()` waits until none is left.
 *
 * @example
 * const q = new JoinableQueue<string>();
 * spawn(function* () { for (;;) { const job = yield* q.get(); work(job); q.taskDone(); } });
 * q.putNowait('a'); q.putNowait('b');
 * yield* q.join(); // both done
 */
export class JoinableQueue<T> extends Queue<T> {
  /** Items put and not yet marked done with `taskDone()`. */
  unfinishedTasks = 0;
  /** @internal Greenlets parked in join(). */
  readonly _joiners = new ParkingLot<JoinWait>();

  constructor(maxsize?: number | null, init?: QueueInit<T>) {
    super(maxsize, init);
    this.unfinishedTasks = this._size();
  }

  /** @internal */
  override _accepted(): void {
    this.unfinishedTasks++;
  }

  /**
   * Marks one got item as done; when none is left, `join()` waiters wake.
   *
   * @example
   * const job = yield* q.get(); try { work(job); } finally { q.taskDone(); }
   */
  taskDone(): void {
    if (this.unfinishedTasks <= 0) {
      // gevent raises ValueError: RangeError is its counterpart here, as for BoundedSemaphore.
      throw new RangeError('JoinableQueue.taskDone() called more times than items were put; call it once per item you got');
    }
    if (--this.unfinishedTasks === 0) {
      const lot = this._joiners;
      for (let w = lot.shift(); w !== null; w = lot.shift()) wake(w.g!, true);
    }
  }

  /**
   * Waits until every item put has been marked done; gives false if the timeout passed first.
   *
   * @example
   * const allDone = yield* q.join({ timeout: 5 });
   */
  join(opts?: { timeout?: number | null }): Op<boolean> {
    if (opts !== undefined && opts !== null) checkOptions(opts, 'JoinableQueue.join(options)');
    return new JoinWait(this as JoinableQueue<unknown>, ownOption(opts, 'timeout'));
  }
}

// The kinds made per call keep their hidden classes across full GCs (hidden-classes.ts).
{
  const q = new Queue<unknown>();
  keepOpClass(new QueueGet(q, -1));
  keepOpClass(new QueuePut(q, undefined, -1));
  keepOpClass(new QueuePeek(q, -1));
  keepOpClass(new GetWait(q));
  keepOpClass(new PutWait(q, undefined));
  keepOpClass(new PeekWait(q));
}
