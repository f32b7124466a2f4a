/**
 * Soak: an hour (by default) of everything a long-running geventjs service does, at modest
 * load, on 127.0.0.1 only, to show that memory stays flat and that nothing is lost.
 *
 * Usage: node --expose-gc dist/bench/soak.js [--minutes 60] [--interval SECONDS]
 *
 * Every interval it prints one line (elapsed, RSS, heapUsed after gc(), counts, live
 * greenlets, open fds); at the end a verdict: the slope of heapUsed over the second half
 * (a linear fit; "flat" below HEAP_SLOPE_BOUND), lost and duplicated items and requests, and
 * open fds against the start. Exit status 0 when every check holds, 1 otherwise. Not a test:
 * run it on demand (bench/README.md, "Soak").
 */
import { readdirSync } from 'node:fs';
import { run, spawn, sleep, Timeout, Greenlet, GreenletExit, joinall, killall, config } from '../src/index.js';
import { liveGreenlets } from '../src/hub.js';
import { Queue, Channel, PriorityQueue, Empty, Full } from '../src/queue.js';
import { Event, AsyncResult } from '../src/event.js';
import { Lock, Semaphore, BoundedSemaphore } from '../src/lock.js';
import { Pool } from '../src/pool.js';
import { local } from '../src/local.js';
import { checkOutput, TimeoutExpired } from '../src/subprocess.js';
import { StreamServer } from '../src/server.js';
import { createConnection, type GSocket } from '../src/socket.js';

/** heapUsed may grow by at most this many bytes per minute over the second half to be "flat". */
const HEAP_SLOPE_BOUND = 64 * 1024;
/** Open fds at the end may exceed the first sample by at most this many. */
const FD_SLACK = 8;

type Body = Generator<unknown, void, unknown>;

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE = 'usage: soak.js [--minutes 60] [--interval SECONDS] [--only server,queues,sync,imap,subprocess,timeouts,spawn]';

function readArgs(argv: string[]): { minutes: number; interval: number; only: Set<string> | null } {
  let minutes = 60;
  let interval: number | null = null;
  let only: Set<string> | null = null;
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--minutes' && value > 0) (minutes = value), i++;
    else if (argv[i] === '--interval' && value > 0) (interval = value), i++;
    else if (argv[i] === '--only' && argv[i + 1] !== undefined) (only = new Set(argv[i + 1].split(','))), i++;
    else throw new TypeError(`soak: unknown or bad argument ${JSON.stringify(argv[i])}; ${USAGE}`);
  }
  // About sixty lines whatever the length, never more often than every 5 s.
  return { minutes, interval: interval ?? Math.max(5, (minutes * 60) / 60), only };
}

// ---------------------------------------------------------------------------------------------
// Counters: every workload adds to these; `lost` and `dup` must stay 0.

const counts = {
  served: 0, // lines the server answered
  replies: 0, // replies clients read back and checked
  requestsLost: 0, // a request a well-behaved client sent that never got its reply
  badReplies: 0, // a reply that was not the answer to the line sent
  faults: 0, // clients that reset, stalled or hung up mid-line
  peerDrops: 0, // the server's one-line reports of a handler ended by a reset (expected here)
  reports: 0, // any other geventjs report (printed): should be none
  queued: 0, // items put (put returned)
  dequeued: 0, // items got
  lost: 0, // items put and never got (counted at the end)
  dup: 0, // items got that were not outstanding (twice, or never put)
  exclusion: 0, // a Lock held by two greenlets, a Semaphore over its value
  eventWakes: 0,
  imapped: 0,
  imapOrder: 0, // an imap result out of order or wrong
  subprocesses: 0,
  subprocessTimeouts: 0,
  timeoutsFired: 0,
  sleepsDone: 0,
  spawned: 0,
  killed: 0,
  localMixups: 0, // a greenlet that read another greenlet's local() value
};

/** The resets are on purpose: count the server's one-line reports of them, print the rest. */
config.errorStream = {
  write(text: string): boolean {
    if (/^geventjs: StreamServer handler for \S+ ended: the peer dropped the connection/.test(text)) counts.peerDrops++;
    else (counts.reports++, process.stderr.write(text));
    return true;
  },
};

