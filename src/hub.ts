/**
 * The hub: one per thread, a trampoline on Node's own event loop. Greenlets that can run sit
 * in a ready queue; `drain` steps them in a tight loop and goes back to Node when the queue is
 * empty or after a time budget, so a greenlet spinning on `sleep(0)` never starves sockets or
 * timers. A greenlet runs until it yields something, and `dispatch` decides what that means:
 * park on an Op, wait for a promise, run a nested iterator, or go to the back of the queue.
 *
 * The hub knows nothing of queues or sockets: everything blocks through `Wait` (op.ts), and is
 * resumed by `wake` / `wakeError` here.
 */
import type { AsyncResource } from 'node:async_hooks';
import { writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';
import { checkBoolean, checkSeconds, describeValue } from './arg-checks.js';
import { contextOf } from './async-context.js';
import { DroppedOpError, LoopExit } from './errors.js';
import type { Greenlet } from './greenlet.js';
import { hasUnstarted, keepOpClass, Op, opTracking, safeDescribe, takeUnstarted, toOp, untrack, Wait } from './op.js';
import { generatorFunctions, generatorNext, isSharedGenerator, MANY } from './generator-prototype.js';
import { holdsProcess } from './keep-alive.js';
import { nodeQueueMicrotask, nodeSetImmediate, now, realNow } from './originals.js';
import { ReadyQueue } from './ready-queue.js';
import { type TimerEntry, TimerHeap } from './timer-heap.js';

/** Greenlet life states, as the hub sees them. */
export const INIT = 0; // made, not scheduled
export const READY = 1; // in the ready queue
export const RUNNING = 2; // the current greenlet
export const PARKED = 3; // waiting on a Wait
export const DEAD = 4; // finished (or killed before it started)

/** Greenlet `_flags` bits. */
export const F_THROW = 1; // `_resume` is an error to throw in
export const F_INTERRUPTED = 2; // a kill or Timeout is on its way
export const F_PENDING = 4; // interruptions postponed while it ran wait in `_extra.pending`
export const F_DYING = 8; // a kill was delivered (every later kill delivers again, as gevent's)
export const F_FAILED = 16; // dead with an exception (in `_resume`)
// (32 is greenlet.ts's F_OBSERVED)
/** Started once many generator functions were spawned: every step by direct call (see step). */
export const F_DIRECT_STEPS = 64;
// (128 is greenlet.ts's F_ONE_ARG)
/** The life state sits in `_flags` from this bit up (Greenlet's `_state` accessor). */
export const STATE_SHIFT = 8;
/** The flag bits of `_flags`, below the state. */
export const FLAG_BITS = (1 << STATE_SHIFT) - 1;

/**
 * `flags` with its life state replaced by `state` (the one place that knows the layout; the
 * hub writes a greenlet's state and flags in one store, and Greenlet's `_state` uses it too).
 *
 * @example
 * g._flags = withState(g._flags, READY);
 */
export function withState(flags: number, state: number): number {
  return (flags & FLAG_BITS) | (state << STATE_SHIFT);
}

/** The life state held in `flags`. */
export function stateOf(flags: number): number {
  return flags >>> STATE_SHIFT;
}

/** Every sleep and Timeout deadline of this thread. */
export const timers = new TimerHeap(onTimerError);

const ready = new ReadyQueue<Greenlet>();
let current: Greenlet | null = null;
let draining = false;
let scheduled = false;
let budgetMs = 1;
let maxBlockingMs = 0;

/**
 * Runtime settings. Times are in seconds, as everywhere in geventjs.
 *
 * @example
 * config.maxBlockingTime = 0.1; // report any greenlet step that holds the loop over 100 ms
 * config.debug = true;          // creation stacks in "Op never started" reports
 */
export const config = {
  /** Report a greenlet step that runs longer than this (seconds); null turns it off. */
  get maxBlockingTime(): number | null {
    return maxBlockingMs > 0 ? maxBlockingMs / 1000 : null;
  },
  set maxBlockingTime(s: number | null) {
    if (s === null || s === undefined) {
      maxBlockingMs = 0;
      return;
    }
    checkSeconds(s, 'config.maxBlockingTime');
    maxBlockingMs = s * 1000;
  },
  /** Record where each Op and greenlet was made, for reports (costs a stack per Op). */
  get debug(): boolean {
    return opTracking.debug;
  },
  set debug(on: boolean) {
    // [audit1] a string such as 'false' is refused rather than taken as true.
    opTracking.debug = checkBoolean(on, 'config.debug', false);
  },
  /** How long the hub may run greenlets before it lets Node's I/O and timers in (seconds). */
  get switchInterval(): number {
    return budgetMs / 1000;
  },
  set switchInterval(s: number) {
    checkSeconds(s, 'config.switchInterval');
    budgetMs = s * 1000;
    checkMask = 0; // read the clock after the next step; it backs off again if steps are fast
  },
  /**
   * Where greenlet failures and hub reports are printed (gevent's hub.exception_stream): any
   * object with a `write(string)` method. A write that throws is not fatal: that report goes
   * to stderr instead, with a line saying why.
   */
  get errorStream(): { write(s: string): unknown } {
    return errorStream;
  },
  set errorStream(stream: { write(s: string): unknown }) {
    if (stream === null || typeof stream !== 'object' || typeof (stream as { write?: unknown }).write !== 'function') {
      throw new TypeError(
        `config.errorStream must be an object with a write(string) method, got ${describeValue(stream)}; ` +
          'pass e.g. process.stderr or fs.createWriteStream("errors.log")',
      );
    }
    errorStream = stream;
    watchErrorStream(stream);
  },
  // [greenlet helper] the failure-report policy's switch (read by failure-report.ts).
  /**
   * Print every greenlet failure when it happens, as gevent's hub does, even one that the
   * program observes (joins, gets, links). Off by default: only failures nobody observed by
   * the end of the turn in which they happened are printed (and set the exit status to 1).
   * Env: `GEVENTJS_REPORT_ALL_FAILURES=1`.
   */
  get reportAllFailures(): boolean {
    return reportAll;
  },
  set reportAllFailures(on: boolean) {
    // [audit1] a string such as 'no' is refused rather than taken as true.
    reportAll = checkBoolean(on, 'config.reportAllFailures', false);
  },
};
let reportAll = process.env.GEVENTJS_REPORT_ALL_FAILURES !== undefined && process.env.GEVENTJS_REPORT_ALL_FAILURES !== '0';
let errorStream: { write(s: string): unknown } = process.stderr;
/** Streams whose 'error' events we listen to (once each). */
const watchedStreams = new WeakSet<object>();

/**
 * A Node stream given as `config.errorStream` can fail later (a log file that cannot be
 * opened, a closed pipe): its 'error' event, unheard, would kill the process. We hear it, say
 * so on stderr, and send later reports there.
 */
function watchErrorStream(stream: object): void {
  const on = (stream as { on?: unknown }).on;
  if (typeof on !== 'function' || watchedStreams.has(stream) || stream === process.stderr) return;
  watchedStreams.add(stream);
  on.call(stream, 'error', (e: unknown) => {
    if (errorStream === stream) errorStream = process.stderr;
    writeSafely(`geventjs: config.errorStream failed (${firstLine(describeThrown(e))}); reports go to stderr from now on\n`);
  });
}

/** True for a Node stream that can no longer be written (ended or destroyed). */
function isClosed(stream: object): boolean {
  const st = stream as { writableEnded?: unknown; destroyed?: unknown };
  return st.writableEnded === true || st.destroyed === true;
}

function writeSafely(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // stderr itself is gone: nowhere left to say it.
  }
}

