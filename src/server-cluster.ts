/**
 * The cluster half of `StreamServer({ workers })`: the primary's arbiter (forks the workers,
 * learns their port from the workers' own StreamServer, replaces crashed workers, stops them
 * gracefully) and the worker's side of the conversation (says "listening" or "failed", obeys
 * "stop"). Messages go over the cluster IPC channel, tagged so that user messages and other
 * listeners in the worker (a metrics HTTP server) are never taken for the server's.
 *
 * @example
 * // in the primary (StreamServer does this for you):
 * const arbiter = new WorkerArbiter('127.0.0.1:0#0', 2);
 * const port = yield* arbiter.start(['127.0.0.1', 0]);
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { abortable } from './abortable.js';
import { config } from './hub.js';
import { Op, opFrom } from './op.js';
import type { Address } from './socket.js';

/** The tag on every message between a StreamServer's primary and its workers. */
const TAG = 'geventjs.StreamServer';

/** The environment variable that gives a replacement worker the ports already bound. */
const PORTS_ENV = 'GEVENTJS_SERVER_PORTS';

/**
 * After this many replacements in a row die before their server listens, stop replacing
 * (gunicorn halts on a worker that fails to boot: the code or the environment is broken, and
 * restarting forever would only hide it). Workers that crash after they served are always
 * replaced, with the backoff.
 */
const BOOT_FAILURE_LIMIT = 5;
/** A worker that ran at least this long before it died starts the backoff again. */
const QUICK_CRASH_S = 10;
/** The first replacement waits this long; each quick crash in a row doubles it, up to MAX. */
const FIRST_BACKOFF_S = 0.1;
const MAX_BACKOFF_S = 10;
/** A worker still alive this long after its stop timeout is killed (SIGKILL). */
const KILL_GRACE_S = 3;

/** The longest delay Node's setTimeout keeps as given (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms` milliseconds, of any size: Node fires a setTimeout past 2^31-1 ms
 * after 1 ms instead, so a long delay is armed in steps; Infinity never fires.
 */
function afterLong(ms: number, fn: () => void): { clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number) => {
    const step = Math.min(left, MAX_TIMER_MS);
    timer = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
  };
  if (ms !== Infinity) arm(ms);
  return { clear: () => clearTimeout(timer) };
}

interface ServerMessage {
  tag: typeof TAG;
  key: string;
  event: 'listening' | 'error' | 'stop';
  port?: number;
  code?: string;
  message?: string;
  timeout?: number | null;
}

function isServerMessage(m: unknown, key: string): m is ServerMessage {
  return m !== null && typeof m === 'object' && (m as ServerMessage).tag === TAG && (m as ServerMessage).key === key;
}

function report(line: string): void {
  try {
    config.errorStream.write(`geventjs: ${line}\n`);
  } catch {
    // a broken error stream must not take the arbiter down
  }
}

function seconds(): number {
  return performance.now() / 1000;
}

/**
 * The port a replacement worker must bind for `key` (the primary's first workers bound it).
 *
 * @example
 * const port = inheritedPort('127.0.0.1:0#0') ?? 0;
 */
