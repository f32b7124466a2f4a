/**
 * Greenlet-local storage (gevent.local): one object whose properties each greenlet sees
 * separately. A greenlet's values are dropped when it dies. Code outside any greenlet (the
 * "main greenlet", in gevent's words) has its own set of values too.
 */
import type { Greenlet } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { getcurrent } from './hub.js';

/** Stands for "outside any greenlet" as a key: gevent's main greenlet has its own locals. */
const MAIN = {};
type Owner = Greenlet<any> | typeof MAIN;

/** Per-owner values of one local, and how to make a fresh set. */
class LocalStore<T extends object> {
  /** @internal Exposed for tests: how many greenlets (and main) hold values now. */
  readonly byOwner = new Map<Owner, T>();

  constructor(private readonly init: () => T) {}

  current(): T {
    const g = getcurrent();
    const owner: Owner = g ?? MAIN;
    let values = this.byOwner.get(owner);
    if (values === undefined) {
      values = this.init();
      this.byOwner.set(owner, values);
      // Dropped at death, not at garbage collection: a dead greenlet kept in a list must not
      // keep its locals alive.
      if (g !== null) g.rawlink(() => this.byOwner.delete(g));
    }
    return values;
  }
}

const stores = new WeakMap<object, LocalStore<object>>();

/**
 * Makes a greenlet-local object: reading or writing a property reads or writes the current
 * greenlet's own value. `init` (called once per greenlet, on its first access) gives the
 * starting values, like the `__init__` of a gevent `local` subclass.
 *
 * @example
 * const ctx = local<{ user?: string }>();
 * spawn(function* () { ctx.user = 'ann'; yield* sleep(0); console.log(ctx.user); }); // ann
 * spawn(function* () { console.log(ctx.user); });                                    // undefined
 *
 * const counters = local(() => ({ hits: 0 }));
 * counters.hits++; // this greenlet's count only
 */
export function local<T extends object = Record<string, unknown>>(init?: () => T): T {
  if (init !== undefined && typeof init !== 'function') {
    throw new TypeError(
      `local(init) takes a function giving each greenlet's starting values, got ${describeValue(init)}; ` +
        'pass e.g. () => ({ count: 0 })',
    );
  }
  const store = new LocalStore<T>(init ?? (() => ({}) as T));
  const proxy = new Proxy({} as T, {
    get: (_t, key) => Reflect.get(store.current(), key),
    set: (_t, key, value) => Reflect.set(store.current(), key, value),
    has: (_t, key) => Reflect.has(store.current(), key),
    deleteProperty: (_t, key) => Reflect.deleteProperty(store.current(), key),
    ownKeys: () => Reflect.ownKeys(store.current()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(store.current(), key);
      // The proxy's target has none of these keys: report them configurable, as proxies must.
      if (d !== undefined) d.configurable = true;
      return d;
    },
    defineProperty: (_t, key, desc) => Reflect.defineProperty(store.current(), key, desc),
  });
  stores.set(proxy, store as LocalStore<object>);
  return proxy;
}

/**
 * @internal For tests: how many owners (greenlets, plus main) hold values of `l` now.
 */
export function localOwnerCount(l: object): number {
  const store = stores.get(l);
  if (store === undefined) throw new TypeError(`localOwnerCount() takes an object made by local(), got ${describeValue(l)}`);
  return store.byOwner.size;
}
