/**
 * Waiting on many things: joinall, wait, iwait, killall; and run(), the way in from top-level
 * code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  config,
  Greenlet,
  GreenletExit,
  iwait,
  joinall,
  killall,
  opFrom,
  run,
  sleep,
  spawn,
  Timeout,
  wait,
} from '../src/index.js';
import { captureErrors as quietly } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';

function* sleeper(s: number, v: string) {
  yield* sleep(s);
  return v;
}

/** Runs `fn` with config.errorStream captured; gives what was written. */

describe('joinall', () => {
  it('waits for all and gives them back in the order given', async () => {
    const gs = [spawn(sleeper, 0.02, 'slow'), spawn(sleeper, 0.001, 'fast')];
    const done = await new VirtualClock().run(function* () {
      return yield* joinall(gs);
    });
    expect(done).toEqual(gs);
    expect(gs.map((g) => g.value)).toEqual(['slow', 'fast']);
  });

  it('{ timeout } gives only those finished in time', async () => {
    const fast = spawn(sleeper, 0.001, 'fast');
    const slow = spawn(sleeper, 5, 'slow');
    const done = await new VirtualClock().run(function* () {
      return yield* joinall([slow, fast], { timeout: 0.03 });
    });
    expect(done).toEqual([fast]);
    expect(slow.dead).toBe(false);
    slow.kill({ block: false });
  });

  it('{ count } stops after that many, in order of death', async () => {
    const gs = [spawn(sleeper, 5, 'c'), spawn(sleeper, 0.001, 'a'), spawn(sleeper, 0.01, 'b')];
    const done = await new VirtualClock().run(function* () {
      return yield* joinall(gs, { count: 2 });
    });
    expect(done.map((g) => g.value)).toEqual(['a', 'b']);
    expect(gs[0]!.dead).toBe(false);
    gs[0]!.kill({ block: false });
  });

  it('{ raiseError } throws the first exception, in order of death', async () => {
    const err = new Error('first');
    const gs = [
      spawn(function* () {
        yield* sleep(0.02);
        throw new Error('second');
      }),
      spawn(function* () {
        yield* sleep(0.001);
        throw err;
      }),
    ];
    let caught: unknown;
    await quietly(() =>
      run(function* () {
        try {
          yield* joinall(gs, { raiseError: true });
        } catch (e) {
          caught = e;
        }
        yield* joinall(gs);
      }),
    );
    expect(caught).toBe(err);
  });

  it('without raiseError a failed greenlet is just returned', async () => {
    const bad = spawn(() => {
      throw new Error('x');
    });
    const done = await quietly(() =>
      run(function* () {
        expect(yield* joinall([bad])).toEqual([bad]);
      }),
    );
    expect(done).toBe(''); // joinall hands it to the caller: observed, so not reported
  });

  it('a non-greenlet in the list is a TypeError naming it', () => {
    expect(() => joinall([spawn(() => 1), 5 as never])).toThrow(TypeError);
    expect(() => joinall([5 as never])).toThrow(/joinall\(\) can wait on greenlets, Events and AsyncResults .* got a number \(5\) in the list/);
    expect(() => joinall(null as never)).toThrow(/joinall\(\) needs an array/);
  });

  it('a negative timeout or a bad count is a RangeError', () => {
    expect(() => joinall([], { timeout: -1 })).toThrow(RangeError);
    expect(() => joinall([], { count: 1.5 })).toThrow(/joinall\(\{ count \}\) must be a whole number >= 0, got a number \(1.5\)/);
  });
});

