/**
 * Patch for Node's `timers` module and the matching globals. It wraps:
 *   - timers.setTimeout and globalThis.setTimeout: `yield setTimeout(ms[, value])` with a
 *     number and no callback, inside a greenlet, sleeps the greenlet for `ms` milliseconds and
 *     gives `value` (as timers/promises does). The delay follows Node's rules: a negative, NaN
 *     or too-large delay is 1 ms (too large also emits Node's TimeoutOverflowWarning);
 *   - timers.setImmediate and globalThis.setImmediate: `yield setImmediate()` with no
 *     arguments, inside a greenlet, lets every other greenlet and pending I/O run first.
 * Every other call (a callback given, a first argument that is neither a function nor a delay,
 * or no greenlet running) goes to Node's original, which throws what it always throws; outside
 * a greenlet the error's message also says the blocking form needs one. setInterval and the
 * clear* functions have no blocking form and are left alone.
 */
import { getcurrent, wake } from '../src/hub.js';
import { Wait } from '../src/op.js';
import { nodeSetImmediate, nodeClearImmediate } from '../src/originals.js';
import { callNeedingGreenlet } from '../src/needs-greenlet.js';
import type { PatchSpec, WrapFn } from '../src/patch-spec.js';
import type { Greenlet } from '../src/greenlet.js';

/** Node's largest timer delay (2^31 - 1 ms); longer ones become 1 ms, with a warning. */
const TIMEOUT_MAX = 2 ** 31 - 1;

/** `yield setTimeout(ms, value)`: parks until the hub's timer heap expires it, then gives `value`. */
class TimeoutSleep<T> extends Wait<T> {
  readonly dropHint = "; for Node's callback timer pass a callback: setTimeout(fn, ms)";

  constructor(
    private readonly ms: number,
    private readonly value: T,
  ) {
    super();
    this.mustYield = true;
    this.expireAfter(ms / 1000, 'setTimeout(ms)');
  }

  park(): void {}

  override timedOut(): T {
    return this.value;
  }

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

/** The delay Node would use for `after` (lib/internal/timers.js): 1 ms unless 1 <= after <= TIMEOUT_MAX. */
function nodeDelay(after: number): number {
  if (after >= 1 && after <= TIMEOUT_MAX) return after;
  if (after > TIMEOUT_MAX) {
    process.emitWarning(`${after} does not fit into a 32-bit signed integer.\nTimeout duration was set to 1.`, 'TimeoutOverflowWarning');
  }
  return 1;
}

function wrapSetTimeout(original: Function): Function {
  return function setTimeout(this: unknown, callback: unknown) {
    if (typeof callback === 'function') return original.apply(this, arguments);
    if (getcurrent() === null) return callNeedingGreenlet(original, this, arguments, 'setTimeout(ms)');
    // Only a delay makes the blocking form; anything else is Node's (ERR_INVALID_ARG_TYPE).
    if (typeof callback !== 'number') return original.apply(this, arguments);
    return new TimeoutSleep(nodeDelay(callback), arguments.length > 1 ? arguments[1] : undefined);
  };
}

function wrapSetImmediate(original: Function): Function {
  return function setImmediate(this: unknown, callback: unknown) {
    if (typeof callback === 'function') return original.apply(this, arguments);
    if (getcurrent() === null) return callNeedingGreenlet(original, this, arguments, 'setImmediate()');
    if (arguments.length > 0) return original.apply(this, arguments);
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
