/**
 * pool.ts: Group membership, join/kill, map/imap/imapUnordered/apply/applyAsync/mapAsync;
 * Pool's size limit (a property test with random kills), blocking spawn, waitAvailable,
 * bad input.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Greenlet, GreenletExit, joinall, run, sleep, spawn, Timeout } from '../src/index.js';
import { Group, Pool } from '../src/pool.js';
import { captureErrors } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';

/** Runs `fn` with geventjs's failure reports captured: for greenlets that fail on purpose. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  let v!: T;
  await captureErrors(async () => { v = await fn(); });
  return v;
}

function* double(x: number) {
  yield* sleep(0);
  return x * 2;
}

describe('Group', () => {
  it('spawned members leave the group when they die', async () => {
    const group = new Group();
    const r = await new VirtualClock().run(function* () {
      const g = group.spawn(function* (n: number) { yield* sleep(0.005); return n; }, 7);
      const before = [group.size, group.len(), group.has(g), group.contains(g), group.full()];
      yield* group.join();
      return [before, group.size, g.value];
    });
    expect(r).toEqual([[1, 1, true, true, false], 0, 7]);
  });

  it('add and discard track greenlets spawned elsewhere; iteration lists members', async () => {
    await new VirtualClock().run(function* () {
      const group = new Group();
      const a = spawn(function* () { yield* sleep(0.01); });
      const b = spawn(function* () { yield* sleep(0.01); });
      group.add(a);
      group.add(b);
      expect([...group]).toEqual([a, b]);
      group.discard(a);
      expect(group.greenlets).toEqual([b]);
      yield* joinall([a, b]);
      yield* sleep(0);
      expect(group.size).toBe(0);
    });
  });

  it('join({ timeout }) gives false while members still run, true once empty', async () => {
    const group = new Group();
    const r = await new VirtualClock().run(function* () {
      group.spawn(function* () { yield* sleep(0.05); });
      const early = yield* group.join({ timeout: 0.005 });
      const late = yield* group.join();
      return [early, late];
    });
    expect(r).toEqual([false, true]);
  });

  it('join({ raiseError: true }) throws the first failure', async () => {
    const group = new Group();
    const err = await quietly(() => run(function* () {
      group.spawn(function* () { yield* sleep(0.001); throw new Error('bad member'); });
      group.spawn(function* () { yield* sleep(0.05); });
      try {
        yield* group.join({ raiseError: true });
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    }));
    expect(err).toBe('bad member');
  });

  it('kill kills every member, running their finally blocks; killone kills one', async () => {
    const group = new Group();
    const cleaned: number[] = [];
    await new VirtualClock().run(function* () {
      const gs = [0, 1, 2].map((i) => group.spawn(function* () {
        try { yield* sleep(10); } finally { cleaned.push(i); }
      }));
      yield* sleep(0);
      yield* group.killone(gs[0]!);
      expect(cleaned).toEqual([0]);
      yield* group.kill();
      expect(gs.every((g) => g.dead && (g.value as unknown) instanceof GreenletExit)).toBe(true);
    });
    expect(cleaned.sort()).toEqual([0, 1, 2]);
    expect(group.size).toBe(0);
  });

  it('map keeps item order whatever order the items finish in', async () => {
    const group = new Group();
    const r = await new VirtualClock().run(function* () {
      const out: number[] = yield* group.map(function* (x: number) { yield* sleep((5 - x) / 1000); return x * 10; }, [1, 2, 3, 4]);
      return out;
    });
    expect(r).toEqual([10, 20, 30, 40]);
  });

  it('map takes plain and async functions too, and throws a failing item', async () => {
    const group = new Group();
    expect(await new VirtualClock().run(() => group.map((x: number) => x + 1, [1, 2]))).toEqual([2, 3]);
    expect(await group.map(async (x: number) => x * 3, [1, 2])).toEqual([3, 6]);
    await expect(quietly(async () => group.map((x: number) => { if (x === 2) throw new Error('item 2'); return x; }, [1, 2, 3]))).rejects.toThrow('item 2');
  });

  it('imap streams results in item order; imapUnordered as they finish', async () => {
    const group = new Group();
    const delays = [30, 10, 20];
    const slow = function* (ms: number) { yield* sleep(ms / 1000); return ms; };
    const [ordered, unordered] = await new VirtualClock().run(function* () {
      const a: number[] = [];
      const it = group.imap(slow, delays);
      for (let r = yield* it.next(); !r.done; r = yield* it.next()) a.push(r.value);
      const b: number[] = [];
      const un = group.imapUnordered(slow, delays);
      for (let r = yield* un.next(); !r.done; r = yield* un.next()) b.push(r.value);
      return [a, b];
    });
    expect(ordered).toEqual([30, 10, 20]);
    expect(unordered).toEqual([10, 20, 30]);
  });

  it('a reader killed after a result was handed to it leaves that result for the next reader', async () => {
    const group = new Group();
    const r = await new VirtualClock().run(function* () {
      const it = group.imapUnordered(function* (x: number) { yield* sleep(0.01); return x; }, [7]);
      const a = spawn(function* () { return yield* it.next(); });
      yield* sleep(0.002); // the item runs and reader a waits
      const [item] = group.greenlets;
      // Runs right after the imap's own link has handed the result to a, before a runs.
      item!.link(() => a.kill({ block: false }));
      yield* joinall([a]);
      return [(a.value as unknown) instanceof GreenletExit, yield* it.next(), yield* it.next()];
    });
    expect(r).toEqual([true, { done: false, value: 7 }, { done: true, value: undefined }]);
  });

  it('imap is AsyncIterable outside greenlets', async () => {
    const group = new Group();
    const seen: number[] = [];
    for await (const v of group.imap(double, [1, 2, 3])) seen.push(v);
    expect(seen).toEqual([2, 4, 6]);
  });

  it('imap of nothing ends at once', async () => {
    const seen: number[] = [];
    for await (const v of new Group().imapUnordered(double, [])) seen.push(v);
    expect(seen).toEqual([]);
  });

  it('apply gives the value; applyAsync and mapAsync give greenlets and call back', async () => {
    const group = new Group();
    const got: unknown[] = [];
    const r = await new VirtualClock().run(function* () {
      const sum = yield* group.apply(function* (a: number, b: number) { yield* sleep(0); return a + b; }, [2, 3]);
      const g = group.applyAsync(double, [4], (v) => got.push(v));
      const m = group.mapAsync(double, [1, 2], (vs) => got.push(vs));
      yield* joinall([g, m]);
      yield* sleep(0);
      return [sum, g.value, m.value];
    });
    expect(r).toEqual([5, 8, [2, 4]]);
    expect(got).toEqual([8, [2, 4]]);
  });
});

describe('Pool', () => {
  it('spawn waits while the pool is full; freeCount and full report the slots', async () => {
    const pool = new Pool(2);
    const log: string[] = [];
    await new VirtualClock().run(function* () {
      const job = (name: string) => function* () { log.push(`${name} start`); yield* sleep(0.01); log.push(`${name} end`); };
      const a: Greenlet = yield* pool.spawn(job('a'));
      yield* pool.spawn(job('b'));
      expect([pool.freeCount(), pool.full()]).toEqual([0, true]);
      const c = yield* pool.spawn(job('c')); // waits for a or b to finish
      expect(a.dead).toBe(true);
      yield* pool.join();
      expect(c.dead).toBe(true);
    });
    expect(log.indexOf('c start')).toBeGreaterThan(log.indexOf('a end'));
    expect(pool.freeCount()).toBe(2);
  });

  it('greenlets waiting in spawn get slots in the order they asked', async () => {
    const pool = new Pool(1);
    const order: number[] = [];
    await new VirtualClock().run(function* () {
      yield* pool.spawn(function* () { yield* sleep(0.005); });
      const spawners = [0, 1, 2, 3].map((i) => spawn(function* () {
        yield* pool.spawn(function* () { order.push(i); yield* sleep(0); });
      }));
      yield* joinall(spawners);
      yield* pool.join();
    });
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('map never runs more than size at once and keeps order', async () => {
    const pool = new Pool(3);
    let running = 0;
    let most = 0;
    const out = await new VirtualClock().run(() => pool.map(function* (x: number) {
      running++;
      most = Math.max(most, running);
      yield* sleep(0.001 * (x % 3));
      running--;
      return x * 2;
    }, Array.from({ length: 20 }, (_, i) => i)));
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(most).toBe(3);
  });

  it('imap and imapUnordered respect the size too', async () => {
    const pool = new Pool(2);
    let running = 0;
    let most = 0;
    const f = function* (x: number) { running++; most = Math.max(most, running); yield* sleep(0.002); running--; return x; };
    const a: number[] = [];
    for await (const v of pool.imap(f, [1, 2, 3, 4, 5])) a.push(v);
    const b: number[] = [];
    for await (const v of pool.imapUnordered(f, [1, 2, 3, 4, 5])) b.push(v);
    expect(a).toEqual([1, 2, 3, 4, 5]);
    expect(b.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it('waitAvailable waits until a slot frees and gives freeCount', async () => {
    const pool = new Pool(1);
    const r = await new VirtualClock().run(function* () {
      yield* pool.spawn(function* () { yield* sleep(0.01); });
      const timedOut = yield* pool.waitAvailable({ timeout: 0.001 });
      const later = yield* pool.waitAvailable();
      return [timedOut, later];
    });
    expect(r).toEqual([0, 1]);
  });

  it('apply gives the value; applyAsync gives the greenlet and calls back', async () => {
    const pool = new Pool(1);
    const got: number[] = [];
    const r = await new VirtualClock().run(function* () {
      const v: number = yield* pool.apply(double, [5]);
      const g = pool.applyAsync(double, [6], (x) => got.push(x));
      yield* g.join();
      yield* sleep(0);
      return [v, g.value];
    });
    expect(r).toEqual([10, 12]);
    expect(got).toEqual([12]);
  });

  it('new Group(greenlets) starts with those members', async () => {
    await new VirtualClock().run(function* () {
      const a = spawn(function* () { yield* sleep(0.001); });
      const group = new Group([a]);
      expect(group.has(a)).toBe(true);
      expect(yield* group.join()).toBe(true);
      expect(group.size).toBe(0);
    });
  });

  it('kill kills all members and frees their slots', async () => {
    const pool = new Pool(3);
    await new VirtualClock().run(function* () {
      for (let i = 0; i < 3; i++) yield* pool.spawn(function* () { yield* sleep(10); });
      expect(pool.len()).toBe(3);
      yield* pool.kill();
      yield* sleep(0);
    });
    expect([pool.len(), pool.freeCount()]).toEqual([0, 3]);
  });

  it('add waits for a slot; discard frees one', async () => {
    const pool = new Pool(1);
    await new VirtualClock().run(function* () {
      const a = spawn(function* () { yield* sleep(0.01); });
      yield* pool.add(a);
      expect(pool.has(a)).toBe(true);
      pool.discard(a);
      expect(pool.freeCount()).toBe(1);
    });
  });

  it('never runs more than size at once under random kills of members and spawners', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ work: fc.integer({ min: 0, max: 3 }), kill: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null }), killSpawner: fc.boolean() }), { minLength: 1, maxLength: 15 }),
        async (size, jobs) => {
          const pool = new Pool(size);
          let running = 0;
          let most = 0;
          await new VirtualClock().run(function* () {
            const spawners = jobs.map((job) => spawn(function* () {
              const g = yield* pool.spawn(function* () {
                running++;
                most = Math.max(most, running);
                try { for (let i = 0; i < job.work; i++) yield* sleep(0); } finally { running--; }
              });
              if (job.kill !== null) {
                for (let i = 0; i < job.kill; i++) yield* sleep(0);
                g.kill({ block: false });
              }
            }));
            jobs.forEach((job, i) => { if (job.killSpawner) spawners[i]!.kill({ block: false }); });
            yield* joinall(spawners);
            yield* pool.join();
            yield* sleep(0);
          });
          expect(most).toBeLessThanOrEqual(size);
          expect(running).toBe(0);
          expect(pool.freeCount()).toBe(size);
          expect(pool._sem.counter).toBe(size);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('bad input', () => {
  it('a negative or fractional Pool size is a RangeError naming the fix', () => {
    expect(() => new Pool(-3)).toThrow(/new Pool\(size\) must be a whole number >= 0, got -3; pass e.g. 10, or nothing for no limit/);
    expect(() => new Pool(1.5)).toThrow(RangeError);
    expect(() => new Pool(NaN)).toThrow(RangeError);
    expect(() => new Pool('3' as never)).toThrow(TypeError);
  });

  it('bad options are errors naming the fix, before anything acts; null means none', async () => {
    const group = new Group();
    const pool = new Pool(1);
    const g = group.spawn(function* () { yield* sleep(10); });
    expect(() => group.kill(5 as never)).toThrow(/Group.kill\(options\) must be an options object/);
    expect(() => group.kill({ timeout: -1 })).toThrow(RangeError);
    expect(() => group.kill({ block: 'no' as never })).toThrow(/Group.kill\(\{ block \}\) must be true or false/);
    expect(() => group.killone(g, { timeout: 'x' as never })).toThrow(TypeError);
    expect(() => group.join({ raiseError: 'yes' as never })).toThrow(TypeError);
    expect(() => group.kill({ exception: 'stop' as never })).toThrow(/Group.kill\(\{ exception \}\) must be an Error class or instance, got a string/);
    expect(() => group.killone(g, { exception: 42 as never })).toThrow(TypeError);
    expect(() => pool.waitAvailable(3 as never)).toThrow(/Pool.waitAvailable\(options\) must be an options object/);
    expect(() => pool.waitAvailable({ timeout: -1 })).toThrow(RangeError);
    expect(() => group.apply(double, 4 as never)).toThrow(/takes the arguments as an array, got a number \(4\)/);
    expect(() => pool.applyAsync(double, [1], 'cb' as never)).toThrow(/needs a function/);
    expect(g.dead).toBe(false); // nothing was killed by a call that threw
    expect(await pool.waitAvailable(null)).toBe(1);
    await new VirtualClock().run(() => group.kill(null));
    expect(g.dead).toBe(true);
  });

  it('a non-function to spawn or map is a TypeError', () => {
    expect(() => new Group().spawn(42 as never)).toThrow(/Group.spawn\(\) needs a function to run, got .*42/);
    expect(() => new Pool(2).spawn('x' as never)).toThrow(TypeError);
    expect(() => new Pool(2).map(null as never, [1])).toThrow(/Pool.map\(\) needs a function/);
    expect(() => new Group().map(double, 5 as never)).toThrow(/needs an iterable/);
    expect(() => new Group().add({} as never)).toThrow(/Group.add\(\) takes a Greenlet/);
  });
});

/** A greenlet that counts the kills aimed at it. */
class Counted extends Greenlet {
  kills = 0;
  override kill(opts?: Parameters<Greenlet['kill']>[0]) {
    this.kills++;
    return super.kill(opts);
  }
}

