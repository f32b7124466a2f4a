/**
 * The gevent tutorial's synchronous vs asynchronous tasks: run one after another, the tasks finish in
 * order; spawned together, each sleeps a random 0-2 ms and they finish in any order.
 */
import { joinall, run, sleep, spawn } from '../src/index.js';

function* task(pid: number) {
  // Some non-deterministic task.
  yield* sleep(Math.floor(Math.random() * 3) * 0.001);
  console.log('Task', pid, 'done');
}

function* synchronous() {
  for (let i = 1; i < 10; i++) yield* task(i);
}

function* asynchronous() {
  const threads = [];
  for (let i = 0; i < 10; i++) threads.push(spawn(task, i));
  yield* joinall(threads);
}

void run(function* () {
  console.log('Synchronous:');
  yield* synchronous();
  console.log('Asynchronous:');
  yield* asynchronous();
});
