/**
 * Which of geventjs's own Node handles keep the process alive. gevent ends the program when
 * its main greenlet returns, abandoning the greenlets left; geventjs's main is `run()`. While a
 * `run()` root is alive (or before any `run()` was called: Node's own rule), every handle that
 * geventjs made for a greenlet (the timer heap's timer, sockets, listeners, children, worker
 * threads) keeps the process alive as usual. Once every root has settled, they are unref'd, so
 * a leftover ticker or server loop no longer holds the process open; a new `run()` refs them
 * again. Handles the user made with Node's own APIs are never touched.
 *
 * Modules register a handle when they make it and release it when they close it.
 */

/** Anything with Node's ref()/unref() pair: Timeout, Socket, Server, ChildProcess, Worker. */
export interface Refable {
  ref(): unknown;
  unref(): unknown;
}

const handles = new Set<Refable>();
let holding = true;
const listeners: Array<(holding: boolean) => void> = [];

/**
 * True while geventjs's handles should keep the process alive.
 *
 * @example
 * if (!holdsProcess()) timer.unref();
 */
export function holdsProcess(): boolean {
  return holding;
}

/**
 * Registers a handle made for greenlets; it is unref'd at once if no `run()` root is alive.
 *
 * @example
 * const sock = net.connect(port); holdProcess(sock); sock.once('close', () => releaseProcess(sock));
 */
export function holdProcess(h: Refable): void {
  handles.add(h);
  if (!holding) h.unref();
}

/**
 * Forgets a handle (it closed). Safe to call twice.
 *
 * @example
 * releaseProcess(sock);
 */
export function releaseProcess(h: Refable): void {
  handles.delete(h);
}

/**
 * Switches every registered handle to ref'd (`true`) or unref'd (`false`); called by the
 * program-lifetime logic when the first `run()` root starts and when the last one settles.
 *
 * @example
 * setHoldProcess(false); // every run() root settled: leftover greenlets no longer hold the process
 */
export function setHoldProcess(on: boolean): void {
  if (on === holding) return;
  holding = on;
  for (const h of handles) {
    if (on) h.ref();
    else h.unref();
  }
  for (const l of listeners) l(on);
}

/**
 * Calls `fn` whenever the mode changes (for handles that are not kept in the set, such as the
 * timer heap's single Node timer, which is re-made often).
 *
 * @example
 * onHoldProcessChange((on) => { if (timer) on ? timer.ref() : timer.unref(); });
 */
export function onHoldProcessChange(fn: (holding: boolean) => void): void {
  listeners.push(fn);
}
