/**
 * A ThreadPool computing Fibonacci numbers in worker threads while a greenlet keeps working on
 * the hub's thread. The function goes to the workers as source text, so it is self-contained.
 *
 * Run: node dist/examples/threadpool-fib.js
 */
import { run, sleep, spawn } from '../src/index.js';
import { ThreadPool } from '../src/threadpool.js';

/** Deliberately slow (exponential) so each call is real CPU work for a thread. */
function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

const pool = new ThreadPool(2);
run(function* () {
  // The hub's thread stays free while the threads compute (its beats vary, so not printed).
  const heartbeat = spawn(function* () {
    while (true) yield* sleep(0.01);
  });
  const ns = [25, 26, 27, 28];
  const results = yield* pool.map(fib, ns);
  yield* heartbeat.kill();
  ns.forEach((n, i) => console.log(`fib(${n}) = ${results[i]}`));
  try {
    yield* pool.apply((n: number) => { if (n < 0) throw new RangeError(`n must be >= 0, got ${n}`); return n; }, [-1]);
  } catch (e) {
    console.log(`error from the thread: ${(e as Error).name}: ${(e as Error).message}`);
  }
  pool.close();
});
