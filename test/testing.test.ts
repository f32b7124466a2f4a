/**
 * geventjs/testing's VirtualClock: every geventjs deadline on virtual time, autojump, advance(),
 * one clock at a time, real I/O staying real; and the three programs users test with it (a
 * retry loop with backoff, a Pool with per-item timeouts, a Timeout-guarded queue consumer),
 * each hours of virtual time in milliseconds of real time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Greenlet, iwait, joinall, run, sleep, spawn, spawnLater, Timeout, withTimeout } from '../src/index.js';
import { AsyncResult, Event } from '../src/event.js';
import { Semaphore } from '../src/lock.js';
import { timers } from '../src/hub.js';
import { now, realNow } from '../src/originals.js';
import { Group, Pool } from '../src/pool.js';
import { Queue } from '../src/queue.js';
import { createConnection } from '../src/socket.js';
import { VirtualClock, VirtualClockError } from '../src/testing.js';

const root = join(__dirname, '..');

// A test that fails while its clock runs must not leave the clock to the next one.
afterEach(() => VirtualClock.current()?.stop());

/** The code under test: calls `attempt` until it succeeds, sleeping base, 2 x base, ... between tries. */
function* retry<T>(attempt: () => Generator<unknown, T, unknown>, tries: number, base: number): Generator<unknown, T, unknown> {
  for (let i = 0, wait = base; ; i++, wait *= 2) {
    try {
      return yield* attempt();
    } catch (e) {
      if (i === tries - 1) throw e;
    }
    yield* sleep(wait);
  }
}

