/**
 * Recipe: one deadline for a whole tree of tasks. A crawler spawns tasks that spawn more tasks,
 * all in one Group; a single Timeout bounds the lot, and when it fires every task still running
 * is killed, wherever it waits. Written as plain JavaScript needs it (Node 20 and 22 have no
 * `using`): arm the Timeout and cancel it in `finally`.
 */
import { run, sleep, Timeout } from '../src/index.js';
import { Group } from '../src/pool.js';

const group = new Group();
let visited = 0;

function* crawl(page: string, depth: number): Generator<unknown, void, unknown> {
  yield* sleep(0.02 * (depth + 1)); // "fetch" the page
  visited++;
  if (depth < 3) {
    for (const child of ['a', 'b']) group.spawn(crawl, `${page}/${child}`, depth + 1);
  } else {
    yield* sleep(60); // a page that never answers: only the deadline ends it
  }
}

void run(function* main() {
  const deadline = Timeout.start(0.5);
  try {
    group.spawn(crawl, 'root', 0);
    yield* group.join();
  } catch (e) {
    if (e !== deadline) throw e; // someone else's timeout: not ours to handle
    console.log(`deadline: ${visited} pages visited, stopping ${group.size} tasks`);
    yield* group.kill();
  } finally {
    deadline.cancel();
  }
  console.log(`tasks left: ${group.size}`);
});
