/**
 * queue.ts: Queue, PriorityQueue, LifoQueue, JoinableQueue, Channel, SimpleQueue: hand-off,
 * FIFO fairness, nothing lost under random kills and timeouts (fast-check), iteration,
 * peek, task tracking, bad input.
 */
import fc from 'fast-check';
import { inspect } from 'node:util';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { joinall, run, sleep, spawn, Timeout, type Greenlet } from '../src/index.js';
import { ConcurrentObjectUseError } from '../src/errors.js';
import { untrack, type Op } from '../src/op.js';
import {
  Channel,
  Empty,
  Full,
  JoinableQueue,
  LifoQueue,
  PriorityQueue,
  pythonOrder,
  Queue,
  SimpleQueue,
  StopIteration,
} from '../src/queue.js';
import { captureErrors } from './capture-errors.js';
import { VirtualClock } from '../src/testing.js';

describe('Queue', () => {
  it('gives items in FIFO order; qsize, empty and full follow', async () => {
    const q = new Queue<number>(3);
    expect([q.qsize(), q.empty(), q.full(), q.maxsize]).toEqual([0, true, false, 3]);
    const got = await new VirtualClock().run(function* () {
      for (let i = 0; i < 3; i++) yield* q.put(i);
      expect([q.qsize(), q.empty(), q.full()]).toEqual([3, false, true]);
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        const v: number = yield* q.get();
        out.push(v);
      }
      return out;
    });
    expect(got).toEqual([0, 1, 2]);
    expect(q.empty()).toBe(true);
  });

  it('types: yield* get()/peek() infer the item type, next() strips StopIteration', async () => {
    const q = new Queue<number | typeof StopIteration>();
    q.putNowait(4);
    q.putNowait(StopIteration);
    await new VirtualClock().run(function* () {
      const v = yield* q.peek();
      expectTypeOf(v).toEqualTypeOf<number | typeof StopIteration>();
      const r = yield* q.next();
      if (!r.done) expectTypeOf(r.value).toEqualTypeOf<number>();
      expect(r).toEqual({ value: 4, done: false });
      const p = new PriorityQueue<[number, string]>();
      p.putNowait([1, 'x']);
      const t = yield* p.get();
      expectTypeOf(t).toEqualTypeOf<[number, string]>();
    });
  });

  it('a put to a parked getter hands the item over directly: it never enters the buffer', async () => {
    const q = new Queue<number>(1);
    const r = await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* q.get(); });
      yield* sleep(0);
      yield* q.put(1);
      const sizeAfterPut = q.qsize();
      q.putNowait(2); // room is still there: the first item went to g, not into the buffer
      yield* joinall([g]);
      return [sizeAfterPut, g.value, q.getNowait()];
    });
    expect(r).toEqual([0, 1, 2]);
  });

  it('get on a non-empty queue does not switch to another greenlet', async () => {
    const q = new Queue<string>();
    q.putNowait('x');
    const seen = await new VirtualClock().run(function* () {
      let otherRan = false;
      spawn(function* () { otherRan = true; });
      const v = yield* q.get();
      return [v, otherRan];
    });
    expect(seen).toEqual(['x', false]);
  });

  it('parked getters are served in the order they came (FIFO fairness)', async () => {
    const q = new Queue<number>();
    const got = await new VirtualClock().run(function* () {
      const gs = [0, 1, 2, 3].map(() => spawn(function* () { return yield* q.get(); }));
      yield* sleep(0);
      for (let i = 10; i < 14; i++) yield* q.put(i);
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(got).toEqual([10, 11, 12, 13]);
  });

  it('parked putters of a full queue get in in the order they came', async () => {
    const q = new Queue<string>(1);
    q.putNowait('first');
    const got = await new VirtualClock().run(function* () {
      const ps = ['a', 'b', 'c'].map((x) => spawn(function* () { yield* q.put(x); }));
      yield* sleep(0);
      expect(q._putters.size).toBe(3);
      const out: string[] = [];
      for (let i = 0; i < 4; i++) out.push(yield* q.get());
      yield* joinall(ps);
      return out;
    });
    expect(got).toEqual(['first', 'a', 'b', 'c']);
  });

  it('a getter woken with an item but killed before it ran gives the item back', async () => {
    const q = new Queue<number>();
    const r = await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* q.get(); });
      yield* sleep(0);
      q.putNowait(1); // handed to g, which has not run yet
      g.kill({ block: false });
      yield* joinall([g]);
      return [q.qsize(), q.getNowait()];
    });
    expect(r).toEqual([1, 1]);
  });

  it('an item given back goes to the next parked getter first', async () => {
    const q = new Queue<number>();
    const r = await new VirtualClock().run(function* () {
      const a = spawn(function* () { return yield* q.get(); });
      const b = spawn(function* () { return yield* q.get(); });
      yield* sleep(0);
      q.putNowait(7); // handed to a
      a.kill({ block: false });
      yield* joinall([a, b]);
      return [b.value, q.qsize()];
    });
    expect(r).toEqual([7, 0]);
  });

  it('block: false and timeout: 0 throw Empty / Full at once; a timed-out get leaves nothing parked', async () => {
    const q = new Queue<number>(1);
    const errs = await new VirtualClock().run(function* () {
      const out: string[] = [];
      for (const opts of [{ block: false }, { timeout: 0 }, { timeout: 0.01 }]) {
        try { yield* q.get(opts); } catch (e) { out.push((e as Error).name); }
      }
      q.putNowait(1);
      for (const opts of [{ block: false }, { timeout: 0 }, { timeout: 0.01 }]) {
        try { yield* q.put(2, opts); } catch (e) { out.push((e as Error).name); }
      }
      return out;
    });
    expect(errs).toEqual(['Empty', 'Empty', 'Empty', 'Full', 'Full', 'Full']);
    expect(q._getters.size + q._putters.size).toBe(0);
    expect(() => new Queue().getNowait()).toThrow(Empty);
    expect(() => q.putNowait(3)).toThrow(Full);
    expect(q.getNowait()).toBe(1);
  });

  it('a Timeout around get cancels it and the next put stays in the queue', async () => {
    const q = new Queue<number>();
    await new VirtualClock().run(function* () {
      const t = Timeout.start(0.01);
      try { yield* q.get(); } catch (e) { if (e !== t) throw e; }
      q.putNowait(5);
    });
    expect(q.qsize()).toBe(1);
  });

  it('peek waits for an item and takes nothing; peekNowait throws Empty when empty', async () => {
    const q = new Queue<string>();
    expect(() => q.peekNowait()).toThrow(Empty);
    const r = await new VirtualClock().run(function* () {
      const p = spawn(function* () { return yield* q.peek(); });
      yield* sleep(0);
      q.putNowait('seen');
      yield* joinall([p]);
      return [p.value, q.qsize(), q.peekNowait()];
    });
    expect(r).toEqual(['seen', 1, 'seen']);
    expect(await new VirtualClock().run(function* () {
      try { yield* new Queue().peek({ timeout: 0.01 }); } catch (e) { return e instanceof Empty; }
      return false;
    })).toBe(true);
  });

  it('next() iterates until the StopIteration item; for await does the same outside greenlets', async () => {
    const q = new Queue<number | typeof StopIteration>();
    for (const x of [1, 2, 3, StopIteration] as const) q.putNowait(x);
    const seen = await new VirtualClock().run(function* () {
      const out: number[] = [];
      for (let r = yield* q.next(); !r.done; r = yield* q.next()) out.push(r.value);
      return out;
    });
    expect(seen).toEqual([1, 2, 3]);
    const q2 = new Queue<string | typeof StopIteration>(null, { items: ['a', 'b', StopIteration] });
    const out: string[] = [];
    for await (const x of q2) out.push(x);
    expect(out).toEqual(['a', 'b']);
  });

  it('Queue(0) and Queue() have no limit (as in gevent); items seed the queue', () => {
    const q = new Queue<number>(0, { items: [1, 2] });
    expect(q.maxsize).toBeNull();
    for (let i = 0; i < 100; i++) q.putNowait(i);
    expect(q.qsize()).toBe(102);
    expect(q.full()).toBe(false);
    expect(q.getNowait()).toBe(1);
  });

  it('the ring buffer keeps order while it wraps and grows', () => {
    const q = new Queue<number>();
    const want: number[] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 13; i++) { q.putNowait(n); want.push(n++); }
      for (let i = 0; i < round % 7 && want.length > 0; i++) expect(q.getNowait()).toBe(want.shift());
    }
    while (want.length > 0) expect(q.getNowait()).toBe(want.shift());
    expect(q.empty()).toBe(true);
  });

  it('await q.get() works outside greenlets', async () => {
    const q = new Queue<number>();
    setTimeout(() => q.putNowait(3), 5);
    expect(await q.get()).toBe(3);
  });

  it('bad input: maxsize negative, NaN, fractional or not a number; bad timeout and block', () => {
    expect(() => new Queue(-1)).toThrow(RangeError);
    expect(() => new Queue(NaN)).toThrow(/maxsize/);
    expect(() => new Queue(1.5)).toThrow(RangeError);
    expect(() => new Queue('3' as never)).toThrow(TypeError);
    expect(() => new PriorityQueue(-2)).toThrow(/PriorityQueue\(maxsize\)/);
    const q = new Queue<number>();
    expect(() => q.get({ timeout: -1 })).toThrow(RangeError);
    expect(() => q.put(1, { timeout: 'x' as never })).toThrow(TypeError);
    expect(() => q.get({ block: 'no' as never })).toThrow(/block/);
    expect(() => q.get(1 as never)).toThrow(/options object.*\{ timeout: 1 \}/);
    expect(() => q.put(1, false as never)).toThrow(TypeError);
    expect(() => new JoinableQueue().join(2 as never)).toThrow(TypeError);
  });
});

