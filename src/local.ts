/**
 * Greenlet-local storage (gevent.local): one object whose properties each greenlet sees
 * separately. Code outside any greenlet (the "main greenlet", in gevent's words) has its own
 * set of values too.
 *
 * Whose values a piece of code sees: the running greenlet's; where no greenlet runs, the
 * greenlet whose work the code continues (after an `await` in a greenlet's async function,
 * in a callback registered from a greenlet), followed through Node's async context; else
 * main's. So two connections served by async functions never read each other's values
 * across an `await`.
 *
 * Memory: values are held weakly on both sides, as gevent's weak references do. Each
 * greenlet's values live in a WeakMap keyed by the local, so a local dropped by the program
 * is collected with its values even while greenlets that used it live on; and a greenlet's
 * values are dropped when it dies (one link per greenlet), so a dead greenlet kept in a list
 * does not keep them.
 */
import type { Greenlet } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { followGreenlets, greenletOfContext } from './async-context.js';
import { getcurrent } from './hub.js';

/** Each greenlet's values, per local (the key is the local's store, held weakly). */
const valuesOf = new WeakMap<Greenlet<any>, WeakMap<LocalStore<object>, object>>();

/** Death link: the greenlet's values for every local go at once. */
function dropValues(g: Greenlet<any>): void {
  valuesOf.delete(g);
}

/** One local's values: main's here, each greenlet's in `valuesOf`. */
class LocalStore<T extends object> {
  private main: T | undefined = undefined;

  constructor(private readonly init: () => T) {}

  current(): T {
    const g = getcurrent() ?? greenletOfContext();
    if (g === undefined || g === null) return (this.main ??= this.make());
    let mine = valuesOf.get(g);
    if (mine === undefined) {
      mine = new WeakMap();
      valuesOf.set(g, mine);
      g.rawlink(dropValues);
    }
    let values = mine.get(this) as T | undefined;
    if (values === undefined) {
      values = this.make();
      mine.set(this, values);
    }
    return values;
  }

  private make(): T {
    const values = this.init();
    if (values === null || (typeof values !== 'object' && typeof values !== 'function')) {
      throw new TypeError(
        `local(init): init must return an object holding the starting values, got ${describeValue(values)}; ` +
          'return e.g. { count: 0 }',
      );
    }
    return values;
  }
}

/**
 * Makes a greenlet-local object: reading or writing a property reads or writes the current
 * greenlet's own value. `init` (called once per greenlet, on its first access) gives the
 * starting values, like the `__init__` of a gevent `local` subclass.
 *
 * Making the first local turns on Node's async context tracking for the process (as any
 * AsyncLocalStorage does), so that code after an `await` is still told apart per greenlet.
 *
 * @example
 * const ctx = local<{ user?: string }>();
 * spawn(function* () { ctx.user = 'ann'; yield* sleep(0); console.log(ctx.user); }); // ann
 * spawn(function* () { console.log(ctx.user); });                                    // undefined
 * spawn(async () => { ctx.user = 'bob'; await somethingSlow(); console.log(ctx.user); }); // bob
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
  followGreenlets();
  const store = new LocalStore<T>(init ?? (() => ({}) as T));
  return new Proxy({} as T, {
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
}
