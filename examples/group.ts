/**
 * The gevent tutorial's Group example: greenlets added to a group are joined together. `talk` never
 * yields, so each greenlet prints its three lines in one go, in spawn order.
 */
import { run, spawn } from '../src/index.js';
import { Group } from '../src/pool.js';

function talk(msg: string): void {
  for (let i = 0; i < 3; i++) console.log(msg);
}

const g1 = spawn(talk, 'bar');
const g2 = spawn(talk, 'foo');
const g3 = spawn(talk, 'fizz');

void run(function* () {
  const group = new Group();
  group.add(g1);
  group.add(g2);
  yield* group.join();

  group.add(g3);
  yield* group.join();
  console.log('group empty:', group.size === 0);
});
