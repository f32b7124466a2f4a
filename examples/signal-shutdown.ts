/**
 * The gevent tutorial's "end the program" example: a greenlet sleeps for 1000 s and the main greenlet
 * joins it; SIGQUIT runs shutdown() in a new greenlet, which kills both, so the program
 * ends cleanly instead of hanging.
 *
 * Run: node dist/examples/signal-shutdown.js, then kill -QUIT <its pid>
 */
import { run, sleep, spawn } from '../src/index.js';
import { shutdown, signalHandler } from '../src/signal.js';

function* runForever(): Generator<unknown, void, unknown> {
  try {
    yield* sleep(1000);
  } finally {
    console.log('run_forever: killed, cleaning up');
  }
}

signalHandler('SIGQUIT', shutdown);
run(function* () {
  const thread = spawn(runForever);
  console.log(`waiting for SIGQUIT (pid ${process.pid})`);
  yield* thread.join();
  console.log('joined: the program ends cleanly');
});
