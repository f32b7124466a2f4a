/**
 * geventjs's side of every workload, written as a user would write it.
 *
 * The core (src/index.ts) is typed from its source. The later modules (queue, event, pool,
 * subprocess) are typed with local interfaces and loaded with a guarded require: they are
 * being built alongside this harness, and one that does not exist yet must skip its
 * workloads at run time, not break the build.
 */
import type * as CoreModule from '../src/index.js';
import { B5_POOL, B6_SLEEP, B8_CONCURRENCY, SIZES, check, nowNs, type Sample, type Suite } from './spec.js';

type Core = typeof CoreModule;
type Greenlet<R> = CoreModule.Greenlet<R>;
type Op<T> = CoreModule.Op<T>;
type Body<R> = Generator<unknown, R, unknown>;

interface QueueModule {
  Queue: new <T>() => { put(x: T): Op<void>; get(): Op<T> };
}
interface EventModule {
  Event: new () => { set(): void; wait(): Op<boolean> };
}
interface PoolModule {
  Pool: new (size: number) => { map<T, R>(f: (x: T) => Body<R>, items: Iterable<T>): Op<R[]> };
}
interface SubprocessModule {
  call(args: string[]): Op<number>;
}

const NOT_BUILT = 'geventjs: skipped (module not built yet)';

/** The compiled module, or null when it does not exist yet (any other failure is a bug). */
function tryRequire<T>(path: string): T | null {
  try {
    return require(path) as T;
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
}

function b1(g: Core) {
  return () => g.run(function* (): Body<Sample> {
    function* body(i: number) { return i; }
    const t0 = nowNs();
    const gs: Greenlet<number>[] = [];
    for (let i = 0; i < SIZES.B1; i++) gs.push(g.spawn(body, i));
    yield* g.joinall(gs);
    const ns = nowNs() - t0;
    check(gs[SIZES.B1 - 1]!.value === SIZES.B1 - 1, 'B1 last value');
    return { ns };
  });
}

/** B1 as users write it: `spawn(function* () { return i; })`, a fresh closure per greenlet. */
function b1Inline(g: Core) {
  return () => g.run(function* (): Body<Sample> {
    const t0 = nowNs();
    const gs: Greenlet<number>[] = [];
    for (let i = 0; i < SIZES.B1; i++) gs.push(g.spawn(function* () { return i; }));
    yield* g.joinall(gs);
    const ns = nowNs() - t0;
    check(gs[SIZES.B1 - 1]!.value === SIZES.B1 - 1, 'B1i last value');
    return { ns };
  });
}

/** B1 with plain functions (`spawn((i) => i, i)`): not a BENCHMARKS.md row, a side note. */
function b1Plain(g: Core) {
  return () => g.run(function* (): Body<Sample> {
    const body = (i: number) => i;
    const t0 = nowNs();
    const gs: Greenlet<number>[] = [];
    for (let i = 0; i < SIZES.B1; i++) gs.push(g.spawn(body, i));
    yield* g.joinall(gs);
    const ns = nowNs() - t0;
    check(gs[SIZES.B1 - 1]!.value === SIZES.B1 - 1, 'B1 plain last value');
    return { ns };
  });
}

function b2(g: Core) {
  return () => g.run(function* (): Body<Sample> {
    let switches = 0;
    function* loop() {
      for (let i = 0; i < SIZES.B2; i++) { yield* g.sleep(0); switches++; }
    }
    const t0 = nowNs();
    yield* g.joinall([g.spawn(loop), g.spawn(loop)]);
    const ns = nowNs() - t0;
    check(switches === 2 * SIZES.B2, 'B2 switch count');
    return { ns };
  });
}

function b3(g: Core, m: QueueModule) {
  return () => g.run(function* (): Body<Sample> {
    const q1 = new m.Queue<number>();
    const q2 = new m.Queue<number>();
    let last = -1;
    const t0 = nowNs();
    const a = g.spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) { yield* q1.put(i); last = yield* q2.get(); }
    });
    const b = g.spawn(function* () {
      for (let i = 0; i < SIZES.B3; i++) yield* q2.put(yield* q1.get());
    });
    yield* g.joinall([a, b]);
    const ns = nowNs() - t0;
    check(last === SIZES.B3 - 1, 'B3 last item');
    return { ns };
  });
}