describe('interrupted joins leave nothing behind', () => {
  /** How many joiners and links a greenlet still holds (internal: the property checks it). */
  function registered(g: Greenlet<any>): number {
    return (g as unknown as { _links: { size: number } | null })._links?.size ?? 0;
  }

  it('property: joinall/wait/join interrupted by random kills and timeouts unregister from every target', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.record({
            kind: fc.constantFrom('joinall', 'wait', 'join', 'count1'),
            timeoutMs: fc.option(fc.integer({ min: 0, max: 5 })),
            killAtMs: fc.option(fc.integer({ min: 0, max: 5 })),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (targetMs, joinerSpecs) => {
          const targets = targetMs.map((ms) => spawn(sleeper, ms / 1000, `t${ms}`));
          const joiners = joinerSpecs.map((spec) =>
            spawn(function* () {
              const t = spec.timeoutMs === null ? null : Timeout.start(spec.timeoutMs / 1000);
              try {
                if (spec.kind === 'joinall') return (yield* joinall(targets)).length;
                if (spec.kind === 'wait') return (yield* wait(targets)).length;
                if (spec.kind === 'count1') return (yield* joinall(targets, { count: 1 })).length;
                yield* targets[0]!.join();
                return 1;
              } catch (e) {
                if (e !== t && !(e instanceof GreenletExit)) throw e;
                return -1;
              } finally {
                t?.cancel();
              }
            }),
          );
          joinerSpecs.forEach((spec, i) => {
            if (spec.killAtMs !== null) spawnLaterKill(joiners[i]!, spec.killAtMs / 1000);
          });
          // While targets still run, interrupted joiners must already be gone from them.
          await new VirtualClock().run(function* () {
            yield* joinall(joiners);
          });
          for (const j of joiners) expect(j.successful()).toBe(true);
          for (const t of targets) expect(registered(t)).toBe(0);
          await new VirtualClock().run(function* () {
            yield* killall(targets);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a joiner timed out while its target runs is no longer registered on it', async () => {
    const target = spawn(sleeper, 5, 'x');
    await new VirtualClock().run(function* () {
      yield* joinall([target], { timeout: 0.002 });
      yield* wait([target], { timeout: 0.002 });
      yield* target.join({ timeout: 0.002 });
    });
    expect(registered(target)).toBe(0);
    target.kill({ block: false });
  });
});

function spawnLaterKill(g: Greenlet<any>, s: number): void {
  spawn(function* () {
    yield* sleep(s);
    g.kill({ block: false });
  });
}

describe('wait and iwait', () => {
  it('wait gives the ready objects in order of readiness', async () => {
    const gs = [spawn(sleeper, 0.02, 'b'), spawn(sleeper, 0.001, 'a')];
    const ready = await new VirtualClock().run(function* () {
      return yield* wait(gs);
    });
    expect(ready).toEqual([gs[1], gs[0]]);
  });

  it('wait { count } and { timeout }', async () => {
    const gs = [spawn(sleeper, 5, 'never'), spawn(sleeper, 0.001, 'a')];
    const [first, timed] = await new VirtualClock().run(function* () {
      const first = yield* wait(gs, { count: 1 });
      const timed = yield* wait(gs, { timeout: 0.01 });
      return [first, timed];
    });
    expect(first).toEqual([gs[1]]);
    expect(timed).toEqual([gs[1]]);
    gs[0]!.kill({ block: false });
  });

  it('iwait yields each object as it becomes ready, inside a greenlet', async () => {
    const gs = [spawn(sleeper, 0.03, 'c'), spawn(sleeper, 0.001, 'a'), spawn(sleeper, 0.015, 'b')];
    const order = await new VirtualClock().run(function* () {
      const out: string[] = [];
      const it = iwait(gs);
      for (let r = yield* it.next(); !r.done; r = yield* it.next()) out.push(r.value.value!);
      return out;
    });
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('for await over iwait outside greenlets', async () => {
    const gs = [spawn(sleeper, 0.02, 'b'), spawn(sleeper, 0.001, 'a')];
    const out: (string | undefined)[] = [];
    for await (const g of iwait(gs)) out.push(g.value);
    expect(out).toEqual(['a', 'b']);
  });

  it('iwait stops at its timeout', async () => {
    const slow = spawn(sleeper, 5, 'slow');
    const out: unknown[] = [];
    for await (const g of iwait([slow], { timeout: 0.01 })) out.push(g);
    expect(out).toEqual([]);
    slow.kill({ block: false });
  });

  it('a non-linkable is a TypeError', () => {
    expect(() => wait(['x' as never])).toThrow(/wait\(\) can wait on greenlets.*got a string/);
    expect(() => iwait([{}] as never)).toThrow(TypeError);
  });
});

describe('killall', () => {
  it('kills every greenlet and waits for them', async () => {
    const gs = [spawn(sleeper, 10, 'x'), spawn(sleeper, 10, 'y')];
    await new VirtualClock().run(function* () {
      yield* sleep(0);
      yield* killall(gs);
    });
    expect(gs.every((g) => g.dead && (g.value as unknown) instanceof GreenletExit)).toBe(true);
  });

  it('{ block: false } returns at once; { exception } is what they die of', async () => {
    class Stop extends Error {}
    const g = spawn(sleeper, 10, 'x');
    await quietly(() =>
      run(function* () {
        yield* sleep(0);
        yield* killall([g], { exception: Stop, block: false });
        expect(g.dead).toBe(false);
        yield* g.join();
      }),
    );
    expect(g.exception).toBeInstanceOf(Stop);
  });

  it('a non-greenlet is a TypeError', () => {
    const linkable = { ready: () => true, rawlink() {}, unlink() {} };
    expect(() => killall([linkable] as never)).toThrow(/killall\(\) kills greenlets, got an object/);
  });
});

describe('run', () => {
  it('runs a generator function, a plain function and an Op', async () => {
    const a: number = await new VirtualClock().run(function* () {
      yield* sleep(0);
      return 1;
    });
    const b: string = await new VirtualClock().run(() => 'plain');
    const c: string = await new VirtualClock().run(
      opFrom(function* () {
        yield* sleep(0);
        return 'op';
      }),
    );
    expect([a, b, c]).toEqual([1, 'plain', 'op']);
  });

  it('rejects with the exception the body throws', async () => {
    const text = await quietly(() =>
      expect(
        run(function* () {
          yield* sleep(0);
          throw new RangeError('inside');
        }),
      ).rejects.toThrow('inside'),
    );
    expect(text).toBe(''); // a run() root's failure goes to its caller only (gevent's main greenlet)
  });

  it('a non-function is a TypeError naming the fix', () => {
    expect(() => run(3 as never)).toThrow(/run\(\) needs a function to run, got a number \(3\)/);
  });

  it('a greenlet returned from run() is awaited too, as a promise would be (a Greenlet is thenable)', async () => {
    const v = await new VirtualClock().run(function* () {
      yield* sleep(0);
      return spawn(() => 'inner value');
    });
    expect(v).toBe('inner value');
  });
});
