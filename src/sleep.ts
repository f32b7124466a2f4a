/**
 * sleep and idle: the two ways a greenlet gives up the loop without waiting on anything else.
 */
import { checkSeconds } from './arg-checks.js';
import { hubIsIdle, SLEEP0_MARK, SLEEP0_RESUME, wake } from './hub.js';
import { done, keepOpClass, Op, PARK, track, untrack, Wait, yielded } from './op.js';
import { nodeSetImmediate } from './originals.js';
import type { Greenlet } from './greenlet.js';

/**
 * `sleep(0)`: one shared, stateless Op that puts the greenlet at the back of the ready queue.
 * It yields a marker the hub recognizes and finishes when resumed with the matching token, so
 * the hottest switch in the library allocates nothing.
 */
class Sleep0 extends Op<void> implements Iterator<unknown, void, unknown> {
  [Symbol.iterator](): this {
    return this;
  }

  next(v?: unknown): IteratorResult<unknown, void> {
    if (v === SLEEP0_RESUME) return done(undefined);
    untrack(this);
    return yielded(SLEEP0_MARK);
  }

  throw(err: unknown): IteratorResult<unknown, void> {
    throw err;
  }

  override describe(): string {
    return 'sleep(0)';
  }
}
const SLEEP0 = new Sleep0();
untrack(SLEEP0);

/** `sleep(s)` for s > 0: a Wait whose only way out is its time limit. */
class SleepWait extends Wait<void> {
  constructor(seconds: number) {
    super();
    this.expireAfter(seconds, 'sleep(seconds)');
  }

  park(): void {}

  override describe(): string {
    return this._timeoutMs < 0 ? 'sleep(Infinity)' : `sleep(${this._timeoutMs / 1000})`;
  }
}

/**
 * Suspends the current greenlet for `seconds` (0 by default: just let the others run).
 *
 * @example
 * yield* sleep(0.25);
 * yield* sleep();     // a cooperative yield; a bare `yield;` does the same
 */
export function sleep(seconds = 0): Op<void> {
  if (seconds === 0) {
    track(SLEEP0);
    return SLEEP0;
  }
  checkSeconds(seconds, 'sleep(seconds)');
  return new SleepWait(seconds);
}

class IdleWait extends Wait<void> {
  override poll(): typeof PARK {
    return PARK;
  }

  park(g: Greenlet): void {
    // setImmediate runs after Node's poll phase: pending I/O first. Ready greenlets too,
    // unless a hub turn ran over its time budget and left some for its own later immediate:
    // then look again after that one.
    const check = (): void => {
      if (g._wait !== this) return;
      if (hubIsIdle()) wake(g, undefined);
      else nodeSetImmediate(check);
    };
    nodeSetImmediate(check);
  }

  override describe(): string {
    return 'idle()';
  }
}

/**
 * Waits until the hub has nothing else to run and Node has polled for I/O (gevent's idle).
 *
 * @example
 * spawn(worker); yield* idle(); // worker has run as far as it can
 */
export function idle(): Op<void> {
  return new IdleWait();
}

// Made per sleep: keeps its hidden classes across full GCs (hidden-classes.ts).
keepOpClass(new SleepWait(1));
