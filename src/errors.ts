/**
 * The error types geventjs shares with gevent. `Timeout` lives in timeout.ts because it is
 * also a timer; the rest are plain errors.
 */

/**
 * The base of geventjs's own error types: a `name` and a stable, documented `code` (Node style:
 * compare `e.code`, which survives bundling and realms, rather than the class).
 *
 * @example
 * try { q.getNowait(); } catch (e) { if (e instanceof GeventjsError && e.code === 'GEVENTJS_EMPTY') { ... } }
 */
export class GeventjsError<C extends string = string> extends Error {
  /** Stable, documented error code (Node style). */
  declare code: C;
  constructor(message: string, name: string, code: C) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

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
export class GreenletExit extends GeventjsError<'GEVENTJS_GREENLET_EXIT'> {
  constructor(message = 'GreenletExit') {
    super(message, 'GreenletExit', 'GEVENTJS_GREENLET_EXIT');
  }
}

/**
 * A wait that nothing can ever finish: Node's event loop ran dry while the greenlet was
 * still parked. `run()` rejects with it, as gevent raises `LoopExit` in the main greenlet.
 *
 * @example
 * await run(function* () { yield* new Event().wait(); }); // rejects with LoopExit
 */
export class LoopExit extends GeventjsError<'GEVENTJS_LOOP_EXIT'> {
  constructor(message: string) {
    super(message, 'LoopExit', 'GEVENTJS_LOOP_EXIT');
  }
}

/**
 * Two greenlets tried to use an object that allows one user at a time (gevent's
 * ConcurrentObjectUseError, e.g. two readers on one socket).
 *
 * @example
 * // greenlet A: yield* sock.recv(10); greenlet B at the same time: yield* sock.recv(10) -> throws
 */
export class ConcurrentObjectUseError extends GeventjsError<'GEVENTJS_CONCURRENT_OBJECT_USE'> {
  constructor(message: string) {
    super(message, 'ConcurrentObjectUseError', 'GEVENTJS_CONCURRENT_OBJECT_USE');
  }
}

/**
 * An operation was created inside a greenlet and never started with `yield*` before the
 * greenlet next switched (thrown for patched Node calls, reported on stderr for the rest).
 *
 * @example
 * spawn(function* () { execSync('ls'); yield* sleep(0); }); // throws DroppedOpError at the sleep
 */
export class DroppedOpError extends GeventjsError<'GEVENTJS_DROPPED_OP'> {
  constructor(message: string) {
    super(message, 'DroppedOpError', 'GEVENTJS_DROPPED_OP');
  }
}

/**
 * Thrown into the `run()` roots (gevent's main greenlet) at their suspension points when the
 * user presses Ctrl-C (SIGINT) and the program has no SIGINT listener of its own, as gevent
 * raises `KeyboardInterrupt` in the main greenlet. `finally` blocks run and it can be caught;
 * if it escapes, the process exits as Node does on SIGINT (status 130).
 *
 * @example
 * await run(function* () {
 *   try { yield* serveForever(); } catch (e) { if (e instanceof KeyboardInterrupt) console.log('bye'); }
 * });
 */
export class KeyboardInterrupt extends GeventjsError<'GEVENTJS_KEYBOARD_INTERRUPT'> {
  constructor(message = 'KeyboardInterrupt') {
    super(message, 'KeyboardInterrupt', 'GEVENTJS_KEYBOARD_INTERRUPT');
  }
}