describe('Channel', () => {
  it('put waits until a getter takes the item (rendezvous)', async () => {
    const ch = new Channel<string>();
    const log = await new VirtualClock().run(function* () {
      const out: string[] = [];
      const p = spawn(function* () { yield* ch.put('hi'); out.push('put returned'); });
      yield* sleep(0.01);
      out.push(`still waiting ${p.dead}`);
      out.push(`got ${yield* ch.get()}`);
      yield* joinall([p]);
      return out;
    });
    expect(log).toEqual(['still waiting false', 'got hi', 'put returned']);
    expect(ch.qsize()).toBe(0);
    expect(() => ch.putNowait('x')).toThrow(Full);
  });

  it('a put to a parked getter returns at once; get with no putter times out with Empty', async () => {
    const ch = new Channel<number>();
    const r = await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* ch.get(); });
      yield* sleep(0);
      ch.putNowait(9);
      yield* joinall([g]);
      try { yield* ch.get({ timeout: 0.01 }); } catch (e) { return [g.value, (e as Error).name]; }
      return [g.value, 'none'];
    });
    expect(r).toEqual([9, 'Empty']);
  });
});

describe('PriorityQueue', () => {
  it('gives the smallest first: numbers, then [priority, item] tuples in Python order', () => {
    const q = new PriorityQueue<number>();
    for (const x of [5, 1, 4, 2, 3, 0, 9, 7]) q.putNowait(x);
    const out: number[] = [];
    while (!q.empty()) out.push(q.getNowait());
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 7, 9]);
    const t = new PriorityQueue<[number, string]>(null, { items: [[2, 'b'], [1, 'z'], [1, 'a'], [0, 'c']] });
    expect([t.getNowait(), t.getNowait(), t.peekNowait()]).toEqual([[0, 'c'], [1, 'a'], [1, 'z']]);
  });

  it('a compare option orders other items; mixed types without one throw a TypeError naming it', () => {
    const q = new PriorityQueue<{ p: number }>(null, { compare: (a, b) => b.p - a.p });
    for (const p of [1, 3, 2]) q.putNowait({ p });
    expect(q.getNowait().p).toBe(3);
    expect(pythonOrder([1, 2], [1, 2, 0])).toBeLessThan(0);
    const m = new PriorityQueue<unknown>();
    m.putNowait(1);
    expect(() => m.putNowait('a')).toThrow(/compare/);
    expect(() => new PriorityQueue(null, { compare: 3 as never })).toThrow(TypeError);
  });

  it('a getter interrupted after the hand-off puts the item back in order', async () => {
    const q = new PriorityQueue<number>();
    await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* q.get(); });
      yield* sleep(0);
      q.putNowait(2);
      g.kill({ block: false });
      q.putNowait(1);
      yield* joinall([g]);
    });
    expect([q.getNowait(), q.getNowait()]).toEqual([1, 2]);
  });
});

