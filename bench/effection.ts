/**
 * effection v3: generator-based structured concurrency, the closest JS peer. Tasks are
 * `yield* spawn(...)` children of one `run()` scope, joined with `yield* task`.
 *
 * effection has no sleep(0) that yields: its `sleep(0)` is a 1 ms setTimeout, which would make
 * B2 time Node's timer clamp rather than a switch. So a yield here is an action resolved in a
 * microtask (the same cost as native's `await Promise.resolve()`). It has no Event, Pool or
 * queue with put/get either: B3 uses its createQueue (add / next), B4 one withResolvers()
 * operation awaited by every task, B5 a 100-slot semaphore around spawn, as gevent's Pool does.
 */
import type * as Effection from 'effection';
import { B5_POOL, B6_SLEEP, SIZES, check, nowNs, type Sample, type Suite } from './spec.js';

type E = typeof Effection;
type Op<T> = Effection.Operation<T>;
type Task<T> = Effection.Task<T>;

function suite(e: E): Suite {
  const { run, spawn, sleep, action, createQueue, withResolvers } = e;
  const noop = () => {};
  /** The cheapest effection-scheduled yield: resume in a microtask. */
  const tick = (): Op<void> => action<void>((resolve) => { queueMicrotask(resolve); return noop; });

  function* joinall<T>(ts: Task<T>[]): Op<T[]> {
    const out: T[] = [];
    for (const t of ts) out.push(yield* t);
    return out;
  }

  const b1 = () => run(function* (): Op<Sample> {
    function* body(i: number): Op<number> { return i; }
    const t0 = nowNs();
    const ts: Task<number>[] = [];
    for (let i = 0; i < SIZES.B1; i++) ts.push(yield* spawn(() => body(i)));
    const vs = yield* joinall(ts);
    const ns = nowNs() - t0;
    check(vs[SIZES.B1 - 1] === SIZES.B1 - 1, 'B1 last value');
    return { ns };
  });

  const b1i = () => run(function* (): Op<Sample> {
    const t0 = nowNs();
    const ts: Task<number>[] = [];
    for (let i = 0; i < SIZES.B1; i++) ts.push(yield* spawn(function* (): Op<number> { return i; }));
    const vs = yield* joinall(ts);
    const ns = nowNs() - t0;
    check(vs[SIZES.B1 - 1] === SIZES.B1 - 1, 'B1i last value');
    return { ns };
  });

  const b2 = () => run(function* (): Op<Sample> {
    let switches = 0;
    function* loop(): Op<void> {
      for (let i = 0; i < SIZES.B2; i++) { yield* tick(); switches++; }
    }
    const t0 = nowNs();
    yield* joinall([yield* spawn(loop), yield* spawn(loop)]);
    const ns = nowNs() - t0;
    check(switches === 2 * SIZES.B2, 'B2 switch count');
    return { ns };
  });

  const b3 = () => run(function* (): Op<Sample> {
    const q1 = createQueue<number, never>();
    const q2 = createQueue<number, never>();
    let last = -1;
    const t0 = nowNs();
    const a = yield* spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) {
        q1.add(i);
        last = (yield* q2.next()).value as number;
      }
    });
    const b = yield* spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) q2.add((yield* q1.next()).value as number);
    });
    yield* joinall([a, b]);
    const ns = nowNs() - t0;
    check(last === SIZES.B3 - 1, 'B3 last item');
    return { ns };
  });

  const b4 = () => run(function* (): Op<Sample> {
    const event = withResolvers<boolean>();
    let parked = 0;
    const t0 = nowNs();
    const ts: Task<boolean>[] = [];
    for (let i = 0; i < SIZES.B4; i++) ts.push(yield* spawn(function* (): Op<boolean> { parked++; return yield* event.operation; }));
    while (parked < SIZES.B4) yield* tick();
    event.resolve(true);
    const vs = yield* joinall(ts);
    const ns = nowNs() - t0;
    check(vs.every((v) => v), 'B4 every waiter saw the flag');
    return { ns };
  });

  const b5 = () => run(function* (): Op<Sample> {
    function* f(x: number): Op<number> { yield* tick(); return x * 2; }
    const items = Array.from({ length: SIZES.B5 }, (_, i) => i);
    let free = B5_POOL;
    let slot: Effection.WithResolvers<void> | null = null;
    const t0 = nowNs();
    const ts: Task<number>[] = [];
    for (const x of items) {
      while (free === 0) { slot = withResolvers<void>(); yield* slot.operation; }
      free--;
      ts.push(yield* spawn(function* () {
        const r = yield* f(x);
        free++;
        slot?.resolve();
        return r;
      }));
    }
    const res = yield* joinall(ts);
    const ns = nowNs() - t0;
    check(res[SIZES.B5 - 1] === 2 * (SIZES.B5 - 1), 'B5 results');
    return { ns };
  });

  const b6 = () => run(function* (): Op<Sample> {
    let parked = 0;
    function* body(): Op<void> { parked++; yield* sleep(B6_SLEEP * 1000); }
    const rssBefore = process.memoryUsage.rss();
    const t0 = nowNs();
    const ts: Task<void>[] = [];
    for (let i = 0; i < SIZES.B6; i++) ts.push(yield* spawn(body));
    while (parked < SIZES.B6) yield* tick();
    const rssParked = process.memoryUsage.rss();
    yield* joinall(ts);
    const ns = nowNs() - t0;
    return { ns, rssBefore, rssParked };
  });

  return { B1: b1, B1i: b1i, B2: b2, B3: b3, B4: b4, B5: b5, B6: b6 };
}

export async function load(): Promise<Suite | string> {
  try {
    return suite(require('effection') as E);
  } catch {
    return 'effection: skipped (install: npm i -D effection)';
  }
}
