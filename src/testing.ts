/**
 * geventjs/testing: a virtual clock for tests of greenlet code (Trio's MockClock, for geventjs).
 *
 * While `clock.run(main)` runs, every geventjs deadline of this thread (sleep, Timeout, the
 * timeouts of waits, spawnLater, withTimeout, Pool/Queue/Event/lock timeouts, a patched
 * `setTimeout(ms)` in a greenlet) is on the clock's virtual time, which moves only when the
 * clock moves it: by `advance(seconds)`, or, with autojump (the default), to the next deadline
 * as soon as no greenlet can run. A test of an hour of retries takes milliseconds.
 *
 * How it works: `now()` (src/originals.ts) reads the clock's time instead of the real one, and
 * the hub's timer heap arms no Node timer; the clock fires due entries itself. It checks for
 * idleness on Node's check phase (setImmediate), after the hub's turn and the I/O Node had
 * ready: never a busy loop, and nothing at all while the hub waits on real I/O with no deadline.
 * Real I/O stays real: sockets, child processes, Node's own callback timers, the hub's switch
 * budget and config.maxBlockingTime.
 */
import { checkBoolean, checkSeconds, ownOptions } from './arg-checks.js';
import { run, type ResultOf } from './greenlet.js';
import { hubIsIdle, timers, turnEndHook } from './hub.js';
import { type Op, Wait } from './op.js';
import { _swapClock, nodeClearTimeout, nodeSetImmediate, nodeSetTimeout, now } from './originals.js';
import type { TimerEntry } from './timer-heap.js';
import { GeventjsError } from './errors.js';

/**
 * Thrown by `VirtualClock.run()` when another virtual clock is already running in this thread.
 *
 * @example
 * try { await clock.run(main); } catch (e) { if (e instanceof VirtualClockError) console.log(e.code); }
 */
export class VirtualClockError extends GeventjsError<'GEVENTJS_CLOCK_IN_USE'> {
  constructor(message: string) {
    super(message, 'VirtualClockError', 'GEVENTJS_CLOCK_IN_USE');
  }
}

/**
 * Options of `new VirtualClock(options)`.
 *
 * @example
 * const options: VirtualClockOptions = { autojumpThreshold: 0.5 }; // real I/O gets 0.5 s first
 */
export interface VirtualClockOptions {
  /** Jump to the next deadline whenever no greenlet can run (default true). */
  autojump?: boolean;
  /**
   * Real seconds the hub must stay idle before a jump (default 0: at once). Set it above the
   * latency of the real I/O a test waits on, so that I/O arrives before its timeout "passes".
   */
  autojumpThreshold?: number;
}

const OPTION_NAMES = ['autojump', 'autojumpThreshold'];

/** The clock running in this thread (one at a time: there is one timer heap per thread). */
let active: VirtualClock | null = null;

// The hub calls turnEndHook at the end of every turn: a turn that ran the ready queue dry may
// be the start of an idle stretch. Chained after the failure-report policy that set it at load.
const previousTurnEnd = turnEndHook.fn;
turnEndHook.fn = (readyEmpty: boolean): void => {
  try {
    if (previousTurnEnd !== null) previousTurnEnd(readyEmpty);
  } finally {
    if (readyEmpty && active !== null) active._onActivity();
  }
};

/**
 * A virtual clock for testing greenlet code: `run(main)` runs `main` as `run()` does, with
 * every geventjs deadline on virtual time. With autojump (the default), time jumps to the next
 * deadline whenever no greenlet can run; without it, only `advance(seconds)` moves it.
 *
 * @example
 * const clock = new VirtualClock();
 * await clock.run(function* () {
 *   yield* sleep(3600);      // returns at once in real time
 *   console.log(clock.now()); // 3600
 * });
 */
export class VirtualClock {
  /** Virtual milliseconds since the clock was made (what `now()` reads while it runs). */
  private ms = 0;
  private autojumpOn: boolean;
  private thresholdMs: number;
  /** A check for idleness is queued on Node's check phase. */
  private checkQueued = false;
  /** The real timer of an autojump threshold, while the hub is idle. */
  private thresholdTimer: ReturnType<typeof nodeSetTimeout> | null = null;
  /** An `advance` waiting for the hub to be idle before its next step. */
  private stepWaiter: (() => void) | null = null;
  /** The end of the last `advance` asked for: advances run one after another. */
  private advancing: Promise<void> = Promise.resolve();
  private readonly source = (): number => this.ms;
  /** Real-clock deadlines armed before `run()`, set aside while it runs. */
  private paused: TimerEntry[] = [];
  /** What `now()` read before `run()` (the real clock), to give back. */
  private realSource: () => number = this.source;

