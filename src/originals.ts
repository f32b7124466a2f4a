/**
 * Node's own scheduling functions, captured when geventjs loads, before any monkey patch can
 * replace them: the hub and every primitive call these, never the patched globals.
 */
import * as timers from 'node:timers';
import { performance } from 'node:perf_hooks';

export const nodeSetTimeout = timers.setTimeout;
export const nodeClearTimeout = timers.clearTimeout;
export const nodeSetImmediate = timers.setImmediate;
export const nodeClearImmediate = timers.clearImmediate;
export const nodeQueueMicrotask = globalThis.queueMicrotask;

const perfNow: () => number = performance.now.bind(performance);

/**
 * The real monotonic clock in milliseconds, whatever `now()` reads: for measuring how long the
 * hub really ran (its switch budget, config.maxBlockingTime), which must not stop when a
 * virtual clock (geventjs/testing) freezes `now()`.
 *
 * @example
 * const t0 = realNow(); work(); const heldMs = realNow() - t0;
 */
export const realNow: () => number = perfNow;

/**
 * The clock of every geventjs deadline, in monotonic milliseconds (fractional, a double of any
 * size: never truncate it to 32 bits). A `let` so that a virtual clock (src/testing.ts) or a
 * test can swap the source; importers see the current binding, so reading it costs nothing more.
 *
 * @example
 * const deadline = now() + seconds * 1000;
 */
export let now: () => number = perfNow;

/**
 * @internal Replaces the source of `now()` (geventjs/testing's VirtualClock); returns the one it
 * replaced, to hand back when done.
 *
 * @example
 * const previous = _swapClock(() => virtualMs); try { ... } finally { _swapClock(previous); }
 */
export function _swapClock(source: () => number): () => number {
  const previous = now;
  now = source;
  return previous;
}

/**
 * @internal Tests only: makes `now()` read `offsetMs` later than it is, to run the hub as if
 * the process had been up that long (e.g. past 2^31 ms, 24.9 days). 0 restores the real clock.
 *
 * @example
 * _setClockOffsetForTests(2 ** 32); // "uptime" of 49.7 days
 */
export function _setClockOffsetForTests(offsetMs: number): void {
  now = offsetMs === 0 ? perfNow : () => perfNow() + offsetMs;
}
