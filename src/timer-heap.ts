/**
 * One timer structure for every greenlet sleep and Timeout: a binary min-heap on deadline,
 * indexed so a cancelled Timeout leaves in O(log n), behind a single Node timer armed for the
 * earliest deadline. 100,000 sleepers cost 100,000 heap slots, not 100,000 Node timers.
 * Entries with equal deadlines fire in the order they were added.
 *
 * A virtual clock (geventjs/testing) switches the heap to virtual mode: no Node timer, and the
 * clock fires due entries itself (`fireDue`) when it moves time.
 */
import { holdsProcess, onHoldProcessChange } from './keep-alive.js';
import { nodeClearTimeout, nodeSetTimeout, now } from './originals.js';

/**
 * Something the heap can hold: a deadline (ms on `now()`'s clock, a double of any size; never
 * truncate it to 32 bits, or it wraps after 24.9 days of uptime) and what to do then.
 */
export interface TimerEntry {
  deadline: number;
  /**
   * Position in the heap, -1 when not scheduled, or PAUSED while a virtual clock has set it
   * aside. Owned by the heap.
   */
  _heapIndex: number;
  fire(): void;
}

/** `_heapIndex` of an entry set aside while a virtual clock runs (`_pauseAll`). */
const PAUSED = -2;

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
  /** Insertion numbers, parallel to `heap`: the tie-break that fires equal deadlines in order. */
  private seqs: number[] = [];
  private nextSeq = 0;
  /** Virtual mode: called instead of arming a Node timer when the earliest deadline moved. */
  private virtualListener: (() => void) | null = null;
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
    this.seqs.push(this.nextSeq++);
    e._heapIndex = i;
    this.siftUp(i);
    if (e._heapIndex === 0 && e.deadline < this.armedFor) this.arm(e.deadline);
  }

  /** Unschedules `e`; returns false when it was not scheduled (already fired or removed). */
  remove(e: TimerEntry): boolean {
    const i = e._heapIndex;
    if (i < 0) {
      if (i !== PAUSED) return false;
      e._heapIndex = -1; // cancelled while set aside: `_resumeAll` leaves it out
      return true;
    }
    const last = this.heap.pop()!;
    const lastSeq = this.seqs.pop()!;
    e._heapIndex = -1;
    if (last !== e) {
      this.heap[i] = last;
      this.seqs[i] = lastSeq;
      last._heapIndex = i;
      this.siftDown(i);
      this.siftUp(last._heapIndex);
    }
    // An empty heap must not keep the process alive; a later minimum is fine to fire early.
    if (this.heap.length === 0) this.disarm();
    return true;
  }

  /** The earliest deadline (Infinity when empty). */
  nextDeadline(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0]!.deadline;
  }

  /**
   * Fires every entry due by `time` (ms on `now()`'s clock), earliest first, equal deadlines in
   * the order they were added. Returns how many fired.
   */
  fireDue(time: number): number {
    const heap = this.heap;
    let n = 0;
    while (heap.length !== 0 && heap[0]!.deadline <= time) {
      const e = this.popMin();
      n++;
      try {
        e.fire();
      } catch (err) {
        this.onError(err, e);
      }
    }
    return n;
  }

  /**
   * @internal Virtual mode on (`listener` hears when the earliest deadline may have moved) or
   * off (null). The heap must be empty when the mode changes: deadlines of one clock mean
   * nothing on the other.
   */
  _setVirtual(listener: (() => void) | null): void {
    this.disarm();
    this.virtualListener = listener;
    if (listener === null && this.heap.length !== 0) this.arm(this.heap[0]!.deadline);
  }

  /** @internal Removes and returns every entry, earliest first (a virtual clock that ends). */
  _takeAll(): TimerEntry[] {
    const out: TimerEntry[] = [];
    while (this.heap.length !== 0) out.push(this.popMin());
    this.disarm();
    return out;
  }

  /**
   * @internal Sets every entry aside (a virtual clock starts while real deadlines are armed):
   * they neither fire nor count until `_resumeAll`; removing one still works.
   */
  _pauseAll(): TimerEntry[] {
    const out = this._takeAll();
    for (const e of out) e._heapIndex = PAUSED;
    return out;
  }

  /** @internal Puts back what `_pauseAll` set aside, less what was removed meanwhile. */
  _resumeAll(entries: readonly TimerEntry[]): void {
    for (const e of entries) {
      if (e._heapIndex === PAUSED) {
        e._heapIndex = -1;
        this.add(e);
      }
    }
  }

  private arm(deadline: number): void {
    if (this.virtualListener !== null) {
      this.virtualListener();
      return;
    }
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
      this.fireDue(now() + SLACK_MS);
    } finally {
      if (heap.length !== 0 && this.timer === null) this.arm(heap[0]!.deadline);
    }
  };

  private popMin(): TimerEntry {
    const heap = this.heap;
    const seqs = this.seqs;
    const top = heap[0]!;
    const last = heap.pop()!;
    const lastSeq = seqs.pop()!;
    if (last !== top) {
      heap[0] = last;
      seqs[0] = lastSeq;
      last._heapIndex = 0;
      this.siftDown(0);
    }
    top._heapIndex = -1;
    return top;
  }

  /** True when slot `a` must fire before slot `b`: earlier deadline, or equal and added first. */
  private before(a: TimerEntry, aSeq: number, b: TimerEntry, bSeq: number): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && aSeq < bSeq);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const seqs = this.seqs;
    const e = heap[i]!;
    const seq = seqs[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.before(e, seq, parent, seqs[p]!)) break;
      heap[i] = parent;
      seqs[i] = seqs[p]!;
      parent._heapIndex = i;
      i = p;
    }
    heap[i] = e;
    seqs[i] = seq;
    e._heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const seqs = this.seqs;
    const n = heap.length;
    const e = heap[i]!;
    const seq = seqs[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1]!, seqs[c + 1]!, heap[c]!, seqs[c]!)) c++;
      const child = heap[c]!;
      if (!this.before(child, seqs[c]!, e, seq)) break;
      heap[i] = child;
      seqs[i] = seqs[c]!;
      child._heapIndex = i;
      i = c;
    }
    heap[i] = e;
    seqs[i] = seq;
    e._heapIndex = i;
  }
}

function rethrowLater(err: unknown): void {
  nodeSetTimeout(() => {
    throw err;
  }, 0);
}
