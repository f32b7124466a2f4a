/**
 * Native async/await: what a Node user writes today for each workload. A "greenlet" is an
 * async function call, sleep(0) is `await Promise.resolve()` (a microtask: the cheapest yield
 * there is, and one that never lets timers or I/O in), B5 uses p-limit, B8 execFile.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { B5_POOL, B6_SLEEP, B8_CONCURRENCY, SIZES, check, nowNs, type Suite } from './spec.js';

type Limit = <R>(fn: () => Promise<R>) => Promise<R>;

/** An unbounded queue whose get() is a promise: items, or callers waiting for one. */
class AsyncQueue<T> {
  private items: T[] = [];
  private getters: ((x: T) => void)[] = [];
  put(x: T): void {
    const g = this.getters.shift();
    if (g) g(x);
    else this.items.push(x);
  }
  get(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    return new Promise((resolve) => this.getters.push(resolve));
  }
}

async function b1() {
  async function body(i: number) { return i; }
  const t0 = nowNs();
  const ps: Promise<number>[] = [];
  for (let i = 0; i < SIZES.B1; i++) ps.push(body(i));
  const vs = await Promise.all(ps);
  const ns = nowNs() - t0;
  check(vs[SIZES.B1 - 1] === SIZES.B1 - 1, 'B1 last value');
  return { ns };
}

async function b1i() {
  const t0 = nowNs();
  const ps: Promise<number>[] = [];
  for (let i = 0; i < SIZES.B1; i++) ps.push((async () => i)());
  const vs = await Promise.all(ps);
  const ns = nowNs() - t0;
  check(vs[SIZES.B1 - 1] === SIZES.B1 - 1, 'B1i last value');
  return { ns };
}

async function b2() {
  let switches = 0;
  async function loop() {
    for (let i = 0; i < SIZES.B2; i++) { await Promise.resolve(); switches++; }
  }
  const t0 = nowNs();
  await Promise.all([loop(), loop()]);
  const ns = nowNs() - t0;
  check(switches === 2 * SIZES.B2, 'B2 switch count');
  return { ns };
}

async function b3() {
  const q1 = new AsyncQueue<number>();
  const q2 = new AsyncQueue<number>();
  let last = -1;
  const t0 = nowNs();
  const a = (async () => {
    for (let i = 0; i < SIZES.B3; i++) { q1.put(i); last = await q2.get(); }
  })();
  const b = (async () => {
    for (let i = 0; i < SIZES.B3; i++) q2.put(await q1.get());
  })();
  await Promise.all([a, b]);
  const ns = nowNs() - t0;
  check(last === SIZES.B3 - 1, 'B3 last item');
  return { ns };
}

async function b4() {
  let set!: (v: boolean) => void;
  const event = new Promise<boolean>((resolve) => { set = resolve; });
  let parked = 0;
  const t0 = nowNs();
  const ps: Promise<boolean>[] = [];
  for (let i = 0; i < SIZES.B4; i++) ps.push((async () => { parked++; return await event; })());
  check(parked === SIZES.B4, 'B4 all parked before set'); // an async call runs to its first await
  set(true);
  const vs = await Promise.all(ps);
  const ns = nowNs() - t0;
  check(vs.every((v) => v), 'B4 every waiter saw the flag');
  return { ns };
}

function b5(limit: Limit) {
  return async () => {
    async function f(x: number) { await Promise.resolve(); return x * 2; }
    const items = Array.from({ length: SIZES.B5 }, (_, i) => i);
    const t0 = nowNs();
    const res = await Promise.all(items.map((x) => limit(() => f(x))));
    const ns = nowNs() - t0;
    check(res[SIZES.B5 - 1] === 2 * (SIZES.B5 - 1), 'B5 results');
    return { ns };
  };
}

async function b6() {
  let parked = 0;
  async function body() { parked++; await new Promise((r) => setTimeout(r, B6_SLEEP * 1000)); }
  const rssBefore = process.memoryUsage.rss();
  const t0 = nowNs();
  const ps: Promise<void>[] = [];
  for (let i = 0; i < SIZES.B6; i++) ps.push(body());
  const rssParked = process.memoryUsage.rss(); // every call is already parked on its timer
  await Promise.all(ps);
  const ns = nowNs() - t0;
  check(parked === SIZES.B6, 'B6 all parked');
  return { ns, rssBefore, rssParked };
}

/** B8 with B8_CONCURRENCY workers taking runs from a shared counter: no dependency needed. */
async function b8() {
  const run = promisify(execFile);
  let next = 0;
  let ok = 0;
  async function worker() {
    while (next < SIZES.B8) {
      next++;
      await run('true');
      ok++;
    }
  }
  const t0 = nowNs();
  await Promise.all(Array.from({ length: B8_CONCURRENCY }, worker));
  const ns = nowNs() - t0;
  check(ok === SIZES.B8, 'B8 runs');
  return { ns };
}

/** p-limit is ESM-only: this CommonJS file must load it with a real dynamic import. */
async function loadLimit(): Promise<Limit | null> {
  try {
    const { default: pLimit } = await import('p-limit');
    return pLimit(B5_POOL);
  } catch {
    return null;
  }
}

export async function load(): Promise<Suite> {
  const limit = await loadLimit();
  return {
    B1: b1, B1i: b1i, B2: b2, B3: b3, B4: b4,
    B5: limit ? b5(limit) : 'native: B5 skipped (install: npm i -D p-limit)',
    B6: b6, B8: b8,
  };
}
