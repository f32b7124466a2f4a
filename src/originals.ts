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

/** Monotonic milliseconds (fractional). */
export const now: () => number = performance.now.bind(performance);