  constructor(options?: VirtualClockOptions | null) {
    const o = ownOptions(options, 'new VirtualClock(options)');
    for (const k of Object.keys(o)) {
      if (!OPTION_NAMES.includes(k)) {
        throw new TypeError(
          `new VirtualClock(options) got an unknown option ${JSON.stringify(k)}; the options are autojump (boolean) and autojumpThreshold (seconds)`,
        );
      }
    }
    this.autojumpOn = checkBoolean(o.autojump, 'new VirtualClock({ autojump })', true);
    this.thresholdMs = 0;
    if (o.autojumpThreshold !== undefined) this.autojumpThreshold = o.autojumpThreshold;
  }

  /**
   * Whether idle time passes at once. Turning it on while the clock runs jumps if the hub is
   * idle.
   *
   * @example
   * clock.autojump = false; // from now on only advance() moves time
   */
  get autojump(): boolean {
    return this.autojumpOn;
  }

  set autojump(on: boolean) {
    this.autojumpOn = checkBoolean(on, 'VirtualClock.autojump', true);
    this._onActivity();
  }

  /**
   * Real seconds the hub must be idle before an autojump (0: at once).
   *
   * @example
   * clock.autojumpThreshold = 0.05; // give real I/O 50 ms to arrive before time jumps
   */
  get autojumpThreshold(): number {
    return this.thresholdMs / 1000;
  }

  set autojumpThreshold(seconds: number) {
    checkSeconds(seconds, 'VirtualClock autojumpThreshold');
    if (seconds === Infinity) {
      throw new RangeError('VirtualClock autojumpThreshold must be finite, got Infinity; to turn jumping off pass autojump: false');
    }
    this.thresholdMs = seconds * 1000;
    this._onActivity();
  }

  /**
   * Virtual seconds since this clock was made: 0 at first, moved only by jumps and `advance`.
   *
   * @example
   * yield* sleep(90); clock.now(); // 90
   */
  now(): number {
    return this.ms / 1000;
  }

  /** True while this clock's `run()` is under way. */
  get running(): boolean {
    return active === this;
  }

  /**
   * The clock running in this thread, or null: for an `afterEach` that releases the clock of a
   * test that failed while it ran.
   *
   * @example
   * afterEach(() => VirtualClock.current()?.stop());
   */
  static current(): VirtualClock | null {
    return active;
  }

  /**
   * Hands the thread back to the real clock now, before `main` settles (a test that failed
   * while its clock ran): greenlets waiting on virtual deadlines, `main` among them, go on on
   * the real clock with the time they had left, as when `main` settles. Does nothing when this
   * clock is not running.
   *
   * @example
   * afterEach(() => VirtualClock.current()?.stop());
   */
  stop(): void {
    if (active === this) this.release();
  }

  /**
   * Runs `main` as geventjs's `run()` does (same arguments, same result), with this thread's
   * geventjs deadlines on this clock until `main` settles. Throws VirtualClockError when a
   * virtual clock is already running in this thread. geventjs deadlines armed on the real clock
   * before (a sleeper left by an earlier test) are paused while it runs: they neither fire nor
   * move time, and resume on the real clock after (those past due fire at once).
   *
   * Greenlets still waiting on a virtual deadline when `main` settles go on as after `run()`,
   * on the real clock, with the time they had left (a sleep(5) begun at virtual 8 and left at
   * virtual 10 ends 3 real seconds later); the next clock's `run()` pauses them again.
   *
   * @example
   * const clock = new VirtualClock();
   * const value = await clock.run(function* () { yield* sleep(60); return clock.now(); }); // 60
   */
  run<R>(
    main: (() => R) | Op<R>,
    options?: { signal?: AbortSignal } | null,
  ): Promise<ResultOf<R> | (R extends Op<infer V> ? V : never)> {
    this.checkCanRun();
    active = this;
    this.paused = timers._pauseAll();
    this.realSource = _swapClock(this.source);
    timers._setVirtual(this.onDeadlinesChanged);
    let p: Promise<ResultOf<R> | (R extends Op<infer V> ? V : never)>;
    try {
      p = run(main, options);
    } catch (e) {
      this.release();
      throw e;
    }
    this._onActivity();
    return p.finally(() => this.stop());
  }

