/**
 * geventjs: gevent for Node.js. The core: greenlets, the hub's module functions, Timeout,
 * the suspension protocol's types, errors, and `monkey`.
 *
 * @example
 * import { run, spawn, joinall, sleep } from 'geventjs';
 * await run(function* () {
 *   yield* joinall([spawn(function* () { yield* sleep(0.1); return 1; })]);
 * });
 */
export { Greenlet, spawn, spawnLater, run, type ResultOf, type ErrorClass } from './greenlet.js';
export { joinall, killall, wait, iwait, WaitIterator, type Linkable } from './wait.js';
export { sleep, idle } from './sleep.js';
export { Timeout, withTimeout } from './timeout.js';
export { abortable } from './abortable.js';
export { killOnAbort, withSignal, abortError } from './abort-signal.js';
export { formatRunInfo, printRunInfo } from './run-info.js';
export { getcurrent, config, wake, wakeError } from './hub.js';
export { Op, Wait, opFrom, doneOp, toOp, PARK } from './op.js';
export { ParkingLot, type Waiter } from './parking-lot.js';
export { GeventjsError, GreenletExit, LoopExit, ConcurrentObjectUseError, DroppedOpError, KeyboardInterrupt } from './errors.js';
export * as monkey from './monkey.js';