const stopping = new Event();
const rand = (n: number): number => Math.floor(Math.random() * n);

/** Repeats `body` until the soak ends; the body's own kills and timeouts are its business. */
function* untilStop(body: () => Body): Body {
  while (!stopping.isSet()) yield* body();
}

// ---------------------------------------------------------------------------------------------
// A line server and its clients, polite and not

function* answerLines(sock: GSocket): Body {
  sock.settimeout(2); // a stalled client is dropped by its read timeout
  const file = sock.makefile();
  for (let line = yield* file.readline(4096); line.length > 0; line = yield* file.readline(4096)) {
    if (line[line.length - 1] !== 0x0a) return; // hung up mid-line: nothing to answer
    counts.served++;
    yield* sock.sendall(`ok ${line.toString('latin1')}`);
  }
}

/** One connection doing one of: a few requests (mostly), a reset, a stall, a hang-up mid-line. */
function* client(port: number, id: number): Body {
  const sock = yield* createConnection(['127.0.0.1', port], { timeout: 5 });
  try {
    const mood = rand(10);
    if (mood < 7) return yield* politeRequests(sock, id);
    counts.faults++;
    if (mood === 7) {
      yield* sock.sendall('half a li');
      sock._ns.resetAndDestroy(); // RST mid-line
    } else if (mood === 8) {
      yield* sock.sendall('stalled ');
      yield* sleep(0.05 + Math.random() * 0.2); // under the server's read timeout, then gone
    } else {
      yield* sock.sendall(`one ${id}\nand half`);
      const reply = yield* sock.makefile().readline();
      if (reply.toString() !== `ok one ${id}\n`) counts.badReplies++;
    }
  } finally {
    sock.close();
  }
}

function* politeRequests(sock: GSocket, id: number): Body {
  const file = sock.makefile();
  const n = 1 + rand(5);
  for (let i = 0; i < n; i++) {
    const line = `req ${id}.${i}\n`;
    yield* sock.sendall(line);
    const reply = yield* file.readline(4096);
    if (reply.length === 0) counts.requestsLost++;
    else if (reply.toString() !== `ok ${line}`) counts.badReplies++;
    else counts.replies++;
  }
}

/** Clients in a loop; now and then one is killed by a short Timeout mid-conversation. */
function* clients(port: number, worker: number): Body {
  let id = worker * 1e9;
  yield* untilStop(function* () {
    const interrupt = rand(20) === 0 ? Timeout.start(Math.random() * 0.005) : null;
    try {
      yield* client(port, id++);
    } catch (e) {
      if (e !== interrupt) throw e;
      counts.timeoutsFired++;
    } finally {
      interrupt?.cancel();
    }
    yield* sleep(0.002 + Math.random() * 0.01);
  });
}

// ---------------------------------------------------------------------------------------------
// Queues: every item accounted for, through kills and timeouts

/** Items put and not yet got: stays small (bounded by the queues' sizes), so memory is flat. */
const outstanding = new Set<number>();
let nextItem = 0;

function* producer(q: Queue<number>): Body {
  yield* untilStop(function* () {
    const item = nextItem++;
    // Outstanding before the put: a Channel's getter may run before this greenlet resumes.
    outstanding.add(item);
    let queued = false;
    try {
      yield* q.put(item, { timeout: Math.random() * 0.02 });
      queued = true;
    } catch (e) {
      if (!(e instanceof Full)) throw e;
    } finally {
      // A put ended by Full or by a kill consumed nothing: the item was never queued.
      if (!queued) outstanding.delete(item);
    }
    if (!queued) return;
    counts.queued++;
    if (rand(2) === 0) yield* sleep(Math.random() * 0.005);
  });
}

function* consumer(q: Queue<number>): Body {
  yield* untilStop(function* () {
    let item: number;
    try {
      item = yield* q.get({ timeout: Math.random() * 0.02 });
    } catch (e) {
      if (e instanceof Empty) return;
      throw e;
    }
    took(item);
    if (rand(2) === 0) yield* sleep(Math.random() * 0.005);
  });
}

