/**
 * Program lifetime and Ctrl-C, gevent's main greenlet rules for Node.
 *
 * - gevent ends the program when its main greenlet returns, abandoning greenlets still
 *   running. geventjs's main is `run()`: once every `run()` root has settled (and no `await op`
 *   from top-level code is pending), geventjs's own handles (the timer heap's timer, sockets,
 *   listeners, children) are unref'd, so a leftover ticker or server loop no longer keeps the
 *   process alive. Before any `run()`, Node's rule stays: pending greenlets keep it alive.
 * - Ctrl-C: while a `run()` root is alive and the program has no SIGINT listener of its own,
 *   SIGINT throws a `KeyboardInterrupt` into every root at its suspension point. If one escapes
 *   a root, the process ends as Node's default SIGINT does (killed by SIGINT, status 130 in a
 *   shell). A second Ctrl-C while the first unwinds ends it at once.
 */
import { isMainThread } from 'node:worker_threads';
import { KeyboardInterrupt } from './errors.js';
import type { Greenlet } from './greenlet.js';
import { interrupt } from './hub.js';
import { setHoldProcess } from './keep-alive.js';

/** Alive `run()` roots (gevent's main greenlet). */
const roots = new Set<Greenlet<any>>();
/** Alive roots plus greenlets running an `await op` of top-level code: they hold the process. */
let holders = 0;
/** Set by the first `run()`: from then on, greenlets hold the process only while a holder lives. */
let mainEverRan = false;
let listening = false;
/** A KeyboardInterrupt was delivered and a root that got it is still alive. */
let unwinding = false;

/**
 * Registers a greenlet that top-level code waits for: a `run()` root (`main`), the greenlet
 * of an `await op`, or one that code outside greenlets awaits (`await g`). It holds the
 * process until `releaseHold()`.
 *
 * @example
 * holdWhileAlive(g, true); // run(): g is a main greenlet
 */
export function holdWhileAlive(g: Greenlet<any>, main: boolean): void {
  holdForAwait();
  if (main) {
    roots.add(g);
    mainEverRan = true;
    // Signals reach the main thread only: a worker thread's roots never get Ctrl-C.
    if (!listening && isMainThread) {
      listening = true;
      process.on('SIGINT', onSigint);
    }
  }
}

/**
 * A greenlet registered with `holdWhileAlive` died (called from its death, before its links).
 * A root that died of a KeyboardInterrupt ends the process as Node's SIGINT would.
 *
 * @example
 * releaseOnDeath(g, g.exception);
 */
export function releaseOnDeath(g: Greenlet<any>, failure: unknown): void {
  if (roots.delete(g)) {
    if (failure instanceof KeyboardInterrupt && isMainThread) exitAsSigint();
    if (roots.size === 0) {
      unwinding = false;
      stopListening();
    }
  }
}

/**
 * Code outside greenlets awaits something a greenlet will settle (`await ar` on a pending
 * AsyncResult): hold the process, as for an `await op`, until `releaseHold()` when it settles.
 *
 * @example
 * holdForAwait(); ar.rawlink(() => { releaseHold(); resolve(); });
 */
export function holdForAwait(): void {
  holders++;
  setHoldProcess(true);
}

/**
 * A holder's death has been told to its links (the `run()` promise is settled): it holds the
 * process no more. Not at its death: the links are told on a later hub step, which may come
 * after a turn of Node's loop (a drain over budget), and a process no longer held would exit
 * first, with `await run(...)` never settled.
 *
 * @example
 * releaseHold(); // after the dead root's links were told
 */
export function releaseHold(): void {
  holders--;
  if (holders === 0 && mainEverRan) setHoldProcess(false);
}

function stopListening(): void {
  if (!listening) return;
  listening = false;
  process.removeListener('SIGINT', onSigint);
}

function onSigint(): void {
  // The program has a SIGINT listener of its own: it decides what Ctrl-C means.
  if (process.listenerCount('SIGINT') > 1) return;
  if (unwinding) {
    exitAsSigint();
    return;
  }
  unwinding = true;
  for (const g of roots) interrupt(g, new KeyboardInterrupt());
}

/** Ends the process the way Node's default SIGINT action does. */
function exitAsSigint(): void {
  stopListening();
  if (process.listenerCount('SIGINT') === 0) process.kill(process.pid, 'SIGINT');
  // Still here: SIGINT is ignored or the program listens to it. 130 = 128 + SIGINT.
  process.exit(130);
}

/**
 * True while some `run()` root is alive (for tests and run info).
 *
 * @example
 * if (mainIsAlive()) console.log('inside run()');
 */
export function mainIsAlive(): boolean {
  return roots.size !== 0;
}
