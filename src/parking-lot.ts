/**
 * A FIFO list of waiters with O(1) append, removal from anywhere, and pop from the front:
 * the one wait list every primitive parks on (gevent's AbstractLinkable, Trio's ParkingLot).
 * It is intrusive: the waiter objects carry the links, so parking allocates nothing.
 */

/** A node a ParkingLot can hold; `Wait` ops are waiters, and so is anything with these fields. */
export interface Waiter {
  _prev: Waiter | null;
  _next: Waiter | null;
  _lot: ParkingLot<Waiter> | null;
}

/**
 * FIFO wait list. A waiter is in at most one lot at a time.
 *
 * @example
 * const lot = new ParkingLot<MyWait>();
 * lot.push(w);           // park
 * lot.remove(w);         // cancelled by a kill or Timeout: gone, nothing consumed
 * const first = lot.shift(); // wake the longest waiter
 */
export class ParkingLot<W extends Waiter> {
  private head: W | null = null;
  private tail: W | null = null;
  /** How many waiters are parked here. */
  size = 0;

  /** Appends `w` at the back (it must not be in any lot). */
  push(w: W): void {
    w._lot = this as ParkingLot<Waiter>;
    w._prev = this.tail;
    w._next = null;
    if (this.tail === null) this.head = w;
    else this.tail._next = w;
    this.tail = w;
    this.size++;
  }

  /** Removes and returns the longest waiter, or null when the lot is empty. */
  shift(): W | null {
    const w = this.head;
    if (w !== null) this.unlink(w);
    return w;
  }

  /** The longest waiter, left in place. */
  peek(): W | null {
    return this.head;
  }

  /** Removes `w` if it is parked here; returns whether it was. */
  remove(w: W): boolean {
    if (w._lot !== (this as ParkingLot<Waiter>)) return false;
    this.unlink(w);
    return true;
  }

  /** Detaches every waiter and returns them in FIFO order (for wake-all). */
  drain(): W[] {
    const out: W[] = [];
    for (let w = this.shift(); w !== null; w = this.shift()) out.push(w);
    return out;
  }

  private unlink(w: W): void {
    const prev = w._prev as W | null;
    const next = w._next as W | null;
    if (prev === null) this.head = next;
    else prev._next = next;
    if (next === null) this.tail = prev;
    else next._prev = prev;
    w._prev = w._next = null;
    w._lot = null;
    this.size--;
  }
}

