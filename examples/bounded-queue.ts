/**
 * The gevent tutorial's bounded Queue example: the boss can only get 3 tasks ahead of the workers, so
 * its put() waits while the queue is full; workers quit when no task comes within the
 * timeout (the tutorial waits 1 s; 0.5 s is enough here).
 */
import { joinall, run, sleep, spawn } from '../src/index.js';
import { Empty, Queue } from '../src/queue.js';

const tasks = new Queue<number>(3);

function* worker(n: string) {
  try {
    for (;;) {
      const task = yield* tasks.get({ timeout: 0.5 }); // decrements the queue size by 1
      console.log(`Worker ${n} got task ${task}`);
      yield* sleep(0);
    }
  } catch (e) {
    if (!(e instanceof Empty)) throw e;
    console.log('Quitting time!');
  }
}

function* boss() {
  for (let i = 1; i < 10; i++) yield* tasks.put(i); // waits while 3 tasks are queued
  console.log('Assigned all work in iteration 1');
  for (let i = 10; i < 20; i++) yield* tasks.put(i);
  console.log('Assigned all work in iteration 2');
}

void run(function* () {
  yield* joinall([spawn(boss), spawn(worker, 'steve'), spawn(worker, 'john'), spawn(worker, 'bob')]);
});
