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
import { checkSeconds, describeValue } from './arg-checks.js';
import { contextOf } from './async-context.js';
import { DroppedOpError, LoopExit } from './errors.js';
import type { Greenlet } from './greenlet.js';
import { Op, opTracking, toOp, untrack, Wait } from './op.js';
import { nodeQueueMicrotask, nodeSetImmediate, now } from './originals.js';
import { ReadyQueue } from './ready-queue.js';
import { TimerHeap } from './timer-heap.js';

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
export const F_DYING = 8; // a kill was delivered: later kills wait, they do not interrupt cleanup
export const F_FAILED = 16; // dead with an exception (in `_resume`)

/** Every sleep and Timeout deadline of this thread. */
export const timers = new TimerHeap();

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
    opTracking.debug = Boolean(on);
  },
  /** How long the hub may run greenlets before it lets Node's I/O and timers in (seconds). */
  get switchInterval(): number {
    return budgetMs / 1000;
  },
  set switchInterval(s: number) {
    checkSeconds(s, 'config.switchInterval');
    budgetMs = s * 1000;
  },
  /** Where greenlet failures and hub reports are printed (gevent's hub.exception_stream). */
  errorStream: process.stderr as { write(s: string): unknown },
};

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

function resume(g: Greenlet, value: unknown, throwFlag: number): boolean {
  if (g._state !== PARKED) return false;
  if (g._wait!._heapIndex >= 0) timers.remove(g._wait!);
  g._state = READY;
  g._resume = value;
  g._flags |= throwFlag;
  ready.push(g);
  schedule();
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
      w.cancel(g);
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
        g._wait = null;
        if ((g._flags & F_THROW) === 0 && w.undo !== undefined) w.undo(g, g._resume);
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
  g._state = READY;
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

function drain(): void {
  scheduled = false;
  draining = true;
  overBudget = false;
  deadline = now() + budgetMs;
  while (ready.length !== 0 && !overBudget) {
    // Consecutive greenlets of one async context run in one scope. (async-context.ts decides
    // the scope: shared while no AsyncLocalStorage is used, the greenlet's own after.)
    const ctx = contextOf(ready.peek());
    ctx.runInAsyncScope(runBatch, null, ctx);
  }
  draining = false;
  current = null;
  opTracking.active = false;
  if (ready.length !== 0) {
    // Over budget: let Node run I/O and timers, then continue.
    scheduled = true;
    nodeSetImmediate(drain);
  }
}

function runBatch(ctx: AsyncResource): void {
  let n = 0;
  while (ready.length !== 0) {
    const g = ready.peek();
    if (contextOf(g) !== ctx) return; // async-context.ts: also resolves a greenlet's context lazily
    ready.shift();
    if (maxBlockingMs > 0) monitoredStep(g);
    else step(g);
    if ((++n & 31) === 0 && now() > deadline) {
      overBudget = true;
      return;
    }
  }
}

function monitoredStep(g: Greenlet): void {
  const t0 = now();
  step(g);
  const held = now() - t0;
  if (held > maxBlockingMs) {
    config.errorStream.write(
      `geventjs: ${g} held the event loop for ${held.toFixed(1)} ms ` +
        `(config.maxBlockingTime is ${maxBlockingMs} ms)\n` +
        (g._spawnSite ? `  spawned ${g._spawnSite.replace(/^Error.*\n/, '').trimStart()}\n` : ''),
    );
  }
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
  if (g._state === DEAD) {
    // A dead greenlet in the queue means: tell its joiners and links. Callbacks run outside
    // any greenlet, so an Op they make is not charged to whichever greenlet ran last.
    current = null;
    opTracking.active = false;
    g._notifyLinks();
    return;
  }
  current = g;
  opTracking.active = true;
  g._state = RUNNING;
  let value = g._resume;
  let isThrow = (g._flags & F_THROW) !== 0;
  g._resume = undefined;
  g._flags &= ~(F_THROW | F_INTERRUPTED);
  g._wait = null;
  let it = g._it;
  if (it === null) {
    if (isThrow) return finish(g, value, true); // interrupted before its first step
    it = start(g);
    if (it === null) return;
  }
  for (;;) {
    let r: IteratorResult<unknown, unknown>;
    try {
      r = isThrow ? throwInto(it, value) : it.next(value);
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
    if ((g._flags & F_PENDING) !== 0 || opTracking.list.length !== 0) {
      // `yield op` (without *) hands the op itself to the hub to start: it is not dropped.
      if (y instanceof Op) untrack(y);
      const err = (g._flags & F_PENDING) !== 0 ? takePending(g) : undefined;
      const dropped = reportDropped(g);
      if (err !== undefined || dropped !== undefined) {
        value = err !== undefined ? err : dropped;
        isThrow = true;
        continue;
      }
    }
    // Dispatch on what was yielded.
    if (y === undefined || y === SLEEP0_MARK) {
      g._state = READY;
      g._resume = y === undefined ? undefined : SLEEP0_RESUME;
      ready.push(g);
      return;
    }
    if (y instanceof Wait && y.parking) {
      g._state = PARKED;
      g._wait = y;
      y.g = g;
      try {
        y.park(g);
        if (y._timeoutMs >= 0 && g._state === PARKED) {
          y.deadline = Math.ceil(now() + y._timeoutMs) | 0; // whole ms, as a small integer: no boxed double per wait
          timers.add(y);
        }
      } catch (e) {
        if (g._state !== PARKED) throw e; // it woke us and then failed: a bug in that Wait
        g._state = RUNNING;
        g._wait = null;
        value = e;
        isThrow = true;
        continue;
      }
      return;
    }
    const nested = nestedIterator(y);
    if (nested !== null) {
      (g._stack ??= []).push(it);
      it = nested;
      g._it = it;
      value = undefined;
      isThrow = false;
      continue;
    }
    if (y !== null && typeof (y as PromiseLike<unknown>).then === 'function') {
      parkOnThenable(g, y as PromiseLike<unknown>);
      return;
    }
    value = new TypeError(
      `${g} yielded ${describeValue(y)}; yield* an Op, a Promise, or nothing (a bare \`yield\` is sleep(0))`,
    );
    isThrow = true;
  }
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

/** The iterator to run for a yielded Op, generator or yieldable object; null for anything else. */
export function nestedIterator(y: unknown): Iterator<unknown, unknown, unknown> | null {
  if (y === null || typeof y !== 'object') return null;
  if (y instanceof Op) return y[Symbol.iterator]();
  if (typeof (y as Iterator<unknown>).next === 'function') return y as Iterator<unknown, unknown, unknown>;
  const make = (y as { [toOp]?: () => unknown })[toOp];
  if (typeof make === 'function') {
    const op = make.call(y);
    return op instanceof Op ? op[Symbol.iterator]() : nestedIterator(op);
  }
  return null;
}

/** Runs the greenlet's function: returns the iterator to step, or null if it already ended. */
function start(g: Greenlet): Iterator<unknown, unknown, unknown> | null {
  let r: unknown;
  try {
    r = g._run(...g._args);
  } catch (e) {
    finish(g, e, true);
    return null;
  }
  g._args = EMPTY_ARGS;
  const it = nestedIterator(r);
  if (it !== null) {
    g._it = it;
    return it;
  }
  if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    g._it = RETURN_RESUMED;
    parkOnThenable(g, r as PromiseLike<unknown>);
    return null;
  }
  finish(g, r, false);
  return null;
}

const EMPTY_ARGS: unknown[] = [];

function finish(g: Greenlet, value: unknown, failed: boolean): void {
  if (opTracking.list.length !== 0) {
    const dropped = reportDropped(g);
    if (dropped !== undefined && !failed) {
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
  g._state = PARKED;
  g._wait = w;
  w.g = g;
  try {
    w.park(g);
  } catch (e) {
    // A broken thenable: its `then` threw. Fail the greenlet at this yield.
    g._state = PARKED;
    wakeError(g, e);
  }
}

/**
 * Ops the current greenlet made and never started. Patched Node calls (`mustYield`) come back
 * as an error to throw into the greenlet; the rest are reported on stderr.
 */
function reportDropped(g: Greenlet): DroppedOpError | undefined {
  const list = opTracking.list;
  let thrown: DroppedOpError | undefined;
  for (const op of list) {
    const where = op._site ? `\n  created ${op._site.replace(/^Error.*\n/, '').trimStart()}` : '';
    const msg =
      `${op.describe()} was created in ${g} but never started; write \`yield* ${op.describe()}\`` +
      (op._site ? '' : ' (set config.debug = true to see where it was made)') +
      ((op as { dropHint?: string }).dropHint ?? '');
    if (op.mustYield && thrown === undefined) thrown = new DroppedOpError(msg + where);
    else config.errorStream.write(`geventjs: ${msg}${where}\n`);
  }
  list.length = 0;
  return thrown;
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

function onBeforeExit(): void {
  const stuck: Greenlet[] = [];
  for (let g = liveHead; g !== null; g = g._liveNext) {
    if (g._state === PARKED && !g._reportedStuck) stuck.push(g);
  }
  if (stuck.length === 0) return;
  const lines = stuck.map((g) => `  ${g} waits on ${g._wait?.describe() ?? 'something'}`);
  const msg =
    `the event loop is empty but ${stuck.length} greenlet${stuck.length > 1 ? 's' : ''} still ` +
    `wait${stuck.length > 1 ? '' : 's'} on something nothing can finish (would block forever):\n${lines.join('\n')}`;
  config.errorStream.write(`geventjs: ${msg}\n`);
  for (const g of stuck) {
    g._reportedStuck = true;
    // gevent raises LoopExit in the main greenlet: here, in those that top-level code awaits.
    if (g._awaited) interrupt(g, new LoopExit(msg));
  }
}
process.on('beforeExit', onBeforeExit);
opTracking.wake = wake;
opTracking.wakeError = wakeError;