function b4(g: Core, m: EventModule) {
  return () => g.run(function* (): Body<Sample> {
    const ev = new m.Event();
    let parked = 0;
    const t0 = nowNs();
    const gs: Greenlet<boolean>[] = [];
    // Inline waiters, as users write them: a fresh closure per greenlet.
    for (let i = 0; i < SIZES.B4; i++) gs.push(g.spawn(function* () { parked++; return yield* ev.wait(); }));
    while (parked < SIZES.B4) yield* g.sleep(0); // all 10k really parked before set()
    ev.set();
    yield* g.joinall(gs);
    const ns = nowNs() - t0;
    check(gs.every((x) => x.value === true), 'B4 every waiter saw the flag');
    return { ns };
  });
}

function b5(g: Core, m: PoolModule) {
  return () => g.run(function* (): Body<Sample> {
    function* f(x: number) { yield* g.sleep(0); return x * 2; }
    const items = Array.from({ length: SIZES.B5 }, (_, i) => i);
    const pool = new m.Pool(B5_POOL);
    const t0 = nowNs();
    const res = yield* pool.map(f, items);
    const ns = nowNs() - t0;
    check(res.length === SIZES.B5 && res[SIZES.B5 - 1] === 2 * (SIZES.B5 - 1), 'B5 results');
    return { ns };
  });
}

function b6(g: Core) {
  return () => g.run(function* (): Body<Sample> {
    let parked = 0;
    function* body() { parked++; yield* g.sleep(B6_SLEEP); }
    const rssBefore = process.memoryUsage.rss();
    const t0 = nowNs();
    const gs: Greenlet<void>[] = [];
    for (let i = 0; i < SIZES.B6; i++) gs.push(g.spawn(body));
    while (parked < SIZES.B6) yield* g.sleep(0);
    const rssParked = process.memoryUsage.rss(); // all parked, none woken yet
    yield* g.joinall(gs);
    const ns = nowNs() - t0;
    check(gs.every((x) => x.successful()), 'B6 all successful');
    return { ns, rssBefore, rssParked };
  });
}

function b8(g: Core, pool: PoolModule, sp: SubprocessModule) {
  return () => g.run(function* (): Body<Sample> {
    function* runTrue() { return yield* sp.call(['true']); }
    const items = Array.from({ length: SIZES.B8 }, (_, i) => i);
    const t0 = nowNs();
    const rcs = yield* new pool.Pool(B8_CONCURRENCY).map(runTrue, items);
    const ns = nowNs() - t0;
    check(rcs.length === SIZES.B8 && rcs.every((rc) => rc === 0), 'B8 return codes');
    return { ns };
  });
}

export async function load(): Promise<Suite | string> {
  const g = tryRequire<Core>('../src/index.js');
  if (!g) return NOT_BUILT;
  const queue = tryRequire<QueueModule>('../src/queue.js');
  const event = tryRequire<EventModule>('../src/event.js');
  const pool = tryRequire<PoolModule>('../src/pool.js');
  const sp = tryRequire<SubprocessModule>('../src/subprocess.js');
  return {
    B1: b1(g),
    B1i: b1Inline(g),
    B2: b2(g),
    B3: queue ? b3(g, queue) : NOT_BUILT,
    B4: event ? b4(g, event) : NOT_BUILT,
    B5: pool ? b5(g, pool) : NOT_BUILT,
    B6: b6(g),
    B8: pool && sp ? b8(g, pool, sp) : NOT_BUILT,
  };
}

/** `node dist/bench/measure.js geventjs-plain B1` runs this. */
export async function loadPlain(): Promise<Suite | string> {
  const g = tryRequire<Core>('../src/index.js');
  return g ? { B1: b1Plain(g) } : NOT_BUILT;
}
