/**
 * Greenlet and wait behaviours that follow gevent where geventjs used to differ: links that
 * unlink each other during notification, generator link callbacks, subclass spawn, killall's
 * Timeout, options given as null, spawnLater(Infinity), util.inspect, and AbortSignals in.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsyncResult, Event } from '../src/event.js';
import { Lock, RLock, Semaphore } from '../src/lock.js';
import { Group, Pool } from '../src/pool.js';
import { Queue } from '../src/queue.js';
import { untrack } from '../src/op.js';
import {
  getcurrent,
  Greenlet,
  GreenletExit,
  joinall,
  killall,
  killOnAbort,
  run,
  sleep,
  spawn,
  spawnLater,
  Timeout,
  wait,
  iwait,
  withSignal,
  abortable,
} from '../src/index.js';
import { captureErrors } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';

describe('links', () => {
  it('a link callback that unlinks a later one stops it, once notification has begun (gevent)', async () => {
    const calls: string[] = [];
    const g = spawn(() => 1);
    const second = (): void => {
      calls.push('second');
    };
    g.link(() => {
      calls.push('first');
      g.unlink(second);
    });
    g.link(second);
    g.rawlink(() => calls.push('raw'));
    await new VirtualClock().run(function* () {
      yield* g.join();
      yield* sleep(0);
    });
    expect(calls).toEqual(['first', 'raw']);
  });

  it('a generator function given to link() runs in its own greenlet, as gevent spawns link callbacks', async () => {
    const log: string[] = [];
    const g = spawn(() => 'done');
    g.link(function* (dead) {
      yield* sleep(0.001); // it may block: it is a greenlet
      log.push(`told ${dead.value} in ${getcurrent() === null ? 'no greenlet' : 'a greenlet'}`);
    });
    await new VirtualClock().run(function* () {
      yield* g.join();
      yield* sleep(0.02);
    });
    expect(log).toEqual(['told done in a greenlet']);
  });

  it('a generator function given to rawlink() is a TypeError naming the fix', () => {
    const g = spawn(() => 1);
    expect(() => g.rawlink(function* cb() {} as never)).toThrow(
      /rawlink\(\) callbacks run in the hub and cannot block, got the generator function cb; use link\(\)/,
    );
  });
});

describe('async generator functions', () => {
  it('spawn, Greenlet, spawnLater, run and link refuse an async function* with a TypeError naming the fix', () => {
    async function* agen() {}
    const fix = /cannot run the async generator function agen: a greenlet is a plain generator function; write function\*/;
    expect(() => spawn(agen as never)).toThrow(fix);
    expect(() => new Greenlet(agen as never)).toThrow(fix);
    expect(() => spawnLater(1, agen as never)).toThrow(fix);
    expect(() => run(agen as never)).toThrow(fix);
    const g = spawn(() => 1);
    expect(() => g.link(agen as never)).toThrow(fix);
  });
});

