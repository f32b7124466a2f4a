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

  it('entries with equal deadlines fire in the order they were added, whatever the heap shape', () => {
    const heap = new TimerHeap();
    heap._setVirtual(() => {}); // no Node timer: fired by hand below
    const fired: string[] = [];
    const added: Array<[number, string]> = [];
    for (let i = 0; i < 60; i++) {
      const d = [3, 1, 2, 1, 3, 2, 2][i % 7]!;
      added.push([d, `${d}:${i}`]);
      heap.add(entry(d, () => fired.push(`${d}:${i}`)));
    }
    const removed = entry(2, () => fired.push('removed'));
    heap.add(removed);
    heap.remove(removed);
    expect(heap.nextDeadline()).toBe(1);
    expect(heap.fireDue(1)).toBe(added.filter(([d]) => d === 1).length);
    heap.fireDue(3);
    const stable = [...added].sort((a, b) => a[0] - b[0]).map(([, name]) => name); // Array#sort is stable
    expect(fired).toEqual(stable);
    expect(heap.nextDeadline()).toBe(Infinity);
    heap._setVirtual(null);
  });

  it('in virtual mode it arms no Node timer and tells its listener when the earliest deadline moves', async () => {
    const heap = new TimerHeap();
    let told = 0;
    heap._setVirtual(() => told++);
    const fired: string[] = [];
    heap.add(entry(now() + 5, () => fired.push('five')));
    heap.add(entry(now() + 10, () => fired.push('ten'))); // not the earliest: no news
    heap.add(entry(now() + 1, () => fired.push('one')));
    expect(told).toBe(2);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toEqual([]); // real time passed; nothing fired by itself
    expect(heap._takeAll().length).toBe(3);
    expect(heap.size).toBe(0);
    heap._setVirtual(null);
  });
});
