/**
 * One report per failure. gevent's hub prints every greenlet failure at once; with that rule a
 * failure is printed once per greenlet it passes through (the child, then the parent that
 * `get()`s it), even when the program handles it. geventjs reports as Node reports an
 * unhandled rejection: a failure that nobody observed (joined, `get()`, linked, awaited, waited
 * on, its `exception` read) by the end of the turn in which the greenlet died (the hub has run
 * dry and every microtask has run) is printed, and the process exit status becomes 1. `config.reportAllFailures` (or
 * `GEVENTJS_REPORT_ALL_FAILURES=1`) brings back gevent's rule of printing every failure at death.
 */
import { describeValue } from './arg-checks.js';
import { config, describeThrown, turnEndHook, writeReport } from './hub.js';
import { nodeSetImmediate } from './originals.js';

/** What failure-report needs of a greenlet (greenlet.ts imports this module, not the reverse). */
export interface Reportable {
  readonly name: string;
  /** True once someone has observed its outcome. */
  _observed(): boolean;
  toString(): string;
}

interface Pending {
  g: Reportable;
  error: unknown;
  printed: boolean;
}

let pending: Pending[] = [];
/** Event-loop turns a failure has waited while the hub was busy (see `afterImmediate`). */
let turnsWaited = 0;
let immediateArmed = false;


function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/**
 * A greenlet's `toString()` for reports; a subclass's own `toString` that throws cannot stop a
 * report.
 *
 * @example
 * nameOf(g); // '<Greenlet "worker-1": worker>'
 */
export function nameOf(g: { toString(): string }): string {
  return safe(() => String(g)) ?? 'a greenlet whose toString() throws';
}

/** The error's name for the "failed with" line. */
function errorName(e: unknown): string {
  if (e instanceof Error) return safe(() => String(e.name)) ?? 'Error';
  return describeValue(e);
}

/**
 * Prints a failure as gevent's hub does: the stack, then a line naming who failed. Never
 * throws: an error stream that cannot write falls back to stderr.
 *
 * @example
 * reportError(new Error('boom'), 'a link callback of <Greenlet "g">');
 */
export function reportError(e: unknown, who: string): void {
  // writeReport never throws: a broken config.errorStream falls back to stderr.
  writeReport(`${describeThrown(e)}\n${new Date().toISOString()} ${who}\n`);
}

/**
 * A callback's result that is a promise (an `async` link callback): its rejection is reported
 * as a synchronous throw would be, instead of killing the process as an unhandled rejection.
 *
 * @example
 * reportIfRejects(callback(g), () => `a link callback of ${nameOf(g)}`);
 */
export function reportIfRejects(result: unknown, who: () => string): void {
  // Native promises only: a callback that returns a Greenlet (`() => spawn(job)`) keeps that
  // greenlet's own failure report.
  if (result instanceof Promise) result.then(undefined, (e: unknown) => reportError(e, who()));
}

function print(p: Pending): void {
  p.printed = true;
  reportError(p.error, `${nameOf(p.g)} failed with ${errorName(p.error)}`);
}

/**
 * A greenlet died of `error` (not GreenletExit, not a run() root). Printed now under
 * `reportAllFailures`; otherwise at the end of this hub turn unless observed by then.
 *
 * @example
 * failureDied(g, err); // from Greenlet._die
 */
export function failureDied(g: Reportable, error: unknown): void {
  const p: Pending = { g, error, printed: false };
  if (config.reportAllFailures) print(p);
  pending.push(p);
  if (!immediateArmed) {
    immediateArmed = true;
    turnsWaited = 0;
    nodeSetImmediate(afterImmediate);
  }
}

/** Settles every pending failure: observed ones are dropped, the rest printed and counted. */
function settle(): void {
  const list = pending;
  pending = [];
  for (const p of list) {
    if (p.g._observed()) continue;
    if (!p.printed) print(p);
    if (process.exitCode === undefined) process.exitCode = 1;
  }
}

/** Whether the hub's last drain ran its ready queue empty (false: over budget, more to run). */
let lastDrainEmpty = true;

/**
 * Called by the hub when a drain ends, with whether the ready queue ran empty.
 *
 * @example
 * hubTurnEnded(readyQueue.length === 0);
 */
export function hubTurnEnded(readyEmpty: boolean): void {
  lastDrainEmpty = readyEmpty;
}
turnEndHook.fn = hubTurnEnded;

/**
 * Settles on the event-loop turn after the death: by then every microtask has run, so an
 * `await g` or `await joinall([g])` written right after the spawn has been seen (as Node
 * checks for unhandled rejections once the microtask queue is empty). If the hub still had
 * greenlets to run (over its time budget), they get up to two more turns to observe it.
 */
function afterImmediate(): void {
  if (pending.length === 0) {
    immediateArmed = false;
    return;
  }
  if (!lastDrainEmpty && ++turnsWaited < 3) {
    nodeSetImmediate(afterImmediate);
    return;
  }
  immediateArmed = false;
  settle();
}
