/**
 * local.ts: each greenlet sees its own values (also after an `await` in its async function),
 * main has its own, init runs once per greenlet, and values are held weakly: dropped at a
 * greenlet's death, collectable with a dropped local (measured with gc in a child process).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinall, run, sleep, spawn } from '../src/index.js';
import { local } from '../src/local.js';

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('local', () => {
  it('values never leak between greenlets', async () => {
    const ctx = local<{ user?: string }>();
    const seen = await run(function* () {
      const out: string[] = [];
      const a = spawn(function* () {
        ctx.user = 'ann';
        yield* sleep(0.002);
        out.push(`a sees ${ctx.user}`);
      });
      const b = spawn(function* () {
        out.push(`b sees ${ctx.user}`);
        ctx.user = 'bob';
        yield* sleep(0.004);
        out.push(`b sees ${ctx.user}`);
      });
      yield* joinall([a, b]);
      out.push(`runner sees ${ctx.user}`);
      return out;
    });
    expect(seen).toEqual(['b sees undefined', 'a sees ann', 'b sees bob', 'runner sees undefined']);
  });

  it('code outside any greenlet has its own values, as gevent main greenlet does', async () => {
    const ctx = local<{ n?: number }>();
    ctx.n = 1;
    const inside = await run(function* () { return ctx.n; });
    expect(inside).toBeUndefined();
    expect(ctx.n).toBe(1);
  });

  it('init gives each greenlet fresh starting values, once', async () => {
    let made = 0;
    const counter = local(() => { made++; return { hits: 0 }; });
    const hits = await run(function* () {
      const gs = [1, 2, 3].map((n) => spawn(function* () {
        for (let i = 0; i < n; i++) { counter.hits++; yield* sleep(0); }
        return counter.hits;
      }));
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(hits).toEqual([1, 2, 3]);
    expect(made).toBe(3);
  });

  it('in, delete and Object.keys see the current greenlet values', async () => {
    const ctx = local<{ a?: number; b?: number }>();
    const r = await run(function* () {
      ctx.a = 1;
      ctx.b = 2;
      delete ctx.a;
      return ['a' in ctx, 'b' in ctx, Object.keys(ctx)];
    });
    expect(r).toEqual([false, true, ['b']]);
  });

  it('code after an await in a greenlet async function sees that greenlet values (alice / mallory)', async () => {
    const session = local<{ user?: string }>();
    const replies = await run(function* () {
      // Two connections served by async functions: each sets its identity after an await,
      // waits again, then reads it back.
      const serve = async (user: string, delayMs: number) => {
        await tick(delayMs);
        session.user = user;
        await tick(3 * delayMs);
        return `${user} got: you are ${session.user}`;
      };
      const alice = spawn(serve, 'alice', 10);
      const mallory = spawn(serve, 'mallory', 5);
      return [yield* alice.get(), yield* mallory.get()];
    });
    expect(replies).toEqual(['alice got: you are alice', 'mallory got: you are mallory']);
    expect(session.user).toBeUndefined(); // main's own values were never touched
  });

  it('an async function called from a generator greenlet, and a callback it registers, see its values', async () => {
    const ctx = local<{ id?: number }>();
    const r = await run(function* () {
      const gs = [1, 2].map((id) => spawn(function* () {
        ctx.id = id;
        const afterAwait: number | undefined = yield (async () => { await tick(5 * id); return ctx.id; })();
        const inTimer: number | undefined = yield new Promise<number | undefined>((resolve) => setTimeout(() => resolve(ctx.id), 5));
        return [afterAwait, inTimer];
      }));
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(r).toEqual([[1, 1], [2, 2]]);
  });

  it('top-level code after an await keeps main values, apart from greenlets', async () => {
    const ctx = local<{ n?: number }>();
    ctx.n = 1;
    await tick(1);
    const inside = await run(async () => { ctx.n = 2; await tick(1); return ctx.n; });
    await tick(1);
    expect([inside, ctx.n]).toEqual([2, 1]);
  });

  it('greenlets made before the first local() (parked, unstarted, spawnLater) keep their own values across await', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'ctx-local-early.js')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['parked: parked', 'unstarted: unstarted', 'later: later', 'fresh: fresh']);
  }, 60_000);

  it('values are held weakly: dropped locals in a live greenlet and dead greenlets kept in a list keep nothing', () => {
    // Runs on dist/ (built by `npm test` before vitest runs), with --expose-gc.
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'ctx-local-gc.js')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ droppedLocalsAlive: 0, deadGreenletValuesAlive: 0, greenletsKept: 50, heapGrewUnder5Mb: true });
  }, 60_000);

  it('a non-function init is a TypeError naming the fix', () => {
    expect(() => local(42 as never)).toThrow(TypeError);
    expect(() => local(42 as never)).toThrow(/local\(init\) takes a function.*\(\) => \(\{ count: 0 \}\)/);
  });

  it('an init that returns no object is a TypeError at the first access, naming the fix', async () => {
    const bad = local(() => 5 as never);
    const err = await run(function* () {
      try { return (bad as Record<string, unknown>).x; } catch (e) { return e; }
    });
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/init must return an object.*got a number \(5\).*\{ count: 0 \}/);
  });
});
