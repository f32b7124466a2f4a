/**
 * gevent's ThreadPool on Node's worker_threads: CPU-bound or blocking work runs in up to
 * `size` worker threads while greenlets keep running. A task is a function and its arguments;
 * since a worker is a separate JavaScript world, the function travels either
 *   - as its source text (a function expression, an arrow function or a method): it must be
 *     self-contained, using only its arguments, globals and `require` (no variables from the
 *     scope around it), or
 *   - as `{ module, name }`: the export `name` of the module at the absolute path `module`.
 * Arguments and results are copied with the structured clone algorithm (postMessage).
 * A greenlet killed while it waits stops waiting; the task itself finishes in its thread
 * (a thread cannot be interrupted, as in gevent) and its result is dropped.
 *
 * Threads never hold the program open by themselves, as gevent's do not: an idle thread is
 * unref'd, and a busy one keeps the program alive only while its result is still wanted (a
 * `spawn()` result, or a greenlet waiting in `apply`, `map` or `join`), and, like every handle
 * geventjs makes for greenlets, only while the program's `run()` roots are alive.
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
import { describeValue, ownOptions } from './arg-checks.js';
import { config } from './hub.js';
import { holdProcess, releaseProcess } from './keep-alive.js';
import { Op, doneOp, opFrom } from './op.js';

// Captured at load, like every original the library calls.
const NodeWorker = Worker;
const functionSource = Function.prototype.toString;

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

/** What a worker answers: `[id, DONE | FAILED, value]`, or `[id, LATE, error]`. */
const DONE = 0;
const FAILED = 1;
const LATE = 2;

/**
 * The worker's program: run tasks by message, answer `[id, status, value]`. Each task runs in
 * an async context of its own (an AsyncLocalStorage holding its id), so an error thrown later
 * by a callback it left behind is charged to it: it fails the task if it is still running,
 * and is reported (LATE) if it already answered, instead of killing the thread and failing
 * whichever unrelated task runs there next.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { AsyncLocalStorage } = require('node:async_hooks');
const taskOf = new AsyncLocalStorage();
const running = new Set();
const cache = new Map();
function describe(e) {
  return e instanceof Error
    ? { name: e.name, message: e.message, stack: e.stack, code: e.code }
    : { name: 'Error', message: 'a task threw a non-Error value: ' + String(e) };
}
function resolve(fn) {
  const key = typeof fn === 'string' ? fn : fn.module + '#' + fn.name;
  let f = cache.get(key);
  if (f === undefined) {
    if (typeof fn === 'string') {
      try { f = (0, eval)('(' + fn + '\\n)'); }
      catch (e) { throw new SyntaxError('ThreadPool: the function does not compile on its own in a thread (' + e.message + '); pass a function expression, an arrow function, or { module, name }'); }
    } else {
      f = require(fn.module)[fn.name];
    }
    if (typeof f !== 'function') throw new TypeError('ThreadPool: ' + (typeof fn === 'string' ? 'the source' : fn.module + ' export ' + JSON.stringify(fn.name)) + ' is not a function');
    cache.set(key, f);
  }
  return f;
}
function fail(e) {
  const id = taskOf.getStore();
  if (id !== undefined && running.delete(id)) parentPort.postMessage([id, ${FAILED}, describe(e)]);
  else parentPort.postMessage([id === undefined ? -1 : id, ${LATE}, describe(e)]);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
parentPort.on('message', ([id, fn, args]) => {
  running.add(id);
  taskOf.run(id, async () => {
    let answer;
    try {
      answer = [id, ${DONE}, await resolve(fn)(...args)];
    } catch (e) {
      answer = [id, ${FAILED}, describe(e)];
    }
    if (!running.delete(id)) return; // a callback of it already failed it
    try {
      parentPort.postMessage(answer);
    } catch (e) {
      parentPort.postMessage([id, ${FAILED}, describe(e)]); // a result that cannot be copied
    }
  });
});
`;

interface Task {
  id: number;
  fn: string | ModuleFunction;
  args: unknown[];
  result: AsyncResult<any>;
  /** A spawn() caller holds its AsyncResult and may wait any time: it is always wanted. */
  held: boolean;
  /** Greenlets waiting in apply() or map() for it right now. */
  waiters: number;
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

const RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await').split(' '),
);

