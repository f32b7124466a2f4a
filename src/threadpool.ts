/**
 * gevent's ThreadPool on Node's worker_threads: CPU-bound or blocking work runs in up to
 * `size` worker threads while greenlets keep running. A task is a function and its arguments;
 * since a worker is a separate JavaScript world, the function travels either
 *   - as its source text (a plain function): it must be self-contained, using only its
 *     arguments, globals and `require` (no variables from the scope around it), or
 *   - as `{ module, name }`: the export `name` of the module at the absolute path `module`.
 * Arguments and results are copied with the structured clone algorithm (postMessage).
 * A greenlet killed while it waits stops waiting; the task itself finishes in its thread
 * (a thread cannot be interrupted, as in gevent) and its result is dropped.
 *
 * @example
 * import { run } from 'geventjs';
 * import { ThreadPool } from 'geventjs/threadpool';
 * const pool = new ThreadPool(2);
 * await run(function* () {
 *   console.log(yield* pool.apply((n: number) => n * n, [7])); // 49
 * });
 * pool.close();
 */
import { Worker } from 'node:worker_threads';
import { AsyncResult, Event } from './event.js';
import { describeValue } from './arg-checks.js';
import { Op, doneOp, opFrom } from './op.js';

// Captured at load, like every original the library calls.
const NodeWorker = Worker;

/**
 * A function exported by a module, for tasks that need imports or closures of their own.
 *
 * @example
 * const fib: ModuleFunction = { module: require.resolve('./fib.js'), name: 'fib' };
 */
export interface ModuleFunction {
  /** Absolute path of a CommonJS module (or anything `require` takes). */
  module: string;
  /** The export to call. */
  name: string;
}

/** The worker's program: run tasks by message, answer `[id, ok, value]`. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const cache = new Map();
function resolve(fn) {
  let f = cache.get(fn);
  if (f === undefined) {
    f = typeof fn === 'string' ? (0, eval)('(' + fn + ')') : require(fn.module)[fn.name];
    if (typeof f !== 'function') throw new TypeError('ThreadPool: ' + (typeof fn === 'string' ? 'the source' : fn.module + ' export ' + JSON.stringify(fn.name)) + ' is not a function');
    cache.set(typeof fn === 'string' ? fn : fn.module + '#' + fn.name, f);
  }
  return f;
}
parentPort.on('message', async ([id, fn, args]) => {
  try {
    const value = await resolve(fn)(...args);
    parentPort.postMessage([id, true, value]);
  } catch (e) {
    const err = e instanceof Error ? { name: e.name, message: e.message, stack: e.stack, code: e.code } : { name: 'Error', message: String(e) };
    parentPort.postMessage([id, false, err]);
  }
});
`;

interface Task {
  id: number;
  fn: string | ModuleFunction;
  args: unknown[];
  result: AsyncResult<any>;
}

/**
 * The error a task threw in its thread, rebuilt in this one (same name, message and stack).
 *
 * @example
 * try { yield* pool.apply(() => { throw new RangeError('no'); }); }
 * catch (e) { (e as ThreadError).name; } // 'RangeError'
 */
export class ThreadError extends Error {
  /** Node's error code, when the thrown error had one. */
  code?: string;
}

