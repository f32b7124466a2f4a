/**
 * A FIFO list of waiters with O(1) append, removal from anywhere, and pop from the front:
 * the one wait list every primitive parks on (gevent's AbstractLinkable, Trio's ParkingLot).
 * It is intrusive: the waiter objects carry the links, so parking allocates nothing.
 */
import { ConcurrentObjectUseError } from './errors.js';

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

/**
 * Guard for a wait that is already parked (or woken and not yet resumed) in another greenlet:
 * one Op yielded by two greenlets at once (`Promise.all([op, op])`) would otherwise link one
 * waiter into a lot twice and lose a wake-up, or an item. The second run gets an iterator that
 * throws `ConcurrentObjectUseError` at its first step, inside that greenlet (never in the
 * hub); runs one after the other stay independent. Returns null when `w` is free to run.
 *
 * @example
 * override [Symbol.iterator](): this { return secondRun(this) ?? super[Symbol.iterator](); }
 */
export function secondRun<W extends { readonly parking: boolean; describe(): string }>(w: W): W | null {
  if (!w.parking) return null;
  const what = w.describe();
  const refusal: Iterator<unknown, never, unknown> = {
    next() {
      throw new ConcurrentObjectUseError(
        `${what} is already waiting in another greenlet: one Op cannot run twice at once; ` +
          `call ${what.replace(/\(.*$/, '')}() again for a second wait`,
      );
    },
  };
  return refusal as unknown as W;
}