/** `name(...) {`, `async name(`, `*name(`, `async *name(`: a method written in shorthand. */
const METHOD = /^(async(?:\s+|\s*(?=\*)))?(\*\s*)?([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*\(/u;
const FUNCTION_OR_ARROW = /^(async\s*)?(function\b|\(|[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*\s*=>)/u;

/**
 * The source text to send for a function, in a form that compiles alone:
 * function expressions and arrow functions as they are; a method written in shorthand
 * (`{ fib(n) { ... } }.fib`) rewritten to `function fib(n) { ... }`; anything whose source
 * cannot stand alone (built-in and bound functions, classes, getters and setters, methods
 * with computed or quoted names) refused with a TypeError naming the fix.
 */
function sourceOf(fn: (...args: any[]) => unknown, what: string): string {
  // Function.prototype.toString itself: an own `toString` on the function must not choose
  // what code a thread runs.
  const src = functionSource.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(src)) {
    if (fn.name.startsWith('bound ')) {
      throw new TypeError(
        `${what}: ${fn.name} is a bound function: its \`this\` and bound arguments live in this thread and cannot ` +
          'be sent to a worker; pass the function itself and its arguments in args (pool.apply(f, [a, b])), ' +
          'or use { module, name }',
      );
    }
    throw new TypeError(
      `${what}: ${fn.name || 'this function'} is built in or native; its source cannot go to a worker. ` +
        'Wrap it: (x) => Math.sqrt(x)',
    );
  }
  if (/^class\b/.test(src)) {
    throw new TypeError(`${what}: ${fn.name || 'this'} is a class, which cannot be called; pass a function that uses it, e.g. (x) => new Thing(x).run()`);
  }
  if (FUNCTION_OR_ARROW.test(src)) return src;
  const m = METHOD.exec(src);
  if (m !== null && !((m[3] === 'get' || m[3] === 'set') && /^(get|set)\s+[^\s(]/.test(src))) {
    const [head, isAsync, star, name] = m;
    const named = RESERVED.has(name) ? '' : ` ${name}`;
    return `${isAsync ? 'async ' : ''}function${star ? '*' : ''}${named}${src.slice(head.length - 1)}`;
  }
  throw new TypeError(
    `${what}: the source of ${fn.name ? `"${fn.name}"` : 'this function'} cannot stand alone in a worker ` +
      '(a getter, a setter or a method with a computed or quoted name); pass a function expression, ' +
      'an arrow function, or { module, name }',
  );
}

function taskFunction(fn: unknown, what: string): string | ModuleFunction {
  if (typeof fn === 'function') return sourceOf(fn as (...args: any[]) => unknown, what);
  if (typeof fn === 'object' && fn !== null) {
    // Own properties only: a `module` planted on Object.prototype must never pick the code.
    const o = ownOptions(fn as ModuleFunction, what);
    if (typeof o.module === 'string' && typeof o.name === 'string') return { module: o.module, name: o.name };
  }
  throw new TypeError(`${what} needs a function or { module, name }, got ${describeValue(fn)}`);
}

/** `apply`'s body: the one result of a one-task wait (hoisted: see `results`). */
function* firstOf(results: Op<unknown[]>): Generator<unknown, unknown, unknown> {
  return (yield* results)[0];
}

/**
 * A pool of at most `size` worker threads running functions off the hub's thread. Threads
 * start on demand and never hold the program open by themselves.
 *
 * Accepted functions: function expressions (`function f(x) {}`, async and generator ones
 * too), arrow functions, and methods written in shorthand (`{ f(x) {} }.f`), all
 * self-contained; or `{ module, name }` for anything else. Bound and built-in functions,
 * classes, getters and setters are a TypeError naming the fix.
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
  private joiners = 0;
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
    return this.submit(this.checkOpen(fn, 'ThreadPool.spawn(fn)'), args, true).result;
  }

  /** The function in the form sent to a thread; throws first if the pool takes no more tasks. */
  private checkOpen(fn: unknown, what: string): string | ModuleFunction {
    if (this.closed) throw new Error(`${what}: the pool is closed; make a new ThreadPool`);
    return taskFunction(fn, what);
  }

  private submit(fn: string | ModuleFunction, args: unknown[], held: boolean): Task {
    const task: Task = { id: this.nextId++, fn, args, result: new AsyncResult(), held, waiters: 0 };
    this.drained.clear();
    const w = this.idle.pop() ?? (this.threads < this.size ? this.startWorker() : null);
    if (w) this.run(w, task);
    else this.queue.push(task);
    return task;
  }

  /**
   * Runs `fn(...args)` in a thread and gives its value: throws its error at the yield.
   *
   * @example
   * const n = yield* pool.apply(fib, [30]);
   */
  apply<A extends unknown[], R>(fn: ((...args: A) => R) | ModuleFunction, args: A = [] as unknown as A): Op<Awaited<R>> {
    if (!Array.isArray(args)) throw new TypeError(`ThreadPool.apply(fn, args) needs args as an array, got ${describeValue(args)}`);
    const task = this.submit(this.checkOpen(fn, 'ThreadPool.apply(fn)'), args, false);
    const results = this.waitFor([task], 'ThreadPool.apply()');
    return opFrom(() => firstOf(results), 'ThreadPool.apply()') as Op<Awaited<R>>;
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
    const spec = this.checkOpen(fn, 'ThreadPool.map(fn)'); // a bad function fails before any task starts
    const tasks = Array.from(items, (item) => this.submit(spec, [item], false));
    return this.waitFor(tasks, 'ThreadPool.map()');
  }

  /** The results of `tasks` in order; while it waits, their threads hold the program. */
  private waitFor(tasks: Task[], label: string): Op<any[]> {
    return opFrom(() => this.results(tasks), label);
  }

  // (A generator method, not a `function*` written inside each call: V8 makes a fresh
  // generator closure a prototype and a map at its first call.)
  private *results(tasks: Task[]): Generator<unknown, unknown[], unknown> {
    for (const t of tasks) t.waiters++;
    this.updateHolds();
    try {
      const out: unknown[] = [];
      for (const t of tasks) out.push(yield* t.result.get());
      return out;
    } finally {
      for (const t of tasks) t.waiters--;
      this.updateHolds();
    }
  }

  /**
   * Waits until no task is queued or running; false if `timeout` seconds passed first.
   *
   * @example
   * pool.spawn(work); yield* pool.join();
   */
  join(opts: { timeout?: number | null } = {}): Op<boolean> {
    const o = ownOptions(opts, 'ThreadPool.join(options)');
    const wait = this.drained.wait({ timeout: o.timeout });
    const pool = this;
    return opFrom(function* () {
      pool.joiners++;
      pool.updateHolds();
      try {
        return yield* wait;
      } finally {
        pool.joiners--;
        pool.updateHolds();
      }
    }, 'ThreadPool.join()');
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
      this.end(w);
    }
    this.busy.clear();
    for (const w of this.idle) this.end(w);
    this.idle.length = 0;
    this.drained.set();
    return doneOp(undefined);
  }

  /**
   * Takes no more tasks. Idle threads end now; busy ones once the queued and running tasks
   * are done.
   *
   * @example
   * pool.close(); yield* pool.join();
   */
  close(): void {
    this.closed = true;
    for (const w of this.idle) this.end(w);
    this.idle.length = 0;
  }

  private end(w: Worker): void {
    releaseProcess(w);
    w.unref();
    void w.terminate();
  }

  private startWorker(): Worker {
    const w = new NodeWorker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', ([id, status, value]: [number, number, any]) => this.onAnswer(w, id, status, value));
    w.on('error', (e) => this.onWorkerDeath(w, e));
    w.on('exit', (code) => this.onWorkerDeath(w, new Error(`ThreadPool worker exited with code ${code} during a task`)));
    return w;
  }

  private run(w: Worker, task: Task): void {
    this.busy.set(w, task);
    this.hold(w, task);
    try {
      w.postMessage([task.id, task.fn, task.args]);
    } catch (e) {
      // Arguments that cannot be copied (functions, sockets): the task fails, the thread stays.
      this.busy.delete(w);
      task.result.setException(e);
      this.next(w);
    }
  }

  /** A busy thread holds the program while its task is wanted (see the module comment). */
  private hold(w: Worker, task: Task): void {
    if (task.held || task.waiters > 0 || this.joiners > 0) {
      w.ref();
      holdProcess(w); // unref'd again by the program-lifetime rule once every run() root settled
    } else {
      releaseProcess(w);
      w.unref();
    }
  }

  private updateHolds(): void {
    for (const [w, t] of this.busy) this.hold(w, t);
  }

  private onAnswer(w: Worker, id: number, status: number, value: any): void {
    if (status === LATE) {
      const who = id >= 0
        ? `a callback left behind by ThreadPool task ${id} threw after the task had answered (it cannot fail that task any more)`
        : 'code outside any ThreadPool task threw in a worker thread';
      config.errorStream.write(`geventjs: ${who}:\n${value.stack ?? `${value.name}: ${value.message}`}\n`);
      return;
    }
    const task = this.busy.get(w);
    if (task === undefined || task.id !== id) return;
    this.busy.delete(w);
    if (status === DONE) task.result.set(value);
    else task.result.setException(rebuildError(value));
    this.next(w);
  }

  private next(w: Worker): void {
    const task = this.queue.shift();
    if (task) return this.run(w, task);
    releaseProcess(w);
    w.unref();
    if (this.closed) void w.terminate();
    else this.idle.push(w);
    if (this.busy.size === 0) this.drained.set();
  }

  /** A thread that died (an uncaught error, process.exit in a task): fail its task, replace it. */
  private onWorkerDeath(w: Worker, e: Error): void {
    releaseProcess(w);
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
