/**
 * The Op a patched Node call returns inside a greenlet: it starts Node's callback-style call
 * when the greenlet parks on it and wakes the greenlet with the callback's result or error.
 * It is marked `mustYield`, so a greenlet that forgets to yield it fails at its next switch
 * with a DroppedOpError naming the call and the fix.
 */
import { wake, wakeError } from './hub.js';
import { Wait } from './op.js';
import type { Greenlet } from './greenlet.js';

/** Delivers the outcome of a started call: `ok(value)` or `fail(error)`, at most once counts. */
export interface Outcome<T> {
  ok(value: T): void;
  fail(error: unknown): void;
}

/**
 * A Node call run cooperatively. `start` begins the call and returns a cancel function (or
 * nothing) that undoes it when the greenlet is killed or timed out first.
 *
 * @example
 * const op = new PatchedCall<string>('dns.lookup("localhost")', (out) => {
 *   origLookup('localhost', (err, a) => (err ? out.fail(err) : out.ok(a)));
 * });
 * const address = yield op;
 */
export class PatchedCall<T> extends Wait<T> implements Outcome<T> {
  private stop: void | (() => void) = undefined;
  /** Appended to the DroppedOpError message: how to get a real blocking call instead. */
  dropHint: string;

  constructor(
    private readonly label: string,
    private readonly start: (out: Outcome<T>) => void | (() => void),
    original?: [module: string, name: string],
  ) {
    super();
    this.mustYield = true;
    this.dropHint = original
      ? `; for a real blocking call use monkey.getOriginal('${original[0]}', '${original[1]}')`
      : '';
  }

  park(g: Greenlet): void {
    this.stop = this.start(this);
    // `start` may have finished synchronously (a validation error): g is then already woken.
    void g;
  }

  ok(value: T): void {
    const g = this.g;
    if (g !== null && g._wait === this) wake(g, value);
  }

  fail(error: unknown): void {
    const g = this.g;
    if (g !== null && g._wait === this) wakeError(g, error);
  }

  override cancel(): void {
    const stop = this.stop;
    this.stop = undefined;
    if (typeof stop === 'function') stop();
  }

  override describe(): string {
    return this.label;
  }
}

/** Short text for an argument in an error message: strings quoted and cut at 40 characters. */
export function showArg(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v == null) return String(v);
  return Array.isArray(v) ? '[...]' : '{...}';
}
