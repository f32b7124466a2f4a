/**
 * Timeout: start/cancel/pending/using, nesting, custom exceptions, cancelling the wait it
 * interrupts, its race with a kill, withTimeout, and bad input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Greenlet,
  GreenletExit,
  joinall,
  ParkingLot,
  PARK,
  run,
  sleep,
  spawn,
  Timeout,
  Wait,
  wake,
  withTimeout,
} from '../src/index.js';
import { timers } from '../src/hub.js';
import { VirtualClock } from '../src/testing.js';

/** A FIFO of tokens whose take() parks; it hands a token straight to the first waiter. */
class TokenBox {
  tokens: number[] = [];
  waiters = new ParkingLot<TakeWait>();
  put(t: number): void {
    for (let w = this.waiters.shift(); w !== null; w = this.waiters.shift()) {
      if (wake(w.g!, t)) return;
    }
    this.tokens.push(t);
  }
  /** A token handed to a waiter that never got it: to the next waiter, or back at the front. */
  giveBack(t: number): void {
    for (let w = this.waiters.shift(); w !== null; w = this.waiters.shift()) {
      if (wake(w.g!, t)) return;
    }
    this.tokens.unshift(t);
  }
  take(): TakeWait {
    return new TakeWait(this);
  }
}

class TakeWait extends Wait<number> {
  constructor(private readonly box: TokenBox) {
    super();
  }
  override poll(): number | typeof PARK {
    return this.box.tokens.length !== 0 ? this.box.tokens.shift()! : super.poll();
  }
  park(): void {
    this.box.waiters.push(this);
  }
  override cancel(): void {
    this.box.waiters.remove(this);
  }
  override undo(_g: Greenlet, value: unknown): void {
    this.box.giveBack(value as number);
  }
}

describe('Timeout basics', () => {
  it('start arms it (pending) and cancel disarms it; a cancelled timeout never fires', async () => {
    const r = await new VirtualClock().run(function* () {
      const t = Timeout.start(0.01);
      const armed = t.pending;
      t.cancel();
      const afterCancel = t.pending;
      yield* sleep(0.03);
      return [armed, afterCancel];
    });
    expect(r).toEqual([true, false]);
  });

  it('fires at the parked yield* with the Timeout instance itself', async () => {
    const r = await new VirtualClock().run(function* () {
      const t = Timeout.start(0.01);
      try {
        yield* sleep(10);
        return 'slept';
      } catch (e) {
        return [e === t, t.pending, (e as Error).message];
      }
    });
    expect(r).toEqual([true, false, '0.01 seconds']);
  });

  it('`using` cancels it when the block ends', async () => {
    const t = await new VirtualClock().run(function* () {
      let kept: Timeout;
      {
        using t = Timeout.start(0.01);
        kept = t;
        yield* sleep(0);
        expect(t.pending).toBe(true);
      }
      expect(kept.pending).toBe(false);
      yield* sleep(0.03); // would have fired here
      return kept;
    });
    expect(t).toBeInstanceOf(Timeout);
  });

  it('null or Infinity seconds never fires', async () => {
    const r = await new VirtualClock().run(function* () {
      const a = Timeout.start(null);
      const b = Timeout.start(Infinity);
      yield* sleep(0.005);
      return [a.pending, b.pending];
    });
    expect(r).toEqual([false, false]);
  });

  it('a custom exception class is thrown as a new instance', async () => {
    class TooLong extends Error {}
    const e = await new VirtualClock().run(function* () {
      using _t = Timeout.start(0.005, TooLong);
      try {
        yield* sleep(10);
      } catch (e) {
        return e;
      }
    });
    expect(e).toBeInstanceOf(TooLong);
  });

  it('a custom exception instance is thrown as is', async () => {
    const mine = new Error('mine');
    const e = await new VirtualClock().run(function* () {
      using _t = Timeout.start(0.005, mine);
      try {
        yield* sleep(10);
      } catch (e) {
        return e;
      }
    });
    expect(e).toBe(mine);
  });

  it('a Timeout is cancelled when its greenlet dies', async () => {
    let t: Timeout | null = null;
    await new VirtualClock().run(function* () {
      t = Timeout.start(10);
    });
    expect(t!.pending).toBe(false);
  });
});

