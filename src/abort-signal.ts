/**
 * An AbortSignal in: the Node way to stop work from outside (a request's signal, a test's).
 * `run(main, { signal })`, `killOnAbort(g, signal)` and `withSignal(signal, op)` turn an abort
 * into an interruption at the greenlet's suspension point, as a kill or a Timeout is: the wait
 * is cancelled (nothing consumed), `finally` blocks run, and the error thrown is an
 * `AbortError` `DOMException` whose `cause` is the signal's reason, as Node's own APIs throw.
 */
import { describeValue } from './arg-checks.js';
import type { Greenlet } from './greenlet.js';
import { getcurrent, interrupt } from './hub.js';
import { Op, opFrom } from './op.js';

/**
 * The error an abort is delivered as: a `DOMException` named `AbortError` (code 20, as
 * Node's and the web's APIs throw), its `cause` the signal's reason.
 *
 * @example
 * const e = abortError(new Error('client went away'));
 * e.name === 'AbortError' && e.cause instanceof Error; // true
 */
export function abortError(reason: unknown): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: reason });
}

/**
 * @internal Throws a TypeError unless `signal` is an AbortSignal.
 *
 * @example
 * checkSignal(opts.signal, 'run(fn, { signal })');
 */
export function checkSignal(signal: unknown, what: string): asserts signal is AbortSignal {
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(`${what} must be an AbortSignal, got ${describeValue(signal)}; pass e.g. AbortSignal.timeout(5000) or controller.signal`);
  }
}

/**
 * Kills `g` with an `AbortError` (its `cause` the signal's reason) when `signal` aborts; at
 * once if it already has. The listener goes away when `g` dies. Returns `g`.
 *
 * @example
 * const g = killOnAbort(spawn(worker), req.signal);
 * killOnAbort(yield* pool.spawn(job), AbortSignal.timeout(5000)); // inside a greenlet
 */
export function killOnAbort<G extends Greenlet<any>>(g: G, signal: AbortSignal): G {
  if (g === null || typeof g !== 'object' || typeof (g as { kill?: unknown }).kill !== 'function') {
    throw new TypeError(`killOnAbort(g, signal) needs a Greenlet as g, got ${describeValue(g)}; pass e.g. spawn(job)`);
  }
  checkSignal(signal, 'killOnAbort(g, signal)');
  if (g.dead) return g;
  if (signal.aborted) {
    g.kill({ exception: abortError(signal.reason), block: false });
    return g;
  }
  const onAbort = (): void => {
    g.kill({ exception: abortError(signal.reason), block: false });
  };
  signal.addEventListener('abort', onAbort, { once: true });
  g.rawlink(() => signal.removeEventListener('abort', onAbort));
  return g;
}

/**
 * Runs `op` in the current greenlet; if `signal` aborts first, the greenlet is interrupted
 * where it waits with an `AbortError` whose `cause` is the signal's reason (thrown at once if
 * the signal has already aborted). gevent has no signals; this is `withTimeout` for them.
 *
 * @example
 * const item = yield* withSignal(req.signal, q.get());
 */
export function withSignal<T>(signal: AbortSignal, op: Op<T> | Iterable<unknown, T, unknown>): Op<T> {
  checkSignal(signal, 'withSignal(signal, op)');
  if (op === null || typeof op !== 'object' || !(Symbol.iterator in op)) {
    throw new TypeError(`withSignal(signal, op) needs an Op or a generator as op, got ${describeValue(op)}; pass e.g. q.get()`);
  }
  return opFrom(() => runWithSignal(signal, op), 'withSignal(signal, …)');
}

/**
 * `withSignal`'s body: hoisted, not a `function*` written inside each call (V8 makes a fresh
 * generator closure a prototype and a map at its first call: about 1 µs; docs/performance.md).
 */
function* runWithSignal<T>(signal: AbortSignal, op: Op<T> | Iterable<unknown, T, unknown>): Generator<unknown, T, unknown> {
  if (signal.aborted) throw abortError(signal.reason);
  const g = getcurrent()!;
  let active = true;
  const onAbort = (): void => {
    interrupt(g, abortError(signal.reason), () => active);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return (yield* op) as T;
  } finally {
    active = false;
    signal.removeEventListener('abort', onAbort);
  }
}
