/**
 * The Op a patched Node call returns inside a greenlet: it starts Node's callback-style call
 * when the greenlet parks on it and wakes the greenlet with the callback's result or error.
 * It is marked `mustYield`, so a greenlet that forgets to yield it fails at its next switch
 * with a DroppedOpError naming the call and the fix.
 */
import { monitoringBlocking, noteBlocking, wake, wakeError } from './hub.js';
import { realNow } from './originals.js';
import { Wait } from './op.js';
import type { Greenlet } from './greenlet.js';

/** Delivers the outcome of a started call: `ok(value)` or `fail(error)`, at most once counts. */
export interface Outcome<T> {
  ok(value: T): void;
  fail(error: unknown): void;
}

/**
 * A Node call run cooperatively. `start` begins the call and returns a cancel function (or
 * nothing) that undoes it when the greenlet is killed or timed out first.
 *
 * @example
 * const op = new PatchedCall<string>('dns.lookup("localhost")', (out) => {
 *   origLookup('localhost', (err, a) => (err ? out.fail(err) : out.ok(a)));
 * });
 * const address = yield op;
 */
export class PatchedCall<T> extends Wait<T> implements Outcome<T> {
  private stop: void | (() => void) = undefined;
  /** Appended to the DroppedOpError message: how to get a real blocking call instead. */
  dropHint: string;

  constructor(
    private readonly label: string,
    private readonly start: (out: Outcome<T>) => void | (() => void),
    original?: [module: string, name: string],
  ) {
    super();
    this.mustYield = true;
    this.dropHint = original
      ? `; for a real blocking call use monkey.getOriginal('${original[0]}', '${original[1]}')`
      : '';
  }

  park(g: Greenlet): void {
    this.stop = this.start(this);
    // `start` may have finished synchronously (a validation error): g is then already woken.
    void g;
  }

  ok(value: T): void {
    const g = this.g;
    if (g !== null && g._wait === this) wake(g, value);
  }

  fail(error: unknown): void {
    const g = this.g;
    if (g !== null && g._wait === this) wakeError(g, error);
  }

  override cancel(): void {
    const stop = this.stop;
    this.stop = undefined;
    if (typeof stop === 'function') stop();
  }

  override describe(): string {
    return this.label;
  }
}

/** Short text for an argument in an error message: strings quoted and cut at 40 characters. */
export function showArg(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v == null) return String(v);
  return Array.isArray(v) ? '[...]' : '{...}';
}

// ---------------------------------------------------------------------------------------------
// Who gets an Op: the node_modules rule

/** Package names whose sync calls become Ops like the user's own (markCooperative). */
const cooperativePackages = new Set<string>(
  (process.env.GEVENTJS_COOPERATIVE ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
);
/** Files or directories of the user's own whose sync calls keep Node's behaviour (markBlocking). */
const blockingPaths: string[] = [];

const NODE_MODULES = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/g;

function firstFileName(_err: Error, sites: NodeJS.CallSite[]): string | null {
  return sites.length === 0 ? null : (sites[0].getFileName() ?? null);
}

/**
 * The file of the function that called `fn`, from one V8 call site (no stack text is built).
 * Error.prepareStackTrace is swapped only for the moment of the capture, so a source-map hook
 * or an APM agent's own prepareStackTrace never sees (nor changes) this capture.
 */
export function callerFile(fn: Function): string | null {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  try {
    Error.stackTraceLimit = 1;
    Error.prepareStackTrace = firstFileName;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, fn);
    const file = holder.stack;
    return typeof file === 'string' ? file : null;
  } catch {
    return null; // a frozen Error: the caller counts as the user's own code
  } finally {
    try {
      Error.prepareStackTrace = prepare;
      Error.stackTraceLimit = limit;
    } catch {
      // frozen: nothing was changed
    }
  }
}

/** The package a file belongs to ('@scope/name' or 'name', the innermost node_modules), or null. */
export function packageOf(file: string): string | null {
  let name: string | null = null;
  NODE_MODULES.lastIndex = 0;
  for (let m = NODE_MODULES.exec(file); m !== null; m = NODE_MODULES.exec(file)) {
    name = m[1].replace('\\', '/');
    NODE_MODULES.lastIndex = m.index + 1; // nested node_modules: the last one names the package
  }
  return name;
}

