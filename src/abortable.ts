/**
 * Promise interop with cancellation: a promise-returning function that takes an AbortSignal
 * becomes an Op whose interruption (a kill, a Timeout) aborts the signal, so the work stops
 * for real instead of running on unobserved.
 */
import type { Greenlet } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { Op, Wait } from './op.js';

class AbortableWait<T> extends Wait<T> {
  private controller: AbortController | null = null;

  constructor(private readonly fn: (signal: AbortSignal) => PromiseLike<T>) {
    super();
  }

  park(g: Greenlet): void {
    const controller = (this.controller = new AbortController());
    this.fn(controller.signal).then(
      (v) => {
        if (g._wait === this) wake(g, v);
      },
      (e) => {
        if (g._wait === this) wakeError(g, e);
      },
    );
  }

  override cancel(): void {
    // An AbortError DOMException, as Node's own APIs abort with.
    this.controller?.abort(new DOMException('The waiting greenlet was interrupted (killed or timed out)', 'AbortError'));
  }

  override describe(): string {
    return `abortable(${this.fn.name || 'fn'})`;
  }
}

/**
 * Runs `fn(signal)` and waits for its promise; if the greenlet is killed or its Timeout fires
 * first, `signal` aborts with an `AbortError` `DOMException` as its reason.
 *
 * @example
 * const res = yield* abortable((signal) => fetch('http://127.0.0.1:8080/', { signal }));
 */
export function abortable<T>(fn: (signal: AbortSignal) => PromiseLike<T>): Op<T> {
  if (typeof fn !== 'function') {
    throw new TypeError(`abortable() needs a function (signal) => promise, got ${describeValue(fn)}`);
  }
  return new AbortableWait(fn);
}