function took(item: number): void {
  if (outstanding.delete(item)) counts.dequeued++;
  else counts.dup++;
}

/** Kills a random producer or consumer every few ms and starts a new one in its place. */
function* queueChurn(): Body {
  const queues: Queue<number>[] = [new Queue<number>(16), new Channel<number>(), new PriorityQueue<number>(8), new Queue<number>()];
  const workers: Greenlet<void>[] = [];
  const roles: (() => Greenlet<void>)[] = [];
  for (const q of queues) {
    roles.push(() => spawn(producer, q), () => spawn(producer, q), () => spawn(consumer, q), () => spawn(consumer, q));
  }
  for (const make of roles) workers.push(make());
  try {
    yield* untilStop(function* () {
      yield* sleep(Math.random() * 0.01);
      const i = rand(workers.length);
      yield* workers[i].kill();
      counts.killed++;
      workers[i] = roles[i]();
      counts.spawned++;
    });
  } finally {
    yield* killall(workers);
    // Everything still queued counts as got; what is then missing was lost.
    for (const q of queues) {
      for (;;) {
        try {
          took(q.getNowait());
        } catch (e) {
          if (e instanceof Empty) break;
          throw e;
        }
      }
    }
    counts.lost = outstanding.size;
  }
}

// ---------------------------------------------------------------------------------------------
// Locks, semaphores and events, with kills at every wait

function* lockUser(lock: Lock, holders: { n: number }): Body {
  yield* untilStop(function* () {
    const got = yield* lock.acquire({ timeout: rand(3) === 0 ? 0.001 : null });
    if (!got) return;
    try {
      if (++holders.n > 1) counts.exclusion++;
      yield* sleep(rand(2) === 0 ? 0 : 0.001);
    } finally {
      holders.n--;
      lock.release();
    }
  });
}

function* semaphoreUser(sem: Semaphore, limit: number, holders: { n: number }): Body {
  yield* untilStop(function* () {
    using _held = yield* sem.hold();
    if (++holders.n > limit) counts.exclusion++;
    try {
      yield* sleep(Math.random() * 0.002);
    } finally {
      holders.n--;
    }
  });
}

function* eventWaiter(ev: Event, result: { current: AsyncResult<number> }): Body {
  yield* untilStop(function* () {
    if (yield* ev.wait({ timeout: 0.01 })) counts.eventWakes++;
    yield* result.current.wait({ timeout: 0.001 });
    yield* sleep(0); // a set Event and a set AsyncResult return at once, without a switch
  });
}

function* syncChurn(): Body {
  const lock = new Lock();
  const sem = new BoundedSemaphore(3);
  const ev = new Event();
  const result = { current: new AsyncResult<number>() };
  const lockHolders = { n: 0 };
  const semHolders = { n: 0 };
  const roles: (() => Greenlet<void>)[] = [];
  for (let i = 0; i < 6; i++) roles.push(() => spawn(lockUser, lock, lockHolders));
  for (let i = 0; i < 8; i++) roles.push(() => spawn(semaphoreUser, sem, 3, semHolders));
  for (let i = 0; i < 6; i++) roles.push(() => spawn(eventWaiter, ev, result));
  const workers = roles.map((make) => make());
  try {
    yield* untilStop(function* () {
      yield* sleep(Math.random() * 0.005);
      if (rand(2) === 0) ev.set();
      else ev.clear();
      if (rand(50) === 0) {
        result.current.set(1);
        result.current = new AsyncResult<number>();
      }
      const i = rand(workers.length);
      yield* workers[i].kill();
      counts.killed++;
      workers[i] = roles[i]();
      counts.spawned++;
    });
  } finally {
    yield* killall(workers);
  }
}

// ---------------------------------------------------------------------------------------------
// An endless imap pipeline

