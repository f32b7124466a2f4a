/**
 * Recipe: fail fast. Three parts of a job run at once; the first failure stops the others
 * (their `finally` blocks run) and reaches the caller. With async/await this is
 * `Promise.all` plus an AbortController threaded through every call; here a kill reaches each
 * greenlet wherever it waits.
 *
 * Plain JavaScript reads the same with `yield` in place of `yield*`.
 */
import { joinall, killall, run, sleep, spawn } from '../src/index.js';

function* part(name: string, seconds: number, fails: boolean): Generator<unknown, string, unknown> {
  let finished = false;
  try {
    yield* sleep(seconds);
    finished = true;
    if (fails) throw new Error(`${name} failed`);
    console.log(`${name}: done`);
    return name;
  } finally {
    if (!finished) console.log(`${name}: stopped, cleaning up`);
  }
}

void run(function* main() {
  const parts = [spawn(part, 'fast', 0.01, false), spawn(part, 'broken', 0.05, true), spawn(part, 'slow', 10, false)];
  try {
    yield* joinall(parts, { raiseError: true }); // throws the first failure as soon as it happens
    console.log('all parts done');
  } catch (e) {
    console.log(`first failure: ${(e as Error).message}`);
    yield* killall(parts); // stop the rest; waits until their finally blocks have run
  }
  console.log(`still running: ${parts.filter((g) => !g.dead).length}`);
});
