/**
 * The gevent tutorial's Greenlet subclass: override `*_run` instead of passing a function to spawn.
 * (The tutorial sleeps 3 s; 0.05 s keeps `npm run examples` quick.)
 */
import { Greenlet, run, sleep } from '../src/index.js';

class MyGreenlet extends Greenlet<void> {
  constructor(
    private readonly message: string,
    private readonly n: number,
  ) {
    super();
  }

  override *_run() {
    console.log(this.message);
    yield* sleep(this.n);
  }
}

void run(function* () {
  const g = new MyGreenlet('Hi there!', 0.05);
  g.start();
  yield* g.join();
  console.log('joined; dead:', g.dead);
});
