/**
 * The "testing code that uses geventjs" recipe of docs/recipes.md, as a real vitest file: each
 * test enters the greenlet world with `await run(...)`, bounds itself with a Timeout so a wait
 * that never ends fails the test instead of hanging the run, and asserts on values.
 */
import { describe, expect, it } from 'vitest';
import { run, sleep, spawn, Timeout } from '../src/index.js';
import { Queue } from '../src/queue.js';

/** The code under test: doubles what arrives on `inbox` until it sees null. */
function* doubler(inbox: Queue<number | null>, outbox: Queue<number>): Generator<unknown, number, unknown> {
  let n = 0;
  for (;;) {
    const v = yield* inbox.get();
    if (v === null) return n;
    yield* outbox.put(v * 2);
    n++;
  }
}

describe('recipe: testing greenlet code', () => {
  it('a test runs greenlets with await run() and checks what they produced', async () => {
    const inbox = new Queue<number | null>();
    const outbox = new Queue<number>();
    const handled = await run(function* () {
      const g = spawn(doubler, inbox, outbox);
      for (const v of [1, 2, 3, null]) yield* inbox.put(v);
      return yield* g.get();
    });
    expect(handled).toBe(3);
    expect([outbox.getNowait(), outbox.getNowait(), outbox.getNowait()]).toEqual([2, 4, 6]);
  });

  it('a Timeout turns a wait that never ends into a failure of this test, not a hung run', async () => {
    const inbox = new Queue<number | null>();
    const outbox = new Queue<number>();
    const outcome = run(function* () {
      const t = Timeout.start(0.05);
      try {
        spawn(doubler, inbox, outbox); // never sent null: it would wait forever
        yield* outbox.get();
        return 'got something';
      } finally {
        t.cancel();
      }
    });
    await expect(outcome).rejects.toBeInstanceOf(Timeout);
  });

  it('an error inside a greenlet reaches the test through get()', async () => {
    const failing = await run(function* () {
      const g = spawn(function* () {
        yield* sleep(0);
        throw new RangeError('bad input');
      });
      yield* g.join();
      return g.exception;
    });
    expect(failing).toBeInstanceOf(RangeError);
    expect((failing as Error).message).toBe('bad input');
  });
});
