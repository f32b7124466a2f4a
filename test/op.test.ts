/**
 * The suspension protocol: what a greenlet may yield and what it gets back, typed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  config,
  doneOp,
  DroppedOpError,
  Greenlet,
  Op,
  opFrom,
  PARK,
  run,
  sleep,
  spawn,
  toOp,
  Wait,
  wake,
} from '../src/index.js';
import { Queue } from '../src/queue.js';
import { captureErrors } from './capture-errors.js';

/** A Wait a test wakes by hand. */
class Hand<T> extends Wait<T> {
  parked: Greenlet | null = null;
  park(g: Greenlet): void {
    this.parked = g;
  }
}


describe('yield* op is typed', () => {
  it('infers the value of yield* on an Op, a Greenlet get and a generator', async () => {
    const v = await run(function* () {
      const g = spawn(function* () {
        yield* sleep(0);
        return 41;
      });
      const n: number = yield* g.get();
      const s: string = yield* opFrom(function* () {
        return 'x';
      });
      // @ts-expect-error a number is not a string: the Op's type flows through yield*
      const wrong: string = yield* g.get();
      void wrong;
      return n + s.length;
    });
    const typed: number = v;
    expect(typed).toBe(42);
  });

  it('infers the value of yield* on a Wait subclass instance', async () => {
    class Five extends Wait<number> {
      override poll(): number {
        return 5;
      }
      park(): void {}
    }
    const v = await run(function* () {
      const n: number = yield* new Five();
      // @ts-expect-error the Wait's type flows through yield*: a number is not a string
      const wrong: string = yield* new Five();
      void wrong;
      return n;
    });
    expect(v).toBe(5);
  });

  it('await on an Op outside greenlets runs it and gives its value', async () => {
    const op = opFrom(function* () {
      yield* sleep(0.001);
      return 'done';
    });
    const s: string = await op;
    expect(s).toBe('done');
  });
});

