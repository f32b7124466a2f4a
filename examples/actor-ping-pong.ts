/**
 * The gevent tutorial's Actor example: a Greenlet subclass with an inbox Queue that handles one message
 * at a time. Pinger and Ponger answer each other; unlike the tutorial, each stops after three
 * messages, so the program ends and its output is always the same.
 */
import { Greenlet, joinall, run, sleep } from '../src/index.js';
import { Queue } from '../src/queue.js';

abstract class Actor extends Greenlet<void> {
  readonly inbox = new Queue<string>();
  private running = false;

  constructor(private readonly limit: number) {
    super();
  }

  /** Handles one message; define it in a subclass. */
  abstract receive(message: string): Generator<unknown, void, unknown>;

  override *_run() {
    this.running = true;
    let handled = 0;
    while (this.running) {
      const message = yield* this.inbox.get();
      yield* this.receive(message);
      if (++handled === this.limit) this.running = false;
    }
  }
}

class Pinger extends Actor {
  *receive(message: string) {
    console.log(message);
    pong.inbox.putNowait('ping');
    yield* sleep(0);
  }
}

class Ponger extends Actor {
  *receive(message: string) {
    console.log(message);
    ping.inbox.putNowait('pong');
    yield* sleep(0);
  }
}

const ping = new Pinger(3);
const pong = new Ponger(3);

void run(function* () {
  ping.start();
  pong.start();
  ping.inbox.putNowait('start');
  yield* joinall([ping, pong]);
});
