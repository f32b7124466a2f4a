/**
 * The floor: the least a generator trampoline must do to run these workloads, with none of
 * geventjs's features (no kill, no Timeout, no error handling, no time budget that lets
 * Node's I/O in while greenlets spin, no forgotten-yield* checks). geventjs's distance to it
 * is what those features cost.
 *
 * A greenlet is a generator. It yields SLEEP0 to go to the back of the ready queue, a Task to
 * join it, an array (a waiter list) to park on it until its owner wakes it, or a number of
 * seconds to sleep on a Node timer.
 */
import { B5_POOL, B6_SLEEP, SIZES, check, nowNs, type Suite } from './spec.js';

type Body = Generator<unknown, unknown, unknown>;

/** Yielded for sleep(0). */
export const SLEEP0 = Symbol('sleep0');

/** A growable ring buffer: O(1) push and shift with no array reshuffling. */
class Ring<T> {
  private buf: (T | undefined)[] = new Array(1024);
  private head = 0;
  size = 0;
  push(x: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size++) & (this.buf.length - 1)] = x;
  }
  shift(): T {
    const x = this.buf[this.head] as T;
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
    return x;
  }
  private grow(): void {
    const n = this.buf.length;
    const next: (T | undefined)[] = new Array(n * 2);
    for (let i = 0; i < n; i++) next[i] = this.buf[(this.head + i) & (n - 1)];
    this.buf = next;
    this.head = 0;
  }
}

export class Task {
  /** What the next step sends in; once done, the return value. */
  value: unknown = undefined;
  done = false;
  joiners: Task[] | null = null; // allocated only when someone joins before the end
  /** Made on the first step, not at spawn: 100k generators made up front would all outlive
   * the young generation, and the GC would pay to promote them. */
  gen: Body | null = null;
  constructor(public fn: ((...args: unknown[]) => Body) | null, public args: unknown[] | null) {}
}

const ready = new Ring<Task>();
let draining = false;

export function schedule(t: Task, value?: unknown): void {
  t.value = value;
  ready.push(t);
  // Wakes from Node callbacks (timers) restart the loop; wakes from greenlets are drained.
  if (!draining) {
    draining = true;
    setImmediate(drain);
  }
}

function drain(): void {
  while (ready.size > 0) step(ready.shift());
  draining = false;
}

function step(t: Task): void {
  for (;;) {
    if (t.gen === null) {
      t.gen = t.fn!(...t.args!);
      t.fn = t.args = null;
    }
    const r = t.gen.next(t.value);
    if (r.done) {
      t.done = true;
      t.gen = null; // a finished generator still holds its frame: let the GC have it
      t.value = r.value;
      if (t.joiners) for (const j of t.joiners) schedule(j, r.value);
      return;
    }
    const y = r.value;
    if (y === SLEEP0) return schedule(t);
    if (y instanceof Task) {
      if (!y.done) return void (y.joiners ??= []).push(t);
      t.value = y.value; // already finished: carry on without a switch
    } else if (Array.isArray(y)) return void y.push(t);
    else if (typeof y === 'number') return void setTimeout(schedule, y * 1000, t);
    else throw new TypeError(`floor: cannot yield ${String(y)}`);
  }
}

export function spawn<A extends unknown[]>(fn: (...args: A) => Body, ...args: A): Task {
  const t = new Task(fn as (...args: unknown[]) => Body, args);
  schedule(t);
  return t;
}

/** Runs a generator function as the main greenlet; resolves with what it returns. */
export function run<R>(fn: () => Generator<unknown, R, unknown>): Promise<R> {
  return new Promise((resolve) => spawn(function* () { resolve(yield* fn()); }));
}

/** Wakes the first greenlet parked on a waiter list, if any. */
function wakeOne(waiters: Task[], value?: unknown): boolean {
  const t = waiters.shift();
  if (t) schedule(t, value);
  return t !== undefined;
}

class Queue<T> {
  private items = new Ring<T>();
  private getters: Task[] = [];
  put(x: T): void {
    if (!wakeOne(this.getters, x)) this.items.push(x); // unbounded: never blocks
  }
  *get(): Generator<unknown, T, unknown> {
    if (this.items.size > 0) return this.items.shift();
    return (yield this.getters) as T;
  }
}

