/**
 * gevent's tutorial on greenlet states: a winner returns a value, a loser throws. The loser's
 * exception stays inside its greenlet and never unwinds the caller. gevent also prints its
 * traceback; geventjs prints a failure only when nobody observed it, and joinall() here hands
 * the loser back (set config.reportAllFailures = true for gevent's output).
 */
import { joinall, run, spawn } from '../src/index.js';

function win() {
  return 'You win!';
}

function fail(): never {
  throw new Error('You fail at failing.');
}

void run(function* () {
  const winner = spawn(win);
  const loser = spawn(fail);

  console.log(winner.started); // true
  console.log(loser.started); // true

  // Exceptions raised in the greenlet stay inside the greenlet.
  try {
    yield* joinall([winner, loser]);
  } catch {
    console.log('This will never be reached');
  }

  console.log(winner.value); // 'You win!'
  console.log(loser.value); // undefined

  console.log(winner.ready()); // true
  console.log(loser.ready()); // true

  console.log(winner.successful()); // true
  console.log(loser.successful()); // false

  // The exception raised in fail does not propagate outside the greenlet: it is stored.
  console.log(String(loser.exception));
});