/**
 * Writes a report to `config.errorStream`, never throwing: if that stream's `write` throws,
 * the text goes to file descriptor 2 with a line naming the failure. Every report of the hub
 * and of greenlet failures goes through here, so a broken stream cannot wedge the hub.
 *
 * @example
 * writeReport('geventjs: something happened\n');
 */
export function writeReport(text: string): void {
  const stream = errorStream;
  if (isClosed(stream)) {
    writeSafely(`geventjs: config.errorStream is closed; the report follows here\n${text}`);
    return;
  }
  try {
    stream.write(text);
  } catch (e) {
    writeSafely(`geventjs: config.errorStream.write() threw (${firstLine(describeThrown(e))}); the report follows here\n${text}`);
  }
}

/**
 * A readable text for anything thrown: an Error's stack, otherwise what it is and its
 * contents (`util.inspect`), never throwing itself (a null-prototype object has no toString;
 * a Proxy may throw on every access).
 *
 * @example
 * describeThrown(Object.create(null)); // 'an object was thrown: [Object: null prototype] {}'
 */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) {
      const stack = e.stack;
      if (typeof stack === 'string' && stack !== '') return stack;
      return `${e.name}: ${e.message}`;
    }
  } catch {
    // fall through to the generic text
  }
  let kind: string;
  try {
    kind = describeValue(e);
  } catch {
    kind = 'a value';
  }
  try {
    return `${kind} was thrown: ${inspect(e, { depth: 2, breakLength: Infinity })}`;
  } catch {
    return `${kind} was thrown`;
  }
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

// [greenlet helper] Called when a drain ends, with whether the ready queue ran empty: the
// failure-report policy (failure-report.ts) waits for a drain that ran dry before it settles.
// [clock helper] geventjs/testing chains onto it (a turn that ran dry may start an idle stretch).
/**
 * @example
 * turnEndHook.fn = (readyEmpty) => { if (readyEmpty) console.log('the hub ran dry'); };
 */
export const turnEndHook: { fn: ((readyEmpty: boolean) => void) | null } = { fn: null };

function envSeconds(name: string): number | null {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return null;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0) {
    process.stderr.write(`geventjs: ignoring ${name}=${raw}; set it to a number of seconds, e.g. 0.1\n`);
    return null;
  }
  return s;
}
config.maxBlockingTime = envSeconds('GEVENTJS_MAX_BLOCKING_TIME');
if (process.env.GEVENTJS_DEBUG) config.debug = process.env.GEVENTJS_DEBUG !== '0';

// [clock helper] For geventjs/testing's autojump: time may jump only while no greenlet can run.
/**
 * True when no greenlet is ready to run and no drain is under way or scheduled.
 *
 * @example
 * if (hubIsIdle()) clock.jumpToNextDeadline();
 */
