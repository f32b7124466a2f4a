/**
 * threadpool.ts with real worker threads: CPU-bound work runs while greenlets keep ticking,
 * source and module functions, errors thrown at the yield, a killed waiter leaves the pool
 * working, kill/close/join, bad input.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GreenletExit, Timeout, run, sleep, spawn } from '../src/index.js';
import { ThreadError, ThreadPool } from '../src/threadpool.js';
import { captureErrors } from './capture-errors.js';

/** Runs a fixture on dist/ (built by `npm test` before vitest runs), with a kill-timer. */
function runFixture(name: string) {
  return spawnSync(process.execPath, [path.join(__dirname, 'fixtures', name)], { encoding: 'utf8', timeout: 60_000 });
}

const fibModule = { module: path.join(__dirname, 'fixtures', 'threadpool-fib.js'), name: 'fib' };

/** Busy-waits `ms` milliseconds of CPU in the worker. */
function spin(ms: number): number {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return n > 0 ? ms : -1;
}

describe('ThreadPool', () => {
  it('apply, spawn and map give the values, map in order', async () => {
    const pool = new ThreadPool(2);
    const r = await run(function* () {
      const a = yield* pool.apply((x: number, y: number) => x * y, [6, 7]);
      const b = yield* pool.spawn((s: string) => s.toUpperCase(), 'hi').get();
      const c = yield* pool.map((n: number) => n * n, [1, 2, 3, 4, 5]);
      const d = yield* pool.apply(async (x: number) => x + 1, [1]);
      return [a, b, c, d];
    });
    pool.close();
    expect(r).toEqual([42, 'HI', [1, 4, 9, 16, 25], 2]);
  }, 60_000);

  it('CPU-bound work runs in threads while a greenlet keeps ticking', async () => {
    // Each thread spins until the ticker, a greenlet on the hub's thread, has ticked 20 times
    // and raises a shared flag: this can only finish if both run at the same time.
    const pool = new ThreadPool(2);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const spinUntilFlag = (f: Int32Array) => {
      let spins = 0;
      while (Atomics.load(f, 0) === 0) spins++;
      return spins >= 0 ? 'released' : 'never';
    };
    const r = await run(function* () {
      let ticks = 0;
      const ticker = spawn(function* () {
        while (ticks < 20) { yield* sleep(0.005); ticks++; }
        Atomics.store(flag, 0, 1);
      });
      const res = yield* pool.map(spinUntilFlag, [flag, flag]);
      yield* ticker.join();
      return [res, ticks];
    });
    pool.close();
    expect(r).toEqual([['released', 'released'], 20]);
  }, 60_000);

  it('a module function runs by path and export name', async () => {
    const pool = new ThreadPool(1);
    const r = await run(function* () { return yield* pool.map(fibModule, [10, 20]); });
    pool.close();
    expect(r).toEqual([55, 6765]);
  }, 60_000);

  it('an exception in the worker is thrown at the yield with its name and message', async () => {
    const pool = new ThreadPool(1);
    const r = await run(function* () {
      const errs: unknown[] = [];
      try { yield* pool.apply(() => { throw new RangeError('bad thing in the thread'); }); } catch (e) { errs.push(e); }
      try { yield* pool.apply({ module: fibModule.module, name: 'notAFunction' }); } catch (e) { errs.push(e); }
      const after = yield* pool.apply(() => 'still works');
      return [errs, after];
    });
    pool.close();
    const [errs, after] = r as [ThreadError[], string];
    expect(errs.map((e) => [e instanceof ThreadError, e.name, e.message])).toEqual([
      [true, 'RangeError', 'bad thing in the thread'],
      [true, 'TypeError', `ThreadPool: ${fibModule.module} export "notAFunction" is not a function`],
    ]);
    expect(after).toBe('still works');
  }, 60_000);

  it('killing or timing out the waiting greenlet does not break the pool', async () => {
    const pool = new ThreadPool(1);
    const r = await run(function* () {
      const g = spawn(function* () { return yield* pool.apply(spin, [200]); });
      yield* sleep(0.02);
      yield* g.kill();
      let timedOut = false;
      const t = Timeout.start(0.01);
      try { yield* pool.apply(spin, [100]); } catch (e) { timedOut = e === t; } finally { t.cancel(); }
      const next = yield* pool.apply((x: number) => x + 1, [41]);
      yield* pool.join();
      return [(g.value as unknown) instanceof GreenletExit, timedOut, next, pool.pending, pool.threads];
    });
    pool.close();
    expect(r).toEqual([true, true, 42, 0, 1]);
  }, 60_000);

  it('at most size threads; extra tasks queue; join waits for all', async () => {
    const pool = new ThreadPool(2);
    const r = await run(function* () {
      const rs = [1, 2, 3, 4, 5].map((n) => pool.spawn(spin, 20 * n));
      const seen = [pool.threads, pool.pending];
      yield* pool.join();
      return [seen, rs.map((x) => x.value), pool.pending];
    });
    pool.close();
    expect(r).toEqual([[2, 5], [20, 40, 60, 80, 100], 0]);
  }, 60_000);

  it('kill fails queued and running tasks and refuses new ones', async () => {
    const pool = new ThreadPool(1);
    const r = await run(function* () {
      const a = pool.spawn(spin, 5000);
      const b = pool.spawn(spin, 1);
      yield* sleep(0.02);
      yield* pool.kill();
      const msgs: string[] = [];
      for (const x of [a, b]) { try { yield* x.get(); } catch (e) { msgs.push((e as Error).message); } }
      return msgs;
    });
    expect(r).toEqual(['ThreadPool was killed before this task finished', 'ThreadPool was killed before this task finished']);
    expect(() => pool.spawn(spin, 1)).toThrow(/the pool is closed/);
  }, 60_000);

  it('idle threads do not keep a program alive that never closes its pool', () => {
    const r = runFixture('threadpool-no-close.js');
    expect([r.stdout, r.status, r.signal]).toEqual(['[2,4,6]\n', 0, null]);
  }, 60_000);

  it('close() while a task runs ends the idle threads at once: no OS thread leaks over rounds', () => {
    const r = runFixture('threadpool-close.js');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { idleAfterClose: number[]; extraOsThreads: number };
    expect(out.idleAfterClose).toEqual([0, 0, 0, 0]);
    expect(out.extraOsThreads).toBeLessThanOrEqual(1); // 12 when the idle threads leaked
  }, 60_000);

  it('endless tasks nobody waits for (timed out, killed waiter) do not keep the program alive', () => {
    const r = runFixture('threadpool-abandoned.js');
    expect([r.stdout, r.status, r.signal, r.stderr]).toEqual(['{"gaveUp":true,"busy":[1,1]}\n', 0, null, '']);
  }, 60_000);

  it('an error thrown later by a callback a finished task left behind is reported, and the next task succeeds', async () => {
    const pool = new ThreadPool(1);
    let r: unknown;
    const report = await captureErrors(async () => {
      r = await run(function* () {
        const first = yield* pool.apply(() => {
          setTimeout(() => { throw new Error('late boom from a leftover timer'); }, 50);
          return 'first done';
        });
        const second = yield* pool.apply(() => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); // the timer fires meanwhile
          return 'second done';
        });
        yield* sleep(0.05);
        return [first, second, pool.threads];
      });
    });
    pool.close();
    expect(r).toEqual(['first done', 'second done', 1]);
    expect(report).toMatch(/a callback left behind by ThreadPool task 0 threw after the task had answered/);
    expect(report).toMatch(/late boom from a leftover timer/);
  }, 60_000);

  it("an error thrown by a running task's own callback fails that task, and the thread lives on", async () => {
    const pool = new ThreadPool(1);
    const r = await run(function* () {
      let msg = '';
      try {
        yield* pool.apply(() => new Promise(() => { setTimeout(() => { throw new RangeError('callback of a running task'); }, 10); }));
      } catch (e) {
        msg = `${(e as Error).name}: ${(e as Error).message}`;
      }
      return [msg, yield* pool.apply(() => 'next'), pool.threads];
    });
    pool.close();
    expect(r).toEqual(['RangeError: callback of a running task', 'next', 1]);
  }, 60_000);

  it('methods written in shorthand run (reserved names too); an own toString does not choose the code', async () => {
    const methods = {
      double(n: number) { return n * 2; },
      async later(n: number) { await new Promise((resolve) => setTimeout(resolve, 1)); return n + 1; },
      delete(s: string) { return s.slice(1); },
      résumé(s: string) { return `${s}!`; },
    };
    const sneaky = (x: number) => x + 1;
    sneaky.toString = () => '() => process.exit(3)';
    const pool = new ThreadPool(1);
    const r = await run(function* () {
      return [
        yield* pool.apply(methods.double, [21]),
        yield* pool.apply(methods.later, [1]),
        yield* pool.apply(methods.delete, ['xabc']),
        yield* pool.map(methods.double, [1, 2]),
        yield* pool.apply(sneaky, [1]),
        yield* pool.apply(methods.résumé, ['cv']),
      ];
    });
    pool.close();
    expect(r).toEqual([42, 2, 'abc', [2, 4], 2, 'cv!']);
  }, 60_000);

  it('bound functions, classes, getters and computed-name methods are a TypeError naming the fix', () => {
    const pool = new ThreadPool(1);
    function add(this: unknown, a: number, b: number) { return a + b; }
    const getter = Object.getOwnPropertyDescriptor({ get x() { return 1; } }, 'x')!.get!;
    const computed = { ['co' + 'mputed'](x: number) { return x; } }.computed;
    expect(() => pool.spawn(add.bind(null, 1), 2)).toThrow(TypeError);
    expect(() => pool.spawn(add.bind(null, 1), 2)).toThrow(/bound add is a bound function.*pass the function itself and its arguments in args/);
    expect(() => pool.spawn(class Thing {} as never)).toThrow(/is a class, which cannot be called/);
    expect(() => pool.spawn(getter)).toThrow(/cannot stand alone in a worker \(a getter/);
    expect(() => pool.spawn(computed, 1)).toThrow(/cannot stand alone in a worker/);
    expect(pool.pending).toBe(0);
    pool.close();
  });

  it('a { module, name } task reads its own properties only (prototype pollution picks no module)', () => {
    const pool = new ThreadPool(1);
    const proto = Object.prototype as Record<string, unknown>;
    proto.module = fibModule.module;
    try {
      expect(() => pool.spawn({ name: 'fib' } as never, 10)).toThrow(/needs a function or \{ module, name \}/);
    } finally {
      delete proto.module;
    }
    expect(() => pool.join('soon' as never)).toThrow(TypeError);
    pool.close();
  });

  it('bad input: size, function, args and items', async () => {
    expect(() => new ThreadPool('2' as never)).toThrow(TypeError);
    expect(() => new ThreadPool(0)).toThrow(RangeError);
    expect(() => new ThreadPool(1.5)).toThrow(/whole number/);
    const pool = new ThreadPool(1);
    expect(() => pool.spawn(42 as never)).toThrow(/needs a function or \{ module, name \}/);
    expect(() => pool.spawn(Math.sqrt, 4)).toThrow(/built in/);
    expect(() => pool.apply((x: number) => x, 5 as never)).toThrow(/args as an array/);
    expect(() => pool.map((x: number) => x, 5 as never)).toThrow(/iterable of items/);
    const err = await run(function* () {
      try { yield* pool.apply((f: unknown) => f, [() => 1]); } catch (e) { return (e as Error).name; }
      return 'no error';
    });
    pool.close();
    expect(err).toBe('DataCloneError');
  }, 60_000);
});