function rebuildError(e: { name: string; message: string; stack?: string; code?: string }): Error {
  const err = new ThreadError(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

function taskFunction(fn: unknown, what: string): string | ModuleFunction {
  if (typeof fn === 'function') {
    const src = fn.toString();
    if (src.includes('[native code]')) throw new TypeError(`${what}: ${fn.name || 'this function'} is built in; its source cannot go to a worker. Wrap it: (x) => Math.sqrt(x)`);
    return src;
  }
  const m = fn as ModuleFunction;
  if (typeof fn === 'object' && fn !== null && typeof m.module === 'string' && typeof m.name === 'string') return { module: m.module, name: m.name };
  throw new TypeError(`${what} needs a function or { module, name }, got ${describeValue(fn)}`);
}

/**
 * A pool of at most `size` worker threads running functions off the hub's thread. Threads
 * start on demand and do not keep the program alive while idle.
 *
 * @example
 * const pool = new ThreadPool(4);
 * const squares = yield* pool.map((n: number) => n * n, [1, 2, 3]); // [1, 4, 9]
 * pool.close();
 */
export class ThreadPool {
  /** The most threads it runs at once. */
  readonly size: number;
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Task>();
  private readonly queue: Task[] = [];
  private nextId = 0;
  private closed = false;
  private readonly drained = new Event();

  constructor(size: number) {
    if (typeof size !== 'number') throw new TypeError(`ThreadPool(size) needs a number of threads, got ${describeValue(size)}; pass e.g. 4`);
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ThreadPool(size) needs a whole number of threads >= 1, got ${size}; pass e.g. 4`);
    this.size = size;
    this.drained.set();
  }

  /** Tasks queued or running. */
  get pending(): number {
    return this.queue.length + this.busy.size;
  }

  /** Threads started (idle or busy). */
  get threads(): number {
    return this.idle.length + this.busy.size;
  }

  /**
   * Starts `fn(...args)` in a thread; gives an AsyncResult of its value (or its error).
   *
   * @example
   * const r = pool.spawn((a: number, b: number) => a + b, 1, 2);
   * yield* r.get(); // 3
   */
  spawn<A extends unknown[], R>(fn: ((...args: A) => R) | ModuleFunction, ...args: A): AsyncResult<Awaited<R>> {
    if (this.closed) throw new Error('ThreadPool.spawn(): the pool is closed; make a new ThreadPool');
    const task: Task = { id: this.nextId++, fn: taskFunction(fn, 'ThreadPool.spawn(fn)'), args, result: new AsyncResult() };
    this.drained.clear();
    const w = this.idle.pop() ?? (this.threads < this.size ? this.startWorker() : null);
    if (w) this.run(w, task);
    else this.queue.push(task);
    return task.result;
  }

  /**
   * Runs `fn(...args)` in a thread and gives its value: throws its error at the yield.
   *
   * @example
   * const n = yield* pool.apply(fib, [30]);
   */
  apply<A extends unknown[], R>(fn: ((...args: A) => R) | ModuleFunction, args: A = [] as unknown as A): Op<Awaited<R>> {
    if (!Array.isArray(args)) throw new TypeError(`ThreadPool.apply(fn, args) needs args as an array, got ${describeValue(args)}`);
    const r = this.spawn(fn, ...args);
    return r.get();
  }

  /**
   * `fn(item)` for every item, spread over the threads; gives the results in order.
   *
   * @example
   * const lengths = yield* pool.map((s: string) => s.length, ['a', 'bb']); // [1, 2]
   */
  map<I, R>(fn: ((item: I) => R) | ModuleFunction, items: Iterable<I>): Op<Awaited<R>[]> {
    if (items === null || typeof (items as Iterable<I>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`ThreadPool.map(fn, items) needs an iterable of items, got ${describeValue(items)}`);
    }
    const results = Array.from(items, (item) => this.spawn(fn as (item: I) => R, item));
    return opFrom(function* () {
      const out: Awaited<R>[] = [];
      for (const r of results) out.push(yield* r.get());
      return out;
    }, 'ThreadPool.map()');
  }

  /**
   * Waits until no task is queued or running.
   *
   * @example
   * pool.spawn(work); yield* pool.join();
   */
  join(opts: { timeout?: number | null } = {}): Op<boolean> {
    return this.drained.wait(opts);
  }

  /**
   * Stops every thread at once; queued and running tasks fail with an Error saying so.
   * The pool takes no more tasks.
   *
   * @example
   * yield* pool.kill();
   */
  kill(): Op<void> {
    this.closed = true;
    const err = () => new Error('ThreadPool was killed before this task finished');
    for (const t of this.queue) t.result.setException(err());
    this.queue.length = 0;
    for (const [w, t] of this.busy) {
      t.result.setException(err());
      void w.terminate();
    }
    this.busy.clear();
    for (const w of this.idle) void w.terminate();
    this.idle.length = 0;
    this.drained.set();
    return doneOp(undefined);
  }

  /**
   * Takes no more tasks; threads end once the queued and running tasks are done.
   *
   * @example
   * pool.close(); yield* pool.join();
   */
  close(): void {
    this.closed = true;
    if (this.pending === 0) this.endIdle();
  }

  private endIdle(): void {
    for (const w of this.idle) void w.terminate();
    this.idle.length = 0;
  }

  private startWorker(): Worker {
    const w = new NodeWorker(WORKER_SOURCE, { eval: true });
    w.on('message', ([id, ok, value]: [number, boolean, any]) => this.onAnswer(w, id, ok, value));
    w.on('error', (e) => this.onWorkerDeath(w, e));
    w.on('exit', (code) => this.onWorkerDeath(w, new Error(`ThreadPool worker exited with code ${code} during a task`)));
    return w;
  }

  private run(w: Worker, task: Task): void {
    this.busy.set(w, task);
    w.ref(); // a running task keeps the program alive, an idle thread does not
    try {
      w.postMessage([task.id, task.fn, task.args]);
    } catch (e) {
      // Arguments that cannot be copied (functions, sockets): the task fails, the thread stays.
      this.busy.delete(w);
      task.result.setException(e);
      this.next(w);
    }
  }

  private onAnswer(w: Worker, id: number, ok: boolean, value: any): void {
    const task = this.busy.get(w);
    if (task === undefined || task.id !== id) return;
    this.busy.delete(w);
    if (ok) task.result.set(value);
    else task.result.setException(rebuildError(value));
    this.next(w);
  }

  private next(w: Worker): void {
    const task = this.queue.shift();
    if (task) return this.run(w, task);
    w.unref();
    if (this.closed) void w.terminate();
    else this.idle.push(w);
    if (this.busy.size === 0) this.drained.set();
  }

  /** A thread that died (an uncaught error, process.exit in a task): fail its task, replace it. */
  private onWorkerDeath(w: Worker, e: Error): void {
    const task = this.busy.get(w);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    if (task === undefined) return;
    this.busy.delete(w);
    task.result.setException(e);
    const queued = this.queue.shift();
    if (queued) this.run(this.startWorker(), queued);
    else if (this.busy.size === 0) this.drained.set();
  }
}
