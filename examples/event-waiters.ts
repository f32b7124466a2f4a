/**
 * The gevent tutorial's Event example: one setter and three waiters; set() wakes all three at once.
 * (The tutorial sleeps 3 s; 0.1 s keeps it quick.)
 */
import { joinall, run, sleep, spawn } from '../src/index.js';
import { Event } from '../src/event.js';

const evt = new Event();

function* setter() {
  console.log('A: Hey wait for me, I have to do something');
  yield* sleep(0.1);
  console.log("Ok, I'm done");
  evt.set();
}

function* waiter() {
  console.log("I'll wait for you");
  yield* evt.wait(); // blocking
  console.log("It's about time");
}

void run(function* () {
  yield* joinall([spawn(setter), spawn(waiter), spawn(waiter), spawn(waiter)]);
});