export function hubIsIdle(): boolean {
  return ready.length === 0 && !draining && !scheduled;
}

/** The running greenlet, or null when called outside any greenlet. */
export function getcurrent(): Greenlet | null {
  return current;
}

// ---------------------------------------------------------------------------------------------
// Scheduling

function schedule(): void {
  if (!scheduled && !draining) {
    scheduled = true;
    nodeQueueMicrotask(drain);
  }
}

/**
 * Runs the ready greenlets now, from the end of a Node I/O callback, instead of on the
 * microtask after it: a socket's reader resumes inside the 'data' event that woke it. Outside
 * such callbacks (user code calling `set()` or `put()`), wake-ups stay queued so no greenlet
 * runs inside another's call.
 */
export function runNow(): void {
  if (!draining && ready.length !== 0) drain();
}

/** Puts a greenlet whose state is already READY at the back of the ready queue. */
export function enqueue(g: Greenlet): void {
  ready.push(g);
  schedule();
}

/**
 * Wakes a parked greenlet with `value` (what its `yield*` evaluates to). Returns false, and
 * does nothing, when `g` is not parked: a wake-up is delivered at most once.
 */
export function wake(g: Greenlet, value: unknown): boolean {
  return resume(g, value, 0);
}

/** Wakes a parked greenlet by throwing `err` at its `yield*`. At most once, like `wake`. */
export function wakeError(g: Greenlet, err: unknown): boolean {
  return resume(g, err, F_THROW);
}

/**
 * `wake` for a Node I/O callback that makes sure `runNow()` is called soon: before it returns,
 * or from a `setImmediate` it arms (socket.ts runs every reader woken in one poll in one turn
 * that way). The greenlet is made ready without queueing the microtask drain (Node's
 * queueMicrotask allocates an AsyncResource each time: per message on a busy socket); it
 * waits in the ready queue until that `runNow()`, or an earlier drain, runs it.
 *
 * @example
 * ns.on('data', (chunk) => { if (wakeBeforeRunNow(reader.g!, chunk)) setImmediate(runNow); });
 */
export function wakeBeforeRunNow(g: Greenlet, value: unknown): boolean {
  return makeReady(g, value, 0);
}

function resume(g: Greenlet, value: unknown, throwFlag: number): boolean {
  if (!makeReady(g, value, throwFlag)) return false;
  schedule();
  return true;
}

function makeReady(g: Greenlet, value: unknown, throwFlag: number): boolean {
  const flags = g._flags;
  if (stateOf(flags) !== PARKED) return false;
  if (g._wait!._heapIndex >= 0) timers.remove(g._wait!);
  g._flags = withState(flags, READY) | throwFlag; // one write: READY (+ throw)
  g._resume = value;
  ready.push(g);
  return true;
}

/**
 * Delivers `err` (a kill's exception or a Timeout) at `g`'s suspension point at once: the wait
 * it is parked on is cancelled first, so nothing is consumed. A running greenlet gets it at its
 * next suspension; one that already has an interruption on its way gets this one after it.
 * `stillWanted` lets a Timeout withdraw a delivery that was postponed.
 */
export function interrupt(g: Greenlet, err: unknown, stillWanted?: () => boolean): void {
  switch (g._state) {
    case PARKED: {
      const w = g._wait!;
      g._wait = null;
      if (w._heapIndex >= 0) timers.remove(w);
      try {
        w.cancel(g);
      } catch (e) {
        // The interruption still lands (a kill must); the broken cancel is reported.
        writeReport(`geventjs: cancelling ${safeDescribe(w)} for ${g} threw:\n${describeThrown(e)}\n`);
      }
      deliver(g, err);
      ready.push(g);
      schedule();
      return;
    }
    case READY:
      if ((g._flags & F_INTERRUPTED) !== 0) break;
      if (g._wait !== null) {
        // Woken but not yet run: give back what woke it, if it was something consumable.
        const w = g._wait;
        // (soak) A wait whose effect cannot be taken back (a put whose item went in): it
        // finishes, and the interruption waits for the next suspension, as a running one's.
        if ((g._flags & F_THROW) === 0 && w.keepsWake === true) break;
        g._wait = null;
        if ((g._flags & F_THROW) === 0 && w.undo !== undefined) {
          try {
            w.undo(g, g._resume);
          } catch (e) {
            // The kill must land whatever the wait's undo does; its failure is reported.
            writeReport(`geventjs: giving back what woke ${safeName(g)} (${safeDescribe(w)}) threw:\n${describeThrown(e)}\n`);
          }
        }
      }
      deliver(g, err);
      return;
    case DEAD:
    case INIT:
      return;
  }
  g._pendingList().push(err, stillWanted);
  g._flags |= F_PENDING;
}

function deliver(g: Greenlet, err: unknown): void {
  g._flags = withState(g._flags, READY);
  g._resume = err;
  g._flags |= F_THROW | F_INTERRUPTED;
}