describe('LifoQueue and SimpleQueue', () => {
  it('LifoQueue gives the newest first and respects maxsize', () => {
    const q = new LifoQueue<number>(2);
    q.putNowait(1);
    q.putNowait(2);
    expect(() => q.putNowait(3)).toThrow(Full);
    expect([q.peekNowait(), q.getNowait(), q.getNowait()]).toEqual([2, 2, 1]);
  });

  it('SimpleQueue is an unbounded FIFO', () => {
    const q = new SimpleQueue<number>({ items: [1] });
    for (let i = 2; i < 50; i++) q.putNowait(i);
    expect(q.maxsize).toBeNull();
    expect([q.getNowait(), q.getNowait(), q.qsize()]).toEqual([1, 2, 47]);
  });
});

describe('JoinableQueue', () => {
  it('join waits until taskDone was called for every item put', async () => {
    const q = new JoinableQueue<number>();
    const log = await new VirtualClock().run(function* () {
      const out: string[] = [];
      spawn(function* () {
        for (;;) {
          const x = yield* q.get();
          yield* sleep(0.001);
          out.push(`done ${x}`);
          q.taskDone();
        }
      });
      for (let i = 0; i < 3; i++) q.putNowait(i);
      expect(q.unfinishedTasks).toBe(3);
      const all = yield* q.join();
      out.push(`joined ${all} ${q.unfinishedTasks}`);
      return out;
    });
    expect(log).toEqual(['done 0', 'done 1', 'done 2', 'joined true 0']);
  });

  it('join({ timeout }) gives false if tasks remain; taskDone once too often throws naming the fix', async () => {
    const q = new JoinableQueue<string>(null, { items: ['a'] });
    expect(q.unfinishedTasks).toBe(1);
    expect(await new VirtualClock().run(function* () { return yield* q.join({ timeout: 0.01 }); })).toBe(false);
    q.getNowait();
    q.taskDone();
    expect(() => q.taskDone()).toThrow(/once per item/);
    expect(() => q.taskDone()).toThrow(RangeError); // gevent's ValueError
    expect(await new VirtualClock().run(function* () { return yield* q.join(); })).toBe(true);
  });
});

