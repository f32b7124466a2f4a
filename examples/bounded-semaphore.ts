/**
 * The gevent tutorial's BoundedSemaphore example: at most two workers hold the semaphore at once.
 * worker1 acquires and releases by hand; worker2 uses the scoped form (`using`), gevent's
 * `with sem:`. `new Pool()` with no size is unbounded, as the tutorial's `Pool()`.
 */
import { run, sleep } from '../src/index.js';
import { BoundedSemaphore } from '../src/lock.js';
import { Pool } from '../src/pool.js';

const sem = new BoundedSemaphore(2);

function* worker1(n: number) {
  yield* sem.acquire();
  console.log(`Worker ${n} acquired semaphore`);
  yield* sleep(0);
  sem.release();
  console.log(`Worker ${n} released semaphore`);
}

function* worker2(n: number) {
  {
    using _ = yield* sem.hold();
    console.log(`Worker ${n} acquired semaphore`);
    yield* sleep(0);
  }
  console.log(`Worker ${n} released semaphore`);
}

void run(function* () {
  const pool = new Pool();
  yield* pool.map(worker1, [0, 1]);
  yield* pool.map(worker2, [3, 4, 5]);
});