  /**
   * Moves virtual time forward by `seconds`, one deadline at a time: each due greenlet runs at
   * its own deadline (and one that sleeps again within the span wakes again), then time ends at
   * exactly now + seconds. The promise resolves when that is done and no greenlet can run.
   * Calls queue up: `advance(1); advance(1)` moves 2 seconds. Outside `run()`, it only moves
   * the clock's reading.
   *
   * @example
   * const clock = new VirtualClock({ autojump: false });
   * const done = clock.run(consumer);
   * await clock.advance(5); // consumer's sleep(5) has returned and it ran on until it blocked
   */
  advance(seconds: number): Promise<void> {
    checkSeconds(seconds, 'VirtualClock.advance(seconds)');
    if (seconds === Infinity) {
      throw new RangeError('VirtualClock.advance(seconds) must be finite, got Infinity; pass the seconds to let pass, e.g. 60');
    }
    const step = this.advancing.then(() => this.advanceBy(seconds * 1000));
    this.advancing = step;
    return step;
  }

  private async advanceBy(ms: number): Promise<void> {
    const target = this.ms + ms;
    while (active === this) {
      await this.untilIdle();
      if (active !== this) break;
      const next = timers.nextDeadline();
      if (next > target) break;
      this.fireAt(next);
    }
    if (this.ms < target) this.ms = target;
  }

  private untilIdle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.stepWaiter = resolve;
      this._onActivity();
    });
  }

  /** Sets the time to `deadline` and fires what is due then. */
  private fireAt(deadline: number): void {
    if (deadline > this.ms) this.ms = deadline;
    timers.fireDue(this.ms);
    // A fired entry may wake nobody (its wait was already over): look again all the same.
    this._onActivity();
  }

  /**
   * @internal The hub ran, or the earliest deadline moved: an idle stretch starts over. Queues
   * a check on Node's check phase (after this turn's microtasks and the I/O Node has ready).
   */
  _onActivity(): void {
    if (active !== this) return;
    if (this.thresholdTimer !== null) {
      nodeClearTimeout(this.thresholdTimer);
      this.thresholdTimer = null;
    }
    if (this.checkQueued) return;
    this.checkQueued = true;
    nodeSetImmediate(this.check);
  }

  private readonly onDeadlinesChanged = (): void => this._onActivity();

  /** On Node's check phase: if no greenlet can run, let time move. */
  private readonly check = (): void => {
    this.checkQueued = false;
    // Not idle: the turn that is coming ends with turnEndHook, which checks again.
    if (active !== this || !hubIsIdle()) return;
    if (this.stepWaiter !== null) {
      const resume = this.stepWaiter;
      this.stepWaiter = null;
      resume(); // an advance() drives time: no autojump while it steps
      return;
    }
    if (!this.autojumpOn || timers.nextDeadline() === Infinity) return;
    if (this.thresholdMs === 0) this.fireAt(timers.nextDeadline());
    else this.thresholdTimer ??= nodeSetTimeout(this.onThreshold, this.thresholdMs);
  };

  /** The hub stayed idle for the whole threshold (any turn in between cleared this timer). */
  private readonly onThreshold = (): void => {
    this.thresholdTimer = null;
    if (active !== this || !hubIsIdle() || this.stepWaiter !== null || !this.autojumpOn) return;
    const next = timers.nextDeadline();
    if (next !== Infinity) this.fireAt(next);
  };

  private checkCanRun(): void {
    if (active !== null) {
      throw new VirtualClockError(
        `${active === this ? 'this VirtualClock' : 'another VirtualClock'} is already running in this thread; ` +
          'one clock at a time: await the first clock.run() before starting another (tests that use a clock must not run concurrently)',
      );
    }
  }

  /** Hands the thread back to the real clock. */
  private release(): void {
    active = null;
    if (this.thresholdTimer !== null) nodeClearTimeout(this.thresholdTimer);
    this.thresholdTimer = null;
    const left = timers._takeAll();
    timers._setVirtual(null);
    _swapClock(this.realSource);
    // Greenlets still waiting go on as after run(), on the real clock, with the time they had left.
    const realMs = now();
    for (const e of left) {
      e.deadline = realMs + (e.deadline - this.ms);
      timers.add(e);
    }
    const paused = this.paused;
    this.paused = [];
    // A paused wait whose greenlet was woken meanwhile (the hub removes only scheduled ones):
    // left out, so that a stale deadline does not hold the process.
    for (const e of paused) if (e instanceof Wait && (e.g === null || e.g._wait !== e)) e._heapIndex = -1;
    timers._resumeAll(paused); // due ones fire on the next turn

    const waiter = this.stepWaiter;
    this.stepWaiter = null;
    if (waiter !== null) waiter();
  }
}