// ---- Nothing lost: random producers, consumers, timeouts and kills ----

type Kind = 'Queue' | 'Queue(0)' | 'Queue(2)' | 'Channel' | 'JoinableQueue' | 'PriorityQueue' | 'LifoQueue(2)' | 'SimpleQueue';

function make(kind: Kind): Queue<number> {
  switch (kind) {
    case 'Queue': return new Queue<number>();
    case 'Queue(0)': return new Queue<number>(0); // no limit, as in gevent
    case 'LifoQueue(2)': return new LifoQueue<number>(2);
    case 'SimpleQueue': return new SimpleQueue<number>();
    case 'Queue(2)': return new Queue<number>(2);
    case 'Channel': return new Channel<number>();
    case 'JoinableQueue': return new JoinableQueue<number>(3);
    case 'PriorityQueue': return new PriorityQueue<number>(3);
  }
}

const actor = fc.record({
  producer: fc.boolean(),
  startMs: fc.integer({ min: 0, max: 4 }),
  timeoutMs: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
  killMs: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
  // A consumer may yield the very get() Op an earlier consumer yields (one Op, two greenlets).
  shares: fc.option(fc.nat({ max: 11 }), { nil: null }),
});

function untracked<T>(op: Op<T>): Op<T> {
  untrack(op);
  return op;
}

interface Actor { producer: boolean; startMs: number; timeoutMs: number | null; killMs: number | null; shares?: number | null }

