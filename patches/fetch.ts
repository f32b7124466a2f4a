/**
 * Patch for the global `fetch` (Node's built-in client, not a module one requires). It wraps:
 *   - globalThis.fetch(input, init?): called inside a greenlet, the request gets a signal of
 *     its own, combined with the caller's (`init.signal`, or the Request's) by
 *     `AbortSignal.any`, and the promise it returns is yieldable: `yield fetch(url)` gives the
 *     Response, and a kill or Timeout of the greenlet while it waits there aborts the request;
 *   - Response.prototype.text, json, arrayBuffer, blob, formData and bytes (where Node has
 *     it): called inside a greenlet on a Response that a greenlet fetched, `yield res.text()`
 *     gives the body, and an interruption while it waits aborts the transfer.
 * Outside greenlets every call goes to Node's original untouched; inside them the promises
 * stay ordinary promises (`await`, `.then` and `Promise.all` work as before; only a `yield`
 * of the promise itself ties the request to the greenlet).
 */
import { getcurrent, wake, wakeError } from '../src/hub.js';
import { toOp, Wait } from '../src/op.js';
import type { Greenlet } from '../src/greenlet.js';
import type { PatchSpec, WrapFn } from '../src/patch-spec.js';

/** The controller of each Response a greenlet fetched: reading its body can abort it too. */
const controllers = new WeakMap<object, AbortController>();

const BODY_READERS = ['text', 'json', 'arrayBuffer', 'blob', 'formData', 'bytes'];

/** `yield promise` of a patched fetch or body read: an interruption aborts `controller`. */
class AbortingWait<T> extends Wait<T> {
  constructor(
    private readonly promise: Promise<T>,
    private readonly controller: AbortController,
    private readonly label: string,
  ) {
    super();
  }

  park(g: Greenlet): void {
    this.promise.then(
      (v) => {
        if (g._wait === this) wake(g, v);
      },
      (e) => {
        if (g._wait === this) wakeError(g, e);
      },
    );
  }

  override cancel(): void {
    this.controller.abort(interrupted());
  }

  /** Woken with the Response, then interrupted before it ran: nobody will read it, so abort. */
  override undo(): void {
    this.controller.abort(interrupted());
  }

  override describe(): string {
    return this.label;
  }
}

function interrupted(): DOMException {
  return new DOMException('the greenlet waiting for this request was interrupted (killed or timed out)', 'AbortError');
}

/** Makes `promise` yieldable as an AbortingWait; it stays the same Promise for everyone else. */
function yieldable<T>(promise: Promise<T>, controller: AbortController, label: string): Promise<T> {
  Object.defineProperty(promise, toOp, {
    value: () => new AbortingWait(promise, controller, label),
    configurable: true,
  });
  return promise;
}

/** The caller's signal: `init.signal` when given (as fetch reads it), else the Request's. */
function callerSignal(input: unknown, init: unknown): AbortSignal | undefined {
  if (init !== null && typeof init === 'object') {
    const s = (init as { signal?: unknown }).signal;
    if (s !== undefined && s !== null) return s as AbortSignal;
  }
  if (typeof Request === 'function' && input instanceof Request) return input.signal;
  return undefined;
}

/**
 * The init fetch gets: the caller's, read as fetch reads it (its own and inherited members,
 * as WebIDL dictionaries are), with our combined signal on top.
 */
function initWith(init: unknown, signal: AbortSignal): object {
  const base = init !== null && typeof init === 'object' ? init : null;
  return Object.create(base, { signal: { value: signal, enumerable: true, configurable: true, writable: true } });
}

function label(input: unknown): string {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as { url?: string })?.url;
  return typeof url === 'string' ? `fetch(${JSON.stringify(url.length > 60 ? url.slice(0, 57) + '...' : url)})` : 'fetch(...)';
}

function wrapFetch(original: Function): Function {
  return function fetch(this: unknown, input: unknown, init?: unknown) {
    if (getcurrent() === null) return original.apply(this, arguments);
    // An init fetch would refuse (a string, a number): let Node's fetch refuse it as it does.
    if (init !== undefined && init !== null && typeof init !== 'object' && typeof init !== 'function') {
      return original.apply(this, arguments);
    }
    const controller = new AbortController();
    const theirs = callerSignal(input, init);
    const signal = theirs === undefined ? controller.signal : AbortSignal.any([theirs, controller.signal]);
    const args = [...arguments];
    args[1] = initWith(init, signal);
    const promise = (original.apply(this, args) as Promise<Response>).then((res) => {
      controllers.set(res, controller);
      return res;
    });
    return yieldable(promise, controller, label(input));
  };
}

function wrapBodyReader(name: string) {
  return (original: Function): Function =>
    function (this: object) {
      const result = original.apply(this, arguments) as Promise<unknown>;
      if (getcurrent() === null) return result;
      const controller = controllers.get(this);
      if (controller === undefined || !(result instanceof Promise)) return result;
      return yieldable(result, controller, `response.${name}()`);
    };
}

/**
 * The fetch patch, applied by monkey.patchFetch().
 *
 * @example
 * monkey.patchFetch();
 * spawn(function* () { const res = yield fetch(url); const body = yield res.text(); });
 */
export const fetchPatch: PatchSpec = {
  module: 'fetch',
  load: () => globalThis,
  apply(global: typeof globalThis, wrap: WrapFn) {
    if (typeof global.fetch !== 'function') return;
    wrap(global, 'fetch', wrapFetch);
    if (typeof global.Response === 'function') {
      for (const name of BODY_READERS) wrap(global.Response.prototype, name, wrapBodyReader(name));
    }
  },
};
