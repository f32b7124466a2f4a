/**
 * Recipe: a queue worker that stops gracefully on SIGTERM (what systemd, `docker stop` and
 * Kubernetes send). On the signal the worker takes no new job and finishes the one in hand;
 * if it is idle, waiting in `get()`, it is killed there, and a kill in `get()` takes nothing
 * from the queue, so no job is lost. The jobs left in the queue are reported (a real worker
 * would hand them back to its broker).
 *
 * Run: node dist/examples/recipe-queue-worker.js, then kill -TERM <its pid>
 */
import { run, sleep, spawn } from '../src/index.js';
import { Event } from '../src/event.js';
import { Queue } from '../src/queue.js';
import { signalHandler } from '../src/signal.js';

const jobs = new Queue<number>();
const stopping = new Event();
let busy = false;

function* worker(): Generator<unknown, void, unknown> {
  while (!stopping.isSet()) {
    const job = yield* jobs.get();
    busy = true;
    try {
      yield* sleep(0.05); // the work; SIGTERM does not interrupt it
      console.log(`job ${job}: done`);
    } finally {
      busy = false;
    }
  }
}

void run(function* main() {
  for (let i = 1; i <= 1000; i++) jobs.putNowait(i);
  const w = spawn(worker);
  signalHandler('SIGTERM', () => {
    console.log(`SIGTERM: ${busy ? 'finishing the job in hand' : 'idle, stopping now'}`);
    stopping.set();
    if (!busy) w.kill({ block: false });
  });
  console.log(`waiting for SIGTERM (pid ${process.pid})`);
  yield* stopping.wait();
  yield* w.join();
  console.log(`stopped cleanly; ${jobs.qsize()} jobs left in the queue`);
});
