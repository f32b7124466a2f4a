/**
 * The gevent tutorial's Timeout with a custom exception: gevent's `with Timeout(5, TooLong):` is
 * `using t = Timeout.start(5, TooLong)` (TypeScript 5.2+); the block's end cancels it. Plain
 * JavaScript on Node 20 and 22 has no `using`; there write
 *   const t = Timeout.start(5, TooLong); try { yield sleep(10); } finally { t.cancel(); }
 * (The tutorial waits 5 s for a 10 s sleep; 0.05 s keeps `npm run examples` quick.)
 */
import { run, sleep, Timeout } from '../src/index.js';

const timeToWait = 0.05; // seconds

class TooLong extends Error {
  override name = 'TooLong';
}

void run(function* () {
  try {
    using _t = Timeout.start(timeToWait, TooLong);
    yield* sleep(10);
    console.log('never printed: the sleep is cut short');
  } catch (e) {
    console.log(`caught ${(e as Error).name}; is a TooLong: ${e instanceof TooLong}`);
  }
});