describe('every yieldable kind', () => {
  it('yield op without * runs the Op and gives its value (untyped)', async () => {
    const v = await run(function* () {
      return (yield opFrom(function* () {
        yield* sleep(0);
        return 7;
      })) as number;
    });
    expect(v).toBe(7);
  });

  it('yield op without * starts the op: it is not reported as dropped', async () => {
    const text = await captureErrors(() =>
      run(function* () {
        yield opFrom(function* () {
          yield* sleep(0);
        }, 'plainYield()');
        yield sleep(0.001);
      }),
    );
    expect(text).toBe('');
  });

  it('yield of a mustYield op (a patched Node call) runs it instead of throwing DroppedOpError', async () => {
    const v = await run(function* () {
      const op = opFrom(function* () {
        yield* sleep(0);
        return 'ran';
      }, 'patchedCall()');
      op.mustYield = true;
      return (yield op) as string;
    });
    expect(v).toBe('ran');
  });

  it('a yielded generator runs nested and its return value comes back', async () => {
    function* inner() {
      yield* sleep(0);
      return 'inner';
    }
    const v = await run(function* () {
      return (yield inner()) as string;
    });
    expect(v).toBe('inner');
  });

  it('a yielded generator object runs nested and its return value comes back', async () => {
    let calls = 0;
    function* inner() {
      while (++calls < 3) yield;
      return 'it';
    }
    const v = await run(function* () {
      return (yield inner()) as string;
    });
    expect(v).toBe('it');
    expect(calls).toBe(3);
  });

  it('a yielded plain iterator (not an Op, not a generator) is a TypeError naming the fix, not a busy loop', async () => {
    let calls = 0;
    const iterator: Iterator<unknown, string> = {
      next: () => (++calls, { value: undefined, done: false }),
    };
    const err = await run(function* () {
      try {
        yield iterator;
      } catch (e) {
        return e;
      }
      return null;
    });
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain('has a next() method but is not an Op or a generator');
    expect((err as Error).message).toContain('yield* q.get()');
    expect(calls).toBe(0);
  });

  it('a yielded thenable gives its value', async () => {
    const v = await run(function* () {
      return (yield new Promise((r) => setTimeout(() => r("later"), 5))) as string;
    });
    expect(v).toBe('later');
  });

  it('a yielded rejected promise throws its reason at the yield', async () => {
    const v = await run(function* () {
      try {
        yield Promise.reject(new Error('nope'));
        return 'not thrown';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(v).toBe('nope');
  });

  it('a bare yield lets other greenlets run (sleep(0))', async () => {
    const order: string[] = [];
    await run(function* () {
      const other = spawn(function* () {
        order.push('other');
      });
      order.push('before');
      yield;
      order.push('after');
      yield* other.join();
    });
    expect(order).toEqual(['before', 'other', 'after']);
  });

  it('an object with [toOp]() is waited on through its Op', async () => {
    class Door {
      [toOp](): Op<string> {
        return opFrom(function* () {
          yield* sleep(0);
          return 'opened';
        });
      }
    }
    const v = await run(function* () {
      return (yield new Door()) as string;
    });
    expect(v).toBe('opened');
  });

  for (const [label, value, named] of [
    ['a number', 42, 'a number (42)'],
    ['a string', 'hello', 'a string ("hello")'],
    ['an array', [1, 2], 'an array'],
    ['a plain object', { a: 1 }, 'an object'],
  ] as const) {
    it(`yielding ${label} throws a TypeError at that yield naming it and the fix`, async () => {
      const err = await run(function* () {
        try {
          yield value;
        } catch (e) {
          return e;
        }
        return null;
      });
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toContain(`yielded ${named}`);
      expect((err as Error).message).toContain('yield* an Op');
    });
  }

  it('the greenlet survives the TypeError and can keep going', async () => {
    const v = await run(function* () {
      try {
        yield 3;
      } catch {
        /* expected */
      }
      yield* sleep(0);
      return 'alive';
    });
    expect(v).toBe('alive');
  });
});

describe('Wait', () => {
  it('poll finishing at once does not switch', async () => {
    class Ready extends Wait<number> {
      override poll(): number {
        return 5;
      }
      park(): void {
        throw new Error('never parks');
      }
    }
    const order: string[] = [];
    const v = await run(function* () {
      spawn(function* () {
        order.push('other');
      });
      const n = yield* new Ready();
      order.push('after poll');
      return n;
    });
    expect(v).toBe(5);
    expect(order[0]).toBe('after poll');
  });

  it('park then wake delivers the value to yield*', async () => {
    const w = new Hand<string>();
    const g = spawn(function* () {
      return yield* w;
    });
    await run(function* () {
      yield* sleep(0);
    });
    expect(w.parked).toBe(g);
    expect(wake(g, 'hi')).toBe(true);
    expect(wake(g, 'twice')).toBe(false); // at most once
    expect(await g).toBe('hi');
  });

  it('a park that throws fails at that yield', async () => {
    class Broken extends Wait<void> {
      park(): void {
        throw new RangeError('bad park');
      }
    }
    const msg = await run(function* () {
      try {
        yield* new Broken();
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    });
    expect(msg).toBe('bad park');
  });

  it('a wait woken by its own time limit and killed before it ran does not undo anything', async () => {
    const undone: unknown[] = [];
    class Slot extends Wait<boolean> {
      constructor() {
        super();
        this.expireAfter(10, 'Slot({ timeout })');
      }
      park(): void {}
      override timedOut(): boolean {
        return false;
      }
      override undo(_g: Greenlet, value: unknown): void {
        undone.push(value);
      }
    }
    const slot = new Slot();
    const waiter = spawn(function* () {
      return yield* slot;
    });
    await run(function* () {
      yield* sleep(0.01); // the waiter is parked on the slot now
      // Its time limit runs out (what the timer heap calls), and in the same hub turn,
      // before the waiter runs, it is killed.
      slot.fire();
      yield* waiter.kill();
    });
    expect(waiter.successful()).toBe(true); // killed with GreenletExit
    expect(undone).toEqual([]);
  });

  it('PARK is a unique symbol', () => {
    expect(typeof PARK).toBe('symbol');
  });
});

describe('park() edge cases', () => {
  it('a Wait whose park() wakes the greenlet at once gives that value', async () => {
    class AtOnce extends Wait<string> {
      park(g: Greenlet): void {
        wake(g, 'now');
      }
    }
    expect(await run(function* () { return yield* new AtOnce(); })).toBe('now');
  });

  it("a Wait whose park() throws: the error is thrown at the yield and the greenlet goes on", async () => {
    class Broken extends Wait<string> {
      park(): void {
        throw new Error('park broke');
      }
    }
    const out = await run(function* () {
      let msg = '';
      try {
        yield* new Broken();
      } catch (e) {
        msg = (e as Error).message;
      }
      yield* sleep(0.001);
      return msg;
    });
    expect(out).toBe('park broke');
  });
});

describe('dropped Ops', () => {
  it('an Op created in a greenlet and never started is thrown into it at its next switch, naming the op and the fix', async () => {
    const err = await run(function* forgetful() {
      sleep(0.5); // forgot yield*
      try {
        yield* sleep(0);
      } catch (e) {
        return e;
      }
      return null;
    });
    expect(err).toBeInstanceOf(DroppedOpError);
    const msg = (err as Error).message;
    expect(msg).toContain('sleep(0.5) was created in <Greenlet');
    expect(msg).toContain('forgetful');
    expect(msg).toContain('write `yield* sleep(0.5)`');
    expect(msg).toContain('GEVENTJS_DEBUG=1 or config.debug = true');
  });

  it('an Op dropped as the greenlet ends fails the greenlet', async () => {
    const g = spawn(function* () {
      opFrom(function* () {}, 'myOp()');
    });
    const text = await captureErrors(async () => { await g.join(); });
    expect(g.exception).toBeInstanceOf(DroppedOpError);
    expect((g.exception as Error).message).toContain('myOp() was created in');
    expect(text).toBe(''); // the join observed the failure: it is the caller's, not printed
  });

  it('with several Ops outstanding, only the unstarted ones are reported, oldest first, whatever order the others start in', async () => {
    const err = await run(function* () {
      const a = opFrom(function* () { return 1; }, 'a()');
      opFrom(function* () {}, 'b()'); // forgot yield*
      const c = opFrom(function* () { return 3; }, 'c()');
      opFrom(function* () {}, 'd()'); // forgot yield*
      const e = opFrom(function* () { return 5; }, 'e()');
      // Started newest first and out of order: each is found wherever it waits.
      const got = [yield* e, yield* a, yield* c];
      expect(got).toEqual([5, 1, 3]);
      try {
        yield* sleep(0);
      } catch (x) {
        return x;
      }
      return null;
    });
    expect(err).toBeInstanceOf(DroppedOpError);
    const msg = (err as Error).message;
    expect(msg).toContain('b() was created in');
    expect(msg).toContain('d() was created in');
    expect(msg.indexOf('b() was created')).toBeLessThan(msg.indexOf('d() was created'));
    for (const started of ['a()', 'c()', 'e()']) expect(msg).not.toContain(`${started} was created`);
  });

  it('an Op made and started at once after a forgotten one leaves only the forgotten one reported', async () => {
    const err = await run(function* () {
      const q = new Queue<number>();
      q.put(1); // forgot yield*
      yield* q.put(2); // made and started at once, behind the forgotten one
      try {
        yield* sleep(0);
      } catch (x) {
        return [x, q.qsize()] as const;
      }
      return null;
    });
    expect(err).not.toBeNull();
    const [x, size] = err!;
    expect(x).toBeInstanceOf(DroppedOpError);
    expect((x as Error).message.match(/was created in/g)).toHaveLength(1);
    expect((x as Error).message).toContain('Queue.put() was created in');
    expect(size).toBe(1); // only the started put ran
  });

  it('doneOp is never reported', async () => {
    const text = await captureErrors(() =>
      run(function* () {
        doneOp(1);
        yield* sleep(0);
      }),
    );
    expect(text).toBe('');
  });

  it('a mustYield op throws DroppedOpError into the greenlet at its next switch', async () => {
    const err = await run(function* () {
      const op = opFrom(function* () {}, 'patchedCall()');
      op.mustYield = true;
      try {
        yield* sleep(0);
      } catch (e) {
        return e;
      }
      return null;
    });
    expect(err).toBeInstanceOf(DroppedOpError);
    expect((err as Error).message).toContain('patchedCall() was created in');
  });
});

describe('an Op whose constructor throws is not "dropped"', () => {
  it('a bad { timeout } throws at the call, and nothing is reported or thrown later', async () => {
    class Timed extends Wait<void> {
      constructor(timeout: number) {
        super();
        this.expireAfter(timeout, 'Timed({ timeout })');
      }
      park(): void {}
    }
    const text = await captureErrors(async () => {
      expect(() => new Timed(-1)).toThrow(RangeError); // outside greenlets
      const inside = await run(function* () {
        try {
          new Timed(NaN);
        } catch {
          // handled
        }
        yield* sleep(0); // no DroppedOpError here
        return 'fine';
      });
      expect(inside).toBe('fine');
      await new Promise((r) => setImmediate(r));
    });
    expect(text).toBe('');
  });
});

describe('await op in a program that imports only a subpath', () => {
  it("require('geventjs/queue') alone: await q.put() and await q.get() work (no 'greenlet.ts is not loaded')", () => {
    const queueJs = join(__dirname, '..', 'dist', 'src', 'queue.js');
    const r = spawnSync(
      process.execPath,
      ['-e', `const { Queue } = require(${JSON.stringify(queueJs)}); const q = new Queue();
        (async () => { await q.put(5); console.log(await q.get()); })();`],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('5');
  });
});

describe('forgotten yields in programs', () => {
  const fixture = join(__dirname, 'fixtures', 'hub-dropped.js');
  const dist = join(__dirname, '..', 'dist', 'src');
  function program(mode: string, env: Record<string, string> = {}) {
    return spawnSync(process.execPath, [fixture, dist, mode], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, GEVENTJS_DEBUG: '', ...env },
    });
  }

  it('an Op made outside greenlets and never awaited is reported before the next turn, naming the call and the fix', () => {
    const r = program('forgotten');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(
      'geventjs: Queue.put() was created outside any greenlet but never started, so it did nothing; ' +
        '`await` it (`await Queue.put()`), or `yield*` it inside a greenlet' +
        ' (set GEVENTJS_DEBUG=1 or config.debug = true to see the line that made it)',
    );
    expect(lines[1]).toBe('next turn; queue has 0 items');
    expect(r.status).toBe(0);
  });

  it('Ops made by an async function run as a greenlet are never blamed on the next greenlet that switches; a forgotten one is reported', () => {
    const r = program('asyncGreenlet');
    expect(r.stdout).toBe('["item","returned","innocent done"] 0\n');
    expect(r.stderr).toBe(
      'geventjs: Queue.put() was created outside any greenlet but never started, so it did nothing; ' +
        '`await` it (`await Queue.put()`), or `yield*` it inside a greenlet' +
        ' (set GEVENTJS_DEBUG=1 or config.debug = true to see the line that made it)\n',
    );
    expect(r.status).toBe(0);
  });

  it('a greenlet spinning on sleep(0) cannot mute the report', () => {
    const r = program('spinning');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toContain('Queue.put() was created outside any greenlet but never started');
    expect(lines[1]).toBe('after 500 ms');
  });

  it('with GEVENTJS_DEBUG=1 the report shows the line that made it, starting at the user frame', () => {
    const r = program('forgotten', { GEVENTJS_DEBUG: '1' });
    expect(r.stderr).toMatch(/\n {2}created at .*hub-dropped\.js:\d+:\d+\)?\n/);
    expect(r.stderr).not.toMatch(/created at .*(src|dist)[/\\](op|hub|queue)\./);
    const inside = program('inside', { GEVENTJS_DEBUG: '1' });
    expect(inside.stdout).toMatch(/write `yield\* Pool\.spawn\(\)`\n {2}created at .*hub-dropped\.js:\d+:\d+\)?\n/);
  });

  it('Ops that are awaited, run, given to withTimeout/joinall, and kill()/killall() without a wait are never reported', () => {
    const r = program('started');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(JSON.stringify([1, 2, 'none', 1, true, true]));
  });

  it('inside a greenlet a dropped Pool.spawn() is thrown at the next switch naming the call and `yield*`; a kill() is not', () => {
    const r = program('inside');
    expect(r.stdout).toContain(
      'true Pool.spawn() was created in <Greenlet "Greenlet-',
    );
    expect(r.stdout).toContain('never started, so it did nothing; write `yield* Pool.spawn()`');
    expect(r.stdout).toContain('job ran: false');
    expect(r.stderr).toBe('');
  });
});
