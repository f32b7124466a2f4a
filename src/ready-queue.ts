/**
 * A growable ring buffer: the hub's queue of greenlets ready to run. Push and shift are O(1)
 * and allocate nothing once the buffer has grown to the program's working size.
 *
 * @example
 * const q = new ReadyQueue<string>();
 * q.push('a'); q.push('b');
 * q.shift(); // 'a'
 */
export class ReadyQueue<T> {
  private buf: (T | undefined)[] = new Array(1024);
  private mask = 1023;
  private head = 0;
  private tail = 0;
  /** Number of queued items. */
  length = 0;

  push(item: T): void {
    this.buf[this.tail] = item;
    this.tail = (this.tail + 1) & this.mask;
    this.length++;
    if (this.tail === this.head) this.grow();
  }

  /** The oldest item; the caller checks `length` first. */
  shift(): T {
    const item = this.buf[this.head] as T;
    this.buf[this.head] = undefined; // let the GC have it
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  peek(): T {
    return this.buf[this.head] as T;
  }

  private grow(): void {
    // Full: head === tail. Unroll into a buffer twice the size, oldest first.
    const old = this.buf;
    const n = old.length;
    const next: (T | undefined)[] = new Array(n * 2);
    for (let i = 0; i < n; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.mask = n * 2 - 1;
    this.head = 0;
    this.tail = n;
  }
}