async function scenario(kind: Kind, actors: Actor[]) {
  const q = make(kind);
  const got: number[] = [];
  const completedPuts = new Set<number>();
  const optsOf = (a: Actor) => (a.timeoutMs === null ? undefined : { timeout: a.timeoutMs / 1000 });
  // Made up front and handed to greenlets, some of which are killed before they start theirs:
  // not forgotten yields, so they are untracked (no "never started" report).
  const gets = actors.map((a) => (a.producer ? null : untracked(q.get(optsOf(a)))));
  const getOf = (i: number) => {
    const s = actors[i]!.shares;
    return s !== null && s !== undefined && s < i && gets[s] !== null ? gets[s]! : gets[i]!;
  };
  await new VirtualClock().run(function* () {
    const gs: Greenlet[] = [];
    actors.forEach((a, item) => {
      const g = spawn(function* () {
        yield* sleep(a.startMs / 1000);
        try {
          if (a.producer) {
            yield* q.put(item, optsOf(a));
            completedPuts.add(item);
          } else {
            got.push(yield* getOf(item));
          }
        } catch (e) {
          if (!(e instanceof Empty || e instanceof Full || e instanceof ConcurrentObjectUseError)) throw e;
        }
      });
      gs.push(g);
      if (a.killMs !== null) {
        spawn(function* () { yield* sleep(a.killMs! / 1000); g.kill({ block: false }); });
      }
    });
    yield* sleep(0.012);
    for (const g of gs) g.kill({ block: false }); // whatever still waits
    yield* joinall(gs);
  });
  const left: number[] = [];
  while (!q.empty()) left.push(q.getNowait());
  const all = [...got, ...left];
  // Each item at most once, only items someone tried to put, every completed put present.
  expect(new Set(all).size).toBe(all.length);
  for (const x of all) expect(actors[x]!.producer).toBe(true);
  for (const x of completedPuts) expect(all).toContain(x);
  expect(q._getters.size + q._putters.size).toBe(0);
  // Every accepted item was counted once, given back or not (no taskDone was called).
  if (q instanceof JoinableQueue) expect(q.unfinishedTasks).toBe(all.length);
  if (q.maxsize !== null) expect(q.qsize()).toBe(0);
}

describe('nothing lost under random kills and timeouts (fast-check)', () => {
  for (const kind of ['Queue', 'Queue(0)', 'Queue(2)', 'Channel', 'JoinableQueue', 'PriorityQueue', 'LifoQueue(2)', 'SimpleQueue'] as Kind[]) {
    it(`${kind}: every item put was got exactly once or is still in the queue`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(actor, { minLength: 1, maxLength: 12 }), (actors) => scenario(kind, actors)),
        { numRuns: 25 },
      );
    }, 120_000);
  }
});

describe('gevent order: Channel puts, peekers behind getters', () => {
  it('Channel.put lets the getter run before the putter goes on', async () => {
    const ch = new Channel<string>();
    const events: string[] = [];
    await new VirtualClock().run(function* () {
      const g = spawn(function* () {
        events.push(yield* ch.get());
        events.push(yield* ch.get());
      });
      events.push('sending');
      yield* ch.put('hello');
      events.push('sent hello');
      yield* ch.put('world');
      events.push('sent world');
      yield* joinall([g]);
    });
    expect(events).toEqual(['sending', 'hello', 'sent hello', 'world', 'sent world']);
  });

  it('Channel.put to a getter already parked: the same order', async () => {
    const ch = new Channel<string>();
    const events: string[] = [];
    await new VirtualClock().run(function* () {
      const g = spawn(function* () {
        events.push(yield* ch.get());
        events.push(yield* ch.get());
      });
      yield* sleep(0); // g parks in get()
      events.push('sending');
      yield* ch.put('hello');
      events.push('sent hello');
      yield* ch.put('world');
      events.push('sent world');
      yield* joinall([g]);
    });
    expect(events).toEqual(['sending', 'hello', 'sent hello', 'world', 'sent world']);
  });

  it('a peeker parked behind a getter never sees the item that getter took', async () => {
    const q = new Queue<number>();
    const r = await new VirtualClock().run(function* () {
      const getter = spawn(() => q.get());
      const peeker = spawn(() => q.peek());
      yield* sleep(0);
      q.putNowait(1);
      yield* sleep(0);
      yield* sleep(0);
      const before = [getter.value, peeker.dead];
      q.putNowait(2);
      yield* joinall([peeker]);
      return [...before, peeker.value, q.qsize()];
    });
    expect(r).toEqual([1, false, 2, 1]);
  });

  it('a peeker parked ahead of a getter sees the item, and the getter takes it', async () => {
    const q = new Queue<number>();
    const r = await new VirtualClock().run(function* () {
      const peeker = spawn(() => q.peek());
      const getter = spawn(() => q.get());
      yield* sleep(0);
      q.putNowait(5);
      yield* joinall([peeker, getter]);
      return [peeker.value, getter.value, q.qsize()];
    });
    expect(r).toEqual([5, 5, 0]);
  });
});

