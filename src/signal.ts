/**
 * gevent's signal handling: `signalHandler(signum, fn, ...args)` runs `fn(...args)` in a new
 * greenlet each time the process receives the signal (Node's `process.on(signal)` underneath),
 * and `shutdown()` kills every other greenlet so the program can end cleanly.
 *
 * @example
 * import { run, spawn, sleep } from 'geventjs';
 * import { signalHandler, shutdown } from 'geventjs/signal';
 * signalHandler('SIGQUIT', shutdown);
 * await run(function* () { yield* spawn(function* () { yield* sleep(1000); }).join(); });
 */
import { constants } from 'node:os';
import { Greenlet, scheduledGreenlets, spawn } from './greenlet.js';
import { checkSeconds, describeValue, ownOptions } from './arg-checks.js';
import { getcurrent, liveGreenlets } from './hub.js';
import { Op, opFrom } from './op.js';
import { now } from './originals.js';
import { joinall } from './wait.js';

// Captured at load: a monkey patch must not see or wrap our listeners.
const processOn = process.on.bind(process);
const processOff = process.off.bind(process);

/** Signal names by number, for handlers given a number (Python style). */
const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/** Signals Node cannot listen for (the OS does not let a process catch them). */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

function signalName(signum: unknown): NodeJS.Signals {
  if (typeof signum === 'number') {
    const name = signalNames.get(signum);
    if (name === undefined) throw new RangeError(`signalHandler(signum): no signal has number ${signum}; pass a name like 'SIGUSR2'`);
    return checkCatchable(name);
  }
  if (typeof signum !== 'string') {
    throw new TypeError(`signalHandler(signum) needs a signal name or number, got ${describeValue(signum)}; pass e.g. 'SIGUSR2'`);
  }
  if (!(signum in constants.signals)) {
    throw new RangeError(`signalHandler(signum): unknown signal ${JSON.stringify(signum)}; pass a name like 'SIGUSR2' or 'SIGQUIT'`);
  }
  return checkCatchable(signum as NodeJS.Signals);
}

function checkCatchable(name: NodeJS.Signals): NodeJS.Signals {
  if (UNCATCHABLE.has(name)) throw new RangeError(`signalHandler(signum): ${name} cannot be caught by any process; pick another signal`);
  return name;
}

/**
 * An installed signal handler; `cancel()` removes it (Node's default action for the signal
 * comes back once no listener is left).
 *
 * @example
 * const h = signalHandler('SIGUSR2', () => console.log('usr2'));
 * h.cancel();
 */
export class SignalHandler {
  /** The signal's name, e.g. 'SIGUSR2'. */
  readonly signal: NodeJS.Signals;
  private readonly listener: () => void;
  private active = true;

  /** @internal use signalHandler() */
  constructor(signal: NodeJS.Signals, fn: (...args: any[]) => unknown, args: unknown[]) {
    this.signal = signal;
    // A new greenlet per delivery, as gevent does: a slow handler never delays the next signal.
    this.listener = () => {
      spawn(fn, ...args);
    };
    processOn(signal, this.listener);
  }

  /** Whether it is still installed. */
  get ref(): boolean {
    return this.active;
  }

  /**
   * Removes the handler; calling it again does nothing.
   *
   * @example
   * handler.cancel();
   */
  cancel(): void {
    if (!this.active) return;
    this.active = false;
    processOff(this.signal, this.listener);
  }
}

/**
 * Runs `fn(...args)` in a new greenlet every time the process receives `signum` (a name such
 * as 'SIGUSR2', or its number). Returns the handler; `cancel()` removes it. As with Node's
 * own listeners, a handler does not keep the program alive by itself.
 *
 * @example
 * const h = signalHandler('SIGUSR2', (who: string) => console.log('signal for', who), 'me');
 * process.kill(process.pid, 'SIGUSR2'); // prints "signal for me" soon after
 */
export function signalHandler<A extends unknown[]>(signum: NodeJS.Signals | number, fn: (...args: A) => unknown, ...args: A): SignalHandler {
  const name = signalName(signum);
  if (typeof fn !== 'function') {
    throw new TypeError(`signalHandler(signum, fn) needs a function to run, got ${describeValue(fn)}`);
  }
  return new SignalHandler(name, fn as (...a: unknown[]) => unknown, args);
}

/** Greenlets a shutdown already killed: never shot twice, so their cleanup runs undisturbed. */
const shot = new WeakSet<Greenlet<any>>();

/**
 * Kills every live greenlet, and every one a `spawnLater` scheduled that has not started yet
 * (it never runs), with GreenletExit so their `finally` blocks run, and waits for
 * them to die, except the caller and the greenlets top-level code awaits through `run()`: those
 * are the analog of gevent's main greenlet, which is left to finish (its joins on the killed
 * greenlets return), so the program ends as gevent's does when its main greenlet returns.
 * Greenlets spawned while the others die (by a `finally` block) are killed in turn. A
 * greenlet is killed once only, even by a second shutdown (a second SIGQUIT): its cleanup is
 * never interrupted by another GreenletExit; the second shutdown waits with the first.
 * `timeout` (seconds) bounds the wait for a greenlet that swallows its GreenletExit; by
 * default it waits for every death. An Op; used directly as a signal handler it runs in the
 * handler's own greenlet.
 *
 * @example
 * signalHandler('SIGQUIT', shutdown);
 * signalHandler('SIGTERM', shutdown, { timeout: 10 });
 * // or, in a greenlet: yield* shutdown();
 */
export function shutdown(opts: { timeout?: number | null } = {}): Op<void> {
  const o = ownOptions(opts, 'shutdown(options)');
  const timeout = o.timeout ?? null;
  if (timeout !== null) checkSeconds(timeout, 'shutdown({ timeout })');
  const self = getcurrent();
  if (self === null) {
    throw new Error('shutdown() must run inside a greenlet: it is an Op that waits for the deaths; from top-level code use run(shutdown) or a signal handler');
  }
  return opFrom(function* () {
    const deadline = timeout === null ? Infinity : now() + timeout * 1000;
    for (;;) {
      // Greenlets a spawnLater scheduled are killed too: they never run (gevent's killall).
      const others = [...liveGreenlets(), ...scheduledGreenlets()].filter((g) => g !== self && !g._awaited);
      const fresh = others.filter((g) => !shot.has(g));
      for (const g of fresh) {
        shot.add(g);
        g.kill({ block: false });
      }
      if (others.length === 0) return;
      const left = deadline - now();
      if (left <= 0) return;
      // Wait for this round's deaths, then look again for greenlets spawned meanwhile.
      yield* joinall(others, { timeout: left === Infinity ? null : left / 1000 });
    }
  }, 'shutdown()');
}
