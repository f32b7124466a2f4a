/**
 * The async context a greenlet runs in: the AsyncLocalStorage stores in force where it was
 * spawned, restored around each of its steps (the hub runs every step inside
 * `contextOf(g).runInAsyncScope(...)`).
 *
 * Three levels, raised once each and never lowered, so that a program pays only for what it
 * uses:
 *   0. No AsyncLocalStorage has been used in the process: every context is empty, so all
 *      greenlets run in one shared scope (no resource per greenlet, one scope per hub batch).
 *   1. Some AsyncLocalStorage is in use: each greenlet has an AsyncResource of its own, made
 *      where it was spawned, so it sees the spawner's stores and a store it sets stays its own.
 *   2. A `local()` exists: each greenlet's resource also carries the greenlet itself (in an
 *      internal AsyncLocalStorage), so code that continues its work after an `await` (where
 *      no greenlet is running) is still known to belong to it.
 * Greenlets made at level 0 hold a placeholder and get their real context lazily, the first
 * time the hub runs them at a higher level: one made before the first use of
 * AsyncLocalStorage (spawnLater, `new Greenlet()` not started yet) thus gets a context of its
 * own, empty as its spawn site was, instead of the one the first store was written to.
 *
 * The first use is noticed by wrapping `AsyncLocalStorage.prototype.run`, `enterWith` and
 * `exit` once, at import. The wrappers stay for good (after the first use they cost one
 * comparison) and call whatever was there before them: a tracer (OpenTelemetry, dd-trace)
 * that wraps these methods before or after geventjs keeps working, because geventjs never
 * puts the old methods back.
 */
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { Greenlet } from './greenlet.js';
import { getcurrent } from './hub.js';

/** A greenlet's AsyncResource, with how much it is known to hold (the levels above). */
class GreenletContext extends AsyncResource {
  constructor(public level: number) {
    super('geventjs.Greenlet');
  }
}

/**
 * Whether some AsyncLocalStorage is already in use as geventjs loads: Node (before async
 * context frames) keeps each store as an own symbol property of every async resource made
 * after the store was enabled, named after `kResourceStore`.
 */
function storesInUse(): boolean {
  const probe = new AsyncResource('geventjs.Probe');
  return Object.getOwnPropertySymbols(probe).some((s) => s.description === 'kResourceStore');
}

let level = storesInUse() ? 1 : 0;
/** The scope every greenlet runs in at level 0. */
const shared = new GreenletContext(0);
/** What a greenlet made at level 0 holds until it first runs at a higher level. */
const unresolved = new GreenletContext(-1);
/** A scope with no stores, made before any was used: where late contexts are made from. */
const empty = new GreenletContext(-1);
/** Level 2: which greenlet a piece of async code works for. */
const greenletStorage = new AsyncLocalStorage<Greenlet<any>>();

/**
 * The context for a greenlet being made now: a resource capturing the caller's stores, or
 * (level 0, nothing to capture) a placeholder resolved at its first step.
 *
 * @example
 * this._ctx = captureContext(); // in the Greenlet constructor
 */
export function captureContext(): AsyncResource {
  return level === 0 ? unresolved : new GreenletContext(1);
}

/**
 * The scope to run `g`'s next step in (the hub calls this for every step: it is one
 * comparison at level 0, two above).
 *
 * @example
 * const ctx = contextOf(g);
 * ctx.runInAsyncScope(runBatch, null, ctx); // in the hub's loop
 */
export function contextOf(g: Greenlet<any>): AsyncResource {
  if (level === 0) return shared;
  const c = g._ctx as GreenletContext;
  return c.level >= level ? c : resolve(g, c);
}