/** A postponed interruption still wanted, or undefined. */
function takePending(g: Greenlet): unknown {
  const p = g._pendingList();
  while (p.length !== 0) {
    const err = p.shift();
    const stillWanted = p.shift() as (() => boolean) | undefined;
    if (stillWanted === undefined || stillWanted()) return err;
  }
  g._flags &= ~F_PENDING;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The loop

let overBudget = false;
let deadline = 0;
/** Steps run, modulo 1024; the clock is read when `(steps & checkMask) === 0`. */
let steps = 0;
/**
 * How often the clock is read: after every step while steps are slow, backing off to every
 * 32nd while they are fast. A clock read costs about as much as a sleep(0) switch, so reading
 * it every time would slow the fast case; reading it every 32nd step lets 32 slow steps
 * overrun the budget. Adapting gives both.
 */
let checkMask = 31;
let lastCheck = 0;

function drain(): void {
  scheduled = false;
  draining = true;
  overBudget = false;
  lastCheck = realNow(); // [clock helper] real time: a virtual clock must not stop the budget
  deadline = lastCheck + budgetMs;
  try {
    while (ready.length !== 0 && !overBudget) {
      // Consecutive greenlets of one async context run in one scope. (async-context.ts decides
      // the scope: shared while no AsyncLocalStorage is used, the greenlet's own after.)
      const ctx = contextOf(ready.peek());
      ctx.runInAsyncScope(runBatch, null, ctx);
    }
  } catch (e) {
    // Only a bug of the hub itself gets here (every step is guarded): say so, keep running.
    writeReport(`geventjs: internal error in the hub (please report it):\n${describeThrown(e)}\n`);
  } finally {
    draining = false;
    current = null;
    opTracking.active = false;
    if (ready.length !== 0) {
      // Over budget: let Node run I/O and timers, then continue.
      scheduled = true;
      const im = nodeSetImmediate(drain);
      // [greenlet helper] Every run() root settled: leftover greenlets do not hold the process.
      if (!holdsProcess()) im.unref();
    }
  }
  if (turnEndHook.fn !== null) {
    try {
      turnEndHook.fn(ready.length === 0);
    } catch (e) {
      writeReport(`geventjs: internal error at the end of a hub turn (please report it):\n${describeThrown(e)}\n`);
    }
  }
}

function runBatch(ctx: AsyncResource): void {
  while (ready.length !== 0) {
    const g = ready.peek();
    if (contextOf(g) !== ctx) return; // async-context.ts: also resolves a greenlet's context lazily
    ready.shift();
    try {
      if (maxBlockingMs > 0) monitoredStep(g);
      else step(g);
    } catch (e) {
      stepFailed(g, e);
    }
    steps = (steps + 1) & 1023; // wraps: stays a small integer in a loop that runs forever
    if ((steps & checkMask) === 0 && budgetSpent()) {
      overBudget = true;
      return;
    }
  }
}

function budgetSpent(): boolean {
  const t = realNow();
  if (t - lastCheck > budgetMs / 8) checkMask = 0; // slow steps: read the clock after each
  else if (checkMask !== 31) checkMask = (checkMask << 1) | 1;
  lastCheck = t;
  return t >= deadline;
}

/**
 * An exception escaped a step: user code at a call site the step does not guard (a custom
 * iterator's result, a link callback's joiner). It lands in the greenlet that ran, if it still
 * runs; otherwise it is reported. Either way the hub goes on with the next greenlet.
 */
function stepFailed(g: Greenlet, e: unknown): void {
  current = null;
  opTracking.active = false;
  if (g._state === RUNNING) {
    try {
      finish(g, e, true);
      return;
    } catch (e2) {
      e = e2;
    }
  }
  writeReport(`geventjs: an error escaped while running ${safeName(g)}:\n${describeThrown(e)}\n`);
}

function safeName(g: Greenlet): string {
  try {
    return String(g);
  } catch {
    return 'a greenlet';
  }
}

/** What code run during the current step said about blocking calls (see `noteBlocking`). */
const blockingNotes: string[] = [];

/**
 * Adds a line to the blocking monitor's report of the current step, when `maxBlockingTime` is
 * on: how a patched call that had to block (a package's execSync) names who blocked the loop.
 * A no-op when the monitor is off or outside greenlets.
 *
 * @example
 * noteBlocking('execSync("git status") from package "simple-git" blocked for 812.0 ms');
 */
export function noteBlocking(text: string): void {
  if (maxBlockingMs > 0 && current !== null && blockingNotes.length < 8) blockingNotes.push(text);
}

/** True while the blocking monitor is on (`config.maxBlockingTime` set). */
export function monitoringBlocking(): boolean {
  return maxBlockingMs > 0;
}

function monitoredStep(g: Greenlet): void {
  const t0 = realNow();
  step(g);
  const held = realNow() - t0;
  if (held > maxBlockingMs) {
    writeReport(
      `geventjs: ${safeName(g)} held the event loop for ${held.toFixed(1)} ms ` +
        `(config.maxBlockingTime is ${maxBlockingMs} ms)\n` +
        (g._spawnSite ? `  spawned ${g._spawnSite.replace(/^Error.*\n/, '').trimStart()}\n` : '') +
        blockingNotes.map((n) => `  ${n}\n`).join(''),
    );
  }
  blockingNotes.length = 0;
}

/** What a greenlet that parked on a promise as its very first step returns: what woke it. */
const RETURN_RESUMED: Iterator<unknown, unknown, unknown> = {
  next: (v: unknown) => ({ value: v, done: true }),
  throw: (e: unknown) => {
    throw e;
  },
};

/** Marker a bare `sleep(0)` yields, and the value it is resumed with. */
export const SLEEP0_MARK: unique symbol = Symbol('geventjs.sleep0') as never;
export const SLEEP0_RESUME: unique symbol = Symbol('geventjs.sleep0.resume') as never;

function step(g: Greenlet): void {
  const flags = g._flags;
  if (stateOf(flags) === DEAD) {
    // A dead greenlet in the queue means: tell its joiners and links. Callbacks run outside
    // any greenlet, so an Op they make is not charged to whichever greenlet ran last.
    current = null;
    opTracking.active = false;
    g._notifyLinks();
    return;
  }
  current = g;
  opTracking.active = true;
  g._flags = withState(flags & ~(F_THROW | F_INTERRUPTED), RUNNING); // one write: RUNNING, no throw pending
  let value = g._resume;
  let isThrow = (flags & F_THROW) !== 0;
  g._resume = undefined;
  g._wait = null;
  let it = g._it;
  // A spawned function*'s generator is stepped by calling Generator.prototype.next itself on
  // its first step, and on every step once many generator functions were spawned: each
  // inline closure's generators have a map of their own (generator-prototype.ts), and a
  // program spawning thousands would make `it.next` below miss V8's caches at every step.
  // Otherwise `it.next`, the faster call where few maps are seen (a sleep(0) loop).
  let first = false;
  if (it === null) {
    if (isThrow) return finish(g, value, true); // interrupted before its first step
    it = start(g, value);
    if (it === null) return;
    first = isSharedGenerator(it);
    if (first && generatorFunctions.seen >= MANY) g._flags |= F_DIRECT_STEPS;
  } else if ((g._flags & F_DIRECT_STEPS) !== 0 && !isThrow) {
    // Set only on a greenlet whose own iterator is a shared generator: it is `it` unless a
    // nested one runs over it (`yield op`). No prototype check per step (V8 would specialize
    // it on the maps of generators that die, and deoptimize the hub when they do).
    const stack = g._stack;
    first = stack === null || stack.length === 0;
  }
  for (;;) {
    let r: IteratorResult<unknown, unknown>;
    try {
      if (!first) r = isThrow ? throwInto(it, value) : it.next(value);
      else {
        first = false;
        r = generatorNext.call(it, value);
      }
    } catch (e) {
      const parent = popNested(g);
      if (parent === null) return finish(g, e, true);
      it = parent;
      value = e;
      isThrow = true;
      continue;
    }
    if (r.done === true) {
      const parent = popNested(g);
      if (parent === null) return finish(g, r.value, false);
      it = parent;
      value = r.value;
      isThrow = false;
      continue;
    }
    const y = r.value;
    // An interruption postponed while the greenlet ran, or an Op it made and forgot, is
    // thrown at this yield instead of suspending.
    if ((g._flags & F_PENDING) !== 0 || opTracking.last !== null || opTracking.list.length !== 0) {
      // `yield op` (without *) hands the op itself to the hub to start: it is not dropped.
      if (y instanceof Op) untrack(y);
      const err = (g._flags & F_PENDING) !== 0 ? takePending(g) : undefined;
      const dropped = droppedError(g);
      if (err !== undefined || dropped !== undefined) {
        value = err !== undefined ? err : dropped;
        isThrow = true;
        continue;
      }
    }
    // Dispatch on what was yielded. Everything below may run user code (getters, [toOp](),
    // an Op's iterator, a thenable's then): what it throws is thrown back at this yield.
    if (y === undefined || y === SLEEP0_MARK) {
      if (y === undefined && typeof (r as { then?: unknown }).then === 'function') {
        // next() returned a promise: an async iterator, which would spin here forever.
        value = new TypeError(asyncIteratorMessage(g));
        isThrow = true;
        continue;
      }
      g._flags = withState(g._flags, READY);
      g._resume = y === undefined ? undefined : SLEEP0_RESUME;
      ready.push(g);
      return;
    }
    let nested: Iterator<unknown, unknown, unknown> | null;
    try {
      if (y instanceof Wait && y.parking) {
        // Parking already: the same Wait object yielded by a second greenlet (`yield op`).
        if (y.g !== null) throw y.inUse();
        if (parkOnWait(g, y)) return; // parked, or already woken by park() itself
        // park() threw before anything woke the greenlet: the error is thrown at the yield.
        value = g._resume;
        g._resume = undefined;
        isThrow = true;
        continue;
      }
      nested = nestedIterator(y);
      if (nested === null) {
        if (y !== null && typeof (y as PromiseLike<unknown>).then === 'function') {
          parkOnThenable(g, y as PromiseLike<unknown>);
          return;
        }
        throw new TypeError(notYieldableMessage(g, y));
      }
    } catch (e) {
      value = e;
      isThrow = true;
      continue;
    }
    (g._stack ??= []).push(it);
    it = nested;
    g._it = it;
    value = undefined;
    isThrow = false;
  }
}

/**
 * Parks `g` on `w`; true when done (parked, or woken during `park`). If `park` throws, false:
 * `g` is left RUNNING with the error in `_resume`, for the step to throw at the yield; unless
 * something already woke it: then it keeps that wake-up and the error is reported.
 */
function parkOnWait(g: Greenlet, w: Wait<unknown>): boolean {
  g._flags = withState(g._flags, PARKED);
  g._wait = w;
  w.g = g;
  try {
    w.park(g);
    if (w._timeoutMs >= 0 && g._state === PARKED) {
      // A double of any size: `| 0` here once made every wait fire at once after 24.9 days up.
      w.deadline = now() + w._timeoutMs;
      timers.add(w);
    }
  } catch (e) {
    if (g._state !== PARKED) {
      writeReport(`geventjs: ${safeDescribe(w)} woke ${safeName(g)} and then threw:\n${describeThrown(e)}\n`);
      return true;
    }
    g._flags = withState(g._flags, RUNNING);
    g._wait = null;
    g._resume = e;
    return false;
  }
  return true;
}

function asyncIteratorMessage(g: Greenlet): string {
  return (
    `${safeName(g)} is running an async generator or async iterator (its next() returns a promise), ` +
    'which the hub cannot step: write the greenlet as `function*` and `yield*` Ops (or `yield` a ' +
    'promise to wait for it); for an async function use spawn(async () => { ... })'
  );
}

/** Node values that only a patched module makes yieldable, by constructor name. */
const PATCHED_ONLY = new Set(['Buffer', 'ChildProcess', 'Server', 'Socket']);

function notYieldableMessage(g: Greenlet, y: unknown): string {
  const base = `${safeName(g)} yielded ${describeValue(y)}; yield* an Op, a Promise, or nothing (a bare \`yield\` is sleep(0))`;
  let name: unknown;
  try {
    name = (y as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  } catch {
    name = undefined;
  }
  const patchHow = 'run it with `node -r geventjs/patch app.js`, or call `patchAll()` before anything else';
  if (typeof name === 'string' && PATCHED_ONLY.has(name)) {
    return (
      `${base}. Only a patched Node module makes a ${name} yieldable (patched execSync, ` +
      `child_process, net calls return Ops): this program is not patched; ${patchHow}`
    );
  }
  if (typeof y === 'string') return `${base}. If it is the output of execSync(), the program is not patched; ${patchHow}`;
  return base;
}

function throwInto(it: Iterator<unknown, unknown, unknown>, err: unknown): IteratorResult<unknown, unknown> {
  if (it.throw === undefined) throw err; // a plain iterator cannot catch: the error propagates
  return it.throw(err);
}

function popNested(g: Greenlet): Iterator<unknown, unknown, unknown> | null {
  const stack = g._stack;
  if (stack === null || stack.length === 0) return null;
  const parent = stack.pop()!;
  g._it = parent;
  return parent;
}

/**
 * The iterator to run for a yielded Op, generator object or `[toOp]` object; null for a value
 * that is not iterable (a promise, a number). Any other object with a `next()` method (a Queue,
 * an `iwait` or `imap` iterator yielded by mistake for `q.get()`) is a TypeError: run as an
 * iterator it would spin forever. An async generator is a TypeError too. `returned`: `y` is
 * what a greenlet's plain function returned, where such an iterator is simply its value.
 *
 * @example
 * nestedIterator(q.get()); // the Op's iterator
 * nestedIterator(q);       // throws TypeError: ... write `yield* q.get()`
 */
export function nestedIterator(y: unknown, returned = false): Iterator<unknown, unknown, unknown> | null {
  if (y === null || typeof y !== 'object') return null;
  if (y instanceof Op) return y[Symbol.iterator]();
  const make = (y as { [toOp]?: () => unknown })[toOp];
  if (typeof make === 'function') {
    const op = make.call(y);
    if (op instanceof Op) return op[Symbol.iterator]();
    if (isGenerator(op)) return op;
    throw new TypeError(
      `[toOp]() of ${describeValue(y)} returned ${describeValue(op)}; it must return an Op (e.g. event.wait())`,
    );
  }
  if (typeof (y as Iterator<unknown>).next === 'function') {
    if (isGenerator(y)) return y;
    if (isAsyncGenerator(y)) throw new TypeError(asyncGeneratorMessage());
    if (returned) return null; // a plain function returned an iterator: that is its value
    throw new TypeError(
      `yielded ${describeValue(y)}, which has a next() method but is not an Op or a generator; the ` +
        'hub runs only those. To wait for an item write `yield* q.get()` (a Queue) or ' +
        '`yield* it.next()` (an iwait/imap iterator); to run a generator inline write `yield* gen`',
    );
  }
  if (isAsyncGenerator(y)) throw new TypeError(asyncGeneratorMessage());
  return null;
}

function isGenerator(x: unknown): x is Iterator<unknown, unknown, unknown> {
  return x !== null && typeof x === 'object' && (x as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'Generator';
}

function isAsyncGenerator(x: object): boolean {
  return (x as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'AsyncGenerator';
}

function asyncGeneratorMessage(): string {
  return (
    'an async generator (async function*) cannot run as a greenlet or be yielded: the hub cannot ' +
    'step it. Write `function*` and `yield*` Ops (`yield` a promise to wait for it), or pass a ' +
    'plain async function: spawn(async () => { ... })'
  );
}

/** Runs the greenlet's function: returns the iterator to step, or null if it already ended. */
function start(g: Greenlet, args: unknown): Iterator<unknown, unknown, unknown> | null {
  let r: unknown;
  try {
    r = g._call(args);
  } catch (e) {
    finish(g, e, true);
    return null;
  }
  if (isSharedGenerator(r)) {
    // The common case, a spawned function*: its generator, without nestedIterator's lookups.
    g._it = r as Iterator<unknown, unknown, unknown>;
    return g._it;
  }
  let it: Iterator<unknown, unknown, unknown> | null;
  try {
    it = nestedIterator(r, true); // an Op's iterator can throw (opFrom's body, a second concurrent run)
  } catch (e) {
    finish(g, e, true);
    return null;
  }
  if (it !== null) {
    g._it = it;
    return it;
  }
  if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    // [audit1] An async function: the Ops its synchronous part made are started by its
    // `await`s on later microtasks, after this greenlet parks. They follow top-level code's
    // rule (reported before the next turn if never started); left in the list they were
    // blamed on, and thrown into, whichever greenlet switched next.
    if (hasUnstarted()) handOpsToOutside();
    // (a getter `then` that throws escapes to stepFailed, which fails this greenlet)
    g._it = RETURN_RESUMED;
    parkOnThenable(g, r as PromiseLike<unknown>);
    return null;
  }
  finish(g, r, false);
  return null;
}

function finish(g: Greenlet, value: unknown, failed: boolean): void {
  if (hasUnstarted()) {
    const dropped = droppedError(g);
    // Its own exception comes first; the forgotten Op is still said, on the error stream.
    if (dropped !== undefined && failed) writeReport(`geventjs: ${dropped.message}\n`);
    else if (dropped !== undefined) {
      value = dropped;
      failed = true;
    }
  }
  g._it = null;
  g._stack = null;
  g._die(value, failed);
}

class ThenableWait extends Wait<unknown> {
  constructor(private readonly thenable: PromiseLike<unknown>) {
    super();
    untrack(this);
  }

  park(g: Greenlet): void {
    this.thenable.then(
      (v) => {
        if (g._wait === this) wake(g, v);
      },
      (e) => {
        if (g._wait === this) wakeError(g, e);
      },
    );
  }

  override describe(): string {
    return 'a promise';
  }
}

function parkOnThenable(g: Greenlet, p: PromiseLike<unknown>): void {
  const w = new ThenableWait(p);
  g._flags = withState(g._flags, PARKED);
  g._wait = w;
  w.g = g;
  try {
    w.park(g);
  } catch (e) {
    // A broken thenable: its `then` threw. Fail the greenlet at this yield.
    g._flags = withState(g._flags, PARKED);
    wakeError(g, e);
  }
}

/**
 * Ops the current greenlet made and never started (dropped: a forgotten `yield*`), as one
 * DroppedOpError to throw into it at this switch; undefined when there are none. One rule for
 * every Op: a dropped `Queue.put()` or `Pool.spawn()` would otherwise silently do nothing.
 */
function droppedError(g: Greenlet): DroppedOpError | undefined {
  if (!hasUnstarted()) return undefined;
  const list = takeUnstarted();
  const parts: string[] = [];
  for (const op of list) {
    const name = safeDescribe(op);
    parts.push(droppedText(op, name, `in ${safeName(g)}`, `write \`${op.mustYield ? 'yield' : 'yield*'} ${name}\``));
  }
  return new DroppedOpError(parts.join('\n'));
}

/** "Queue.put() was created in ... but never started ...; write `yield* Queue.put()`" and where. */
function droppedText(op: Op<unknown>, name: string, where: string, fix: string): string {
  let hint = '';
  try {
    hint = String((op as { dropHint?: string }).dropHint ?? '');
  } catch {
    // a throwing getter: no hint
  }
  const site = op._site ? `\n  created ${userStack(op._site)}` : '';
  return (
    `${name} was created ${where} but never started, so it did nothing; ${fix}` +
    hint +
    (op._site ? '' : ' (set GEVENTJS_DEBUG=1 or config.debug = true to see the line that made it)') +
    site
  );
}

/** This package's own source directories: their frames are left out of creation stacks. */
const LIB_DIRS = [dirname(__filename) + '/', join(dirname(__filename), '..', 'patches') + '/'];

/**
 * The user's part of a creation stack: from the first frame outside geventjs and Node's
 * internals to the next one inside them (the hub or the module loader that ran the code).
 */
function userStack(stack: string): string {
  const lines = stack.split('\n').slice(1);
  let i = 0;
  while (i < lines.length - 1 && isLibFrame(lines[i]!)) i++;
  let j = i + 1;
  while (j < lines.length && !isLibFrame(lines[j]!) && !lines[j]!.includes('(<anonymous>)')) j++;
  return lines.slice(i, j).join('\n').trimStart();
}

function isLibFrame(line: string): boolean {
  return line.includes('node:internal') || LIB_DIRS.some((d) => line.includes(d));
}

// ---------------------------------------------------------------------------------------------
// Ops made outside greenlets and never started

let outsideCheckScheduled = false;
/** Turns the check has waited for busy greenlets; capped so a spinning greenlet cannot mute it. */
let outsideDeferrals = 0;
const MAX_OUTSIDE_DEFERRALS = 10;

/** Moves the Ops the current step made to the "made outside any greenlet" set. */
function handOpsToOutside(): void {
  const list = takeUnstarted();
  if (opTracking.outside.size === 0) scheduleOutsideCheck();
  for (const op of list) opTracking.outside.add(op);
}

function scheduleOutsideCheck(): void {
  if (outsideCheckScheduled) return;
  outsideCheckScheduled = true;
  nodeSetImmediate(checkOutside);
}

/**
 * Runs after the turn of the event loop in which an Op was made outside any greenlet: by then
 * `await op` (and run, joinall, withTimeout ... given it) has started it. What is left was
 * dropped: reported on the error stream (there is no greenlet to throw into). While the hub
 * still has greenlets to run (one of them may start it), the check waits for them, for up to
 * MAX_OUTSIDE_DEFERRALS turns.
 */
function checkOutside(): void {
  outsideCheckScheduled = false;
  const outside = opTracking.outside;
  if (outside.size === 0) return;
  if ((ready.length !== 0 || scheduled || draining) && outsideDeferrals < MAX_OUTSIDE_DEFERRALS) {
    outsideDeferrals++;
    scheduleOutsideCheck();
    return;
  }
  outsideDeferrals = 0;
  const ops = [...outside];
  outside.clear();
  for (const op of ops) {
    const name = safeDescribe(op);
    const fix = `\`await\` it (\`await ${name}\`), or \`yield*\` it inside a greenlet`;
    writeReport(`geventjs: ${droppedText(op, name, 'outside any greenlet', fix)}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Live greenlets, for the "would block forever" report

let liveHead: Greenlet | null = null;

/** Records a started greenlet (until it dies) so a dry event loop can name what still waits. */
export function addLive(g: Greenlet): void {
  g._liveNext = liveHead;
  g._livePrev = null;
  if (liveHead !== null) liveHead._livePrev = g;
  liveHead = g;
}

/** Every started, not yet dead greenlet, oldest first (for `shutdown()`; not a hot path). */
export function liveGreenlets(): Greenlet[] {
  const out: Greenlet[] = [];
  for (let g = liveHead; g !== null; g = g._liveNext) out.push(g);
  return out.reverse();
}

export function removeLive(g: Greenlet): void {
  if (g._livePrev !== null) g._livePrev._liveNext = g._liveNext;
  else if (liveHead === g) liveHead = g._liveNext;
  if (g._liveNext !== null) g._liveNext._livePrev = g._livePrev;
  g._liveNext = g._livePrev = null;
}

/**
 * The event loop ran dry while greenlets still wait: nothing can ever wake them (gevent's
 * LoopExit). Said once: if some of them are `run()` roots, the text goes to their callers as
 * a LoopExit thrown at their suspension point (their rejection is the one report); otherwise
 * it is printed here. Greenlet failure reports must not print a root's LoopExit again.
 */
function onBeforeExit(): void {
  // [greenlet helper] Every run() root settled: the greenlets left are abandoned, as gevent
  // abandons them when its main greenlet returns; they are not stuck, and nothing is said.
  if (!holdsProcess()) return;
  const stuck: Greenlet[] = [];
  for (let g = liveHead; g !== null; g = g._liveNext) {
    if (g._state === PARKED && !g._reportedStuck) stuck.push(g);
  }
  if (stuck.length === 0) return;
  const lines = stuck.map((g) => `  ${safeName(g)} waits on ${g._wait === null ? 'something' : safeDescribe(g._wait)}`);
  const msg =
    `the event loop is empty but ${stuck.length} greenlet${stuck.length > 1 ? 's' : ''} still ` +
    `wait${stuck.length > 1 ? '' : 's'} on something nothing can finish (would block forever):\n${lines.join('\n')}`;
  const roots = stuck.filter((g) => g._awaited);
  for (const g of stuck) g._reportedStuck = true;
  if (roots.length === 0) {
    writeReport(`geventjs: ${msg}\n`);
    return;
  }
  // gevent raises LoopExit in the main greenlet: here, in those that top-level code awaits.
  for (const g of roots) interrupt(g, new LoopExit(msg));
}
process.on('beforeExit', onBeforeExit);
opTracking.wake = wake;
opTracking.wakeError = wakeError;
opTracking.checkOutside = scheduleOutsideCheck;
if (opTracking.outside.size !== 0) scheduleOutsideCheck();

/** A timer entry's fire() threw (a wait's cancel or timedOut, a Timeout's exception). */
function onTimerError(err: unknown, entry: TimerEntry): void {
  let what = 'a timer';
  if (entry instanceof Op) what = safeDescribe(entry);
  else if (entry instanceof Error) what = entry.name;
  writeReport(`geventjs: ${what} threw when its time came:\n${describeThrown(err)}\n`);
}

// Made per promise a greenlet waits for: keeps its hidden classes across full GCs (hidden-classes.ts).
keepOpClass(new ThenableWait(Promise.resolve()));

// Last, after this module's body has run, for its side effect: `await op` needs greenlet.ts
// (it sets opTracking.runner), also in a program that imports only a subpath such as
// 'geventjs/queue'. At the end, so that greenlet.ts and what it loads (failure-report.ts
// sets the hub's turnEndHook at load) find the hub's exports in place.
import './greenlet.js';
