/**
 * The error types geventjs shares with gevent. `Timeout` lives in timeout.ts because it is
 * also a timer; the rest are plain errors.
 */

/**
 * Thrown into a greenlet by `kill()` when no other exception is given. A greenlet that ends
 * with it counts as successful, and the instance becomes its `value` (as in gevent).
 *
 * @example
 * const g = spawn(function* () { yield* sleep(10); });
 * yield* g.kill();
 * g.successful(); // true
 * g.value instanceof GreenletExit; // true
 */
export class GreenletExit extends Error {
  constructor(message = 'GreenletExit') {
    super(message);
    this.name = 'GreenletExit';
  }
}

/**
 * A wait that nothing can ever finish: Node's event loop ran dry while the greenlet was
 * still parked. `run()` rejects with it, as gevent raises `LoopExit` in the main greenlet.
 *
 * @example
 * await run(function* () { yield* new Event().wait(); }); // rejects with LoopExit
 */
export class LoopExit extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoopExit';
  }
}

/**
 * Two greenlets tried to use an object that allows one user at a time (gevent's
 * ConcurrentObjectUseError, e.g. two readers on one socket).
 *
 * @example
 * // greenlet A: yield* sock.recv(10); greenlet B at the same time: yield* sock.recv(10) -> throws
 */
export class ConcurrentObjectUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConcurrentObjectUseError';
  }
}

/**
 * An operation was created inside a greenlet and never started with `yield*` before the
 * greenlet next switched (thrown for patched Node calls, reported on stderr for the rest).
 *
 * @example
 * spawn(function* () { execSync('ls'); yield* sleep(0); }); // throws DroppedOpError at the sleep
 */
export class DroppedOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DroppedOpError';
  }
}
