/**
 * One timer structure for every greenlet sleep and Timeout: a binary min-heap on deadline,
 * indexed so a cancelled Timeout leaves in O(log n), behind a single Node timer armed for the
 * earliest deadline. 100,000 sleepers cost 100,000 heap slots, not 100,000 Node timers.
 */
import { holdsProcess, onHoldProcessChange } from './keep-alive.js';
import { nodeClearTimeout, nodeSetTimeout, now } from './originals.js';

/**
 * Something the heap can hold: a deadline (ms on `now()`'s clock, a double of any size; never
 * truncate it to 32 bits, or it wraps after 24.9 days of uptime) and what to do then.
 */
export interface TimerEntry {
  deadline: number;
  /** Position in the heap, or -1 when not scheduled. Owned by the heap. */
  _heapIndex: number;
  fire(): void;
}

/** Node's timers have millisecond resolution: entries this close to due fire together. */
const SLACK_MS = 1;
/**
 * Node's setTimeout turns longer delays into 1 ms: a far deadline is reached in steps of at
 * most this (the timer fires early, finds nothing due, and re-arms).
 */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * @example
 * const heap = new TimerHeap();
 * heap.add({ deadline: now() + 500, _heapIndex: -1, fire() { console.log('due') } });
 */
export class TimerHeap {
  private heap: TimerEntry[] = [];
  private timer: ReturnType<typeof nodeSetTimeout> | null = null;
  private armedFor = Infinity;

  /**
   * `onError` hears of an exception from an entry's `fire()`; the other due entries still fire
   * and the heap is re-armed whatever happens, so one bad entry never stops every sleeper.
   */
  constructor(private readonly onError: (err: unknown, entry: TimerEntry) => void = rethrowLater) {
    // [greenlet helper] The one Node timer follows the program-lifetime rule (keep-alive.ts):
    // once every run() root settled, leftover sleepers no longer hold the process.
    onHoldProcessChange((on) => {
      if (this.timer !== null) {
        if (on) this.timer.ref();
        else this.timer.unref();
      }
    });
  }

  get size(): number {
    return this.heap.length;
  }

  add(e: TimerEntry): void {
    const i = this.heap.length;
    this.heap.push(e);
    e._heapIndex = i;
    this.siftUp(i);
    if (e._heapIndex === 0 && e.deadline < this.armedFor) this.arm(e.deadline);
  }

  /** Unschedules `e`; returns false when it was not scheduled (already fired or removed). */
  remove(e: TimerEntry): boolean {
    const i = e._heapIndex;
    if (i < 0) return false;
    const last = this.heap.pop()!;
    e._heapIndex = -1;
    if (last !== e) {
      this.heap[i] = last;
      last._heapIndex = i;
      this.siftDown(i);
      this.siftUp(last._heapIndex);
    }
    // An empty heap must not keep the process alive; a later minimum is fine to fire early.
    if (this.heap.length === 0) this.disarm();
    return true;
  }

  private arm(deadline: number): void {
    if (this.timer !== null) nodeClearTimeout(this.timer);
    if (deadline === Infinity) {
      // Never due (spawnLater(Infinity)): no Node timer, so it does not hold the process.
      this.timer = null;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = deadline;
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(deadline - now())));
    this.timer = nodeSetTimeout(this.onTimer, delay);
    if (!holdsProcess()) this.timer.unref(); // [greenlet helper] see the constructor
  }

  private disarm(): void {
    if (this.timer !== null) nodeClearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  private onTimer = (): void => {
    this.timer = null;
    this.armedFor = Infinity;
    const heap = this.heap;
    try {
      const due = now() + SLACK_MS;
      while (heap.length !== 0 && heap[0]!.deadline <= due) {
        const e = this.popMin();
        try {
          e.fire();
        } catch (err) {
          this.onError(err, e);
        }
      }
    } finally {
      if (heap.length !== 0 && this.timer === null) this.arm(heap[0]!.deadline);
    }
  };

  private popMin(): TimerEntry {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (last !== top) {
      heap[0] = last;
      last._heapIndex = 0;
      this.siftDown(0);
    }
    top._heapIndex = -1;
    return top;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const e = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (parent.deadline <= e.deadline) break;
      heap[i] = parent;
      parent._heapIndex = i;
      i = p;
    }
    heap[i] = e;
    e._heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1]!.deadline < heap[c]!.deadline) c++;
      const child = heap[c]!;
      if (child.deadline >= e.deadline) break;
      heap[i] = child;
      child._heapIndex = i;
      i = c;
    }
    heap[i] = e;
    e._heapIndex = i;
  }
}

function rethrowLater(err: unknown): void {
  nodeSetTimeout(() => {
    throw err;
  }, 0);
}
