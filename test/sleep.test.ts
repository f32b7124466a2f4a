/**
 * sleep and idle: giving up the loop.
 */
import { describe, expect, it } from 'vitest';
import { config, GreenletExit, idle, joinall, run, sleep, spawn, Timeout } from '../src/index.js';
import { VirtualClock } from '../src/testing.js';

describe('sleep', () => {
  it('sleep(0) and sleep() let the other ready greenlets run, in turn', async () => {
    const order: string[] = [];
    function* worker(name: string) {
      for (let i = 0; i < 3; i++) {
        order.push(`${name}${i}`);
        yield* (i % 2 === 0 ? sleep(0) : sleep());
      }
    }
    await new VirtualClock().run(function* () {
      yield* joinall([spawn(worker, 'a'), spawn(worker, 'b')]);
    });
    expect(order).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });

  it('sleeps order by deadline', async () => {
    const order: number[] = [];
    await new VirtualClock().run(function* () {
      yield* joinall(
        [0.03, 0.001, 0.015].map((s) =>
          spawn(function* () {
            yield* sleep(s);
            order.push(s);
          }),
        ),
      );
    });
    expect(order).toEqual([0.001, 0.015, 0.03]);
  });

  it('sleep(Infinity) waits until interrupted', async () => {
    const e = await new VirtualClock().run(function* () {
      const t = Timeout.start(0.005);
      try {
        yield* sleep(Infinity);
      } catch (e) {
        return e === t;
      }
    });
    expect(e).toBe(true);
  });

  it('await sleep(s) works from top-level code', async () => {
    await expect(Promise.resolve(sleep(0.001))).resolves.toBeUndefined();
  });

  it('a negative, NaN or non-number time is a RangeError or TypeError naming the argument', () => {
    expect(() => sleep(-1)).toThrow(RangeError);
    expect(() => sleep(-1)).toThrow(/sleep\(seconds\) must be a number of seconds >= 0, got -1/);
    expect(() => sleep(NaN)).toThrow(RangeError);
    expect(() => sleep('1' as never)).toThrow(TypeError);
  });
});

describe('idle', () => {
  it('waits until the other ready greenlets have run as far as they can', async () => {
    const order: string[] = [];
    await new VirtualClock().run(function* () {
      spawn(function* () {
        for (let i = 0; i < 5; i++) {
          order.push(`w${i}`);
          yield* sleep(0);
        }
      });
      yield* idle();
      order.push('idle done');
    });
    expect(order).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'idle done']);
  });

  it('waits for the other ready greenlets also when each hub turn runs over its time budget', async () => {
    const order: string[] = [];
    const saved = config.switchInterval;
    config.switchInterval = 1e-6; // every turn is over budget after one step: the rest wait for a setImmediate
    try {
      await run(function* () {
        spawn(function* () {
          for (let i = 0; i < 5; i++) {
            order.push(`w${i}`);
            const t = process.hrtime.bigint();
            while (process.hrtime.bigint() - t < 20_000n); // a slow step
            yield* sleep(0);
          }
        });
        yield* idle();
        order.push('idle done');
      });
    } finally {
      config.switchInterval = saved;
    }
    expect(order).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'idle done']);
  });

  it('an idle wait interrupted by a kill does not wake the greenlet later', async () => {
    const log: string[] = [];
    const g = spawn(function* () {
      try {
        yield* idle();
        log.push('idled');
      } finally {
        // The idle's wake-up must not cut this sleep short or resume it twice.
        yield* sleep(0.005);
        log.push('cleanup');
      }
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0); // g parks on idle()
      g.kill({ block: false });
      yield* g.join();
    });
    expect(log).toEqual(['cleanup']);
    expect(g.value).toBeInstanceOf(GreenletExit);
  });
});

describe('long sleeps', () => {
  it('sleep(3e6) (35 days, past 2^31 ms) does not end within milliseconds', async () => {
    let ended = false;
    const g = spawn(function* () {
      yield* sleep(3e6);
      ended = true;
    });
    await new VirtualClock().run(function* () {
      yield* sleep(0.05);
    });
    expect(ended).toBe(false);
    expect(g.dead).toBe(false);
    await new VirtualClock().run(function* () {
      yield* g.kill();
    });
  });
});