describe('options and errors', () => {
  it('Empty and Full carry stable codes', () => {
    const e = (() => { try { new Queue().getNowait(); } catch (x) { return x as Empty; } })()!;
    const f = (() => { try { new Queue(1, { items: [1] }).putNowait(2); } catch (x) { return x as Full; } })()!;
    expect([e.code, e.name, f.code, f.name]).toEqual(['GEVENTJS_EMPTY', 'Empty', 'GEVENTJS_FULL', 'Full']);
  });

  it('bad options are TypeErrors naming the fix, before anything waits; null means none', async () => {
    const q = new Queue<number>(1);
    expect(() => q.get({ block: 'no' as never })).toThrow(/Queue.get\(\{ block \}\) must be true or false, got a string \("no"\)/);
    expect(() => q.put(1, { block: 1 as never })).toThrow(/Queue.put\(\{ block \}\) must be true or false/);
    expect(() => q.peek({ block: 'false' as never })).toThrow(TypeError);
    expect(() => q.get(5 as never)).toThrow(/Queue.get\(options\) takes an options object, got a number \(5\)/);
    expect(() => new JoinableQueue().join('x' as never)).toThrow(/JoinableQueue.join\(options\) takes an options object/);
    expect(() => new Queue(1, { items: 5 as never })).toThrow(/\{ items \} must be an iterable of items, got a number \(5\); pass e.g. \{ items: \[1, 2, 3\] \}/);
    expect(() => new PriorityQueue(1, { items: 'ab' as never })).toThrow(/must be an iterable of items/);
    expect(() => new LifoQueue(1, 7 as never)).toThrow(/options must be an options object/);
    expect(q.qsize()).toBe(0);
    q.putNowait(3);
    expect(await new VirtualClock().run(() => q.get(null))).toBe(3);
  });

  it('options are read as own properties only: a polluted Object.prototype changes nothing', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    const q = new Queue<number>();
    const full = new Queue<number>(1, { items: [0] });
    const jq = new JoinableQueue<number>(null, { items: [1] });
    const got: unknown[] = [];
    proto.timeout = 0.001;
    proto.block = false;
    proto.items = [99];
    try {
      const fresh = new Queue<number>();
      expect(fresh.qsize()).toBe(0);
      await new VirtualClock().run(function* () {
        const gs = [
          spawn(function* () { got.push(yield* q.peek({})); }),
          spawn(function* () { got.push(yield* q.get({})); }),
          spawn(function* () { yield* full.put(1, {}); got.push('put'); }),
          spawn(function* () { got.push(yield* jq.join({})); }),
        ];
        yield* sleep(0.02);
        q.putNowait(7);
        full.getNowait();
        jq.getNowait();
        jq.taskDone();
        yield* joinall(gs);
      });
    } finally {
      delete proto.timeout;
      delete proto.block;
      delete proto.items;
    }
    expect(got.sort()).toEqual([7, 7, 'put', true].sort());
  });
});