describe('Group and Pool never shoot a member twice (gevent\'s dying set)', () => {
  for (const [name, make] of [['Group', () => new Group()], ['Pool', () => new Pool(3)]] as const) {
    it(`${name}: kill, kill again and killone shoot each member once`, async () => {
      const group = make();
      let caught = 0;
      const g = new Counted(function* () {
        // Catches the first GreenletExit and lingers: a second shot would interrupt its cleanup.
        try { yield* sleep(10); } catch { caught++; yield* sleep(0.02); }
      });
      g.start();
      await new VirtualClock().run(function* () {
        if (group instanceof Pool) yield* group.add(g);
        else group.add(g);
        group.kill({ block: false });
        group.kill({ block: false });
        yield* group.killone(g, { block: false });
        yield* group.kill();
      });
      expect([g.kills, caught, g.dead, group.len()]).toEqual([1, 1, true, 0]);
    });
  }

  it('kill() acts at once and its Op need not be yielded: nothing is reported as dropped', async () => {
    const group = new Group();
    const pool = new Pool(2);
    const text = await captureErrors(() => run(function* () {
      const a = group.spawn(function* () { yield* sleep(10); });
      const b = yield* pool.spawn(function* () { yield* sleep(10); });
      const c = group.spawn(function* () { yield* sleep(10); });
      group.kill();
      pool.kill();
      yield* sleep(0);
      group.killone(c);
      yield* sleep(0.001);
      expect([a.dead, b.dead, c.dead]).toEqual([true, true, true]);
    }));
    expect(text).toBe('');
  });
});

