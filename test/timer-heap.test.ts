/**
 * The timer heap: deadlines are doubles of any size, a far deadline is reached in steps of
 * Node's longest timer, and one entry that throws neither stops the others nor the heap.
 */
import { describe, expect, it } from 'vitest';
import { now } from '../src/originals.js';
import { TimerHeap, type TimerEntry } from '../src/timer-heap.js';

function entry(deadline: number, fire: () => void): TimerEntry {
  return { deadline, _heapIndex: -1, fire };
}

describe('TimerHeap', () => {
  it('fires entries in deadline order, and a removed one never', async () => {
    const heap = new TimerHeap();
    const fired: string[] = [];
    const t = now();
    heap.add(entry(t + 30, () => fired.push('c')));
    heap.add(entry(t + 10, () => fired.push('a')));
    const b = entry(t + 20, () => fired.push('b'));
    heap.add(b);
    heap.add(entry(t + 15, () => fired.push('a2')));
    expect(heap.remove(b)).toBe(true);
    expect(heap.remove(b)).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect(fired).toEqual(['a', 'a2', 'c']);
    expect(heap.size).toBe(0);
  });

  it('a deadline past 2^31 ms from now (and past 2^32 on the clock) does not fire early', async () => {
    const heap = new TimerHeap();
    const fired: string[] = [];
    heap.add(entry(now() + 30 * 86400_000, () => fired.push('30 days')));
    heap.add(entry(2 ** 32 + 5, () => fired.push('past 2^32')));
    heap.add(entry(now() + 20, () => fired.push('soon')));
    await new Promise((r) => setTimeout(r, 60));
    expect(fired).toEqual(['soon']);
    expect(heap.size).toBe(2);
  });

  it('an entry whose fire() throws is handed to onError; the other due entries fire and later ones still do', async () => {
    const errors: unknown[] = [];
    const heap = new TimerHeap((e) => errors.push(e));
    const fired: string[] = [];
    const t = now();
    heap.add(entry(t + 5, () => {
      throw new Error('bad entry');
    }));
    heap.add(entry(t + 5, () => fired.push('same time')));
    heap.add(entry(t + 40, () => fired.push('later')));
    await new Promise((r) => setTimeout(r, 80));
    expect(errors.map((e) => (e as Error).message)).toEqual(['bad entry']);
    expect(fired).toEqual(['same time', 'later']);
  });

  it('an Infinity deadline holds no Node timer: the heap stays armed for the finite ones only', async () => {
    const heap = new TimerHeap();
    const fired: string[] = [];
    heap.add(entry(Infinity, () => fired.push('never')));
    heap.add(entry(now() + 10, () => fired.push('ten')));
    await new Promise((r) => setTimeout(r, 40));
    expect(fired).toEqual(['ten']);
    expect(heap.size).toBe(1);
  });
});
