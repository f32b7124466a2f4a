/**
 * SIGTERM and SIGINT for `StreamServer({ workers })`, in the primary and in each worker: the
 * first signal stops every registered server gracefully (at once, each with its own timeout),
 * then the process ends as the signal would have ended it; a second signal while they stop
 * ends it at once. One pair of process listeners serves every server, so that two servers in
 * one program both finish before the process goes.
 *
 * @example
 * const off = stopOnSignals(server, () => server.stop({ timeout: 5 }));
 * off(); // the server stopped by other means: no longer stopped on signals
 */
import { spawn } from './greenlet.js';
import type { Op } from './op.js';
import { joinall } from './wait.js';

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const stoppers = new Map<object, () => Op<void>>();
let received: NodeJS.Signals | null = null;
let listening = false;

function listen(on: boolean): void {
  if (on === listening) return;
  listening = on;
  for (const s of SIGNALS) {
    if (on) process.on(s, onSignal);
    else process.removeListener(s, onSignal);
  }
}

/** Ends the process as `sig` would have, had nobody listened. */
function endBy(sig: NodeJS.Signals): void {
  listen(false);
  process.kill(process.pid, sig);
}

function onSignal(sig: NodeJS.Signals): void {
  if (received !== null) {
    endBy(sig); // a second signal while stopping: now
    return;
  }
  received = sig;
  const stops = [...stoppers.values()];
  stoppers.clear();
  spawn(function* () {
    try {
      yield* joinall(stops.map((stop) => spawn(() => stop())));
    } finally {
      // Once the greenlets woken by the stops have run, end as the signal would have.
      setImmediate(() => endBy(sig));
    }
  });
}

/**
 * The signal being handled now (for the report line), or 'signal'.
 *
 * @example
 * reportLine(`${signalName()}: stopping gracefully`);
 */
export function signalName(): string {
  return received ?? 'signal';
}

/**
 * Registers `stop` to run on the first SIGTERM or SIGINT; gives the function that unregisters
 * it (once the server stopped by other means).
 *
 * @example
 * const off = stopOnSignals(server, () => server.stop({ timeout: 5 }));
 */
export function stopOnSignals(key: object, stop: () => Op<void>): () => void {
  stoppers.set(key, stop);
  listen(true);
  return () => {
    stoppers.delete(key);
    if (stoppers.size === 0 && received === null) listen(false);
  };
}
