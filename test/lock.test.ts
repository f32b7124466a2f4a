/**
 * lock.ts: Semaphore, BoundedSemaphore, Lock, RLock, DummySemaphore: acquire/release,
 * FIFO hand-off, timeouts and kills that take no slot, scoped `using`, bad input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GreenletExit, joinall, run, sleep, spawn, Timeout, type Greenlet } from '../src/index.js';
import { BoundedSemaphore, DummySemaphore, Lock, RLock, Semaphore } from '../src/lock.js';

describe('Semaphore', () => {
  it('acquire takes a slot and gives true; release gives it back', async () => {
    const sem = new Semaphore(2);
    const got = await run(function* () {
      const a: boolean = yield* sem.acquire();
      const b = yield* sem.acquire();
      return [a, b, sem.counter, sem.locked()];
    });
    expect(got).toEqual([true, true, 0, true]);
    expect(sem.release()).toBe(1);
    expect(sem.locked()).toBe(false);
  });

  it('acquire({ blocking: false }) and acquire({ timeout: 0 }) give false at once when none is free', async () => {
    const sem = new Semaphore(0);
    expect(await run(function* () {
      return [yield* sem.acquire({ blocking: false }), yield* sem.acquire({ timeout: 0 })];
    })).toEqual([false, false]);
    expect(sem.counter).toBe(0);
  });

  it('an acquire that times out gives false and leaves the slot to the next waiter', async () => {
    const sem = new Semaphore(0);
    const log: string[] = [];
    await run(function* () {
      const a = spawn(function* () { log.push(`a:${yield* sem.acquire({ timeout: 0.02 })}`); });
      const b = spawn(function* () { log.push(`b:${yield* sem.acquire()}`); });
      yield* sleep(0.05);
      sem.release();
      yield* joinall([a, b]);
    });
    expect(log).toEqual(['a:false', 'b:true']);
    expect(sem.counter).toBe(0);
  });

  it('wakes waiters in FIFO order and a newcomer cannot barge ahead of them', async () => {
    const sem = new Semaphore(1);
    const order: number[] = [];
    await run(function* () {
      yield* sem.acquire();
      const gs = [0, 1, 2, 3].map((i) => spawn(function* () {
        yield* sem.acquire();
        order.push(i);
        yield* sleep(0);
        sem.release();
      }));
      yield* sleep(0.01); // all four are waiting
      sem.release();
      // The slot went to waiter 0: a newcomer asking now finds nothing free.
      expect(yield* sem.acquire({ blocking: false })).toBe(false);
      yield* joinall(gs);
    });
    expect(order).toEqual([0, 1, 2, 3]);
    expect(sem.counter).toBe(1);
  });

  it('a waiter killed after a slot was handed to it, before it ran, passes the slot on (undo)', async () => {
    const sem = new Semaphore(0);
    const log: string[] = [];
    await run(function* () {
      const a = spawn(function* () { yield* sem.acquire(); log.push('a got it'); });
      const b = spawn(function* () { yield* sem.acquire(); log.push('b got it'); sem.release(); });
      yield* sleep(0.01);
      sem.release(); // handed to a, which has not run yet
      a.kill({ block: false });
      yield* joinall([a, b]);
    });
    expect(log).toEqual(['b got it']);
    expect(sem.counter).toBe(1);
  });

  it('a waiter killed after its time limit woke it, before it ran, gives back nothing (it had no slot)', async () => {
    const sem = new Semaphore(0);
    await run(function* () {
      const g = spawn(function* () { return yield* sem.acquire({ timeout: 60 }); });
      yield* sleep(0);
      // What the hub does when the time limit runs out; then a kill lands before g runs.
      (g._wait as unknown as { fire(): void }).fire();
      g.kill({ block: false });
      yield* g.join();
    });
    expect(sem.counter).toBe(0);
  });

  it('waitAvailable waits for a free slot without taking it, and gives the counter after a timeout', async () => {
    const sem = new Semaphore(0);
    const r = await run(function* () {
      const timedOut = yield* sem.waitAvailable({ timeout: 0.01 });
      spawn(function* () { yield* sleep(0.01); sem.release(); });
      const n: number = yield* sem.waitAvailable();
      return [timedOut, n, sem.counter];
    });
    expect(r).toEqual([0, 1, 1]);
  });

  it('hold() with `using` releases at the end of the block, also when it throws', async () => {
    const sem = new Semaphore(1);
    const seen = await run(function* () {
      const inside: number[] = [];
      {
        using _ = yield* sem.hold();
        inside.push(sem.counter);
      }
      try {
        using _ = yield* sem.hold();
        inside.push(sem.counter);
        throw new Error('boom');
      } catch {
        // released by then
      }
      inside.push(sem.counter);
      return inside;
    });
    expect(seen).toEqual([0, 0, 1]);
  });

  it('await acquire() works outside greenlets', async () => {
    const sem = new Semaphore(1);
    expect(await sem.acquire()).toBe(true);
    expect(sem.counter).toBe(0);
  });

  it('counters end where they started after random acquirers with random timeouts and kills', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            hold: fc.integer({ min: 0, max: 3 }),
            timeout: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
            killAfter: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (slots, plans) => {
          const sem = new Semaphore(slots);
          let inside = 0;
          let most = 0;
          await run(function* () {
            const gs: Greenlet[] = [];
            for (const p of plans) {
              const g = spawn(function* () {
                const got = yield* sem.acquire({ timeout: p.timeout === null ? null : p.timeout / 1000 });
                if (!got) return;
                inside++;
                most = Math.max(most, inside);
                try {
                  for (let i = 0; i < p.hold; i++) yield* sleep(0);
                } finally {
                  inside--;
                  sem.release();
                }
              });
              gs.push(g);
              if (p.killAfter !== null) {
                spawn(function* () {
                  for (let i = 0; i < p.killAfter!; i++) yield* sleep(0);
                  g.kill({ block: false });
                });
              }
            }
            yield* joinall(gs);
          });
          expect(sem.counter).toBe(slots);
          expect(most).toBeLessThanOrEqual(slots);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('BoundedSemaphore and Lock', () => {
  it('BoundedSemaphore throws RangeError on a release past its initial value', () => {
    const sem = new BoundedSemaphore(2);
    expect(() => sem.release()).toThrow(RangeError);
    expect(() => sem.release()).toThrow(/released too many times.*release only a slot you acquired/);
    expect(sem.counter).toBe(2);
  });

  it('Lock is a one-slot BoundedSemaphore: excludes, and releasing it unlocked throws', async () => {
    const lock = new Lock();
    const log: string[] = [];
    await run(function* () {
      const worker = (name: string) => function* () {
        using _ = yield* lock.hold();
        log.push(`${name} in`);
        yield* sleep(0.005);
        log.push(`${name} out`);
      };
      yield* joinall([spawn(worker('a')), spawn(worker('b'))]);
    });
    expect(log).toEqual(['a in', 'a out', 'b in', 'b out']);
    expect(lock).toBeInstanceOf(BoundedSemaphore);
    expect(() => lock.release()).toThrow(RangeError);
  });
});

describe('RLock', () => {
  it('is re-entrant for its owner and excludes other greenlets until fully released', async () => {
    const lock = new RLock();
    const log: string[] = [];
    await run(function* () {
      const owner = spawn(function* () {
        yield* lock.acquire();
        yield* lock.acquire();
        log.push(`owner twice, locked=${lock.locked()}`);
        lock.release();
        yield* sleep(0.005);
        log.push('owner releases last');
        lock.release();
      });
      const other = spawn(function* () {
        yield* sleep(0);
        yield* lock.acquire();
        log.push(`other got it, owned=${lock.isOwned()}`);
        lock.release();
      });
      yield* joinall([owner, other]);
    });
    expect(log).toEqual(['owner twice, locked=true', 'owner releases last', 'other got it, owned=true']);
    expect(lock.locked()).toBe(false);
  });

  it('release by a greenlet that does not own it throws, naming the fix', async () => {
    const lock = new RLock();
    const err = await run(function* () {
      yield* lock.acquire();
      const thief = spawn(function* () { lock.release(); });
      yield* joinall([thief]);
      return thief.exception as Error;
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/does not own this lock.*release it from the greenlet that acquired it/);
    expect(lock.locked()).toBe(true);
    expect(() => new RLock().release()).toThrow(/not locked/);
  });

  it('hold() nests with `using` in one greenlet', async () => {
    const lock = new RLock();
    const r = await run(function* () {
      using _a = yield* lock.hold();
      {
        using _b = yield* lock.hold();
      }
      return lock.isOwned();
    });
    expect(r).toBe(true);
    expect(lock.locked()).toBe(false);
  });

  it('an acquire that times out leaves the lock to its owner', async () => {
    const lock = new RLock();
    const got = await run(function* () {
      yield* lock.acquire();
      const g = spawn(function* () { return yield* lock.acquire({ timeout: 0.01 }); });
      return yield* g.get();
    });
    expect(got).toBe(false);
  });
});

describe('DummySemaphore', () => {
  it('never blocks and never runs out', async () => {
    const sem = new DummySemaphore();
    const r = await run(function* () {
      const got = [];
      for (let i = 0; i < 5; i++) got.push(yield* sem.acquire());
      using _ = yield* sem.hold();
      return [got.every(Boolean), sem.locked(), yield* sem.waitAvailable()];
    });
    expect(r).toEqual([true, false, Infinity]);
    expect(sem.release()).toBe(Infinity);
  });
});

describe('bad input', () => {
  it('a negative or fractional semaphore value is a RangeError naming the fix', () => {
    expect(() => new Semaphore(-1)).toThrow(RangeError);
    expect(() => new Semaphore(-1)).toThrow(/new Semaphore\(value\) must be a whole number >= 0, got -1/);
    expect(() => new BoundedSemaphore(1.5)).toThrow(/BoundedSemaphore\(value\)/);
  });

  it('a non-number semaphore value is a TypeError', () => {
    expect(() => new Semaphore('2' as never)).toThrow(TypeError);
  });

  it('a bad acquire timeout is an error naming it', async () => {
    const sem = new Semaphore(1);
    expect(() => sem.acquire({ timeout: -1 })).toThrow(/acquire\(\{ timeout \}\)/);
  });

  it('a kill while waiting is a GreenletExit and takes no slot', async () => {
    const sem = new Semaphore(0);
    await run(function* () {
      const g = spawn(function* () { yield* sem.acquire(); });
      yield* sleep(0);
      yield* g.kill();
      expect(g.value).toBeInstanceOf(GreenletExit);
    });
    sem.release();
    expect(sem.counter).toBe(1);
    void Timeout;
  });
});