describe('what users test with it, in milliseconds of real time', () => {
  it('the issue example: sleep(3600) returns at once and the clock reads 3600', async () => {
    const t0 = realNow();
    const clock = new VirtualClock();
    await clock.run(function* () {
      yield* sleep(3600);
      expect(clock.now()).toBe(3600);
    });
    expect(realNow() - t0).toBeLessThan(2000); // an hour of virtual time, not of real time
  });

  it('a retry loop with backoff: tries at 0, 60, 180, 420 s, then gives up with the last error', async () => {
    const clock = new VirtualClock();
    const tries: number[] = [];
    const t0 = realNow();
    const outcome = await clock.run(function* () {
      try {
        return yield* retry(function* () {
          tries.push(clock.now());
          yield* sleep(1); // the call itself takes a second
          throw new Error(`down at ${clock.now()}`);
        }, 4, 60);
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(tries).toEqual([0, 61, 182, 423]);
    expect(outcome).toBe('down at 424');
    expect(clock.now()).toBe(424);
    expect(realNow() - t0).toBeLessThan(2000);
  });

  it('a retry loop that succeeds on the third try', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const got = await clock.run(() =>
      retry(function* () {
        yield* sleep(0.5);
        if (++calls < 3) throw new Error('busy');
        return `ok at ${clock.now()}`;
      }, 5, 10),
    );
    expect(got).toBe('ok at 31.5'); // 0.5 + 10 + 0.5 + 20 + 0.5
  });

  it('a Pool with per-item timeouts: each item is cut at its own limit, slots are reused at once', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const out = await clock.run(function* () {
      const pool = new Pool(2);
      return yield* pool.map(function* (s: number) {
        log.push(`${s} starts at ${clock.now()}`);
        const r = yield* withTimeout(30, sleep(s), { timeoutValue: 'cut' as const });
        return r === 'cut' ? `${s}: cut at ${clock.now()}` : `${s}: done at ${clock.now()}`;
      }, [10, 100, 20, 5]);
    });
    expect(out).toEqual(['10: done at 10', '100: cut at 30', '20: done at 30', '5: done at 35']);
    expect(log).toEqual(['10 starts at 0', '100 starts at 0', '20 starts at 10', '5 starts at 30']);
  });

  it('a Timeout-guarded queue consumer: it handles what comes and stops after 60 s of silence', async () => {
    const clock = new VirtualClock();
    const q = new Queue<string>();
    const handled: Array<[string, number]> = [];
    const ended = await clock.run(function* () {
      spawn(function* producer() {
        for (const [at, item] of [[5, 'a'], [50, 'b'], [200, 'c']] as const) {
          yield* sleep(at - clock.now());
          q.putNowait(item);
        }
      });
      for (;;) {
        const t = Timeout.start(60);
        try {
          handled.push([yield* q.get(), clock.now()]);
        } catch (e) {
          if (e !== t) throw e;
          return `stopped at ${clock.now()}`;
        } finally {
          t.cancel();
        }
      }
    });
    expect(handled).toEqual([['a', 5], ['b', 50]]);
    expect(ended).toBe('stopped at 110');
    expect(q.qsize()).toBe(0); // 'c' came at 200, after the consumer had stopped: nothing abandoned mid-way
  });

  it('the same consumer with autojump off, moved step by step from the test with advance()', async () => {
    const clock = new VirtualClock({ autojump: false });
    const q = new Queue<string>();
    const handled: string[] = [];
    const done = clock.run(function* () {
      for (;;) {
        const item = yield* withTimeout(60, q.get(), { timeoutValue: null });
        if (item === null) return `stopped at ${clock.now()}`;
        handled.push(`${item}@${clock.now()}`);
      }
    });
    await clock.advance(10);
    q.putNowait('a');
    await clock.advance(59);
    expect(handled).toEqual(['a@10']);
    expect(clock.now()).toBe(69);
    await clock.advance(1);
    expect(await done).toBe('stopped at 70');
  });
});

describe('deadlines on virtual time', () => {
  it('a Timeout of 10 around a sleep of 20 fires at exactly virtual 10', async () => {
    const clock = new VirtualClock();
    const at = await clock.run(function* () {
      const t = Timeout.start(10);
      try {
        yield* sleep(20);
        return -1;
      } catch (e) {
        expect(e).toBe(t);
        return clock.now();
      }
    });
    expect(at).toBe(10);
  });

  it('deadlines fire in virtual order, and equal deadlines in the order they were set', async () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    const plan = Array.from({ length: 40 }, (_, i) => [`g${i}`, [5, 1, 3, 1, 2, 1, 3][i % 7]!] as const);
    await clock.run(function* () {
      const gs = plan.map(([name, s]) =>
        spawn(function* () {
          yield* sleep(s);
          order.push(`${name}@${clock.now()}`);
        }),
      );
      yield* joinall(gs);
    });
    const expected = [...plan].sort((a, b) => a[1] - b[1]).map(([name, s]) => `${name}@${s}`); // a stable sort
    expect(order).toEqual(expected);
  });

  it('what is due at one instant fires together, in the order set, before the greenlets it wakes run', async () => {
    const clock = new VirtualClock();
    const r = await clock.run(function* () {
      const first = Timeout.start(5);
      try {
        yield* sleep(5);
        return 'slept';
      } catch (e) {
        return e === first ? 'timeout' : 'other';
      }
    });
    expect(r).toBe('timeout');
    const r2 = await new VirtualClock().run(function* () {
      const g = spawn(function* () {
        yield* sleep(5);
        return 'slept';
      });
      yield* sleep(0); // g parks first
      return yield* withTimeout(5, g.get(), { timeoutValue: 'timeout' });
    });
    // g's sleep and main's Timeout are both due at 5: g is woken first, but main's Timeout
    // fires before g has run, as it would when one Node timer serves both.
    expect(r2).toBe('timeout');
  });

  it('every kind of geventjs deadline runs on the virtual clock', async () => {
    const clock = new VirtualClock();
    const seen = await clock.run(function* () {
      const at: Record<string, number> = {};
      const mark = (k: string) => (at[k] = clock.now());
      const late = spawnLater(7, () => mark('spawnLater'));
      yield* new Event().wait({ timeout: 1 });
      mark('Event.wait');
      yield* new AsyncResult().wait({ timeout: 1 });
      mark('AsyncResult.wait');
      try {
        yield* new AsyncResult().get({ timeout: 1 });
      } catch (e) {
        if (e instanceof Timeout) mark('AsyncResult.get');
      }
      const sem = new Semaphore(0);
      if (!(yield* sem.acquire({ timeout: 1 }))) mark('Semaphore.acquire');
      try {
        yield* new Queue().get({ timeout: 1 });
      } catch {
        mark('Queue.get');
      }
      const sleeper = spawn(() => sleep(100));
      yield* sleeper.join({ timeout: 1 });
      mark('Greenlet.join');
      yield* joinall([sleeper], { timeout: 1 });
      mark('joinall');
      const ready = yield* iwait([sleeper], { timeout: 1 }).next();
      if (ready.done === true) mark('iwait');
      const group = new Group();
      group.add(sleeper);
      yield* group.join({ timeout: 1 });
      mark('Group.join');
      sleeper.kill();
      yield* late.join();
      return at;
    });
    expect(seen).toEqual({
      'Event.wait': 1, 'AsyncResult.wait': 2, 'AsyncResult.get': 3, 'Semaphore.acquire': 4, 'Queue.get': 5,
      'Greenlet.join': 6, spawnLater: 7, joinall: 7, iwait: 8, 'Group.join': 9,
    });
  });
});

