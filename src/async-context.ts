/**
 * The async context a greenlet runs in: the AsyncLocalStorage stores in force where it was
 * spawned, restored around each of its steps.
 *
 * While no AsyncLocalStorage has ever been used in the process, every context is empty, so
 * all greenlets share one AsyncResource and the hub runs them in one scope (creating a
 * resource per greenlet and entering it per step costs ~35 ns per spawn and ~12 ns per
 * switch). The first `run`, `enterWith` or `exit` of any AsyncLocalStorage flips the process
 * to one AsyncResource per greenlet, for good; the probe that notices it removes itself, so
 * AsyncLocalStorage runs exactly as before afterwards.
 */
import { AsyncLocalStorage, AsyncResource, executionAsyncResource } from 'node:async_hooks';

class GreenletContext extends AsyncResource {}

let perGreenlet = Object.getOwnPropertySymbols(executionAsyncResource()).length !== 0;
let shared: GreenletContext | null = null;
let onFirstUse: (() => void) | null = null;

/** The context for a greenlet being spawned now. */
export function captureContext(): AsyncResource {
  if (perGreenlet) return new GreenletContext('geventjs.Greenlet');
  return (shared ??= new GreenletContext('geventjs.Greenlet'));
}

/** True if `ctx` is the one all greenlets share while no AsyncLocalStorage is in use. */
export function isSharedContext(ctx: AsyncResource): boolean {
  return ctx === shared;
}

/**
 * Registers what to do when AsyncLocalStorage is first used: the hub gives every live greenlet
 * but the running one its own (still empty) context, so a store set now in one greenlet never
 * shows in another.
 */
export function whenContextsSplit(fn: () => void): void {
  onFirstUse = fn;
}

type Method = 'run' | 'enterWith' | 'exit';
const METHODS: Method[] = ['run', 'enterWith', 'exit'];
const proto = AsyncLocalStorage.prototype as unknown as Record<Method, (...args: unknown[]) => unknown>;
const originals = new Map<Method, (...args: unknown[]) => unknown>();

function split(): void {
  if (perGreenlet) return;
  perGreenlet = true;
  for (const [name, original] of originals) if (proto[name] !== original) proto[name] = original;
  onFirstUse?.();
}

if (!perGreenlet) {
  for (const name of METHODS) {
    const original = proto[name];
    originals.set(name, original);
    const probe = function (this: unknown, ...args: unknown[]): unknown {
      split();
      return original.apply(this, args);
    };
    proto[name] = probe;
  }
}