function normalizePath(p: string): string {
  return p.startsWith('file://') ? decodeURIComponent(new URL(p).pathname) : p;
}

/**
 * True when a patched sync call (execSync, execFileSync, spawnSync), made inside a greenlet,
 * must keep Node's own blocking behaviour because of who called it: code under a
 * `node_modules` folder (a package written without greenlets in mind, which expects a Buffer
 * and relies on the call throwing), unless the package is marked cooperative, or a file of
 * the user's own marked blocking. `fn` is the patched function itself: its caller is the
 * frame just above it.
 *
 * @example
 * function execSync(cmd) {
 *   if (getcurrent() === null || keepsNodeBehaviour(execSync)) return original(cmd);
 *   return new PatchedCall(...);
 * }
 */
export function keepsNodeBehaviour(fn: Function): boolean {
  const raw = callerFile(fn);
  if (raw === null) return false;
  if (blockingPaths.length !== 0) {
    const file = normalizePath(raw);
    for (const p of blockingPaths) {
      if (file === p || file.startsWith(p.endsWith('/') ? p : p + '/')) {
        lastBlockingCaller = `file ${file} (markBlocking)`;
        return true;
      }
    }
  }
  if (raw.indexOf('node_modules') < 0) return false;
  const pkg = packageOf(raw);
  if (pkg === null || cooperativePackages.has(pkg)) return false;
  lastBlockingCaller = `package "${pkg}"`;
  return true;
}

/** Who made the last call that `keepsNodeBehaviour` let block: 'package "name"' or a file. */
let lastBlockingCaller = '';

/**
 * Runs Node's own blocking call for a caller that `keepsNodeBehaviour` chose, and, when
 * `config.maxBlockingTime` is on, tells the blocking monitor who blocked the loop and for how
 * long, so its report names the package rather than only the greenlet.
 *
 * @example
 * if (keepsNodeBehaviour(execSync)) return runNodeBlocking('execSync("git status")', original, this, arguments);
 */
export function runNodeBlocking(what: string, original: Function, self: unknown, args: IArguments): unknown {
  if (!monitoringBlocking()) return original.apply(self, args);
  const who = lastBlockingCaller;
  const t0 = realNow();
  try {
    return original.apply(self, args);
  } finally {
    noteBlocking(`${what} from ${who} blocked for ${(realNow() - t0).toFixed(1)} ms (Node's own call: code under node_modules keeps it)`);
  }
}

/**
 * Marks packages (names as in `node_modules`, e.g. 'my-pkg' or '@scope/pkg') as written for
 * geventjs: inside a greenlet, their patched sync child_process calls return Ops like the
 * user's own code. The environment variable `GEVENTJS_COOPERATIVE=pkg1,pkg2` does the same
 * before the program starts.
 *
 * @example
 * markCooperative('my-greenlet-aware-lib');
 */
export function markCooperative(...packageNames: string[]): void {
  for (const name of packageNames) {
    if (typeof name !== 'string' || name === '' || name.includes('node_modules')) {
      throw new TypeError(`markCooperative(name) takes a package name such as 'my-pkg' or '@scope/pkg', got ${JSON.stringify(name) ?? String(name)}`);
    }
    cooperativePackages.add(name);
  }
}

/**
 * Marks files or directories of one's own (absolute paths) whose patched sync child_process
 * calls keep Node's blocking behaviour inside greenlets, as package code does: a file written
 * for plain Node that greenlets happen to call.
 *
 * @example
 * markBlocking(__filename);                      // this file
 * markBlocking(path.join(__dirname, 'legacy'));  // everything under legacy/
 */
export function markBlocking(...paths: string[]): void {
  for (const p of paths) {
    if (typeof p !== 'string' || !(p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('file://'))) {
      throw new TypeError(`markBlocking(path) takes an absolute file or directory path (e.g. __filename), got ${JSON.stringify(p) ?? String(p)}`);
    }
    blockingPaths.push(normalizePath(p));
  }
}