function* imapPipeline(): Body {
  const pool = new Pool(8);
  function* numbers(): Generator<number, void, unknown> {
    for (let i = 0; !stopping.isSet(); i++) yield i;
  }
  function* double(x: number): Generator<unknown, number, unknown> {
    if (x % 3 === 0) yield* sleep(0);
    return x * 2;
  }
  let expected = 0;
  const results = pool.imap(double, numbers(), { maxsize: 64 });
  for (let r = yield* results.next(); !r.done; r = yield* results.next()) {
    if (r.value !== expected * 2) counts.imapOrder++;
    expected++;
    counts.imapped++;
    if (expected % 20 === 0) yield* sleep(0.01); // modest: under 2,000 items a second
  }
}

// ---------------------------------------------------------------------------------------------
// Subprocesses, timeouts and sleeps, spawn/kill churn, local()

function* subprocesses(): Body {
  yield* untilStop(function* () {
    yield* sleep(0.1);
    if (rand(10) === 0) {
      try {
        yield* checkOutput(['sleep', '5'], { timeout: 0.02 });
      } catch (e) {
        if (!(e instanceof TimeoutExpired)) throw e;
        counts.subprocessTimeouts++;
      }
      return;
    }
    const g = spawn(() => checkOutput(['true']));
    if (rand(10) === 0) yield* g.kill(); // killed mid-call: the child is still reaped
    else yield* g.join();
    if (g.successful()) counts.subprocesses++;
  });
}

function* timeoutsAndSleeps(): Body {
  yield* untilStop(function* () {
    const t = Timeout.start(0.005);
    try {
      yield* sleep(Math.random() * 0.01);
      counts.sleepsDone++;
    } catch (e) {
      if (e !== t) throw e;
      counts.timeoutsFired++;
    } finally {
      t.cancel();
    }
  });
}

const perGreenlet = local(() => ({ id: -1 }));

function* localUser(id: number): Generator<unknown, number, unknown> {
  perGreenlet.id = id;
  yield* sleep(Math.random() * 0.01);
  if (perGreenlet.id !== id) counts.localMixups++;
  yield Promise.resolve(); // across a promise wait too
  if (perGreenlet.id !== id) counts.localMixups++;
  return id;
}

function* spawnChurn(): Body {
  let id = 0;
  yield* untilStop(function* () {
    const batch: Greenlet<number>[] = [];
    for (let i = 0; i < 50; i++) batch.push(spawn(localUser, id++));
    counts.spawned += batch.length;
    yield* sleep(0.003);
    for (const g of batch) {
      if (rand(2) === 0) {
        yield* g.kill({ block: false });
        counts.killed++;
      }
    }
    yield* joinall(batch);
    for (const g of batch) if (!g.successful() && !(g.exception instanceof GreenletExit)) throw g.exception;
  });
}

// ---------------------------------------------------------------------------------------------
// Sampling and the verdict

interface Sample {
  minutes: number;
  rss: number;
  heap: number;
  fds: number;
  live: number;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

const MiB = 1024 * 1024;

function sample(start: number): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  return { minutes: (performance.now() - start) / 60000, rss: mem.rss, heap: mem.heapUsed, fds: openFds(), live: liveGreenlets().length };
}

function printSample(s: Sample): void {
  const c = counts;
  console.log(
    `t=${s.minutes.toFixed(1)}min rss=${(s.rss / MiB).toFixed(1)}MiB heap=${(s.heap / MiB).toFixed(2)}MiB ` +
      `served=${c.served} replies=${c.replies} faults=${c.faults} drops=${c.peerDrops} queued=${c.queued} dequeued=${c.dequeued} ` +
      `dup=${c.dup} imap=${c.imapped} procs=${c.subprocesses} spawned=${c.spawned} killed=${c.killed} ` +
      `greenlets=${s.live} fds=${s.fds}`,
  );
}