export function inheritedPort(key: string): number | undefined {
  const raw = process.env[PORTS_ENV];
  if (raw === undefined) return undefined;
  try {
    const ports = JSON.parse(raw) as Record<string, unknown>;
    const p = Object.prototype.hasOwnProperty.call(ports, key) ? ports[key] : undefined;
    return typeof p === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

/** The path of the preload that patches everything (dist/src/patch.js next to this file). */
function patchPreload(): string | null {
  const p = path.join(__dirname, 'patch.js');
  return fs.existsSync(p) ? p : null;
}

/** True when this process was monkey-patched (the monkey module is loaded and patched net). */
function primaryIsPatched(): boolean {
  const monkey = require.cache[path.join(__dirname, 'monkey.js')]?.exports as { isPatched?(n: string): boolean } | undefined;
  return typeof monkey?.isPatched === 'function' && monkey.isPatched('net');
}

/**
 * Workers run the same script as the primary; under the `geventjs` CLI or a `patchAll()` the
 * primary is patched but a plain `node script.js` worker would not be: preload the patch.
 */
function setupWorkerPatching(): void {
  if (!primaryIsPatched()) return;
  const preload = patchPreload();
  if (preload === null) return;
  const execArgv = cluster.settings.execArgv ?? process.execArgv;
  if (execArgv.some((a) => a === preload || /geventjs[\\/]patch(\.js)?$/.test(a) || /[\\/]dist[\\/]src[\\/]patch\.js$/.test(a))) return;
  cluster.setupPrimary({ execArgv: [...execArgv, '-r', preload] });
}

/**
 * The primary's side of a `workers` server, after gunicorn's arbiter: forks the workers,
 * waits for each one's StreamServer to listen (or fail), replaces workers that die while the
 * server runs (with a backoff and a limit, each reported on `config.errorStream`), and stops
 * them gracefully.
 *
 * @example
 * const arbiter = new WorkerArbiter('127.0.0.1:0#0', 2);
 * const port = yield* arbiter.start(['127.0.0.1', 0]);
 * yield* arbiter.stop(1);
 */
export class WorkerArbiter {
  /** Live workers. */
  readonly workers = new Set<Worker>();
  private port = 0;
  private bindPort = 0;
  private stopping = false;
  /** Crashes in a row, each within QUICK_CRASH_S of its worker's start: sets the backoff. */
  private quickCrashes = 0;
  /** Replacements in a row that died before they listened. */
  private bootFailures = 0;
  private readonly listened = new WeakSet<Worker>();
  private readonly bornAt = new Map<Worker, number>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private onGiveUp: ((e: Error) => void) | null = null;

  constructor(
    private readonly key: string,
    private readonly count: number,
  ) {}

  /** Calls `fn` when the last worker is gone and no more are started (too many failed starts in a row). */
  whenGivenUp(fn: (e: Error) => void): void {
    this.onGiveUp = fn;
  }

  /** Forks the workers; gives the port their StreamServer listens on, or raises its error. */
  start(address: Address): Op<number> {
    return opFrom(
      function* (this: WorkerArbiter) {
        this.stopping = false;
        this.quickCrashes = 0;
        this.bootFailures = 0;
        this.bindPort = address[1];
        setupWorkerPatching();
        const forked = Array.from({ length: this.count }, () => this.fork(address[1]));
        try {
          const ports = yield* abortable(() => Promise.all(forked.map((w) => this.listening(w))));
          this.port = ports[0];
          for (const w of forked) {
            this.listened.add(w);
            this.watch(w);
          }
          return this.port;
        } catch (e) {
          this.stopping = true;
          for (const w of forked) if (!w.isDead()) w.process.kill('SIGKILL');
          this.workers.clear();
          throw e;
        }
      }.bind(this),
      'StreamServer.start() (cluster primary)',
    );
  }

  private fork(port: number): Worker {
    const ports = JSON.stringify({ [this.key]: port });
    const w = cluster.fork({ [PORTS_ENV]: ports });
    // A fork that fails (EAGAIN, ENOMEM) emits 'error' and then 'exit': reported, never thrown.
    w.on('error', (e: Error) => report(`StreamServer worker ${w.process.pid ?? '(not started)'}: ${e.message}`));
    this.workers.add(w);
    this.bornAt.set(w, seconds());
    w.once('exit', () => {
      this.workers.delete(w);
      this.bornAt.delete(w);
    });
    return w;
  }

  /** Resolves with the port the worker's StreamServer (this key's) listens on. */
  private listening(w: Worker): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        if (!isServerMessage(m, this.key)) return;
        if (m.event === 'listening') done(() => resolve(m.port!));
        else if (m.event === 'error') {
          const e = new Error(`StreamServer worker ${w.process.pid}: ${m.message}`) as NodeJS.ErrnoException & { fromWorker?: boolean };
          if (m.code !== undefined) e.code = m.code;
          e.fromWorker = true;
          done(() => reject(e));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        done(() =>
          reject(new Error(`StreamServer: worker ${w.process.pid} exited (${signal ?? `code ${code}`}) before its server listened; see its error output above`)),
        );
      };
      const done = (settle: () => void) => {
        w.removeListener('message', onMessage);
        w.removeListener('exit', onExit);
        settle();
      };
      w.on('message', onMessage);
      w.once('exit', onExit);
    });
  }

  /** Replaces `w` when it dies while the server runs. */
  private watch(w: Worker): void {
    w.once('exit', (code: number | null, signal: string | null) => {
      if (!this.stopping) this.onCrash(w, signal !== null ? `was killed by ${signal}` : `exited with code ${code}`);
    });
  }

  private onCrash(w: Worker, how: string): void {
    const booted = this.listened.has(w);
    const lived = seconds() - (this.bornAt.get(w) ?? seconds());
    this.quickCrashes = booted && lived >= QUICK_CRASH_S ? 1 : this.quickCrashes + 1;
    const pid = w.process.pid;
    if (!booted) {
      this.bootFailures++;
      how += ' before its server listened';
      if (this.bootFailures >= BOOT_FAILURE_LIMIT) {
        const left = this.workers.size;
        report(`StreamServer worker ${pid} ${how}; ${BOOT_FAILURE_LIMIT} replacements in a row failed to start, so no more are started (${left} worker${left === 1 ? '' : 's'} left)`);
        if (left === 0) this.onGiveUp?.(new Error(`StreamServer: every worker died and ${BOOT_FAILURE_LIMIT} replacements in a row failed to start; see the error output`));
        return;
      }
    }
    const delay = Math.min(FIRST_BACKOFF_S * 2 ** (this.quickCrashes - 1), MAX_BACKOFF_S);
    const count = booted ? `crash ${this.quickCrashes} in a row` : `failed start ${this.bootFailures} of at most ${BOOT_FAILURE_LIMIT} in a row`;
    report(`StreamServer worker ${pid} ${how}; starting a replacement in ${delay} s (${count})`);
    const t = setTimeout(() => {
      this.restartTimers.delete(t);
      if (!this.stopping) this.replace();
    }, delay * 1000);
    this.restartTimers.add(t);
  }

  private replace(): void {
    // Node's cluster shares one listening socket per (address, port as asked): while another
    // worker holds it, the replacement must ask for the same port (0 stays 0) to join it;
    // with none left it is gone, and the port the clients know is bound again.
    const w = this.fork(this.workers.size > 0 ? this.bindPort : this.port);
    this.watch(w);
    this.listening(w).then(
      (port) => {
        this.listened.add(w);
        this.bootFailures = 0;
        if (port !== this.port) report(`StreamServer replacement worker ${w.process.pid} listens on port ${port}, not ${this.port}`);
      },
      (e: Error & { fromWorker?: boolean }) => {
        if (!e.fromWorker) return; // an exit before listening: onCrash reports it
        report(e.message);
        // A worker whose server cannot listen is of no use; its exit counts as a failed start.
        if (!w.isDead()) w.process.kill('SIGKILL');
      },
    );
  }

  /**
   * Tells every worker to stop gracefully (stop accepting, finish or kill its handlers within
   * `timeout` seconds, then exit) and waits for them to exit. A worker still alive
   * KILL_GRACE_S seconds after its timeout is killed and reported; `null` waits forever.
   */
  stop(timeout: number | null): Op<void> {
    return opFrom(
      function* (this: WorkerArbiter) {
        this.stopping = true;
        for (const t of this.restartTimers) clearTimeout(t);
        this.restartTimers.clear();
        const workers = [...this.workers];
        const exits = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
        for (const w of workers) {
          if (w.isConnected()) {
            const msg: ServerMessage = { tag: TAG, key: this.key, event: 'stop', timeout };
            w.send(msg, undefined, () => {}); // a worker that dies meanwhile is not an error
          } else if (!w.isDead()) w.process.kill('SIGTERM');
        }
        let timer: { clear(): void } | undefined;
        if (timeout !== null) {
          timer = afterLong((timeout + KILL_GRACE_S) * 1000, () => {
            for (const w of workers) {
              if (w.isDead()) continue;
              report(`StreamServer worker ${w.process.pid} was still alive ${KILL_GRACE_S} s after its stop timeout (${timeout} s); killed with SIGKILL`);
              w.process.kill('SIGKILL');
            }
          });
        }
        try {
          yield* abortable(() => Promise.all(exits));
        } finally {
          timer?.clear();
        }
      }.bind(this),
      'StreamServer.stop() (cluster primary)',
    );
  }
}

/**
 * In a worker: tells the primary that this key's server listens on `port`.
 *
 * @example
 * yield* tellPrimary('127.0.0.1:0#0', { event: 'listening', port: 8080 });
 */
export function tellPrimary(key: string, what: { event: 'listening'; port: number } | { event: 'error'; code?: string; message: string }): Op<void> {
  const msg: ServerMessage = { tag: TAG, key, ...what };
  // Waits for the send: a worker that dies of the error right after must not lose it.
  return abortable(
    () =>
      new Promise<void>((resolve) => {
        if (typeof process.send !== 'function' || !process.connected) resolve();
        else process.send(msg, undefined, {}, () => resolve());
      }),
  );
}

/**
 * In a worker: calls `onStop(timeout)` when the primary asks this key's server to stop.
 * Gives a function that removes the listener.
 *
 * @example
 * const off = onStopRequest(key, (timeout) => spawn(() => server.stop({ timeout })));
 */
export function onStopRequest(key: string, onStop: (timeout: number | null) => void): () => void {
  const listener = (m: unknown) => {
    if (isServerMessage(m, key) && m.event === 'stop') onStop(m.timeout === undefined ? null : m.timeout);
  };
  process.on('message', listener);
  return () => process.removeListener('message', listener);
}
