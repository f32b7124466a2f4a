/**
 * The gevent tutorial's AsyncResult example: a setter stores a value later, a waiter's get() gives it.
 * (The tutorial sleeps 3 s; 0.1 s keeps it quick.)
 */
import { joinall, run, sleep, spawn } from '../src/index.js';
import { AsyncResult } from '../src/event.js';

const a = new AsyncResult<string>();

function* setter() {
  yield* sleep(0.1);
  a.set('Hello!');
}

function* waiter() {
  const value: string = yield* a.get(); // parks until set() runs
  console.log(value);
}

void run(function* () {
  yield* joinall([spawn(setter), spawn(waiter)]);
});