class Event {
  private flag = false;
  private waiters: Task[] = [];
  set(): void {
    this.flag = true;
    for (const t of this.waiters) schedule(t, true);
    this.waiters = [];
  }
  *wait(): Body {
    if (!this.flag) yield this.waiters;
    return true;
  }
}

/** gevent's Pool.map: one greenlet per item, spawning blocks while `size` are running. */
function* poolMap<T, R>(size: number, f: (x: T) => Generator<unknown, R, unknown>, items: T[]): Generator<unknown, R[], unknown> {
  let free = size;
  const slot: Task[] = [];
  const tasks: Task[] = [];
  for (const x of items) {
    if (free === 0) yield slot;
    free--;
    tasks.push(spawn(function* () {
      const r = yield* f(x);
      free++;
      wakeOne(slot);
      return r;
    }));
  }
  const out: R[] = [];
  for (const t of tasks) out.push((yield t) as R);
  return out;
}

function* joinall(tasks: Task[]): Generator<unknown, void, unknown> {
  for (const t of tasks) yield t;
}

function rangeArray(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const workloads: Suite = {
  B1: () => run(function* () {
    function* body(i: number) { return i; }
    const t0 = nowNs();
    const ts: Task[] = [];
    for (let i = 0; i < SIZES.B1; i++) ts.push(spawn(body, i));
    yield* joinall(ts);
    const ns = nowNs() - t0;
    check(ts[SIZES.B1 - 1]!.value === SIZES.B1 - 1, 'B1 last value');
    return { ns };
  }),

  B1i: () => run(function* () {
    const t0 = nowNs();
    const ts: Task[] = [];
    for (let i = 0; i < SIZES.B1; i++) ts.push(spawn(function* () { return i; }));
    yield* joinall(ts);
    const ns = nowNs() - t0;
    check(ts[SIZES.B1 - 1]!.value === SIZES.B1 - 1, 'B1i last value');
    return { ns };
  }),

  B2: () => run(function* () {
    let switches = 0;
    function* loop() {
      for (let i = 0; i < SIZES.B2; i++) { yield SLEEP0; switches++; }
    }
    const t0 = nowNs();
    yield* joinall([spawn(loop), spawn(loop)]);
    const ns = nowNs() - t0;
    check(switches === 2 * SIZES.B2, 'B2 switch count');
    return { ns };
  }),

  B3: () => run(function* () {
    const q1 = new Queue<number>();
    const q2 = new Queue<number>();
    let last = -1;
    const t0 = nowNs();
    const a = spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) { q1.put(i); last = yield* q2.get(); }
    });
    const b = spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) q2.put(yield* q1.get());
    });
    yield* joinall([a, b]);
    const ns = nowNs() - t0;
    check(last === SIZES.B3 - 1, 'B3 last item');
    return { ns };
  }),

  B4: () => run(function* () {
    const ev = new Event();
    let parked = 0;
    const t0 = nowNs();
    const ts: Task[] = [];
    for (let i = 0; i < SIZES.B4; i++) ts.push(spawn(function* () { parked++; return yield* ev.wait(); }));
    while (parked < SIZES.B4) yield SLEEP0;
    ev.set();
    yield* joinall(ts);
    const ns = nowNs() - t0;
    check(ts.every((t) => t.value === true), 'B4 every waiter saw the flag');
    return { ns };
  }),

  B5: () => run(function* () {
    const items = rangeArray(SIZES.B5);
    const t0 = nowNs();
    const res = yield* poolMap(B5_POOL, function* (x: number) { yield SLEEP0; return x * 2; }, items);
    const ns = nowNs() - t0;
    check(res.length === SIZES.B5 && res[SIZES.B5 - 1] === 2 * (SIZES.B5 - 1), 'B5 results');
    return { ns };
  }),

  B6: () => run(function* () {
    let parked = 0;
    const rssBefore = process.memoryUsage.rss();
    function* body() { parked++; yield B6_SLEEP; }
    const t0 = nowNs();
    const ts: Task[] = [];
    for (let i = 0; i < SIZES.B6; i++) ts.push(spawn(body));
    while (parked < SIZES.B6) yield SLEEP0;
    const rssParked = process.memoryUsage.rss();
    yield* joinall(ts);
    const ns = nowNs() - t0;
    check(ts.every((t) => t.done), 'B6 all done');
    return { ns, rssBefore, rssParked };
  }),
};

export async function load(): Promise<Suite> {
  return workloads;
}
