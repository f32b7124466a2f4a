/**
 * event.ts: Event and AsyncResult: waking all waiters in order, timeouts giving the flag,
 * kills that leave no waiter behind, wait()/iwait() over them, await and yield, bad input.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { iwait, joinall, run, sleep, spawn, Timeout, wait } from '../src/index.js';
import { AsyncResult, Event } from '../src/event.js';
import { captureErrors } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';

describe('Event', () => {
  it('set wakes every waiter, in the order they started waiting, each with true', async () => {
    const ev = new Event();
    const order: number[] = [];
    const got = await new VirtualClock().run(function* () {
      const gs = [0, 1, 2, 3].map((i) =>
        spawn(function* () {
          const flag = yield* ev.wait();
          order.push(i);
          return flag;
        }),
      );
      yield* sleep(0);
      expect(ev._waiters.size).toBe(4);
      ev.set();
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(got).toEqual([true, true, true, true]);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(ev._waiters.size).toBe(0);
  });

  it('wait on a set event returns true without parking; clear makes the next wait park again', async () => {
    const ev = new Event();
    ev.set();
    expect(ev.isSet()).toBe(true);
    expect(ev.ready()).toBe(true);
    expect(await new VirtualClock().run(function* () { return yield* ev.wait(); })).toBe(true);
    ev.clear();
    expect(ev.isSet()).toBe(false);
    expect(await new VirtualClock().run(function* () { return yield* ev.wait({ timeout: 0.01 }); })).toBe(false);
  });

  it('wait({ timeout }) gives false when the time runs out and leaves no waiter behind', async () => {
    const ev = new Event();
    const flag = await new VirtualClock().run(function* () { return yield* ev.wait({ timeout: 0.02 }); });
    expect(flag).toBe(false);
    expect(ev._waiters.size).toBe(0);
    expect(await new VirtualClock().run(function* () { return yield* ev.wait({ timeout: 0 }); })).toBe(false);
  });

  it('a killed waiter is removed from the list and is not woken by set', async () => {
    const ev = new Event();
    const woke: string[] = [];
    await new VirtualClock().run(function* () {
      const a = spawn(function* () { yield* ev.wait(); woke.push('a'); });
      const b = spawn(function* () { yield* ev.wait(); woke.push('b'); });
      yield* sleep(0);
      yield* a.kill();
      expect(ev._waiters.size).toBe(1);
      ev.set();
      yield* joinall([a, b]);
    });
    expect(woke).toEqual(['b']);
  });

  it('a Timeout around wait cancels it: the waiter list is empty afterwards', async () => {
    const ev = new Event();
    const caught = await new VirtualClock().run(function* () {
      const t = Timeout.start(0.02);
      try {
        yield* ev.wait();
        return 'no';
      } catch (e) {
        return e === t ? 'timeout' : 'other';
      } finally {
        t.cancel();
      }
    });
    expect(caught).toBe('timeout');
    expect(ev._waiters.size).toBe(0);
  });

  it('wait() and iwait() from wait.ts accept an Event and see it once set', async () => {
    const a = new Event();
    const b = new Event();
    const result = await new VirtualClock().run(function* () {
      spawn(function* () { yield* sleep(0.01); b.set(); yield* sleep(0.01); a.set(); });
      const it = iwait([a, b]);
      const order: Event[] = [];
      for (let r = yield* it.next(); !r.done; r = yield* it.next()) order.push(r.value);
      const again = yield* wait([a, b]);
      return [order[0] === b, order[1] === a, again.length];
    });
    expect(result).toEqual([true, true, 2]);
  });

  it('rawlink calls back once when set, later if already set; unlink removes it', async () => {
    const ev = new Event();
    const calls: string[] = [];
    const cb = (e: Event) => calls.push(`one ${e.isSet()}`);
    const gone = () => calls.push('gone');
    ev.rawlink(cb);
    ev.rawlink(gone);
    ev.unlink(gone);
    ev.set();
    ev.set();
    expect(calls).toEqual(['one true']);
    ev.rawlink(() => calls.push('late'));
    expect(calls).toEqual(['one true']);
    await Promise.resolve();
    expect(calls).toEqual(['one true', 'late']);
  });

  it('a link callback that throws is reported and the other callbacks still run', async () => {
    const ev = new Event();
    const calls: string[] = [];
    const { config } = await import('../src/index.js');
    const old = config.errorStream;
    let report = '';
    config.errorStream = { write: (s: string) => { report += s; return true; } } as never;
    try {
      ev.rawlink(() => { throw new Error('bad link'); });
      ev.rawlink(() => calls.push('second'));
      ev.set();
    } finally {
      config.errorStream = old;
    }
    expect(calls).toEqual(['second']);
    expect(report).toMatch(/bad link/);
  });

  it('bad input: a negative or non-number timeout, a non-function link', () => {
    const ev = new Event();
    expect(() => ev.wait({ timeout: -1 })).toThrow(RangeError);
    expect(() => ev.wait({ timeout: 'soon' as never })).toThrow(TypeError);
    expect(() => ev.wait({ timeout: NaN })).toThrow(/timeout/);
    expect(() => ev.rawlink(42 as never)).toThrow(TypeError);
    // gevent's positional ev.wait(5) must not silently wait forever
    expect(() => ev.wait(5 as never)).toThrow(/options object.*\{ timeout: 1 \}/);
  });
});

describe('AsyncResult', () => {
  it('get waits for set and gives the typed value to every waiter', async () => {
    const ar = new AsyncResult<number>();
    const got = await new VirtualClock().run(function* () {
      const gs = [1, 2].map(() => spawn(function* () { const v: number = yield* ar.get(); return v * 2; }));
      yield* sleep(0.01);
      ar.set(21);
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(got).toEqual([42, 42]);
    expect([ar.ready(), ar.successful(), ar.value, ar.exception]).toEqual([true, true, 21, undefined]);
  });

  it('setException: get throws it, wait gives undefined, successful is false', async () => {
    const ar = new AsyncResult<string>();
    const err = new Error('boom');
    let got: unknown[] = [];
    await captureErrors(async () => { got = await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* ar.get(); });
      const w = spawn(function* () { return yield* ar.wait(); });
      yield* sleep(0);
      ar.setException(err);
      yield* joinall([g, w]);
      return [g.exception, w.value];
    }); });
    expect(got).toEqual([err, undefined]);
    expect(ar.successful()).toBe(false);
    expect(ar.exception).toBe(err);
    expect(() => ar.getNowait()).toThrow(err);
  });

  it('get({ timeout }) throws a Timeout; get({ block: false }) and getNowait throw one at once', async () => {
    const ar = new AsyncResult<number>();
    const errs = await new VirtualClock().run(function* () {
      const out: unknown[] = [];
      for (const opts of [{ timeout: 0.02 }, { block: false }]) {
        try {
          yield* ar.get(opts);
        } catch (e) {
          out.push(e);
        }
      }
      return out;
    });
    expect(errs.map((e) => e instanceof Timeout)).toEqual([true, true]);
    expect(() => ar.getNowait()).toThrow(Timeout);
    expect(ar._waiters.size).toBe(0);
  });

  it('wait({ timeout }) gives undefined when nothing came, the value when it did', async () => {
    const ar = new AsyncResult<string>();
    expect(await new VirtualClock().run(function* () { return yield* ar.wait({ timeout: 0.01 }); })).toBeUndefined();
    ar.set('v');
    expect(await new VirtualClock().run(function* () { return yield* ar.wait({ timeout: 0.01 }); })).toBe('v');
    expect(ar.getNowait()).toBe('v');
  });

  it('is awaitable: resolves with the value, rejects with the exception', async () => {
    const ok = new AsyncResult<number>();
    setTimeout(() => ok.set(7), 5);
    expect(await ok).toBe(7);
    const bad = new AsyncResult<number>();
    setTimeout(() => bad.setException(new Error('nope')), 5);
    await expect(bad).rejects.toThrow('nope');
  });

  it('types: yield* get() infers T, wait() T | undefined, await gives T', async () => {
    const ar = new AsyncResult<{ n: number }>();
    ar.set({ n: 1 });
    await new VirtualClock().run(function* () {
      const v = yield* ar.get();
      expectTypeOf(v).toEqualTypeOf<{ n: number }>();
      const w = yield* ar.wait();
      expectTypeOf(w).toEqualTypeOf<{ n: number } | undefined>();
      expect([v.n, w?.n]).toEqual([1, 1]);
    });
    const x = await ar;
    expectTypeOf(x).toEqualTypeOf<{ n: number }>();
  });

  it('`yield ar` waits for it like get()', async () => {
    const ar = new AsyncResult<string>();
    const v = await new VirtualClock().run(function* () {
      spawn(function* () { yield* sleep(0.01); ar.set('yielded'); });
      return (yield ar) as string;
    });
    expect(v).toBe('yielded');
  });

  it('a killed getter leaves no waiter and gets nothing', async () => {
    const ar = new AsyncResult<number>();
    await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* ar.get(); });
      yield* sleep(0);
      yield* g.kill();
      expect(ar._waiters.size).toBe(0);
      ar.set(1);
      yield* sleep(0);
      expect(g.successful()).toBe(true); // GreenletExit
    });
  });

  it('iwait accepts AsyncResults', async () => {
    const ar = new AsyncResult<number>();
    const r = await new VirtualClock().run(function* () {
      spawn(function* () { ar.set(5); });
      return yield* wait([ar]);
    });
    expect(r[0]).toBe(ar);
  });

  it('bad input: bad timeout, non-function link', () => {
    const ar = new AsyncResult();
    expect(() => ar.get({ timeout: -0.5 })).toThrow(RangeError);
    expect(() => ar.wait({ timeout: 'x' as never })).toThrow(TypeError);
    expect(() => ar.rawlink(null as never)).toThrow(/function/);
    expect(() => ar.get(false as never)).toThrow(TypeError);
    expect(() => ar.wait(1 as never)).toThrow(TypeError);
  });
});

describe('link callbacks, options and shared waits', () => {
  it('rawlink refuses a generator or async generator function (called inside set() it would silently never run)', () => {
    const fix = /runs its callback inside set\(\) and cannot run the generator function job; pass a plain function, and spawn a greenlet from it/;
    expect(() => new Event().rawlink(function* job() {} as never)).toThrow(fix);
    expect(() => new AsyncResult().rawlink(function* job() {} as never)).toThrow(fix);
    expect(() => new Event().rawlink(async function* job() {} as never)).toThrow(/cannot run the async generator function job/);
  });

  it('a rawlink callback that unlinks a later one stops it, for Event and AsyncResult', () => {
    const ev = new Event();
    const ar = new AsyncResult<number>();
    const calls: string[] = [];
    const later = (): void => void calls.push('later');
    ev.rawlink(() => { calls.push('ev first'); ev.unlink(later); });
    ev.rawlink(later);
    ar.rawlink(() => { calls.push('ar first'); ar.unlink(later); });
    ar.rawlink(later);
    ev.set();
    ar.set(1);
    expect(calls).toEqual(['ev first', 'ar first']);
  });

  it('null means no options; bad options are TypeErrors naming the fix', async () => {
    const ev = new Event();
    const ar = new AsyncResult<number>();
    expect(() => ev.wait(5 as never)).toThrow(/Event.wait\(options\) takes an options object, got a number \(5\)/);
    expect(() => ar.get({ block: 'no' as never })).toThrow(/AsyncResult.get\(\{ block \}\) must be true or false, got a string \("no"\)/);
    expect(() => ar.wait('x' as never)).toThrow(TypeError);
    ev.set();
    ar.set(3);
    expect([await ev.wait(null), await ar.get(null), await ar.wait(null)]).toEqual([true, 3, 3]);
  });

  it('options are read as own properties only: a polluted Object.prototype changes nothing', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    const ev = new Event();
    const ar = new AsyncResult<string>();
    const got: unknown[] = [];
    proto.timeout = 0.001;
    proto.block = false;
    try {
      await new VirtualClock().run(function* () {
        const gs = [
          spawn(function* () { got.push(yield* ev.wait({})); }),
          spawn(function* () { got.push(yield* ar.get({})); }),
          spawn(function* () { got.push(yield* ar.wait({})); }),
        ];
        yield* sleep(0.02);
        ev.set();
        ar.set('v');
        yield* joinall(gs);
      });
    } finally {
      delete proto.timeout;
      delete proto.block;
    }
    expect(got).toEqual([true, 'v', 'v']);
  });

  it('one wait Op yielded by two greenlets at once: each gets the result or a clear refusal, none hangs', async () => {
    const ev = new Event();
    const ar = new AsyncResult<number>();
    let r: unknown[] = [];
    // Made outside the greenlets that share them (an Op made in a greenlet that switches
    // without starting it is a dropped Op, an error, whoever starts it later).
    const w = ev.wait();
    const g = ar.get();
    await captureErrors(async () => { r = await new VirtualClock().run(function* () {
      const gs = [w, w, g, g].map((op) => spawn(function* () { return yield* op; }));
      yield* sleep(0);
      ev.set();
      ar.set(9);
      yield* joinall(gs);
      const refused = (x: (typeof gs)[number]) => /is already being waited on by/.test(String(x.exception)) ? 'refused' : String(x.exception);
      return gs.map((x) => (x.successful() ? x.value : refused(x)));
    }); });
    expect(r[0]).toBe(true);
    expect([true, 'refused']).toContain(r[1]);
    expect(r[2]).toBe(9);
    expect([9, 'refused']).toContain(r[3]);
  });
});