/** Least-squares slope of heapUsed (bytes per minute) over the samples given. */
function slope(samples: Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((a, s) => a + s.minutes, 0) / n;
  const my = samples.reduce((a, s) => a + s.heap, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.minutes - mx) * (s.heap - my);
    den += (s.minutes - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function verdict(samples: Sample[], fdsAtEnd: number): boolean {
  const c = counts;
  const second = samples.slice(Math.floor(samples.length / 2));
  const heapSlope = slope(second);
  const flat = heapSlope < HEAP_SLOPE_BOUND;
  const fdStart = samples[0].fds;
  const fdsStable = fdsAtEnd <= fdStart + FD_SLACK;
  const noLoss = c.lost === 0 && c.dup === 0 && c.requestsLost === 0 && c.badReplies === 0;
  const correct = c.exclusion === 0 && c.imapOrder === 0 && c.localMixups === 0 && c.reports === 0;
  console.log(
    `heap: slope ${(heapSlope / 1024).toFixed(1)} KiB/min over the second half (${second.length} samples; flat below ` +
      `${HEAP_SLOPE_BOUND / 1024} KiB/min): ${flat ? 'flat' : 'GROWING'}; rss ${(samples[0].rss / MiB).toFixed(1)} -> ` +
      `${(samples[samples.length - 1].rss / MiB).toFixed(1)} MiB`,
  );
  console.log(
    `items: queued ${c.queued}, dequeued ${c.dequeued}, lost ${c.lost}, duplicated ${c.dup}; requests: served ${c.served}, ` +
      `replies ${c.replies}, lost ${c.requestsLost}, wrong ${c.badReplies}, faulty clients ${c.faults} (server saw ${c.peerDrops} resets); ` +
      `other reports ${c.reports}`,
  );
  console.log(
    `checks: exclusion violations ${c.exclusion}, imap out of order ${c.imapOrder} (of ${c.imapped}), local() mixups ` +
      `${c.localMixups}; subprocesses ${c.subprocesses} (+${c.subprocessTimeouts} timed out); timeouts fired ` +
      `${c.timeoutsFired}, sleeps ${c.sleepsDone}; spawned ${c.spawned}, killed ${c.killed}`,
  );
  console.log(`fds: ${fdStart} at the first sample, ${fdsAtEnd} at the end (slack ${FD_SLACK}): ${fdsStable ? 'stable' : 'LEAKING'}`);
  const pass = flat && fdsStable && noLoss && correct;
  console.log(`verdict: ${pass ? 'PASS' : 'FAIL'}`);
  return pass;
}

// ---------------------------------------------------------------------------------------------

function* soak(minutes: number, interval: number, only: Set<string> | null): Generator<unknown, boolean, unknown> {
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    console.error('soak: run with node --expose-gc (heapUsed is measured after gc())');
  }
  const server = new StreamServer(['127.0.0.1', 0], answerLines, { spawn: new Pool(50) });
  yield* server.start();
  const port = server.serverPort;
  console.log(`soak: ${minutes} min, a line every ${interval} s; server on 127.0.0.1:${port}`);
  const start = performance.now();
  const want = (name: string): boolean => only === null || only.has(name);
  const workloads = [spawn(() => server.serveForever())];
  if (want('server')) for (let w = 0; w < 6; w++) workloads.push(spawn(clients, port, w));
  if (want('queues')) workloads.push(spawn(queueChurn));
  if (want('sync')) workloads.push(spawn(syncChurn));
  if (want('imap')) workloads.push(spawn(imapPipeline));
  if (want('subprocess')) workloads.push(spawn(subprocesses));
  if (want('timeouts')) workloads.push(spawn(timeoutsAndSleeps));
  if (want('spawn')) workloads.push(spawn(spawnChurn));
  const samples: Sample[] = [];
  const end = start + minutes * 60000;
  while (performance.now() < end) {
    yield* sleep(Math.min(interval, (end - performance.now()) / 1000));
    for (const g of workloads) if (g.ready() && !g.successful()) throw g.exception; // a workload crashed
    const s = sample(start);
    samples.push(s);
    printSample(s);
  }
  stopping.set();
  yield* joinall(workloads.slice(1), { raiseError: true });
  yield* server.stop();
  yield* workloads[0].join();
  yield* sleep(0.5); // let closed sockets' fds go
  return verdict(samples, openFds());
}

const { minutes, interval, only } = readArgs(process.argv.slice(2));
run(() => soak(minutes, interval, only)).then(
  (pass) => process.exit(pass ? 0 : 1),
  (e) => {
    console.error('soak: a workload failed:', e);
    process.exit(1);
  },
);