describe('deterministic under random sleeps, Timeouts and kills (fast-check)', () => {
  const actor = fc.record({
    start: fc.integer({ min: 0, max: 5 }),
    sleep: fc.integer({ min: 0, max: 8 }),
    timeout: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
    killAt: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null }),
  });
  type Actor = { start: number; sleep: number; timeout: number | null; killAt: number | null };

  async function trace(actors: Actor[]): Promise<string[]> {
    const clock = new VirtualClock();
    const log: string[] = [];
    await clock.run(function* () {
      const gs = actors.map((a, i) =>
        spawnLater(a.start, function* () {
          const t = a.timeout === null ? null : Timeout.start(a.timeout);
          try {
            yield* sleep(a.sleep);
            log.push(`${i} woke ${clock.now()}`);
          } catch (e) {
            log.push(`${i} ${e === t ? 'timed out' : 'killed'} ${clock.now()}`);
          } finally {
            t?.cancel();
          }
        }),
      );
      actors.forEach((a, i) => {
        if (a.killAt !== null) spawnLater(a.killAt, () => void gs[i]!.kill({ block: false }));
      });
      yield* joinall(gs);
      yield* sleep(20); // the kills of greenlets already dead have happened
    });
    return log;
  }

  it('every event happens at its exact virtual time, and a second run gives the same trace', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actor, { minLength: 1, maxLength: 10 }), async (actors) => {
        const log = await trace(actors);
        expect(await trace(actors)).toEqual(log);
        actors.forEach((a, i) => {
          const woke = a.start + a.sleep;
          const timedOut = a.timeout === null ? Infinity : a.start + a.timeout;
          const killed = a.killAt === null ? Infinity : Math.max(a.killAt, a.start);
          const mine = log.filter((l) => l.startsWith(`${i} `));
          if (a.killAt !== null && a.killAt < a.start) {
            // killed before it started: it never ran, so it says nothing
            expect(mine).toEqual([]);
            return;
          }
          expect(mine.length).toBe(1);
          const [, what, at] = /^\d+ (woke|timed out|killed) (\S+)$/.exec(mine[0]!)!;
          const first = Math.min(woke, timedOut, killed);
          expect(Number(at)).toBe(first);
          if (what === 'woke') expect(woke).toBe(first);
          if (what === 'timed out') expect(timedOut).toBe(first);
          if (what === 'killed') expect(killed).toBe(first);
        });
      }),
      { numRuns: 60 },
    );
  });
});

