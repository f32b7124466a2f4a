/**
 * Greenlet: life cycle, kill at the suspension point, links, the kinds of body, subclassing,
 * await, failure reports, and bad input.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  config,
  getcurrent,
  Greenlet,
  GreenletExit,
  joinall,
  run,
  sleep,
  spawn,
  spawnLater,
  Timeout,
  Wait,
} from '../src/index.js';
import { captureErrors } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';


/** A wait nothing wakes. */
class Never extends Wait<void> {
  park(): void {}
}

describe('kill', () => {
  it('is delivered at the suspension point and finally runs, a yield* inside it completes', async () => {
    const log: string[] = [];
    const g = spawn(function* () {
      try {
        log.push('waiting');
        yield* sleep(10);
        log.push('never');
      } finally {
        log.push('cleanup start');
        yield* sleep(0.005);
        log.push('cleanup end');
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* g.kill();
    });
    expect(log).toEqual(['waiting', 'cleanup start', 'cleanup end']);
    expect(g.dead).toBe(true);
    expect(g.successful()).toBe(true);
    expect(g.value).toBeInstanceOf(GreenletExit);
  });

  it('every kill delivers, as in gevent: a second kill interrupts the cleanup of the first', async () => {
    const log: string[] = [];
    const g = spawn(function* () {
      try {
        yield* sleep(10);
      } finally {
        for (let i = 0; i < 3; i++) {
          yield* sleep(0.002);
          log.push(`cleanup ${i}`);
        }
      }
    });
    const second = new Error('second');
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      g.kill({ block: false });
      yield* sleep(0);
      yield* g.kill({ exception: second });
    });
    expect(log).toEqual([]);
    expect(g.exception).toBe(second);
  });

  it('a greenlet that caught one GreenletExit and went on is killed by the next kill', async () => {
    let caught = 0;
    const g = spawn(function* () {
      for (;;) {
        try {
          yield* sleep(10);
        } catch (e) {
          if (!(e instanceof GreenletExit) || ++caught > 1) throw e;
        }
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* g.kill({ timeout: 0.05 }); // caught: it lives on
      expect(g.dead).toBe(false);
      yield* g.kill({ timeout: 1 });
    });
    expect(caught).toBe(2);
    expect(g.dead).toBe(true);
    expect(g.successful()).toBe(true);
  });

  it('a self-kill throws at once, from the kill call (gevent raises in the current greenlet)', async () => {
    const log: string[] = [];
    const g = spawn(function* () {
      try {
        yield* getcurrent()!.kill();
        log.push('after kill');
      } finally {
        log.push('finally');
      }
    });
    await new VirtualClock().run(function* () {
      yield* g.join();
    });
    expect(log).toEqual(['finally']);
    expect(g.value).toBeInstanceOf(GreenletExit);
  });

  it('a self-kill with block: false arrives at the next switch', async () => {
    const log: string[] = [];
    const g = spawn(function* () {
      getcurrent()!.kill({ block: false });
      log.push('still running');
      yield* sleep(0);
      log.push('never');
    });
    await new VirtualClock().run(function* () {
      yield* g.join();
    });
    expect(log).toEqual(['still running']);
    expect(g.successful()).toBe(true);
  });

  it('an unyielded kill() happens and is not reported as a dropped op', async () => {
    const t = spawn(function* () {
      yield* sleep(10);
    });
    const text = await captureErrors(() =>
      run(function* () {
        yield* sleep(0);
        t.kill(); // the kill is delivered; its optional wait is not yielded
        yield* sleep(0.01);
      }),
    );
    expect(t.dead).toBe(true);
    expect(text).toBe('');
  });

  it('a killed unstarted greenlet never runs; its value is the GreenletExit instance', async () => {
    let ran = false;
    const g = spawn(function* () {
      ran = true;
    });
    const exit = new GreenletExit('stop');
    g.kill({ exception: exit, block: false });
    await new VirtualClock().run(function* () {
      yield* sleep(0.002);
    });
    expect(ran).toBe(false);
    expect(g.dead).toBe(true);
    expect(g.successful()).toBe(true);
    expect(g.value).toBe(exit);
  });

  it('a greenlet killed before it starts with an exception is dead at once and failed with it (as gevent)', async () => {
    class Expected extends Error {}
    let ran = false;
    const g = spawn(function* () {
      ran = true;
    });
    const text = await captureErrors(async () => {
      g.kill({ exception: Expected, block: false });
      expect(g.dead).toBe(true); // at once, without a hub turn
      expect(g.successful()).toBe(false);
      expect(g.value).toBeUndefined();
      expect(g.exception).toBeInstanceOf(Expected);
      const thrown = await new VirtualClock().run(function* () {
        try {
          yield* g.get();
        } catch (e) {
          return e;
        }
      });
      expect(thrown).toBe(g.exception);
    });
    expect(ran).toBe(false);
    expect(text).toBe(''); // get() observed the failure: no report
  });

  it('kill with an Error class stores a new instance as the exception', async () => {
    class Stop extends Error {}
    const g = spawn(function* () {
      yield* sleep(10);
    });
    const text = await captureErrors(() =>
      run(function* () {
        yield* sleep(0);
        yield* g.kill({ exception: Stop });
      }),
    );
    expect(g.successful()).toBe(false);
    expect(g.exception).toBeInstanceOf(Stop);
    expect(text).toBe(''); // the killer chose that outcome: not an unobserved failure
  });

  it('kill({ timeout }) gives up waiting when the cleanup takes longer', async () => {
    const g = spawn(function* () {
      try {
        yield* sleep(10);
      } finally {
        yield* sleep(0.2);
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* g.kill({ timeout: 0.01 });
      expect(g.dead).toBe(false);
      yield* g.join();
    });
    expect(g.dead).toBe(true);
  });

  it('kill of a dead greenlet does nothing', async () => {
    const g = spawn(() => 5);
    await g;
    await new VirtualClock().run(function* () {
      yield* g.kill();
    });
    expect(g.value).toBe(5);
  });
});

describe('links', () => {
  it('fire once, in order, after death, and also when added after death', async () => {
    const order: string[] = [];
    const g = spawn(function* () {
      yield* sleep(0);
      order.push('body end');
      return 1;
    });
    g.link(() => order.push('first'));
    g.link((x) => order.push(`second ${x.value}`));
    expect(order).toEqual([]);
    await g;
    await new VirtualClock().run(function* () {
      yield* sleep(0);
    });
    g.link(() => order.push('late'));
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* sleep(0);
    });
    expect(order).toEqual(['body end', 'first', 'second 1', 'late']);
  });

  it('linkValue fires only on success and linkException only on failure', async () => {
    const calls: string[] = [];
    const ok = spawn(() => 'ok');
    const bad = spawn(() => {
      throw new Error('bad');
    });
    for (const [name, g] of [['ok', ok], ['bad', bad]] as const) {
      g.linkValue(() => calls.push(`${name} value`));
      g.linkException(() => calls.push(`${name} exception`));
    }
    await captureErrors(() =>
      run(function* () {
        yield* joinall([ok, bad]);
        yield* sleep(0);
      }),
    );
    expect(calls.sort()).toEqual(['bad exception', 'ok value']);
  });

  it('unlink removes every link to that callback', async () => {
    const calls: string[] = [];
    const cb = () => calls.push('cb');
    const g = spawn(function* () {
      yield* sleep(0);
    });
    g.link(cb);
    g.link(cb);
    g.link(() => calls.push('kept'));
    g.unlink(cb);
    await g;
    await new VirtualClock().run(function* () {
      yield* sleep(0);
    });
    expect(calls).toEqual(['kept']);
  });

  it('a link callback that throws is reported and the other links still run', async () => {
    const calls: string[] = [];
    const g = spawn(() => 1);
    g.link(() => {
      throw new Error('link broke');
    });
    g.link(() => calls.push('second'));
    const text = await captureErrors(async () => {
      await g;
      await new VirtualClock().run(function* () {
        yield* sleep(0);
      });
    });
    expect(calls).toEqual(['second']);
    expect(text).toContain('link broke');
    expect(text).toContain('a link callback of <Greenlet');
  });

  it('a program: an async link callback that rejects is reported like one that throws; the process goes on (it died of an unhandled rejection)', () => {
    const dist = join(__dirname, '..', 'dist', 'src');
    const script = `
      const { run, spawn, sleep } = require(${JSON.stringify(dist + '/index.js')});
      const { Event } = require(${JSON.stringify(dist + '/event.js')});
      const { Pool } = require(${JSON.stringify(dist + '/pool.js')});
      run(function* () {
        spawn(() => 1).link(async () => { throw new Error('async link broke'); });
        spawn(() => 1).rawlink(async () => { throw new Error('async rawlink broke'); });
        const e = new Event(); e.rawlink(async () => { throw new Error('async event callback broke'); }); e.set();
        new Pool().applyAsync(() => 1, [], async () => { throw new Error('async applyAsync callback broke'); });
        yield* sleep(0.05);
        console.log('still alive');
      });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout).toBe('still alive\n');
    for (const what of ['async link broke', 'async rawlink broke', 'async event callback broke', 'async applyAsync callback broke']) {
      expect(r.stderr).toContain(`Error: ${what}`);
    }
    expect(r.stderr.match(/a link callback of /g)).toHaveLength(4);
    expect(r.status).toBe(0);
  });

  it('a joiner that throws while told of the death (a subclass whose successful() throws) loses no later link', async () => {
    let calls = 0;
    class Odd extends Greenlet<number> {
      override successful(): boolean {
        if (calls++ === 0) throw new Error('successful broke');
        return super.successful();
      }
    }
    const heard: string[] = [];
    const g = Odd.spawn(() => 1);
    g.linkValue(() => heard.push('first'));
    g.link(() => heard.push('second'));
    const text = await captureErrors(async () => {
      await run(function* () {
        yield* sleep(0.01);
      });
    });
    expect(heard).toEqual(['second']);
    expect(text).toContain('successful broke');
  });
});

describe('bodies', () => {
  it('spawn runs a generator function with its arguments', async () => {
    const g = spawn(function* (a: number, b: string) {
      yield* sleep(0);
      return `${a}${b}`;
    }, 1, 'x');
    const v: string = await g;
    expect(v).toBe('1x');
  });

  it('spawn passes one argument as itself (an array stays one argument) and this is the greenlet', async () => {
    const seen: unknown[] = [];
    const arr = [1, 2, 3];
    const one = spawn(function* (this: unknown, a: number[]) {
      seen.push(this, a, arguments.length);
      return a.length;
    }, arr);
    const none = spawn(function* (this: unknown) {
      seen.push(this, arguments.length);
      return 0;
    });
    const three = spawn((a: number, b: number, c: number) => a + b + c, 1, 2, 3);
    expect(await one).toBe(3);
    expect(await none).toBe(0);
    expect(await three).toBe(6);
    expect(seen).toEqual([one, arr, 1, none, 0]);
    expect(seen[1]).toBe(arr);
  });

  it('a subclass overriding _run gets the spawn arguments, one or many', async () => {
    class Echo extends Greenlet<unknown[]> {
      override _run(...args: unknown[]) {
        return args;
      }
    }
    const one = Echo.spawn(function* () {}, 7 as never); // the arguments go to the constructor
    expect(await one).toEqual([7]);
    const g = new Echo(function* () {}, 'a', ['b']);
    g.start();
    expect(await g).toEqual(['a', ['b']]);
  });

  it('spawn runs a plain function', async () => {
    const g = spawn((n: number) => n * 2, 21);
    const v: number = await g;
    expect(v).toBe(42);
  });

  it('spawn runs an async function and waits for its promise', async () => {
    const g = spawn(async (n: number) => {
      await new Promise((r) => setTimeout(r, 2));
      return n + 1;
    }, 1);
    const v: number = await g;
    expect(v).toBe(2);
  });

  it('a subclass overriding *_run runs its own body', async () => {
    class MyGreenlet extends Greenlet<string> {
      constructor(private readonly message: string) {
        super();
      }
      override *_run() {
        yield* sleep(0.001);
        return this.message.toUpperCase();
      }
    }
    const g = new MyGreenlet('hi');
    expect(g.started).toBe(false);
    g.start();
    expect(g.started).toBe(true);
    expect(await g).toBe('HI');
    expect(String(g)).toMatch(/^<MyGreenlet "Greenlet-\d+">$/);
  });

  it('await g rejects with the exception the greenlet died of', async () => {
    const err = new Error('boom');
    const g = spawn(() => {
      throw err;
    });
    const text = await captureErrors(() => Promise.resolve(g).catch((e) => expect(e).toBe(err)));
    expect(g.exception).toBe(err);
    expect(text).toBe(''); // awaited: the promise carries the failure, no report
  });
});

describe('failure report', () => {
  it('an uncaught exception is stored and printed in gevent form: stack, then "<Greenlet ...> failed with Error"', async () => {
    let g!: Greenlet<never>;
    const text = await captureErrors(async () => {
      g = spawn(function* crasher() {
        yield* sleep(0);
        throw new TypeError('went wrong');
      });
      g.name = 'crashy';
      await new VirtualClock().run(function* () {
        yield* sleep(0.02); // nobody joins it: its failure is reported
      });
    });
    expect(g.exception).toBeInstanceOf(TypeError);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('TypeError: went wrong');
    expect(lines[lines.length - 1]).toMatch(/ <Greenlet "crashy": crasher> failed with TypeError$/);
  });

  it('a thrown non-Error is reported by value', async () => {
    const text = await captureErrors(async () => {
      spawn(() => {
        throw 42;
      });
      spawn(() => {
        throw Object.assign(Object.create(null), { why: 'no prototype' });
      });
      await run(function* () {
        yield* sleep(0.02); // real time: the reports come at the end of a turn
      });
    });
    expect(text).toContain('a number (42) was thrown: 42');
    expect(text).toContain("an object was thrown: [Object: null prototype] { why: 'no prototype' }");
  });
});

function joinallOf(...gs: Greenlet<any>[]): Promise<unknown> {
  return run(function* () {
    yield* joinall(gs);
  });
}

describe('state', () => {
  it('started/ready/successful/dead/value/exception/name follow the life cycle', async () => {
    const g = new Greenlet(function* () {
      yield* sleep(0.001);
      return 'v';
    });
    expect([g.started, g.ready(), g.successful(), g.dead, g.value, g.exception]).toEqual([
      false,
      false,
      false,
      false,
      undefined,
      undefined,
    ]);
    expect(g.name).toMatch(/^Greenlet-\d+$/);
    g.name = 'worker';
    expect(String(g)).toBe('<Greenlet "worker">');
    g.start();
    g.start(); // a second start does nothing
    expect([g.started, g.ready(), g.dead]).toEqual([true, false, false]);
    await g;
    expect([g.started, g.ready(), g.successful(), g.dead, g.value, g.exception]).toEqual([
      true,
      true,
      true,
      true,
      'v',
      undefined,
    ]);
  });

  it('startLater and spawnLater start after the delay', async () => {
    const order: string[] = [];
    const late = spawnLater(0.02, () => order.push('later'));
    const g = new Greenlet(() => order.push('startLater'));
    g.startLater(0.005);
    expect(late.started).toBe(true);
    spawn(() => order.push('now'));
    await Promise.all([late, g]);
    expect(order).toEqual(['now', 'startLater', 'later']);
  });

  it('a spawnLater greenlet killed before its time never runs', async () => {
    let ran = false;
    const g = spawnLater(0.01, () => (ran = true));
    g.kill({ block: false });
    await new VirtualClock().run(function* () {
      yield* sleep(0.03);
    });
    expect(ran).toBe(false);
    expect(g.value).toBeInstanceOf(GreenletExit);
  });

  it('get({ block: false }) on an unfinished greenlet throws Timeout', async () => {
    const g = spawn(function* () {
      yield* sleep(10);
    });
    const err = await new VirtualClock().run(function* () {
      try {
        yield* g.get({ block: false });
      } catch (e) {
        return e;
      }
    });
    expect(err).toBeInstanceOf(Timeout);
    g.kill({ block: false });
  });

  it('get({ timeout }) throws Timeout, join({ timeout }) just returns', async () => {
    const g = spawn(function* () {
      yield* new Never();
    });
    const [joined, got] = await new VirtualClock().run(function* () {
      yield* g.join({ timeout: 0.005 });
      const joinedDead = g.dead;
      try {
        yield* g.get({ timeout: 0.005 });
        return [joinedDead, null];
      } catch (e) {
        return [joinedDead, e];
      }
    });
    expect(joined).toBe(false);
    expect(got).toBeInstanceOf(Timeout);
    g.kill({ block: false });
  });

  it('get gives the value, or throws the exception the greenlet died of', async () => {
    const err = new Error('inner');
    const ok = spawn(() => 3);
    const bad = spawn(() => {
      throw err;
    });
    const out = await captureErrors(() =>
      run(function* () {
        const v: number = yield* ok.get();
        expect(v).toBe(3);
        try {
          yield* bad.get();
        } catch (e) {
          expect(e).toBe(err);
        }
      }),
    );
    expect(out).toBe(''); // observed by get(): no report
  });
});

describe('bad input', () => {
  it('a non-function to spawn, Greenlet, spawnLater or link is a TypeError naming the fix', async () => {
    expect(() => spawn(42 as never)).toThrow(/spawn\(\) needs a function to run, got a number \(42\); pass a generator function/);
    expect(() => new Greenlet('x' as never)).toThrow(TypeError);
    expect(() => new Greenlet('x' as never)).toThrow(/Greenlet needs a function to run, got a string/);
    expect(() => spawnLater(1, null as never)).toThrow(/spawnLater\(\) needs a function to run, got null/);
    const g = spawn(() => 1);
    expect(() => g.link('cb' as never)).toThrow(/link\(\) needs a function/);
    await g;
  });

  it('a negative or NaN spawnLater/startLater delay is a RangeError', () => {
    expect(() => spawnLater(-1, () => 1)).toThrow(RangeError);
    expect(() => spawnLater(NaN, () => 1)).toThrow(/spawnLater\(seconds\) must be a number of seconds >= 0, got NaN/);
    expect(() => new Greenlet(() => 1).startLater(-0.5)).toThrow(RangeError);
    expect(() => spawnLater('1' as never, () => 1)).toThrow(TypeError);
  });

  it('join or get on itself is an error naming the fix', async () => {
    const msgs = await new VirtualClock().run(function* () {
      yield* sleep(0);
      const me = getcurrent()!;
      const out: string[] = [];
      for (const f of [() => me.join(), () => me.get()]) {
        try {
          f();
        } catch (e) {
          out.push((e as Error).message);
        }
      }
      return out;
    });
    expect(msgs[0]).toMatch(/cannot join\(\) itself: it would wait forever; join\(\) it from another greenlet/);
    expect(msgs[1]).toMatch(/cannot get\(\) itself/);
  });

  it('kill with a non-error exception is a TypeError naming the fix', () => {
    const g = spawn(() => 1);
    expect(() => g.kill({ exception: 'stop' as never })).toThrow(TypeError);
    expect(() => g.kill({ exception: 'stop' as never })).toThrow(/kill\(\{ exception \}\) must be an Error class or instance, got a string/);
    expect(() => g.kill({ timeout: -1 })).toThrow(RangeError);
  });

  it('a negative or NaN join/get timeout is a RangeError', () => {
    const g = spawn(() => 1);
    expect(() => g.join({ timeout: -1 })).toThrow(/join\(\{ timeout \}\) must be >= 0 seconds/);
    expect(() => g.get({ timeout: NaN })).toThrow(RangeError);
  });
});
