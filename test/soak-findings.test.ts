/**
 * Defects the soak run (bench/soak.ts) found, each pinned by a test that failed before its fix.
 */
import { describe, expect, it } from 'vitest';
import { run, spawn, sleep } from '../src/index.js';
import { Queue, Channel, PriorityQueue } from '../src/queue.js';

describe('a put whose item went in, interrupted before it resumed', () => {
  // Found by the soak: a producer killed just after a getter made room for its item saw its
  // put() fail, though the item was queued (and later got): a caller that retries duplicates
  // it. As in gevent (where the putter runs at once), a completed put returns; the kill lands
  // at the greenlet's next suspension point.
  for (const [name, make] of [
    ['Queue(1)', () => new Queue<number>(1)],
    ['PriorityQueue(1)', () => new PriorityQueue<number>(1)],
  ] as const) {
    it(`${name}: the put returns and the kill lands at the next suspension`, async () => {
      const seen = await run(function* () {
        const q = make();
        q.putNowait(1);
        let returned = false;
        const g = spawn(function* () {
          yield* q.put(2);
          returned = true;
          yield* sleep(10);
        });
        yield* sleep(0); // g parks on the full queue
        const first = q.getNowait(); // makes room: 2 goes in, g is woken
        yield* g.kill(); // before g has run
        return { first, returned, left: q.qsize(), dead: g.ready(), item: q.getNowait() };
      });
      expect(seen).toEqual({ first: 1, returned: true, left: 1, dead: true, item: 2 });
    });
  }

  it('Channel: a put handed to a waiting getter returns, though killed before it resumed', async () => {
    const seen = await run(function* () {
      const ch = new Channel<string>();
      const getter = spawn(() => ch.get());
      yield* sleep(0); // the getter waits
      let returned = false;
      const putter = spawn(function* () {
        yield* ch.put('x');
        returned = true;
        yield* sleep(10);
      });
      yield* sleep(0); // putter hands 'x' over and yields to the getter
      yield* putter.kill();
      return { got: yield* getter.get(), returned };
    });
    expect(seen).toEqual({ got: 'x', returned: true });
  });

  it('Channel: a put with a kill already due, handed to a waiting getter, returns', async () => {
    const seen = await run(function* () {
      const q = new Queue<number>(1);
      q.putNowait(0);
      const ch = new Channel<string>();
      const getter = spawn(() => ch.get());
      let returned = false;
      const g = spawn(function* () {
        yield* q.put(1); // finishes; the kill below is then due at the next suspension
        yield* ch.put('x'); // hands 'x' to the getter at once
        returned = true;
        yield* sleep(10);
      });
      yield* sleep(0); // the getter waits on the Channel, g on the full Queue
      q.getNowait();
      yield* g.kill();
      return { got: yield* getter.get(), returned };
    });
    expect(seen).toEqual({ got: 'x', returned: true });
  });
});