describe('advance(): time moves only when the test says so', () => {
  it('steps through every deadline on the way: a 1 s ticker ticks 10 times in advance(10), each at its own second', async () => {
    const clock = new VirtualClock({ autojump: false });
    const ticks: number[] = [];
    const stop = new Event();
    const done = clock.run(function* () {
      const ticker = spawn(function* () {
        for (;;) {
          yield* sleep(1);
          ticks.push(clock.now());
        }
      });
      yield* stop.wait();
      yield* ticker.kill();
      return clock.now();
    });
    await clock.advance(10);
    expect(ticks).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await clock.advance(0.5);
    expect(clock.now()).toBe(10.5);
    expect(ticks.length).toBe(10);
    stop.set();
    expect(await done).toBe(10.5);
  });

  it('without advance, nothing due ever fires; calls queue up, and outside run() only the reading moves', async () => {
    const clock = new VirtualClock({ autojump: false });
    await clock.advance(2); // before run(): moves the reading
    expect(clock.now()).toBe(2);
    let woke: number | false = false;
    const done = clock.run(function* () {
      yield* sleep(5);
      woke = clock.now();
    });
    await new Promise((r) => setTimeout(r, 20)); // real time passes; virtual time does not
    expect(woke).toBe(false);
    expect(clock.now()).toBe(2);
    const a = clock.advance(3);
    const b = clock.advance(3); // runs after a
    await a;
    expect(woke).toBe(false); // it slept from 2: due at 7
    expect(clock.now()).toBe(5);
    await b;
    expect(woke).toBe(7);
    expect(clock.now()).toBe(8);
    await done;
  });

  it('works with autojump on too, and a greenlet can await it', async () => {
    const clock = new VirtualClock();
    const r = await clock.run(function* () {
      yield clock.advance(30);
      return clock.now();
    });
    expect(r).toBe(30);
  });

  it('bad arguments are a TypeError or RangeError naming the call and the fix, before acting', () => {
    const clock = new VirtualClock({ autojump: false });
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(-1)).toThrow(/VirtualClock\.advance\(seconds\)/);
    expect(() => clock.advance(NaN)).toThrow(RangeError);
    expect(() => clock.advance(Infinity)).toThrow(/must be finite/);
    expect(() => clock.advance('1' as never)).toThrow(TypeError);
    expect(clock.now()).toBe(0);
  });
});

describe('the options', () => {
  it('are read as own properties and checked, naming the option and the fix', () => {
    expect(new VirtualClock().autojump).toBe(true);
    expect(new VirtualClock().autojumpThreshold).toBe(0);
    expect(new VirtualClock({ autojump: false }).autojump).toBe(false);
    expect(new VirtualClock({ autojumpThreshold: 0.25 }).autojumpThreshold).toBe(0.25);
    expect(new VirtualClock(null).autojump).toBe(true);
    expect(() => new VirtualClock({ autojump: 'no' as never })).toThrow(TypeError);
    expect(() => new VirtualClock({ autojumpThreshold: -1 })).toThrow(RangeError);
    expect(() => new VirtualClock({ autojumpThreshold: Infinity })).toThrow(/autojump: false/);
    expect(() => new VirtualClock({ autojumpThreshhold: 1 } as never)).toThrow(/unknown option "autojumpThreshhold"/);
    expect(() => new VirtualClock(5 as never)).toThrow(TypeError);
    const inherited = Object.create({ autojump: false }) as object;
    expect(new VirtualClock(inherited).autojump).toBe(true);
  });

  it('autojumpThreshold: time jumps only after the hub has been idle that long in real time', async () => {
    const clock = new VirtualClock({ autojumpThreshold: 0.1 });
    const t0 = realNow();
    await clock.run(function* () {
      yield* sleep(1000);
    });
    expect(clock.now()).toBe(1000);
    expect(realNow() - t0).toBeGreaterThanOrEqual(95); // the threshold is the behaviour (timers never fire early)
  });

  it('turning autojump on while the clock waits lets time jump', async () => {
    const clock = new VirtualClock({ autojump: false });
    const done = clock.run(() => sleep(50));
    await new Promise((r) => setTimeout(r, 10));
    expect(clock.now()).toBe(0);
    clock.autojump = true;
    await done;
    expect(clock.now()).toBe(50);
  });
});