describe('one Op run by two greenlets at once loses nothing', () => {
  for (const kind of ['Queue', 'Queue(2)', 'Channel', 'JoinableQueue', 'PriorityQueue', 'LifoQueue'] as const) {
    it(`${kind}: get`, async () => {
      const q = kind === 'LifoQueue' ? new LifoQueue<number>() : make(kind as Kind);
      const op = q.get();
      let settled: PromiseSettledResult<number>[] = [];
      await captureErrors(async () => {
        const a = run(function* () { return yield* op; });
        const b = run(function* () { return yield* op; });
        const both = Promise.allSettled([a, b]);
        await new Promise((r) => setTimeout(r, 5));
        if (kind === 'Channel') spawn(function* () { yield* q.put(1, { timeout: 0.02 }); yield* q.put(2, { timeout: 0.02 }); });
        else { q.putNowait(1); q.putNowait(2); }
        settled = await both;
        await new Promise((r) => setTimeout(r, 50));
      });
      const got = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      for (const s of settled) if (s.status === 'rejected') expect(String(s.reason)).toMatch(/is already being waited on by/);
      const left: number[] = [];
      while (!q.empty()) left.push(q.getNowait());
      // Channel: an item nobody took stays with its putter, whose put then times out.
      expect([...got, ...left].sort()).toEqual(kind === 'Channel' ? [1, 2].slice(0, got.length) : [1, 2]);
      expect(got.length).toBeGreaterThan(0);
      expect(q._getters.size).toBe(0);
    });
  }
});

describe('Ops share the queue’s spare Wait between runs without mixing them', () => {
  it('a get Op kept and yielded again while another greenlet waits on the spare: both get their item', async () => {
    const q = new Queue<string>();
    const kept = q.get();
    const got = await new VirtualClock().run(function* () {
      q.putNowait('first');
      const a: string = yield* kept; // finished: the queue's spare Wait is free again
      const waiter = spawn(function* () { return yield* q.get(); }); // borrows the spare and parks
      yield* sleep(0);
      expect(inspect(kept)).toBe('Op Queue.get() (finished)'); // its Wait went on to another run
      const again = spawn(function* () { return yield* kept; }); // the spare is in use: a Wait of its own
      yield* sleep(0);
      expect(q._getters.size).toBe(2);
      q.putNowait('second');
      q.putNowait('third');
      return [a, yield* waiter.get(), yield* again.get()];
    });
    expect(got).toEqual(['first', 'second', 'third']);
  });

  it('a put Op kept and run again puts its own item, whatever other puts ran in between', async () => {
    const q = new Queue<number>();
    const kept = q.put(7);
    await new VirtualClock().run(function* () {
      yield* kept;
      yield* q.put(8);
      yield* q.put(9);
      yield* kept;
    });
    expect([q.getNowait(), q.getNowait(), q.getNowait(), q.getNowait()]).toEqual([7, 8, 9, 7]);
  });

  it('a get killed while parked frees nothing it did not take, and the next get reuses the Wait', async () => {
    const q = new Queue<number>(1);
    const got = await new VirtualClock().run(function* () {
      const g = spawn(function* () { return yield* q.get(); });
      yield* sleep(0);
      g.kill({ block: false });
      yield* sleep(0);
      expect(q._getters.size).toBe(0);
      yield* q.put(1);
      const p = spawn(function* () { yield* q.put(2); }); // parks: the queue is full
      yield* sleep(0);
      const t = new Timeout(0.01);
      t.start();
      let timedOut = false;
      try {
        yield* q.peek();
        yield* p.join(); // never done: the queue stays full until the get below
        yield* q.get({ timeout: 5 });
      } catch (e) {
        if (e !== t) throw e;
        timedOut = true;
      } finally {
        t.cancel();
      }
      return [timedOut, yield* q.get(), yield* q.get(), q.qsize()];
    });
    expect(got).toEqual([true, 1, 2, 0]);
  });

  it('a get Op with a timeout keeps its own limit on each run of the shared Wait', async () => {
    const q = new Queue<number>();
    const quick = q.get({ timeout: 0.01 });
    const res = await new VirtualClock().run(function* () {
      const out: unknown[] = [];
      for (const i of [0, 1, 2]) {
        if (i === 1) spawn(function* () { yield* sleep(1); q.putNowait(5); });
        const op = i === 1 ? q.get() : quick; // (made when run: an Op made early and left is dropped)
        try {
          out.push(yield* op);
        } catch (e) {
          out.push((e as Error).name);
        }
      }
      return out;
    });
    expect(res).toEqual(['Empty', 5, 'Empty']);
  });
});
