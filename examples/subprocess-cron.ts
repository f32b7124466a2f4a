/**
 * The gevent tutorial's subprocess example: a cron greenlet prints every 0.2 s while a child process runs
 * `sleep 1; uname` through the shell; communicate() parks only the main greenlet.
 *
 * Run: node dist/examples/subprocess-cron.js
 */
import { run, sleep, spawn } from '../src/index.js';
import { PIPE, Popen } from '../src/subprocess.js';

function* cron(): Generator<unknown, void, unknown> {
  while (true) {
    console.log('cron');
    yield* sleep(0.2);
  }
}

run(function* () {
  const g = spawn(cron);
  const sub = new Popen(['sleep 1; uname'], { stdout: PIPE, shell: true, text: true });
  const [out] = yield* sub.communicate();
  yield* g.kill();
  console.log(String(out).trimEnd());
});
