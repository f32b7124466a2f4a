/**
 * local.ts: each greenlet sees its own values, main has its own, init runs once per greenlet,
 * and a greenlet's values are dropped when it dies.
 */
import { describe, expect, it } from 'vitest';
import { joinall, run, sleep, spawn } from '../src/index.js';
import { local, localOwnerCount } from '../src/local.js';

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

  it("drops a greenlet's values when it dies, even if the greenlet object is kept", async () => {
    const ctx = local<{ big?: number[] }>();
    await run(function* () {
      const gs = Array.from({ length: 50 }, () => spawn(function* () {
        ctx.big = [1, 2, 3];
        yield* sleep(0);
      }));
      yield* sleep(0);
      expect(localOwnerCount(ctx)).toBe(50);
      yield* joinall(gs);
      yield* sleep(0); // death links run on a later hub turn
      expect(gs.every((g) => g.dead)).toBe(true);
    });
    expect(localOwnerCount(ctx)).toBe(0);
  });

  it('a non-function init is a TypeError naming the fix', () => {
    expect(() => local(42 as never)).toThrow(TypeError);
    expect(() => local(42 as never)).toThrow(/local\(init\) takes a function.*\(\) => \(\{ count: 0 \}\)/);
  });
});
