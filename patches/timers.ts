/**
 * Patch for Node's `timers` module and the matching globals. It wraps:
 *   - timers.setTimeout and globalThis.setTimeout: `yield setTimeout(ms)` with no callback,
 *     inside a greenlet, sleeps the greenlet for `ms` milliseconds;
 *   - timers.setImmediate and globalThis.setImmediate: `yield setImmediate()` with no callback,
 *     inside a greenlet, lets every other greenlet and pending I/O run first.
 * Every other call (a callback given, or no greenlet running) goes to Node's original
 * untouched. setInterval and the clear* functions have no blocking form and are left alone.
 */
import { checkSeconds } from '../src/arg-checks.js';
import { getcurrent, wake } from '../src/hub.js';
import { Wait } from '../src/op.js';
import { nodeSetImmediate, nodeClearImmediate } from '../src/originals.js';
import type { PatchSpec, WrapFn } from '../src/monkey.js';
import type { Greenlet } from '../src/greenlet.js';

/** `yield setTimeout(ms)`: parks until the hub's timer heap expires it. */
class TimeoutSleep extends Wait<void> {
  readonly dropHint = "; for Node's callback timer pass a callback: setTimeout(fn, ms)";

  constructor(private readonly ms: number) {
    super();
    this.mustYield = true;
    this.expireAfter(ms / 1000, 'setTimeout(ms)');
  }

  park(): void {}

  override describe(): string {
    return `setTimeout(${this.ms})`;
  }
}

/** `yield setImmediate()`: parks until Node's check phase, after pending I/O. */
class ImmediateSleep extends Wait<void> {
  private handle: NodeJS.Immediate | null = null;
  readonly dropHint = '; for Node\'s callback form pass a callback: setImmediate(fn)';

  constructor() {
    super();
    this.mustYield = true;
  }

  park(g: Greenlet): void {
    this.handle = nodeSetImmediate(() => {
      this.handle = null;
      if (g._wait === this) wake(g, undefined);
    });
  }

  override cancel(): void {
    if (this.handle !== null) nodeClearImmediate(this.handle);
    this.handle = null;
  }

  override describe(): string {
    return 'setImmediate()';
  }
}

function sleepMs(ms: unknown): TimeoutSleep {
  // Node treats a missing or bad delay as 1 ms; a greenlet asking to sleep deserves an error.
  const n = ms === undefined ? 0 : ms;
  if (typeof n !== 'number') {
    throw new TypeError(`setTimeout(ms) in a greenlet takes milliseconds as a number, got ${typeof n}; write yield setTimeout(100)`);
  }
  checkSeconds(n / 1000, 'setTimeout(ms)');
  return new TimeoutSleep(n);
}

function wrapSetTimeout(original: Function): Function {
  return function setTimeout(this: unknown, callback: unknown) {
    if (typeof callback === 'function' || getcurrent() === null) return original.apply(this, arguments);
    return sleepMs(callback);
  };
}

function wrapSetImmediate(original: Function): Function {
  return function setImmediate(this: unknown, callback: unknown) {
    if (typeof callback === 'function' || getcurrent() === null) return original.apply(this, arguments);
    return new ImmediateSleep();
  };
}

/**
 * The timers patch, applied by monkey.patchTimers().
 *
 * @example
 * monkey.patchTimers();
 * spawn(function* () { yield setTimeout(100); });
 */
export const timersPatch: PatchSpec = {
  module: 'timers',
  apply(timers: typeof import('node:timers'), wrap: WrapFn) {
    // The globals are the same functions as timers' but separate properties: wrap both.
    for (const target of [timers, globalThis]) {
      wrap(target, 'setTimeout', wrapSetTimeout);
      wrap(target, 'setImmediate', wrapSetImmediate);
    }
  },
};