/** Gives `g` a context of the current level, keeping the stores its old one had. */
function resolve(g: Greenlet<any>, old: GreenletContext): GreenletContext {
  if (old.level === 1 && level === 2 && greenletSlot !== null) {
    // Its own resource (made for it alone at spawn): carrying it is one property write.
    (old as unknown as Record<symbol, unknown>)[greenletSlot] = g;
    old.level = 2;
    return old;
  }
  // A placeholder means the greenlet was made while no store existed: start from none.
  const from = old === unresolved ? empty : old;
  const made = from.runInAsyncScope(makeContext, null, g);
  g._ctx = made;
  return made;
}

function makeContext(g: Greenlet<any>): GreenletContext {
  if (level < 2) return new GreenletContext(1);
  return greenletStorage.run(g, () => new GreenletContext(2));
}

/**
 * The greenlet whose work the running code continues (after an `await` in its async function,
 * in a callback it registered), or undefined. Only known once `followGreenlets()` was called.
 *
 * @example
 * const owner = getcurrent() ?? greenletOfContext(); // who this code works for
 */
export function greenletOfContext(): Greenlet<any> | undefined {
  return level === 2 ? greenletStorage.getStore() : undefined;
}

/**
 * Makes every greenlet's context carry the greenlet (level 2), for `local()`. From then on
 * Node propagates async context through every promise, as with any AsyncLocalStorage.
 *
 * @example
 * followGreenlets(); // local() calls this once
 */
export function followGreenlets(): void {
  if (level === 2) return;
  // Enabling the internal store is itself a first use of AsyncLocalStorage: it raises the
  // level to 1 through the wrapper (giving the running greenlet the shared scope it wrote to).
  greenletStorage.run(null as never, noop);
  split();
  greenletSlot = findGreenletSlot();
  level = 2;
}

function noop(): void {}

/**
 * Where Node keeps `greenletStorage`'s value on an async resource, if it keeps it there (Node
 * before async context frames: an own symbol property named by the store's `kResourceStore`),
 * checked by experiment; null otherwise. With it, a greenlet's own resource is made to carry
 * the greenlet by writing that property, instead of making a second resource inside
 * `greenletStorage.run()` (measured: about half a microsecond less per greenlet while a local() exists).
 */
let greenletSlot: symbol | null = null;

function findGreenletSlot(): symbol | null {
  const slot = (greenletStorage as unknown as { kResourceStore?: unknown }).kResourceStore;
  if (typeof slot !== 'symbol') return null;
  const marker = {} as Greenlet<any>;
  const made = greenletStorage.run(marker, () => new AsyncResource('geventjs.Probe'));
  const carried = (made as unknown as Record<symbol, unknown>)[slot] === marker;
  // And the other way round: a value written there is what getStore() sees in its scope.
  const other = {} as Greenlet<any>;
  (made as unknown as Record<symbol, unknown>)[slot] = other;
  const seen = made.runInAsyncScope(() => greenletStorage.getStore());
  return carried && seen === other ? slot : null;
}

/**
 * Level 0 to 1, at the first use of any AsyncLocalStorage. The store about to be set lands
 * on the scope running now: at level 0 inside a greenlet that is the shared one, which then
 * becomes that greenlet's own; every other greenlet gets a fresh context at its next step.
 */
function split(): void {
  if (level !== 0) return;
  level = 1;
  const g = getcurrent();
  if (g !== null) {
    shared.level = 1;
    g._ctx = shared;
  }
}

type Method = 'run' | 'enterWith' | 'exit';
const proto = AsyncLocalStorage.prototype as unknown as Record<Method, (...args: unknown[]) => unknown>;

/** Wraps `name` once, for good: the wrapper notices the first use, then defers to what was there. */
function watchFirstUse(name: Method): void {
  const previous = proto[name];
  const wrapper = function (this: unknown): unknown {
    if (level === 0) split();
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(previous, this, arguments);
  };
  Object.defineProperty(wrapper, 'name', { value: previous.name });
  Object.defineProperty(wrapper, 'length', { value: previous.length });
  proto[name] = wrapper;
}

if (level === 0) {
  watchFirstUse('run');
  watchFirstUse('enterWith');
  watchFirstUse('exit');
}
