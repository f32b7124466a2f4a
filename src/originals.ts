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
 * Monotonic milliseconds (fractional, a double of any size: never truncate it to 32 bits).
 * A `let` so that tests can move the clock (see `_setClockOffsetForTests`); importers see the
 * current binding.
 *
 * @example
 * const deadline = now() + seconds * 1000;
 */
export let now: () => number = perfNow;

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