describe('nested timeouts each catch only their own', () => {
  function* nested(innerS: number, outerS: number) {
    const outer = Timeout.start(outerS);
    try {
      const inner = Timeout.start(innerS);
      try {
        yield* sleep(10);
      } catch (e) {
        if (e !== inner) throw e;
        return 'inner';
      } finally {
        inner.cancel();
      }
      return 'none';
    } catch (e) {
      if (e !== outer) throw e;
      return 'outer';
    } finally {
      outer.cancel();
    }
  }

  it('inner shorter: the inner catches it', async () => {
    expect(await new VirtualClock().run(() => nested(0.005, 0.5))).toBe('inner');
  });

  it('outer shorter: the inner lets it pass to the outer', async () => {
    expect(await new VirtualClock().run(() => nested(0.5, 0.005))).toBe('outer');
  });

  it('same deadline: exactly one catches, and nothing escapes', async () => {
    const r = await new VirtualClock().run(() => nested(0.01, 0.01));
    expect(['inner', 'outer']).toContain(r);
  });
});

describe('a Timeout firing while parked cancels that wait', () => {
  it('a join interrupted by a Timeout leaves nothing registered on the target', async () => {
    const target = spawn(function* () {
      yield* sleep(10);
    });
    const woke: string[] = [];
    await new VirtualClock().run(function* () {
      const t = Timeout.start(0.005);
      try {
        yield* target.join();
      } catch (e) {
        if (e !== t) throw e;
        woke.push('timed out');
      }
      // Killing the target now must not wake us: no joiner was left behind.
      yield* target.kill();
      yield* sleep(0.002);
    });
    expect(woke).toEqual(['timed out']);
  });

  it('a Wait interrupted by a Timeout consumes nothing: the token goes to the next taker', async () => {
    const box = new TokenBox();
    const r = await new VirtualClock().run(function* () {
      const t = Timeout.start(0.005);
      try {
        yield* box.take();
      } catch (e) {
        if (e !== t) throw e;
      }
      expect(box.waiters.size).toBe(0);
      box.put(7);
      return yield* box.take();
    });
    expect(r).toBe(7);
  });

  it('a kill of a greenlet woken with a token but not yet run gives the token back (undo)', async () => {
    const box = new TokenBox();
    const first = spawn(function* () {
      return yield* box.take();
    });
    const second = spawn(function* () {
      return yield* box.take();
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0); // both park, first in line
      box.put(1); // hands 1 to `first`, which is now ready but has not run
      first.kill({ block: false }); // ...so 1 must go back, to `second`
      box.put(2);
      yield* joinall([first, second]);
    });
    expect(first.value).toBeInstanceOf(GreenletExit);
    expect(second.value).toBe(1);
    expect(box.tokens).toEqual([2]);
  });

  it('property: random kills and timeouts never lose or duplicate a token', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            timeoutMs: fc.option(fc.integer({ min: 0, max: 4 })),
            killAfter: fc.option(fc.integer({ min: 0, max: 6 })),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
        async (takers, putDelays) => {
          const box = new TokenBox();
          const got: number[] = [];
          const gs = takers.map((spec) =>
            spawn(function* () {
              const t = spec.timeoutMs === null ? null : Timeout.start(spec.timeoutMs / 1000);
              try {
                const token = yield* box.take();
                got.push(token);
              } catch (e) {
                if (e !== t && !(e instanceof GreenletExit)) throw e;
              } finally {
                t?.cancel();
              }
            }),
          );
          await new VirtualClock().run(function* () {
            let tick = 0;
            for (let i = 0; i < putDelays.length; i++) {
              for (let d = 0; d < putDelays[i]!; d++) {
                yield* sleep(0.001);
                tick++;
                takers.forEach((s, j) => s.killAfter === tick && gs[j]!.kill({ block: false }));
              }
              box.put(i);
              // Kill someone woken by that put before it has run: the token must come back.
              takers.forEach((s, j) => s.killAfter === 0 && i === 0 && gs[j]!.kill({ block: false }));
            }
            for (const g of gs) g.kill({ block: false });
            for (const g of gs) yield* g.join();
          });
          for (const g of gs) expect(g.successful()).toBe(true);
          const all = [...got, ...box.tokens].sort((a, b) => a - b);
          expect(all).toEqual(putDelays.map((_, i) => i));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('Timeout and kill', () => {
  it('a Timeout firing while a kill is on its way does not replace the kill', async () => {
    const caught: unknown[] = [];
    let timeout: Timeout | null = null;
    const g = spawn(function* () {
      // 50 ms, not 5: under load a 5 ms window let the fresh arming fire before the 1 ms sleep ended.
      const t = (timeout = Timeout.start(0.05));
      try {
        yield* sleep(10);
      } catch (e) {
        caught.push(e);
      } finally {
        t.cancel();
        yield* sleep(0.002); // the withdrawn Timeout must not arrive here either
        caught.push('cleanup done');
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      // A timer entry due just before the Timeout kills g: both fire in one pass of the timer
      // heap, so the Timeout fires while the kill is delivered but not yet run.
      timers.add({ deadline: timeout!.deadline - 1, _heapIndex: -1, fire: () => void g.kill({ block: false }) });
      yield* g.join();
    });
    expect(caught).toHaveLength(2);
    expect(caught[0]).toBeInstanceOf(GreenletExit);
    expect(caught[1]).toBe('cleanup done');
    expect(g.successful()).toBe(true);
  });
});

describe('Timeout restarted', () => {
  it('a Timeout withdrawn and started again does not deliver its old firing', async () => {
    const log: unknown[] = [];
    let timeout: Timeout | null = null;
    const g = spawn(function* () {
      // 50 ms, not 5: under load a 5 ms window let the fresh arming fire before the 1 ms sleep ended.
      const t = (timeout = Timeout.start(0.05));
      try {
        yield* sleep(10);
      } catch (e) {
        log.push(e instanceof GreenletExit ? 'killed' : e);
      } finally {
        t.cancel(); // withdraws the firing queued behind the kill
        t.start(); // a fresh 50 ms: the old firing must stay withdrawn
        try {
          yield* sleep(0.001);
          log.push('slept');
        } catch (e) {
          log.push(e === t ? 'old timeout delivered' : e);
        } finally {
          t.cancel();
        }
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      timers.add({ deadline: timeout!.deadline - 1, _heapIndex: -1, fire: () => void g.kill({ block: false }) });
      yield* g.join();
    });
    expect(log).toEqual(['killed', 'slept']);
  });
});

describe('withTimeout', () => {
  it('gives the op value when it finishes in time', async () => {
    const v = await new VirtualClock().run(function* () {
      return yield* withTimeout(1, sleep(0.001));
    });
    expect(v).toBeUndefined();
    const n = await new VirtualClock().run(function* () {
      const r: number = yield* withTimeout(1, function* () {
        yield* sleep(0);
        return 5;
      });
      return r;
    });
    expect(n).toBe(5);
  });

  it('throws Timeout when time runs out and no timeoutValue is given', async () => {
    const e = await new VirtualClock().run(function* () {
      try {
        yield* withTimeout(0.005, sleep(10));
      } catch (e) {
        return e;
      }
    });
    expect(e).toBeInstanceOf(Timeout);
  });

  it('gives timeoutValue when time runs out', async () => {
    const v = await new VirtualClock().run(function* () {
      const r: string | void = yield* withTimeout(0.005, sleep(10), { timeoutValue: 'late' });
      return r;
    });
    expect(v).toBe('late');
  });

  it('from top-level code with await', async () => {
    await expect(withTimeout(0.005, sleep(10), { timeoutValue: null })).resolves.toBeNull();
  });
});

describe('bad input', () => {
  it('Timeout.start outside a greenlet is a TypeError naming the fix', () => {
    expect(() => Timeout.start(1)).toThrow(TypeError);
    expect(() => Timeout.start(1)).toThrow(/call it inside a greenlet, or use `await withTimeout\(seconds, op\)`/);
  });

  it('a negative, NaN or non-number seconds is a RangeError or TypeError naming the argument', () => {
    expect(() => new Timeout(-1)).toThrow(RangeError);
    expect(() => new Timeout(NaN)).toThrow(/Timeout\(seconds\) must be a number of seconds >= 0, got NaN/);
    expect(() => new Timeout('1' as never)).toThrow(TypeError);
    expect(() => withTimeout(-1, sleep(0))).toThrow(/withTimeout\(seconds\)/);
  });

  it('withTimeout options: null is no options, a non-object and a body it cannot run are TypeErrors before anything starts, inherited timeoutValue ignored', async () => {
    const r = await run(function* () {
      const plain: number = yield* withTimeout(1, function* () { return 1; }, null);
      let inheritedOut: unknown = 'not thrown';
      try {
        yield* withTimeout(0.001, sleep(10), Object.create({ timeoutValue: 'inherited' }) as { timeoutValue: string });
      } catch (e) {
        inheritedOut = (e as Error).name;
      }
      return [plain, inheritedOut];
    });
    expect(r).toEqual([1, 'Timeout']);
    expect(() => withTimeout(1, sleep(0), 5 as never)).toThrow(/withTimeout\(seconds, op, options\) must be an options object/);
    expect(() => withTimeout(1, 42 as never)).toThrow(TypeError);
    expect(() => withTimeout(1, null as never)).toThrow(/needs an Op, a generator, or a function returning one, got null/);
  });

  it('a non-error exception is a TypeError', () => {
    expect(() => new Timeout(1, 'x' as never)).toThrow(/Timeout\(seconds, exception\) must be an Error class or instance/);
  });

  it('starting a running timeout again is an error naming the fix', async () => {
    const msg = await new VirtualClock().run(function* () {
      const t = Timeout.start(1);
      try {
        t.start();
      } catch (e) {
        return (e as Error).message;
      } finally {
        t.cancel();
      }
    });
    expect(msg).toMatch(/already running; cancel\(\) it before start\(\) again/);
  });
});

describe('long limits', () => {
  it('Timeout.start(30 days) does not fire within milliseconds (it once wrapped past 2^31 ms)', async () => {
    const out = await run(function* () { // real time: Node's timer must not be armed for a wrapped delay
      const t = Timeout.start(30 * 86400);
      try {
        yield* sleep(0.05);
        return t.pending ? 'still pending' : 'not pending';
      } catch (e) {
        return e === t ? 'fired' : String(e);
      } finally {
        t.cancel();
      }
    });
    expect(out).toBe('still pending');
  });

  it('withTimeout(1e9, op) and Timeout(Infinity) let the op finish', async () => {
    const v = await withTimeout(1e9, opOf(function* () {
      yield* sleep(0.02);
      return 'done';
    }));
    expect(v).toBe('done');
    const w = await new VirtualClock().run(function* () {
      using t = Timeout.start(Infinity);
      yield* sleep(0.01);
      return t.pending;
    });
    expect(w).toBe(false); // Infinity is never armed
  });

  it('an exception class whose constructor throws: that error lands in the greenlet, the heap goes on', async () => {
    let made = 0;
    class Bad extends Error {
      constructor() {
        super('x');
        if (++made > 1) throw new Error('constructor broke'); // the check at start() passes
      }
    }
    const out = await new VirtualClock().run(function* () {
      Timeout.start(0.01, Bad);
      try {
        yield* sleep(1);
        return 'slept';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(out).toBe('constructor broke');
    expect(await new VirtualClock().run(function* () { yield* sleep(0.01); return 'heap alive'; })).toBe('heap alive');
  });
});

function opOf<T>(fn: () => Generator<unknown, T, unknown>) {
  return fn;
}