describe('Group.add of a dead greenlet', () => {
  it('does not track it, in a Group or a Pool (whose slot stays free)', async () => {
    const group = new Group();
    const pool = new Pool(1);
    const r = await new VirtualClock().run(function* () {
      const g = spawn(() => 1);
      yield* g.join();
      group.add(g);
      yield* pool.add(g);
      return [group.len(), group.has(g), pool.len(), pool.freeCount()];
    });
    expect(r).toEqual([0, false, 0, 1]);
  });
});

describe('Pool sizes as in gevent', () => {
  it('new Pool() has no limit: spawn never waits, freeCount is Infinity, size null', async () => {
    const pool = new Pool();
    expect([pool.size, pool.full(), pool.freeCount()]).toEqual([null, false, Infinity]);
    const n = await new VirtualClock().run(function* () {
      for (let i = 0; i < 200; i++) yield* pool.spawn(function* () { yield* sleep(0.01); });
      const running = pool.len();
      yield* pool.join();
      return running;
    });
    expect([n, pool.len(), pool.freeCount(), new Pool(null).size]).toEqual([200, 0, Infinity, null]);
  });

  it('new Pool(0) never runs anything: spawn waits forever, waitAvailable({ timeout }) gives 0', async () => {
    const pool = new Pool(0);
    const r = await new VirtualClock().run(function* () {
      const free = yield* pool.waitAvailable({ timeout: 0.01 });
      let timedOut = false;
      const t = Timeout.start(0.01);
      try { yield* pool.spawn(function* () {}); } catch (e) { if (e !== t) throw e; timedOut = true; } finally { t.cancel(); }
      return [free, timedOut, pool.len(), pool.full()];
    });
    expect(r).toEqual([0, true, 0, true]);
  });
});

