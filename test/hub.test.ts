/**
 * The hub: fairness with Node's I/O and timers, async context per greenlet, the "would block
 * forever" report (LoopExit), and config.maxBlockingTime.
 */
import { spawnSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { ConcurrentObjectUseError, config, getcurrent, Greenlet, joinall, Op, opFrom, run, sleep, spawn, Timeout, toOp, Wait } from '../src/index.js';
import { Queue } from '../src/queue.js';
import { captureErrors } from './capture-errors.js';

const distDir = join(__dirname, '..', 'dist', 'src');
const distIndex = join(distDir, 'index.js');

function nodeScript(script: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

describe('fairness', () => {
  it('a greenlet spinning on sleep(0) forever starves neither a TCP echo server nor setTimeout', async () => {
    let spins = 0;
    const spinner = spawn(function* () {
      for (;;) {
        spins++;
        yield* sleep(0);
      }
    });
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const timerFired = new Promise<string>((r) => setTimeout(() => r('timer'), 10));
      const echo = await new Promise<string>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('ping'));
        c.setEncoding('utf8');
        c.on('data', (d) => {
          c.end();
          resolve(String(d));
        });
        c.on('error', reject);
      });
      expect(echo).toBe('ping');
      expect(await timerFired).toBe('timer');
      expect(spins).toBeGreaterThan(0);
      expect(spinner.dead).toBe(false);
    } finally {
      await run(function* () {
        yield* spinner.kill();
      });
      await new Promise((r) => server.close(r));
    }
  });
});

describe('async context', () => {
  it('greenlets spawned in two als.run scopes each see their own store after many sleeps', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: Record<string, Set<string | undefined>> = { a: new Set(), b: new Set() };
    function* worker(label: string) {
      for (let i = 0; i < 200; i++) {
        seen[label]!.add(als.getStore());
        yield* sleep(i % 50 === 0 ? 0.001 : 0);
      }
    }
    const ga = als.run('a', () => spawn(worker, 'a'));
    const gb = als.run('b', () => spawn(worker, 'b'));
    await run(function* () {
      yield* joinall([ga, gb]);
    });
    expect([...seen.a!]).toEqual(['a']);
    expect([...seen.b!]).toEqual(['b']);
  });

  it('two stores at once stay with the greenlet that was spawned under them', async () => {
    const user = new AsyncLocalStorage<string>();
    const request = new AsyncLocalStorage<number>();
    const out: string[] = [];
    const gs = [1, 2, 3].map((n) =>
      user.run(`u${n}`, () =>
        request.run(n, () =>
          spawn(function* () {
            for (let i = 0; i < 100; i++) yield* sleep(0);
            out.push(`${user.getStore()}:${request.getStore()}`);
          }),
        ),
      ),
    );
    await run(function* () {
      yield* joinall(gs);
    });
    expect(out.sort()).toEqual(['u1:1', 'u2:2', 'u3:3']);
  });

  it('enterWith in one greenlet does not leak into another', async () => {
    const als = new AsyncLocalStorage<string>();
    const seenByOther: (string | undefined)[] = [];
    const setter = spawn(function* () {
      als.enterWith('mine');
      for (let i = 0; i < 50; i++) yield* sleep(0);
      return als.getStore();
    });
    const other = spawn(function* () {
      for (let i = 0; i < 50; i++) {
        seenByOther.push(als.getStore());
        yield* sleep(0);
      }
    });
    await run(function* () {
      yield* joinall([setter, other]);
    });
    expect(setter.value).toBe('mine');
    expect(new Set(seenByOther)).toEqual(new Set([undefined]));
  });
});