describe('one clock at a time', () => {
  it('a second run() while one is active is a VirtualClockError; after it, a new clock runs', async () => {
    const clock = new VirtualClock({ autojump: false });
    const first = clock.run(() => sleep(1));
    expect(() => new VirtualClock().run(() => 1)).toThrow(VirtualClockError);
    expect(() => new VirtualClock().run(() => 1)).toThrow(/another VirtualClock is already running/);
    expect(() => clock.run(() => 1)).toThrow(/this VirtualClock is already running/);
    let code: unknown;
    try {
      clock.run(() => 1);
    } catch (e) {
      code = (e as VirtualClockError).code;
    }
    expect(code).toBe('GEVENTJS_CLOCK_IN_USE');
    expect(clock.running).toBe(true);
    await clock.advance(1);
    await first;
    expect(clock.running).toBe(false);
    expect(await new VirtualClock().run(() => 'again')).toBe('again');
  });

  it('geventjs deadlines armed on the real clock before run() are paused while it runs, and resume after', async () => {
    let wokeAt: number | null = null;
    const clock = new VirtualClock();
    const sleeper = spawn(function* () {
      yield* sleep(0.03);
      wokeAt = clock.running ? -1 : realNow();
    });
    const cancelled = spawn(function* () {
      yield* sleep(0.03);
    });
    await run(() => sleep(0)); // both have parked on the real clock
    const armed = timers.size; // theirs, and what earlier tests left
    const t0 = realNow();
    const r = await clock.run(function* () {
      cancelled.kill({ block: false }); // a paused deadline can still be cancelled
      yield* sleep(5); // virtual: the real ones neither fire nor move virtual time
      yield new Promise((res) => setTimeout(res, 60)); // real time past their deadline
      return clock.now();
    });
    expect(r).toBe(5);
    expect(wokeAt).toBeNull(); // paused
    expect(timers.size).toBe(armed - 1); // the sleeper's is back on the real clock; the cancelled one is not
    await sleeper;
    expect(wokeAt! - t0).toBeGreaterThanOrEqual(55); // it woke after the run, on the real clock
    expect(cancelled.dead).toBe(true);
  });

  it('a paused timed wait that is woken during the run does not come back to the real heap', async () => {
    const ev = new Event();
    const before = timers.size; // what earlier tests left
    const waiter = spawn(() => ev.wait({ timeout: 100 }));
    await run(() => sleep(0));
    expect(timers.size).toBe(before + 1);
    await new VirtualClock().run(function* () {
      ev.set();
      yield* waiter.join();
    });
    expect(waiter.value).toBe(true);
    expect(timers.size).toBe(before); // no stale 100 s deadline holding the process
  });

  it('after run() the real clock is back, and greenlets left waiting go on on it with the time they had left', async () => {
    const clock = new VirtualClock();
    let leftover: Greenlet<string> | null = null;
    const before = timers.size; // what earlier tests left
    await clock.run(function* () {
      leftover = spawn(function* () {
        yield* sleep(1.05);
        return 'woke';
      });
      yield* sleep(1);
    });
    expect(clock.now()).toBe(1);
    expect(Math.abs(now() - realNow())).toBeLessThan(1); // now() reads the real clock again
    expect(timers.size).toBe(before + 1); // its 0.05 s left, on the real clock
    expect(leftover!.dead).toBe(false);
    expect(await new VirtualClock().run(() => 'the next clock pauses it')).toBe('the next clock pauses it');
    expect(await leftover!).toBe('woke');
    expect(timers.size).toBe(before);
  });

  it('stop() releases the clock of a test that failed while it ran; its main goes on on the real clock', async () => {
    const clock = new VirtualClock({ autojump: false });
    const main = clock.run(function* () {
      yield* sleep(0.02);
      return 'ended on the real clock';
    });
    expect(VirtualClock.current()).toBe(clock);
    clock.stop();
    expect(VirtualClock.current()).toBeNull();
    expect(clock.running).toBe(false);
    expect(await main).toBe('ended on the real clock');
    clock.stop(); // not running: nothing
  });

  it('run() settles as run() does: a failure of main rejects, and the clock is released', async () => {
    const clock = new VirtualClock();
    await expect(
      clock.run(function* () {
        yield* sleep(10);
        throw new Error(`failed at ${clock.now()}`);
      }),
    ).rejects.toThrow('failed at 10');
    expect(clock.running).toBe(false);
    const ac = new AbortController();
    ac.abort(new Error('never mind'));
    await expect(new VirtualClock().run(() => 1, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => new VirtualClock().run('x' as never)).toThrow(TypeError);
    expect(await new VirtualClock().run(() => 'free')).toBe('free');
  });

  it('a wait with no deadline and a guard Timeout: autojump turns the hang into a failure at once', async () => {
    const clock = new VirtualClock();
    const t0 = realNow();
    await expect(
      clock.run(function* () {
        const t = Timeout.start(600, new Error('gave up after 10 virtual minutes'));
        try {
          yield* new Event().wait(); // nobody sets it
        } finally {
          t.cancel();
        }
      }),
    ).rejects.toThrow('gave up after 10 virtual minutes');
    expect(realNow() - t0).toBeLessThan(2000);
  });
});

describe('real I/O stays real', () => {
  it("Node's own callback timers run on real time; with the default threshold a virtual timeout passes first", async () => {
    const clock = new VirtualClock();
    const r = await clock.run(() =>
      withTimeout(5, function* (): Generator<unknown, string, string> {
        return yield new Promise<string>((res) => setTimeout(() => res('real timer'), 200));
      }, { timeoutValue: 'timed out' }),
    );
    expect(r).toBe('timed out');
    expect(clock.now()).toBe(5);
  });

  it('with an autojumpThreshold above its latency, real I/O arrives before a virtual timeout', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const clock = new VirtualClock({ autojumpThreshold: 2 });
      const got = await clock.run(function* () {
        const t = Timeout.start(5);
        try {
          const sock = yield* createConnection(['127.0.0.1', port]);
          yield* sock.sendall('ping');
          const data = yield* sock.recv(4);
          sock.close();
          return data.toString();
        } finally {
          t.cancel();
        }
      });
      expect(got).toBe('ping');
      expect(clock.now()).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("the hub's switch budget stays on real time: a greenlet spinning on sleep(0) does not starve Node", () => {
    const script = `
      const { spawn, sleep } = require(${JSON.stringify(join(root, 'dist/src/index.js'))});
      const { VirtualClock } = require(${JSON.stringify(join(root, 'dist/src/testing.js'))});
      const clock = new VirtualClock();
      clock.run(function* () {
        const spinner = spawn(function* () { for (;;) yield* sleep(0); });
        const v = yield new Promise((r) => setImmediate(() => r('node ran')));
        yield* spinner.kill();
        return v;
      }).then((v) => console.log(v));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect(r.signal).toBeNull(); // a starved Node would hang until the kill timer
    expect(r.stdout.trim()).toBe('node ran');
  });

  it("a patched setTimeout(ms) in a greenlet sleeps on the virtual clock; Node's callback form stays real", () => {
    const script = `
      const { monkey, spawn } = require(${JSON.stringify(join(root, 'dist/src/index.js'))});
      const { VirtualClock } = require(${JSON.stringify(join(root, 'dist/src/testing.js'))});
      monkey.patchTimers();
      const clock = new VirtualClock();
      const t0 = performance.now();
      clock.run(function* () {
        const v = yield setTimeout(90000, 'late');
        return [v, clock.now()];
      }).then((r) => console.log(JSON.stringify([...r, performance.now() - t0 < 5000])));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['late', 90, true]);
  });
});

describe('from node:test, in ESM and CommonJS', () => {
  for (const file of ['virtual-clock-node-test.mjs', 'virtual-clock-node-test.js']) {
    it(`${file}: the three user programs pass`, () => {
      const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', join(root, 'test/fixtures', file)], {
        cwd: root, encoding: 'utf8', timeout: 30_000,
      });
      expect(r.signal).toBeNull();
      expect(r.stdout).toContain('# pass 3');
      expect(r.stdout).toContain('# fail 0');
      expect(r.status).toBe(0);
    });
  }
});

