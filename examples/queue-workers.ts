/**
 * The gevent tutorial's Queue example: the boss fills the queue with 24 tasks, then steve, john and
 * nancy take turns at them (each yields after a task) until it is empty.
 */
import { joinall, run, sleep, spawn } from '../src/index.js';
import { Queue } from '../src/queue.js';

const tasks = new Queue<number>();

function* worker(n: string) {
  while (!tasks.empty()) {
    const task = yield* tasks.get();
    console.log(`Worker ${n} got task ${task}`);
    yield* sleep(0);
  }
  console.log('Quitting time!');
}

function* boss() {
  for (let i = 1; i < 25; i++) tasks.putNowait(i);
}

void run(function* () {
  yield* spawn(boss).join();
  yield* joinall([spawn(worker, 'steve'), spawn(worker, 'john'), spawn(worker, 'nancy')]);
});
