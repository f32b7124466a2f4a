/**
 * The gevent tutorial's foo/bar example: two greenlets hand control to each other with `sleep(0)`.
 */
import { joinall, run, sleep, spawn } from '../src/index.js';

function* foo() {
  console.log('Running in foo');
  yield* sleep(0);
  console.log('Explicit context switch to foo again');
}

function* bar() {
  console.log('Explicit context to bar');
  yield* sleep(0);
  console.log('Implicit context switch back to bar');
}

void run(function* () {
  yield* joinall([spawn(foo), spawn(bar)]);
});