describe('apply and applyAsync as in gevent', () => {
  it('apply from a member of the same Pool(1) runs inline: no deadlock', async () => {
    const pool = new Pool(1);
    const v = await new VirtualClock().run(() => pool.apply(function* () {
      const inner: number = yield* pool.apply(function* () { yield* sleep(0); return 5; });
      const plain: number = yield* pool.apply((x: number) => x * 2, [inner]);
      const later = yield* pool.apply(async () => 1);
      return [inner, plain, later, pool.len()];
    }));
    expect(v).toEqual([5, 10, 1, 1]);
  });

  it('apply from a member of the same Group runs inline too, and throws what fn throws', async () => {
    const group = new Group();
    const r = await new VirtualClock().run(() => group.apply(function* () {
      const before = group.len();
      try { yield* group.apply(() => { throw new Error('inner'); }); } catch (e) { return [before, group.len(), (e as Error).message]; }
      return null;
    }));
    expect(r).toEqual([1, 1, 'inner']);
  });

  it('applyAsync never blocks: on a full pool it gives a greenlet at once, run outside the pool', async () => {
    const pool = new Pool(1);
    const got: number[] = [];
    const r = await new VirtualClock().run(function* () {
      yield* pool.spawn(function* () { yield* sleep(0.01); });
      const g = pool.applyAsync(double, [21], (v) => got.push(v));
      const outside = g instanceof Greenlet && !pool.has(g);
      const v = yield* g.get();
      yield* sleep(0);
      return [outside, v, pool.len()];
    });
    expect(r).toEqual([true, 42, 0]);
    expect(got).toEqual([42]);
  });
});