describe('LoopExit: would block forever', () => {
  it('a child whose greenlets wait forever names them and what they wait on; run() rejects with LoopExit, said once', () => {
    const script = `
      const { run, spawn, Greenlet, Wait } = require(${JSON.stringify(distIndex)});
      class Never extends Wait { park() {} describe() { return 'Never.wait()'; } }
      const stuck = spawn(function* stuckWorker() { yield* new Never(); });
      stuck.name = 'worker-1';
      run(function* mainLoop() { yield* stuck.join(); }).then(
        () => console.log('resolved?'),
        (e) => console.log('rejected with ' + e.name + ': ' + e.message),
      );
    `;
    const r = nodeScript(script);
    expect(r.stdout).toContain('rejected with LoopExit');
    expect(r.stdout).toContain('would block forever');
    expect(r.stdout).toMatch(/<Greenlet "worker-1": stuckWorker> waits on Never\.wait\(\)/);
    expect(r.stdout).toMatch(/<Greenlet "Greenlet-\d+": mainLoop> waits on <Greenlet "worker-1": stuckWorker>\.join\(\)/);
    // The caller got it: nothing printed on top (no hub report, no greenlet failure report).
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('an unhandled run() rejection says "would block forever" once, not three times', () => {
    const r = nodeScript(`
      const { run, Wait } = require(${JSON.stringify(distIndex)});
      class Never extends Wait { park() {} describe() { return 'Never.wait()'; } }
      run(function* mainLoop() { yield* new Never(); });
    `);
    expect(r.stderr.split('would block forever').length - 1).toBe(1);
    expect(r.stderr).toContain('waits on Never.wait()');
    expect(r.status).not.toBe(0);
  });

  it('with no run() root to tell, the hub prints it once', () => {
    const r = nodeScript(`
      const { spawn, Wait } = require(${JSON.stringify(distIndex)});
      class Never extends Wait { park() {} describe() { return 'Never.wait()'; } }
      spawn(function* lonely() { yield* new Never(); }).name = 'lonely-1';
    `);
    expect(r.stderr.split('would block forever').length - 1).toBe(1);
    expect(r.stderr).toContain('<Greenlet "lonely-1": lonely> waits on Never.wait()');
    expect(r.status).toBe(0);
  });

  it('a process whose greenlets all finish prints no report', () => {
    const r = nodeScript(`
      const { run, sleep } = require(${JSON.stringify(distIndex)});
      run(function* () { yield* sleep(0.001); }).then(() => console.log('ok'));
    `);
    expect(r.stdout.trim()).toBe('ok');
    expect(r.stderr).not.toContain('would block forever');
  });
});

describe('errors name a yielded object with the right article', () => {
  it('an Event yielded by mistake is "an Event" (not "a Event")', async () => {
    const { Event } = await import('../src/event.js');
    const msg = await run(function* () {
      try {
        yield new Event() as never;
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(msg).toMatch(/yielded an Event; /);
  });
});

describe('config switches refuse what is not a boolean', () => {
  it("config.debug and config.reportAllFailures: a string such as 'false' is a TypeError, not true", () => {
    const saved = [config.debug, config.reportAllFailures];
    try {
      expect(() => (config.debug = 'false' as never)).toThrow(/config\.debug must be true or false, got a string \("false"\)/);
      expect(config.debug).toBe(saved[0]);
      expect(() => (config.reportAllFailures = 'no' as never)).toThrow(TypeError);
      expect(config.reportAllFailures).toBe(saved[1]);
      config.reportAllFailures = true;
      expect(config.reportAllFailures).toBe(true);
    } finally {
      config.debug = saved[0]!;
      config.reportAllFailures = saved[1]!;
    }
  });
});

describe('config.maxBlockingTime', () => {
  function* busy(ms: number) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      /* hold the loop */
    }
    yield* sleep(0);
  }

  it('reports a step that holds the loop past it, naming the greenlet, the time held and the spawn site', async () => {
    const saved = config.errorStream;
    let text = '';
    config.errorStream = { write: (s: string) => (text += s) };
    config.maxBlockingTime = 0.01;
    try {
      const g = spawn(busy, 60);
      g.name = 'hog';
      await g;
    } finally {
      config.maxBlockingTime = null;
      config.errorStream = saved;
    }
    expect(text).toMatch(/<Greenlet "hog": busy> held the event loop for [\d.]+ ms \(config\.maxBlockingTime is 10 ms\)/);
    expect(text).toContain('spawned');
    expect(text).toContain('hub.test.ts');
  });

  it('is off by default and null turns it off', () => {
    config.maxBlockingTime = 0.5;
    expect(config.maxBlockingTime).toBe(0.5);
    config.maxBlockingTime = null;
    expect(config.maxBlockingTime).toBeNull();
  });

  it('GEVENTJS_MAX_BLOCKING_TIME in the environment turns it on', () => {
    const r = nodeScript(
      `
      const { run, sleep, config } = require(${JSON.stringify(distIndex)});
      console.log('configured', config.maxBlockingTime);
      run(function* spinner() {
        const until = Date.now() + 60; while (Date.now() < until) {}
        yield* sleep(0);
      });
    `,
      { GEVENTJS_MAX_BLOCKING_TIME: '0.01' },
    );
    expect(r.stdout.trim()).toBe('configured 0.01');
    expect(r.stderr).toMatch(/<Greenlet "Greenlet-\d+": spinner> held the event loop for [\d.]+ ms/);
  });

  it('a bad environment value is ignored with a message naming the fix', () => {
    const r = nodeScript(
      `const { config } = require(${JSON.stringify(distIndex)}); console.log(String(config.maxBlockingTime));`,
      { GEVENTJS_MAX_BLOCKING_TIME: 'soon' },
    );
    expect(r.stdout.trim()).toBe('null');
    expect(r.stderr).toContain('ignoring GEVENTJS_MAX_BLOCKING_TIME=soon; set it to a number of seconds');
  });

  it('bad values are a TypeError or RangeError naming the setting', () => {
    expect(() => (config.maxBlockingTime = -1)).toThrow(RangeError);
    expect(() => (config.maxBlockingTime = -1)).toThrow(/config\.maxBlockingTime/);
    expect(() => (config.maxBlockingTime = NaN)).toThrow(RangeError);
    expect(() => (config.maxBlockingTime = '1' as never)).toThrow(TypeError);
    expect(config.maxBlockingTime).toBeNull();
  });
});

describe('getcurrent', () => {
  it('is null outside greenlets and the running greenlet inside', async () => {
    expect(getcurrent()).toBeNull();
    let inside: Greenlet | null = null;
    const g = spawn(function* () {
      inside = getcurrent();
    });
    await g;
    expect(inside).toBe(g);
    expect(getcurrent()).toBeNull();
  });
});


describe('time past 2^31 ms (24.9 days)', () => {
  const fixture = join(__dirname, 'fixtures', 'hub-uptime.js');
  function uptime(offsetMs: number) {
    const r = spawnSync(process.execPath, [fixture, distDir, String(offsetMs)], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  }
  // rounds: a sleep(0.05) loop over 300 ms; pending: a 30-day Timeout still armed 200 ms on;
  // longSleepEnded: sleep(3e6) over already; got: get({ timeout: 1e9 }) of a 50 ms greenlet.
  const expected = { timeoutFired: false, pending: true, longSleepEnded: false, got: 'value' };

  it('at uptime 0: a 30-day Timeout, sleep(3e6) and get({ timeout: 1e9 }) last as asked', () => {
    const r = uptime(0);
    expect(r).toMatchObject(expected);
  });

  it('at an uptime past 2^31 ms: a sleep loop does not spin, and long limits last', () => {
    const r = uptime(2 ** 31 + 60_000);
    expect(r).toMatchObject(expected);
    expect(r.rounds).toBeGreaterThanOrEqual(2);
    expect(r.rounds).toBeLessThanOrEqual(10); // 300 ms of 50 ms sleeps is 6; a spin makes hundreds
  });

  it('at an uptime past 2^32 ms too', () => {
    const r = uptime(2 ** 32 + 3_600_000);
    expect(r).toMatchObject(expected);
    expect(r.rounds).toBeLessThanOrEqual(10);
  });

  it('sleep(Infinity) waits forever: the loop runs dry and says so instead of waking it', () => {
    const r = nodeScript(`
      const { spawn, sleep } = require(${JSON.stringify(distIndex)});
      spawn(function* () { yield* sleep(Infinity); console.log('woke'); });
    `);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('waits on sleep(Infinity)');
  });
});

describe('fairness: the switch budget holds for slow steps', () => {
  it('one greenlet doing 4 ms of work per step leaves a Node setTimeout(10) late by at most a few budgets', () => {
    // Before, the clock was read every 32 steps: 32 x 4 ms = 128 ms late each time.
    const r = nodeScript(`
      const { spawn, sleep } = require(${JSON.stringify(distIndex)});
      spawn(function* hog() {
        for (;;) { const until = performance.now() + 4; while (performance.now() < until) {} yield* sleep(0); }
      });
      const late = [];
      const tick = (start) => setTimeout(() => {
        late.push(performance.now() - start - 10);
        if (late.length < 9) tick(performance.now());
        else { late.sort((a, b) => a - b); console.log(JSON.stringify(late)); process.exit(0); }
      }, 10);
      setTimeout(() => tick(performance.now()), 20);
    `);
    const late = JSON.parse(r.stdout) as number[];
    expect(late.length).toBe(9);
    expect(late[4]).toBeLessThan(60); // the median: generous for a shared, noisy machine
  });

  it('config.switchInterval = 0 lets Node in after every step', async () => {
    const saved = config.switchInterval;
    config.switchInterval = 0;
    const order: string[] = [];
    try {
      const gs = [1, 2].map((n) =>
        spawn(function* () {
          for (let i = 0; i < 3; i++) {
            order.push(`g${n}`);
            yield* sleep(0);
          }
        }),
      );
      setImmediate(() => order.push('node'));
      await run(function* () {
        yield* joinall(gs);
      });
    } finally {
      config.switchInterval = saved;
    }
    // Node's setImmediate ran before the greenlets were done, not after all six steps.
    expect(order.indexOf('node')).toBeGreaterThan(0);
    expect(order.indexOf('node')).toBeLessThan(6);
  });
});

describe('the hub survives whatever user code throws', () => {
  it('a yielded object whose [toOp]() throws: the error is thrown at that yield, others run on', async () => {
    let ticks = 0;
    const other = spawn(function* () {
      for (let i = 0; i < 5; i++) {
        ticks++;
        yield* sleep(0);
      }
    });
    const bad = { [toOp]() { throw new Error('toOp broke'); } };
    const err = await run(function* () {
      try {
        yield bad;
      } catch (e) {
        return (e as Error).message;
      }
      return 'not thrown';
    });
    await other;
    expect(err).toBe('toOp broke');
    expect(ticks).toBe(5);
  });

  it('an opFrom body that throws synchronously: thrown at `yield op`, rejected by `await op`', async () => {
    const broken = () =>
      opFrom((() => {
        throw new Error('body broke');
      }) as never, 'broken()');
    const atYield = await run(function* () {
      try {
        yield broken();
      } catch (e) {
        return (e as Error).message;
      }
      return 'not thrown';
    });
    expect(atYield).toBe('body broke');
    const text = await captureErrors(async () => {
      await expect(broken()).rejects.toThrow('body broke');
    });
    expect(text).toBe(''); // awaited: the failure goes to the awaiting code only, never printed too
    const notIterator = opFrom((() => 42) as never, 'fortyTwo()');
    await expect(notIterator).rejects.toThrow(/body returned a number, not an iterator; pass a generator function/);
    expect(await run(function* () { yield* sleep(0); return 'hub still runs'; })).toBe('hub still runs');
  });

  it('a program: a greenlet throwing a null-prototype object is reported readably and the others run on', () => {
    const r = nodeScript(`
      const { spawn, sleep } = require(${JSON.stringify(distIndex)});
      spawn(function* () { const o = Object.create(null); o.code = 'E_ODD'; throw o; });
      spawn(function* () { yield* sleep(0.02); console.log('still running'); });
    `);
    expect(r.stdout.trim()).toBe('still running');
    expect(r.stderr).toContain("an object was thrown: [Object: null prototype] { code: 'E_ODD' }");
    expect(r.stderr).toMatch(/failed with an object/);
    expect(r.status).toBe(1); // a failure nobody observed sets the exit status
  });

  it('config.errorStream: a value without write() is refused; a write that throws sends the report to stderr', () => {
    expect(() => (config.errorStream = {} as never)).toThrow(TypeError);
    expect(() => (config.errorStream = null as never)).toThrow(/config\.errorStream must be an object with a write\(string\) method/);
    const r = nodeScript(`
      const { spawn, sleep, config } = require(${JSON.stringify(distIndex)});
      config.errorStream = { write() { throw new Error('disk full'); } };
      spawn(function* () { throw new Error('first failure'); });
      spawn(function* () { yield* sleep(0.02); console.log('still running'); });
    `);
    expect(r.stdout.trim()).toBe('still running');
    expect(r.stderr).toContain('config.errorStream.write() threw (Error: disk full)');
    expect(r.stderr).toContain('Error: first failure');
    expect(r.status).toBe(1); // a failure nobody observed sets the exit status
  });

  it('a program: a log file stream that fails to open, or one that was ended, as config.errorStream: reports go to stderr, nothing dies', () => {
    const r = nodeScript(`
      const { spawn, sleep, config } = require(${JSON.stringify(distIndex)});
      const fs = require('fs'), os = require('os'), path = require('path');
      config.errorStream = fs.createWriteStream('/nonexistent-geventjs-dir/errors.log');
      spawn(function* () { yield* sleep(0.01); throw new Error('first failure'); });
      const ended = fs.createWriteStream(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gv-')), 'e.log'));
      spawn(function* () {
        yield* sleep(0.03);
        config.errorStream = ended;
        ended.end();
        throw new Error('second failure');
      });
      spawn(function* () { yield* sleep(0.06); console.log('still running'); });
    `);
    expect(r.stdout.trim()).toBe('still running');
    expect(r.stderr).toContain('config.errorStream failed (Error: ENOENT');
    expect(r.stderr).toContain('Error: first failure');
    expect(r.stderr).toContain('config.errorStream is closed; the report follows here');
    expect(r.stderr).toContain('Error: second failure');
    expect(r.status).toBe(1); // failures nobody observed set the exit status
  });

  it("a program: a wait whose cancel throws when its time limit fires gets that error; every other sleeper still wakes", () => {
    const r = nodeScript(`
      const { spawn, sleep, Wait, run } = require(${JSON.stringify(distIndex)});
      class Brittle extends Wait {
        constructor() { super(); this.expireAfter(0.01, 'Brittle'); }
        park() {}
        cancel() { throw new Error('cancel broke'); }
      }
      const victim = spawn(function* () {
        try { yield* new Brittle(); return 'no error'; } catch (e) { return e.message; }
      });
      const sleepers = [1, 2, 3].map((n) => spawn(function* () { yield* sleep(0.02 * n); return n; }));
      run(function* () {
        const v = yield* victim.get();
        const ns = [];
        for (const s of sleepers) ns.push(yield* s.get());
        return v + ' / ' + ns.join(',');
      }).then((x) => console.log(x), (e) => console.log('failed', e));
    `);
    expect(r.stdout.trim()).toBe('cancel broke / 1,2,3');
    expect(r.status).toBe(0);
  });

  it("a Timeout landing on a wait whose cancel throws: the Timeout still lands, the cancel's error is reported", async () => {
    class Brittle extends Wait<void> {
      park(): void {}
      override cancel(): void {
        throw new Error('cancel broke');
      }
    }
    let caught: unknown;
    const text = await captureErrors(() =>
      run(function* () {
        const t = Timeout.start(0.01);
        try {
          yield* new Brittle();
        } catch (e) {
          caught = e === t ? 'my timeout' : e;
        }
        yield* sleep(0.01); // the heap still fires
      }),
    );
    expect(caught).toBe('my timeout');
    expect(text).toContain('cancelling Brittle() for <Greenlet');
    expect(text).toContain('Error: cancel broke');
  });
});

describe('yielding what the hub cannot run', () => {
  it('`yield q` (a Queue, by mistake for q.get()) is a TypeError at that yield naming the fix, not a busy loop', async () => {
    const q = new Queue<number>();
    q.putNowait(1);
    const err = await run(function* () {
      try {
        yield q;
      } catch (e) {
        return e;
      }
      return null;
    });
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain('yielded a Queue, which has a next() method but is not an Op or a generator');
    expect((err as Error).message).toContain('`yield* q.get()`');
    expect(q.qsize()).toBe(1); // nothing taken
  });

  it('a plain function returning a Queue or a plain iterator finishes with it as its value', async () => {
    const q = new Queue<number>();
    const it = new Map([[1, 2]]).entries();
    expect(await spawn(() => q)).toBe(q);
    expect(await spawn(() => it)).toBe(it);
  });

  it('spawn(async function* ...) is refused at once with a TypeError naming the fix instead of spinning', () => {
    expect(() => spawn(async function* () {
      yield 1;
    } as never)).toThrow(TypeError);
    expect(() => spawn(async function* () {
      yield 1;
    } as never)).toThrow(/async generator function.*write function\*/);
  });

  it('yielding an async generator, or an Op whose iterator returns promises, is a TypeError at the yield', async () => {
    async function* agen() {
      yield 1;
    }
    class AsyncOp extends Op<void> {
      [Symbol.iterator]() {
        return { next: () => Promise.resolve({ value: undefined, done: false }) } as never;
      }
    }
    const msgs = await run(function* () {
      const out: string[] = [];
      for (const make of [() => agen(), () => new AsyncOp()]) {
        try {
          yield make();
        } catch (e) {
          out.push((e as Error).message);
        }
      }
      return out;
    });
    expect(msgs[0]).toContain('async generator (async function*) cannot run');
    expect(msgs[1]).toContain('its next() returns a promise');
  });

  it('a value only a patched module makes yieldable (a Buffer, a net.Server, a Socket) says the program is not patched and how', async () => {
    const server = net.createServer();
    const msgs = await run(function* () {
      const out: string[] = [];
      for (const v of [Buffer.from('output of execSync'), server, new net.Socket()]) {
        try {
          yield v;
        } catch (e) {
          out.push((e as Error).message);
        }
      }
      return out;
    });
    expect(msgs).toHaveLength(3);
    for (const m of msgs) {
      expect(m).toContain('this program is not patched');
      expect(m).toContain('node -r geventjs/patch');
      expect(m).toContain('patchAll()');
    }
    expect(msgs[0]).toContain('yielded a Buffer');
  });
});

describe('one Op run by two greenlets at once', () => {
  it('Promise.all([op, op]) on one Queue.get(): the second run is refused, the first gets the item, nothing lost', async () => {
    const q = new Queue<string>();
    const op = q.get();
    const both = Promise.allSettled([op, op]);
    await run(function* () {
      yield* sleep(0.01);
    });
    q.putNowait('a');
    q.putNowait('b');
    const [first, second] = await both;
    expect(first).toEqual({ status: 'fulfilled', value: 'a' });
    expect(second!.status).toBe('rejected');
    const reason = (second as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(ConcurrentObjectUseError);
    expect(reason.message).toMatch(/Queue\.get\(\) is already being waited on by <Greenlet .*make one Op per waiter/);
    expect(q.getNowait()).toBe('b'); // not lost to a looped wait list
  });

  it('two greenlets yielding the same Op object: the second gets the error at its yield; the Op can run again once finished', async () => {
    const q = new Queue<number>();
    const op = q.get();
    const a = spawn(function* () {
      return (yield op) as number;
    });
    const b = spawn(function* () {
      try {
        return (yield op) as number;
      } catch (e) {
        return (e as Error).name;
      }
    });
    await run(function* () {
      yield* sleep(0);
    });
    q.putNowait(7);
    expect(await a).toBe(7);
    expect(await b).toBe('ConcurrentObjectUseError');
    q.putNowait(8);
    expect(await run(function* () { return (yield op) as number; })).toBe(8); // sequential reuse is a fresh run
  });
});

describe('util.inspect shows what a user needs', () => {
  it('of a Timeout: its seconds and whether it is pending, not the heap bookkeeping', async () => {
    const text = await run(function* () {
      const t = Timeout.start(5);
      const s = inspect(t);
      t.cancel();
      return s + '\n---\n' + inspect(t);
    });
    expect(text).toContain('seconds: 5, pending: true');
    expect(text).toContain('seconds: 5, pending: false');
    expect(text).not.toMatch(/_heapIndex|armings|withdrawn|deadline/);
  });

  it('of an Op: the call and its state', async () => {
    const q = new Queue<number>();
    const op = q.get();
    expect(inspect(op)).toBe('Op Queue.get() (not started)');
    const g = spawn(function* () {
      return (yield op) as number;
    });
    await run(function* () {
      yield* sleep(0);
    });
    expect(inspect(op)).toBe(`Op Queue.get() (waiting in ${g})`);
    q.putNowait(1);
    await g;
    expect(inspect(op)).toBe('Op Queue.get() (finished)');
    const custom = opFrom(function* () {}, 'custom()');
    expect(inspect(custom)).toBe('Op custom()');
    await custom;
  });
});
