/**
 * The gevent tutorial's SocketPool, with a fake job in place of sockets (the socket version lives with
 * the I/O examples): a Pool caps how many handlers run, refuses one when full, and kills them
 * all on shutdown.
 */
import { run, sleep } from '../src/index.js';
import { Pool } from '../src/pool.js';

class HandlerPool {
  private readonly pool = new Pool(2);

  /** The fake job: "receives" forever until killed. */
  *listen(name: string) {
    try {
      // socket.recv() in the tutorial: here, a wait for data that never comes.
      for (;;) yield* sleep(60);
    } finally {
      console.log(`${name} stopped`);
    }
  }

  *addHandler(name: string) {
    if (this.pool.full()) throw new Error('At maximum pool size');
    yield* this.pool.spawn((n: string) => this.listen(n), name);
    console.log(`${name} added (${this.pool.freeCount()} free)`);
  }

  *shutdown() {
    yield* this.pool.kill();
    console.log(`shut down, ${this.pool.len()} running`);
  }
}

void run(function* () {
  const handlers = new HandlerPool();
  yield* handlers.addHandler('a');
  yield* handlers.addHandler('b');
  try {
    yield* handlers.addHandler('c');
  } catch (e) {
    console.log(`c refused: ${(e as Error).message}`);
  }
  yield* sleep(0.05);
  yield* handlers.shutdown();
});