describe('imap over a source that throws', () => {
  function* source(n: number) {
    for (let i = 1; i <= n; i++) yield i;
    throw new Error('source broke');
  }

  for (const kind of ['imap', 'imapUnordered'] as const) {
    it(`${kind}: the reader gets every earlier result, then the error, then the end (greenlet and for await)`, async () => {
      const pool = new Pool(2);
      const r = await new VirtualClock().run(function* () {
        const it = pool[kind](double, source(3));
        const out: unknown[] = [];
        for (;;) {
          try {
            const x = yield* it.next();
            if (x.done) break;
            out.push(x.value);
          } catch (e) {
            out.push((e as Error).message);
          }
        }
        return out;
      });
      expect(kind === 'imap' ? r : [...(r as number[]).slice(0, 3).sort(), r[3]]).toEqual([2, 4, 6, 'source broke']);
      const seen: number[] = [];
      let err: unknown = null;
      await captureErrors(async () => {
        try { for await (const v of new Group()[kind](double, source(2))) seen.push(v); } catch (e) { err = e; }
      });
      expect([seen.sort(), String(err)]).toEqual([[2, 4], 'Error: source broke']);
    });
  }

  it('source errors in any position, any pool size (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), async (n, size, ordered) => {
        const pool = new Pool(size);
        const it = ordered ? pool.imap(double, source(n)) : pool.imapUnordered(double, source(n));
        const out: number[] = [];
        let err: unknown = null;
        await new VirtualClock().run(function* () {
          for (;;) {
            try {
              const x = yield* it.next();
              if (x.done) break;
              out.push(x.value);
            } catch (e) { err = e; }
          }
        });
        if (!ordered) out.sort((a, b) => a - b);
        expect(out).toEqual(Array.from({ length: n }, (_, i) => (i + 1) * 2));
        expect(String(err)).toBe('Error: source broke');
        expect(pool.len()).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('a killed imap closes its source (its finally runs) and ends', async () => {
    let closed = false;
    function* endless() { try { for (let i = 0; ; i++) yield i; } finally { closed = true; } }
    const pool = new Pool(1);
    const r = await new VirtualClock().run(function* () {
      const it = pool.imap(function* (x: number) { yield* sleep(0.001); return x; }, endless());
      const first = yield* it.next();
      yield* pool.kill();
      return first;
    });
    expect([r, closed]).toEqual([{ done: false, value: 0 }, true]);
  });
});

describe('applyAsync and mapAsync callbacks', () => {
  it('a generator function callback runs in a greenlet of its own (it silently never ran), for Group and Pool', async () => {
    const got: string[] = [];
    await run(function* () {
      for (const sp of [new Group(), new Pool(1)]) {
        const a = sp.applyAsync((x: number) => x * 2, [21], function* (v: number) { yield* sleep(0); got.push(`${sp.constructor.name} applyAsync ${v}`); });
        const m = sp.mapAsync((x: number) => x + 1, [1, 2], function* (vs: number[]) { yield* sleep(0); got.push(`${sp.constructor.name} mapAsync ${vs}`); });
        yield* joinall([a, m]);
        yield* sleep(0.01);
      }
    });
    expect(got).toEqual(['Group applyAsync 42', 'Group mapAsync 2,3', 'Pool applyAsync 42', 'Pool mapAsync 2,3']);
  });

  it('an async generator function is refused as a callback or a job, naming the fix', () => {
    expect(() => new Pool().applyAsync(() => 1, [], async function* cb() {} as never)).toThrow(/cannot run the async generator function cb/);
    expect(() => new Group().spawn(async function* job() {} as never)).toThrow(/cannot run the async generator function job/);
  });
});

describe('leaving a for await over an imap early stops it', () => {
  for (const kind of ['imap', 'imapUnordered'] as const) {
    it(`${kind}: break closes an endless source and starts nothing more (it fed the pool forever)`, async () => {
      let closed = false;
      let started = 0;
      function* endless() { try { for (let i = 0; ; i++) yield i; } finally { closed = true; } }
      const pool = new Pool(2);
      const seen: number[] = [];
      for await (const v of pool[kind](function* (x: number) { started++; yield* sleep(0.001); return x; }, endless())) {
        seen.push(v);
        if (seen.length === 3) break;
      }
      const startedAtBreak = started;
      await sleep(0.05);
      expect(closed).toBe(true);
      expect(started).toBe(startedAtBreak);
      expect(pool.len()).toBe(0);
      expect(seen).toHaveLength(3);
    });
  }

  it('a throw out of the loop stops it too; a loop that ran to the end is unchanged', async () => {
    let closed = false;
    function* endless() { try { for (let i = 0; ; i++) yield i; } finally { closed = true; } }
    const pool = new Pool(1);
    await expect((async () => {
      for await (const v of pool.imap((x: number) => x, endless())) if (v === 2) throw new Error('stop here');
    })()).rejects.toThrow('stop here');
    await sleep(0.01); // the feeder is killed; its finally runs on the hub's next turn
    expect(closed).toBe(true);
    const all: number[] = [];
    for await (const v of pool.imap((x: number) => x * 2, [1, 2, 3])) all.push(v);
    expect(all).toEqual([2, 4, 6]);
  });
});

describe('long pipelines hold only what is unread', () => {
  for (const kind of ['imap', 'imapUnordered'] as const) {
    it(`${kind}: 60,000 items through a Pool keep the results buffer bounded`, async () => {
      const pool = new Pool(4);
      function* many() { for (let i = 0; i < 60_000; i++) yield i; }
      const it = pool[kind]((x: number) => x, many());
      let biggest = 0;
      let n = 0;
      await new VirtualClock().run(function* () {
        for (let r = yield* it.next(); !r.done; r = yield* it.next()) {
          n++;
          biggest = Math.max(biggest, it._bufferLength);
        }
      });
      expect(n).toBe(60_000);
      expect(biggest).toBeLessThan(4096);
    }, 60_000);
  }
});

describe('imap({ maxsize }) as gevent\'s', () => {
  for (const kind of ['imap', 'imapUnordered'] as const) {
    it(`${kind}: a slow reader never has more than maxsize results started and unread`, async () => {
      const pool = new Pool(4);
      let started = 0;
      let read = 0;
      let most = 0;
      const out: number[] = [];
      await new VirtualClock().run(function* () {
        const it = pool[kind]((x: number) => { started++; return x; }, Array.from({ length: 40 }, (_, i) => i), { maxsize: 3 });
        for (let r = yield* it.next(); !r.done; r = yield* it.next()) {
          read++;
          out.push(r.value);
          yield* sleep(0.0005);
          most = Math.max(most, started - read);
        }
      });
      expect(out.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(most).toBeLessThanOrEqual(3);
    });
  }

  it('a bad maxsize is an error naming it; 0 and null mean no bound', async () => {
    const g = new Group();
    expect(() => g.imap(double, [1], { maxsize: 'x' as never })).toThrow(/Group.imap\(fn, items, \{ maxsize \}\) must be a whole number of results >= 1/);
    expect(() => g.imap(double, [1], { maxsize: -1 })).toThrow(RangeError);
    expect(() => new Pool(2).imapUnordered(double, [1], { maxsize: 1.5 })).toThrow(RangeError);
    expect(() => g.imap(double, [1], 3 as never)).toThrow(/Group.imap\(fn, items, options\) must be an options object/);
    const all: number[] = [];
    for await (const v of g.imap(double, [1, 2], { maxsize: 0 })) all.push(v);
    for await (const v of g.imap(double, [3], null)) all.push(v);
    expect(all).toEqual([2, 4, 6]);
  });
});

describe('deadlines are on the monotonic clock', () => {
  it('a wall-clock jump neither cuts nor stretches Group.join({ timeout }) or kill({ timeout })', async () => {
    const realNow = Date.now.bind(Date);
    let skew = 0;
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    try {
      const group = new Group();
      const r = await new VirtualClock().run(function* () {
        group.spawn(function* () { yield* sleep(0.02); });
        const join = group.join({ timeout: 5 });
        skew = 3600_000; // the clock jumps an hour ahead
        const joined = yield* join;
        const stubborn = group.spawn(function* () { try { yield* sleep(10); } catch { yield* sleep(0.02); } });
        const kill = group.kill({ timeout: 5 });
        skew = -3600_000; // and an hour back
        yield* kill;
        return [joined, stubborn.dead];
      });
      expect(r).toEqual([true, true]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('membership without a Set (links carry it)', () => {
  it('a greenlet in two groups, added with joiners already waiting, discarded and added again', async () => {
    const a = new Group();
    const b = new Pool(2);
    await new VirtualClock().run(function* () {
      const g = spawn(function* () { yield* sleep(0.01); return 1; });
      const joiners = [0, 1, 2].map(() => spawn(function* () { yield* g.join(); }));
      yield* sleep(0);
      a.add(g);
      a.add(g); // once only
      yield* b.add(g);
      expect([a.has(g), b.has(g), a.len(), b.len(), b.freeCount()]).toEqual([true, true, 1, 1, 1]);
      a.discard(g);
      expect([a.has(g), a.len(), b.has(g)]).toEqual([false, 0, true]);
      a.add(g);
      expect([a.has(g), a.greenlets]).toEqual([true, [g]]);
      const h = a.spawn(function* () { yield* sleep(0.02); });
      expect(a.greenlets).toEqual([g, h]);
      yield* joinall(joiners);
      expect([a.has(g), b.has(g), a.len(), b.len(), b.freeCount()]).toEqual([false, false, 1, 0, 2]);
      yield* a.join();
      expect(a.len()).toBe(0);
    });
  });

  it('has, contains and discard take anything: not a member', () => {
    const g = new Group();
    for (const x of [null, undefined, 3, {}, new Greenlet(function* () {})]) {
      expect(g.has(x as never)).toBe(false);
      expect(g.contains(x as never)).toBe(false);
      expect(() => g.discard(x as never)).not.toThrow();
    }
  });

  it('a member discarded while map waits for it frees its slot and still gives its value', async () => {
    const pool = new Pool(2);
    const r = await new VirtualClock().run(function* () {
      const m = spawn(() => pool.map(function* (x: number) { yield* sleep(0.01); return x; }, [1, 2, 3]));
      yield* sleep(0.001);
      const [first] = pool.greenlets;
      pool.discard(first!);
      const free = pool.freeCount();
      yield* sleep(0); // the map takes the freed slot for item 3
      return [free, pool.freeCount(), pool.has(first!), yield* m.get()];
    });
    expect(r).toEqual([1, 0, false, [1, 2, 3]]);
  });
});

describe('map observes the failure it throws', () => {
  it('an early failing item, long before the map ends, is thrown by the map and not also reported', async () => {
    const pool = new Pool(4);
    const exitCode = process.exitCode;
    let caught: unknown;
    const text = await captureErrors(() => run(function* () {
      try {
        // ~30,000 greenlets: many hub turns pass between item 3's death and the map's end.
        yield* pool.map((x: number) => { if (x === 3) throw new Error('item 3'); return x; }, Array.from({ length: 30_000 }, (_, i) => i));
      } catch (e) {
        caught = e;
      }
      yield* sleep(0.01); // the failure report, if any, is made on a later turn
    }));
    const code = process.exitCode;
    process.exitCode = exitCode;
    expect((caught as Error).message).toBe('item 3');
    expect(text).toBe('');
    expect(code).toBe(exitCode);
  });

  it('the first failure in item order is thrown, whatever order items fail in; a later one nobody observes is reported', async () => {
    const pool = new Pool(3);
    const exitCode = process.exitCode;
    let r: unknown;
    const text = await captureErrors(async () => {
      r = await new VirtualClock().run(function* () {
        try {
          yield* pool.map(function* (x: number) { yield* sleep((5 - x) / 1000); if (x % 2 === 1) throw new Error(`item ${x}`); return x; }, [0, 1, 2, 3, 4]);
          return null;
        } catch (e) {
          return (e as Error).message;
        }
      });
      await new Promise((done) => setTimeout(done, 20)); // item 3's report comes at the end of a later turn
    });
    const code = process.exitCode;
    process.exitCode = exitCode;
    expect(r).toBe('item 1');
    // Item 3 failed too, and nothing saw it: one report (gevent prints every failure), exit status 1.
    expect(text.match(/Error: item 3/g)?.length).toBe(1);
    expect(text).not.toMatch(/item 1/);
    expect(code).toBe(1);
  });
});

describe('Pool.spawn() as one Op object', () => {
  it('runs afresh each time, also in two greenlets at once while the pool is full, and from top-level code', async () => {
    const pool = new Pool(1);
    const seen: number[] = [];
    let n = 0;
    const job = function* () { const me = ++n; seen.push(me); yield* sleep(0.001); return me; };
    const r = await new VirtualClock().run(function* () {
      const op = pool.spawn(job);
      const first = yield* op;
      const [a, b] = [spawn(function* () { return yield* op; }), spawn(function* () { return yield* op; })];
      yield* joinall([a, b]);
      yield* pool.join();
      return [first.value, a.value!.value, b.value!.value, a.value === b.value];
    });
    expect(r).toEqual([1, 2, 3, false]);
    // Outside greenlets (a Greenlet is a thenable: the await gives the job's value).
    expect(await pool.spawn(job)).toBe(4);
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('a spawner killed after a release handed it the slot passes the slot on', async () => {
    const pool = new Pool(1);
    const r = await new VirtualClock().run(function* () {
      yield* pool.spawn(function* () { yield* sleep(0.01); });
      const waiter = spawn(function* () { yield* pool.spawn(function* () { return 'never'; }); });
      const next = spawn(function* () { return (yield* pool.spawn(function* () { return 'ran'; })).dead; });
      yield* sleep(0.005);
      // The member dies; its slot goes to `waiter`, which is killed before it runs.
      const [member] = pool.greenlets;
      member!.link(() => waiter.kill({ block: false }));
      yield* joinall([waiter, next]);
      yield* pool.join();
      return [pool.freeCount(), pool._sem.counter, pool._sem._inFlight, next.successful()];
    });
    expect(r).toEqual([1, 1, 0, true]);
  });
});

describe('kill of members that never started', () => {
  for (const name of ['Group', 'Pool'] as const) {
    it(`${name}: they leave at once and the group forgets it shot them`, async () => {
      const group = name === 'Group' ? new Group() : new Pool(3);
      await new VirtualClock().run(function* () {
        const gs = name === 'Group'
          ? [0, 1, 2].map(() => (group as Group).spawn(function* () { yield* sleep(1); }))
          : [yield* (group as Pool).spawn(function* () { yield* sleep(1); })];
        yield* group.kill();
        expect(gs.every((g) => g.dead)).toBe(true);
        expect(group.len()).toBe(0);
        const dying = (group instanceof Pool ? group._group : group)._dying;
        expect(dying.size).toBe(0);
      });
    });
  }
});

describe('map over any iterable', () => {
  it('a generator source is read lazily, closed when the map is killed, and its error is thrown', async () => {
    const pool = new Pool(2);
    const log: string[] = [];
    function* source(n: number, failAt = -1) {
      try {
        for (let i = 0; i < n; i++) {
          if (i === failAt) throw new Error(`source broke at ${i}`);
          log.push(`gave ${i}`);
          yield i;
        }
      } finally {
        log.push('closed');
      }
    }
    const r = await new VirtualClock().run(function* () {
      const slow = function* (x: number) { yield* sleep(0.01); return x; };
      const m = spawn(() => pool.map(slow, source(10)));
      yield* sleep(0.001); // two started, the third waits for a slot
      const before = [...log];
      m.kill({ block: false });
      yield* joinall([m]);
      const afterKill = [...log];
      log.length = 0;
      let err = '';
      try {
        yield* pool.map(slow, source(5, 3));
      } catch (e) {
        err = (e as Error).message;
      }
      return [before, afterKill, err, [...log], yield* pool.map(slow, new Set([1, 2, 3]))];
    });
    expect(r).toEqual([
      ['gave 0', 'gave 1', 'gave 2'],
      ['gave 0', 'gave 1', 'gave 2', 'closed'],
      'source broke at 3',
      ['gave 0', 'gave 1', 'gave 2', 'closed'],
      [1, 2, 3],
    ]);
  });

  it('an array that changes length while mapped is read as for-of reads it', async () => {
    const group = new Group();
    const items = [1, 2, 3];
    const grown = await new VirtualClock().run(() => group.map((x: number) => { if (x === 1) items.push(4); return x * 10; }, items));
    // The greenlets run after all items are started here: the push lands after the loop.
    expect(grown).toEqual([10, 20, 30]);
    const shrink = [1, 2, 3, 4, 5];
    const pool = new Pool(1);
    const cut = await new VirtualClock().run(() => pool.map((x: number) => { if (x === 2) shrink.length = 3; return x; }, shrink));
    expect(cut).toEqual([1, 2, 3]);
  });
});

describe('a member the group spawned leaves as it dies', () => {
  it('dead means gone: not a member, its slot already handed to the waiting spawner', async () => {
    const pool = new Pool(1);
    const group = new Group();
    const r = await new VirtualClock().run(function* () {
      const a = yield* pool.spawn(function* () { yield* sleep(0); return 1; });
      const b = group.spawn(function* () { return 2; });
      const waiter = spawn(function* () { return yield* pool.spawn(function* () { return 3; }); });
      yield* sleep(0); // a sleeps, b dies, waiter waits for a slot
      yield* sleep(0); // a dies
      const seen = [a.dead, pool.has(a), pool.len(), pool._sem._inFlight, b.dead, group.has(b), group.len()];
      const c = yield* waiter.get();
      return [...seen, yield* c.get()];
    });
    expect(r).toEqual([true, false, 0, 1, true, false, 0, 3]);
  });
});