describe('every kill delivers (property)', () => {
  it('m kills to a greenlet that swallows n GreenletExits are each delivered once until it dies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
        async (swallow, gaps) => {
          let delivered = 0;
          let finallyRuns = 0;
          const victim = spawn(function* () {
            try {
              for (;;) {
                try {
                  yield* sleep(10);
                } catch (e) {
                  delivered++;
                  if (!(e instanceof GreenletExit) || delivered > swallow) throw e;
                }
              }
            } finally {
              finallyRuns++;
            }
          });
          await new VirtualClock().run(function* () {
            yield* sleep(0);
            for (const gap of gaps) {
              for (let i = 0; i < gap; i++) yield* sleep(0);
              victim.kill({ block: false });
            }
            for (let i = 0; i < 10; i++) yield* sleep(0);
          });
          const m = gaps.length;
          expect(delivered).toBe(Math.min(m, swallow + 1));
          expect(victim.dead).toBe(m > swallow);
          expect(finallyRuns).toBe(m > swallow ? 1 : 0);
          victim.kill({ block: false });
          for (let i = 0; i < swallow + 1; i++) victim.kill({ block: false });
          await victim.join();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('subclasses', () => {
  class Greeter extends Greenlet<string> {
    constructor(private readonly who: string) {
      super();
    }
    override *_run() {
      yield* sleep(0);
      return `hello ${this.who}`;
    }
  }

  it('MyGreenlet.spawn(...args) builds the subclass with those arguments (gevent classmethod)', async () => {
    const g = Greeter.spawn('world');
    expect(g).toBeInstanceOf(Greeter);
    const v: string = await g;
    expect(v).toBe('hello world');
  });

  it('MyGreenlet.spawnLater(seconds, ...args) builds the subclass and starts it later', async () => {
    const g = Greeter.spawnLater(0.005, 'later');
    expect(g).toBeInstanceOf(Greeter);
    expect(g.started).toBe(true);
    expect(await g).toBe('hello later');
  });
});

describe('killall', () => {
  it('{ timeout } throws Timeout when greenlets outlive it (gevent)', async () => {
    const stubborn = spawn(function* () {
      try {
        yield* sleep(10);
      } finally {
        yield* sleep(0.2);
      }
    });
    const caught = await run(function* () {
      yield* sleep(0);
      try {
        yield* killall([stubborn], { timeout: 0.01 });
      } catch (e) {
        return e;
      }
    });
    expect(caught).toBeInstanceOf(Timeout);
    expect(String((caught as Error).message)).toMatch(/1 of 1 greenlets still alive after 0.01 s/);
    await stubborn.join();
  });

  it('checks every option before it kills anything', () => {
    const g = spawn(function* () {
      yield* sleep(10);
    });
    expect(() => killall([g], { timeout: -1 })).toThrow(RangeError);
    expect(() => killall([g], { exception: 'no' as never })).toThrow(TypeError);
    expect(() => killall([g], { block: 'no' as never })).toThrow(/killall\(\{ block \}\) must be true or false/);
    expect(g.dead).toBe(false);
    g.kill({ block: false });
  });

  it('an unyielded killall() kills and is not reported as a dropped op', async () => {
    const gs = [spawn(() => sleep(10)), spawn(() => sleep(10))];
    const text = await captureErrors(() =>
      run(function* () {
        yield* sleep(0);
        killall(gs);
        yield* sleep(0.01);
      }),
    );
    expect(gs.every((g) => g.dead)).toBe(true);
    expect(text).toBe('');
  });
});

describe('options given as null', () => {
  it('join(null), get(null), kill(null) and the wait functions treat null as no options', async () => {
    const g = spawn(() => 5);
    const out = await new VirtualClock().run(function* () {
      yield* g.join(null);
      const v = yield* g.get(null);
      yield* joinall([g], null);
      const ready = yield* wait([g], null);
      const it = iwait([g], null);
      const first = yield* it.next();
      yield* g.kill(null);
      yield* killall([g], null);
      return [v, ready.length, first.value === g];
    });
    expect(out).toEqual([5, 1, true]);
  });

  it('options are read as own properties; a string block is a TypeError', () => {
    const g = spawn(() => 5);
    const inherited = Object.create({ timeout: -1 });
    // An inherited timeout is not an option. The Op is dropped on purpose: untracked, so no
    // "never started" report.
    expect(() => untrack(g.join(inherited))).not.toThrow();
    expect(() => g.get({ block: 'no' as never })).toThrow(/get\(\{ block \}\) must be true or false, got a string/);
    expect(() => g.join(5 as never)).toThrow(/join\(options\) must be an options object or undefined, got a number \(5\)/);
  });
});

describe('spawnLater(Infinity)', () => {
  it('never starts and holds nothing; a join of it is a wait that would block forever', async () => {
    const g = spawnLater(Infinity, () => 1);
    expect(g.started).toBe(true);
    const r = await new VirtualClock().run(function* () {
      yield* sleep(0.005);
      return yield* g.join({ timeout: 0.01 });
    });
    expect(r).toBeUndefined();
    expect(g.dead).toBe(false);
    g.kill({ block: false });
    expect(g.dead).toBe(true);
  });
});

describe('reports survive odd user code', () => {
  it('a subclass whose toString() throws, dying of a null-prototype object, is still reported', async () => {
    class Odd extends Greenlet<void> {
      override toString(): string {
        throw new Error('no name');
      }
      override *_run(): Generator<unknown, void> {
        throw Object.create(null);
      }
    }
    const text = await captureErrors(async () => {
      new Odd().start();
      await run(function* () {
        yield* sleep(0.02); // real time: the reports come at the end of a turn
      });
    });
    expect(text).toContain('an object was thrown: [Object: null prototype] {}');
    expect(text).toMatch(/a greenlet whose toString\(\) throws failed with an object/);
  });
});

describe('util.inspect', () => {
  it('shows the name and the state, not internals', async () => {
    const g = spawn(function* worker() {
      yield* sleep(10);
    });
    g.name = 'w1';
    expect(inspect(g)).toBe('<Greenlet "w1": worker> (ready to run)');
    await new VirtualClock().run(function* () {
      yield* sleep(0);
    });
    expect(inspect(g)).toBe('<Greenlet "w1": worker> (waiting on sleep(10))');
    expect(inspect(g)).not.toMatch(/_flags|_ctx|_resume/);
    await new VirtualClock().run(function* () {
      yield* g.kill();
    });
    expect(inspect(g)).toBe('<Greenlet "w1": worker> (dead (successful))');
  });
});

describe('util.inspect of the primitives', () => {
  it('Queue, Event, AsyncResult, Semaphore, Lock, RLock, Group and Pool show their state, not internals', async () => {
    const q = new Queue<number>(3, { items: [1, 2] });
    const ev = new Event();
    const ar = new AsyncResult<number>();
    const sem = new Semaphore(0);
    const lock = new Lock();
    const rlock = new RLock();
    const pool = new Pool(1);
    const seen = await run(function* () {
      const waiters = [spawn(function* () { yield* ev.wait(); }), spawn(function* () { yield* sem.acquire(); })];
      yield* rlock.acquire();
      yield* lock.acquire();
      yield* pool.spawn(function* () { yield* sleep(10); });
      yield* sleep(0);
      const out = [inspect(q), inspect(ev), inspect(ar), inspect(sem), inspect(lock), inspect(rlock), inspect(pool), inspect(new Group())];
      ev.set();
      ar.set(42);
      sem.release();
      out.push(inspect(ev), inspect(ar));
      yield* joinall(waiters);
      lock.release();
      rlock.release();
      yield* pool.kill();
      return out;
    });
    expect(seen).toEqual([
      '<Queue maxsize=3 size=2>',
      '<Event unset, 1 waiting>',
      '<AsyncResult unset>',
      '<Semaphore counter=0, 1 waiting>',
      '<Lock counter=0>',
      expect.stringMatching(/^<RLock owned by <Greenlet "Greenlet-\d+"> \(count 1\)>$/),
      '<Pool size=1 running=1>',
      '<Group 0 members>',
      '<Event set>',
      '<AsyncResult value=42>',
    ]);
    expect(seen.join(' ')).not.toMatch(/_waiters|_buf|_acquirers|ParkingLot/);
  });
});

describe('AbortSignal in', () => {
  it('run(main, { signal }): an abort is thrown at the suspension point as an AbortError whose cause is the reason', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const reason = new Error('client went away');
    const p = run(
      function* () {
        try {
          yield* sleep(10);
        } finally {
          log.push('finally ran');
        }
      },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(reason), 5);
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DOMException);
    expect((e as DOMException).name).toBe('AbortError');
    expect((e as Error).cause).toBe(reason);
    expect(log).toEqual(['finally ran']);
  });

  it('run() with an already aborted signal rejects without running', async () => {
    let ran = false;
    const e = await new VirtualClock().run(
      () => {
        ran = true;
      },
      { signal: AbortSignal.abort('early') },
    ).catch((err: unknown) => err);
    expect(ran).toBe(false);
    expect((e as Error).cause).toBe('early');
  });

  it('the abort can be caught, and the greenlet goes on', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5);
    const v = await new VirtualClock().run(
      function* () {
        try {
          yield* new Event().wait();
        } catch (e) {
          if ((e as Error).name !== 'AbortError') throw e;
        }
        return 'recovered';
      },
      { signal: controller.signal },
    );
    expect(v).toBe('recovered');
  }, 5_000);

  it('killOnAbort(g, signal) kills g with an AbortError; the listener goes away at death', async () => {
    const controller = new AbortController();
    const g = killOnAbort(
      spawn(function* () {
        yield* sleep(10);
      }),
      controller.signal,
    );
    await new VirtualClock().run(function* () {
      yield* sleep(0);
    });
    controller.abort('stop');
    await g.join();
    expect((g.exception as DOMException).name).toBe('AbortError');
    expect((g.exception as Error).cause).toBe('stop');

    const c2 = new AbortController();
    const quick = killOnAbort(spawn(() => 1), c2.signal);
    await quick;
    await new VirtualClock().run(function* () {
      yield* sleep(0);
    });
    c2.abort(); // after death: nothing happens
    expect(quick.value).toBe(1);
    expect(() => killOnAbort(5 as never, c2.signal)).toThrow(/killOnAbort\(g, signal\) needs a Greenlet as g, got a number \(5\)/);
    expect(() => killOnAbort(quick, {} as never)).toThrow(/must be an AbortSignal, got an object/);
  });

  it('withSignal(signal, op) interrupts only that wait; a wait cancelled by it consumes nothing', async () => {
    const controller = new AbortController();
    const ev = new Event();
    const out = await new VirtualClock().run(function* () {
      setTimeout(() => controller.abort('enough'), 5);
      let first: unknown;
      try {
        yield* withSignal(controller.signal, ev.wait());
      } catch (e) {
        first = (e as Error).cause;
      }
      yield* sleep(0.01); // after withSignal, the signal no longer reaches this greenlet
      return first;
    });
    expect(out).toBe('enough');
    const refused = ev.wait();
    expect(() => withSignal('no' as never, refused)).toThrow(/withSignal\(signal, op\) must be an AbortSignal, got a string/);
    untrack(refused); // never started on purpose: no "never started" report
  });

  it("abortable()'s signal aborts with an AbortError DOMException, as Node's APIs do", async () => {
    let reason: unknown;
    const g = spawn(function* () {
      yield* abortable((signal) => {
        signal.addEventListener('abort', () => (reason = signal.reason));
        return new Promise(() => {});
      });
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* g.kill();
    });
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('AbortError');
  });
});