describe('docs/testing.md', () => {
  it('its TypeScript blocks type-check against the built package', () => {
    const md = readFileSync(join(root, 'docs/testing.md'), 'utf8');
    const blocks = [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    // The page's snippets leave out their imports and the names that earlier snippets made.
    const preamble = [
      "import { afterEach, expect, it } from 'vitest';",
      "import { sleep, spawn, Timeout, withTimeout } from 'geventjs';",
      "import { Pool } from 'geventjs/pool';",
      "import { Queue } from 'geventjs/queue';",
      "import { VirtualClock } from 'geventjs/testing';",
      'declare const consumer: () => Generator<unknown, string, unknown>;',
      'declare const q: Queue<string>;',
      '',
    ].join('\n');
    const dir = mkdtempSync(join(root, 'test', '.testing-doc-'));
    try {
      const vitestGlobals = "import { afterEach, expect, it } from 'vitest';\n"; // as with vitest's globals
      blocks.forEach((b, i) => writeFileSync(join(dir, `block${i}.mts`), (b.includes('import ') ? vitestGlobals + b : preamble + b) + '\nexport {};\n'));
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable'], module: 'node16', moduleResolution: 'node16',
          strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
        },
        include: ['*.mts'],
      }));
      const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', timeout: 60_000 });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
