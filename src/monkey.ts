/**
 * Monkey patching (gevent.monkey): makes Node's own `timers`, `dns`, `child_process` and `net`
 * cooperative inside greenlets. Each patch is described in patches/<module>.ts; this file keeps
 * the registry of what was replaced (gevent's `saved`), applies and undoes patches in place on
 * Node's shared module objects, and answers `isPatched`, `getOriginal` and `report`.
 *
 * Outside a greenlet, or called with a callback, every patched function hands the call to
 * Node's original unchanged.
 */
import Module from 'node:module';
import * as path from 'node:path';
import { Hook } from 'require-in-the-middle';
import shimmer from 'shimmer';
import { nodeSetImmediate } from './originals.js';
import { timersPatch } from '../patches/timers.js';
import { dnsPatch } from '../patches/dns.js';
import { childProcessPatch } from '../patches/child_process.js';
import { netPatch } from '../patches/net.js';

/** Wraps `target[prop]` with `make(original)`; what a patch file calls for each function it replaces. */
export type WrapFn = (target: object, prop: PropertyKey, make: (original: Function) => Function) => void;

/** Gives `target` a new property `prop` (a `toOp` method), removed again by unpatchAll. */
export type AddFn = (target: object, prop: PropertyKey, value: Function) => void;

/** One patch file's description: the Node module it patches and how. */
export interface PatchSpec {
  /** The builtin's name without `node:`: 'timers', 'dns', 'child_process', 'net'. */
  readonly module: string;
  /** Replaces what the patch wraps, calling `wrap` once per property. */
  apply(moduleExports: any, wrap: WrapFn, add: AddFn): void;
}

/** Which modules `patchAll` patches; every one is on by default. */
export interface PatchAllOptions {
  timers?: boolean;
  dns?: boolean;
  child_process?: boolean;
  net?: boolean;
}

interface SavedItem {
  target: object;
  prop: PropertyKey;
  /** undefined: the property did not exist before (unpatch deletes it). */
  descriptor: PropertyDescriptor | undefined;
  original: Function | undefined;
}

const SPECS: Record<string, PatchSpec> = {
  timers: timersPatch,
  dns: dnsPatch,
  child_process: childProcessPatch,
  net: netPatch,
};
const MODULE_NAMES = Object.keys(SPECS);

/** gevent's `saved`: module name -> what each patched property held before. */
const saved = new Map<string, SavedItem[]>();
/** Where each module was patched from (a stack line), for report(). */
const patchedFrom = new Map<string, string>();
let lastOptions: string | null = null;
let warnedEarly: string[] = [];

const ownDir = path.resolve(__dirname, '..');

function copyOwnProperties(from: Function, to: Function): void {
  for (const key of Reflect.ownKeys(from)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    if (Object.prototype.hasOwnProperty.call(to, key)) continue;
    Object.defineProperty(to, key, Object.getOwnPropertyDescriptor(from, key)!);
  }
  // The wrapper reports the original's name and arity, so `fn.name` logs stay the same.
  Object.defineProperty(to, 'name', { value: from.name, configurable: true });
  Object.defineProperty(to, 'length', { value: from.length, configurable: true });
}

function wrapperFor(moduleName: string): WrapFn {
  const items = saved.get(moduleName)!;
  // One original wrapped twice (timers.setTimeout and the global) gets one wrapper, so
  // `globalThis.setTimeout === timers.setTimeout` stays true.
  const made = new Map<Function, Function>();
  return (target, prop, make) => {
    const descriptor = Object.getOwnPropertyDescriptor(target, prop);
    const original = (target as Record<PropertyKey, unknown>)[prop];
    if (descriptor === undefined || typeof original !== 'function') return;
    items.push({ target, prop, descriptor, original });
    // shimmer's wrap takes string names; symbols never occur in our patches.
    shimmer.wrap(target as Record<string, Function>, prop as string, (orig: Function) => {
      let wrapped = made.get(orig);
      if (wrapped === undefined) {
        wrapped = make(orig);
        copyOwnProperties(orig, wrapped);
        made.set(orig, wrapped);
      }
      return wrapped;
    });
  };
}

function adderFor(moduleName: string): AddFn {
  const items = saved.get(moduleName)!;
  return (target, prop, value) => {
    if (Object.prototype.hasOwnProperty.call(target, prop)) return;
    items.push({ target, prop, descriptor: undefined, original: undefined });
    Object.defineProperty(target, prop, { value, configurable: true, writable: true });
  };
}

function callerSite(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const outside = lines.find((l) => !l.includes(ownDir) && !l.includes('node:internal'));
  return (outside ?? lines[lines.length - 1] ?? '').trim().replace(/^at /, '');
}

function patchModule(name: string): void {
  if (saved.has(name)) return; // gevent's _check_repatching: the same patch twice is a no-op
  saved.set(name, []);
  patchedFrom.set(name, callerSite());
  SPECS[name].apply(require(`node:${name}`), wrapperFor(name), adderFor(name));
  Module.syncBuiltinESMExports();
}

/** Patches `timers`: `yield setTimeout(ms)` and `yield setImmediate()` sleep cooperatively. @example monkey.patchTimers(); */
export function patchTimers(): void {
  patchModule('timers');
}

/** Patches `dns`: `yield dns.lookup(host)`, `resolve*`, `reverse` with no callback. @example monkey.patchDns(); */
export function patchDns(): void {
  patchModule('dns');
}

/** Patches `child_process`: `yield execSync(...)`, `execFileSync`, `spawnSync`, `yield child`. @example monkey.patchChildProcess(); */
export function patchChildProcess(): void {
  patchModule('child_process');
}

/** Patches `net`: `yield net.connect(...)` gives a cooperative socket, `yield server.listen(...)` the server. @example monkey.patchNet(); */
export function patchNet(): void {
  patchModule('net');
}

function checkOptions(options: unknown): PatchAllOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`patchAll(options) takes an object such as { net: false }, got ${options === null ? 'null' : typeof options}`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (!MODULE_NAMES.includes(key)) {
      throw new RangeError(`patchAll: unknown option '${key}'; the options are ${MODULE_NAMES.join(', ')} (each true or false)`);
    }
    if (typeof value !== 'boolean') {
      throw new TypeError(`patchAll: option '${key}' must be true or false, got ${typeof value}`);
    }
  }
  return options as PatchAllOptions;
}

/** User modules already loaded while a builtin we patch was loaded too: they may hold originals. */
function modulesLoadedBefore(): string[] {
  return Object.keys(require.cache).filter(
    (f) => !f.startsWith(ownDir + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`),
  );
}

function loadedBuiltins(): string[] {
  return (process as unknown as { moduleLoadList?: string[] }).moduleLoadList ?? [];
}
// geventjs itself loads net (its sockets): a net loaded before this point tells us nothing.
const loadedWithUs = new Set(loadedBuiltins());

/**
 * Between geventjs loading and the first patchAll(), a require-in-the-middle hook notes which
 * file first requires each module we patch: a file that did so before patching may have copied
 * an original out of it, and the warning can name that file exactly rather than guess from
 * every module loaded. The hook goes away at the first patchAll(), or after the turn geventjs
 * loaded in (patching belongs to start-up, and a program that never patches must not pay for
 * the hook on every require); later, the warning falls back to the modules loaded so far.
 * (Patching itself is eager and in place: an ESM `import` of a builtin never passes
 * through a require hook, so patching lazily at first require would miss it.)
 */
const requiredBefore = new Map<string, string>();
let earlyHook: Hook | null = new Hook(['dns', 'child_process', 'net'], { internals: false }, (exports, name) => {
  const by = requirerFile();
  if (by !== undefined && !requiredBefore.has(name)) requiredBefore.set(name, by);
  return exports;
});
nodeSetImmediate(stopWatchingRequires).unref();

function stopWatchingRequires(): void {
  earlyHook?.unhook();
  earlyHook = null;
}

/** The user file whose `require` is running: the first stack frame outside Node, geventjs and the hook. */
function requirerFile(): string | undefined {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    // "at fn (/abs/file.js:1:2)" or "at /abs/file.js:1:2"; not "node:internal/...".
    const m = /(?:\(|at )((?:\/|[A-Za-z]:\\)[^():]+):\d+:\d+\)?$/.exec(line.trim());
    if (m === null) continue;
    const file = m[1]!;
    if (file.startsWith(ownDir + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`)) continue;
    return file;
  }
  return undefined;
}

function warnIfLate(names: string[]): void {
  stopWatchingRequires();
  const loadList = loadedBuiltins();
  // timers is loaded by Node itself at startup: only modules a program loads count.
  const early = names.filter(
    (n) => n !== 'timers' && loadList.includes(`NativeModule ${n}`) && !(n === 'net' && loadedWithUs.has('NativeModule net')),
  );
  // Precise where the hook saw the require; otherwise every user module loaded so far.
  const seen = early.filter((n) => requiredBefore.has(n)).map((n) => `${requiredBefore.get(n)} (${n})`);
  const users = seen.length > 0 ? seen : modulesLoadedBefore();
  if (early.length === 0 || users.length === 0 || warnedEarly.length > 0) return;
  warnedEarly = users;
  process.emitWarning(
    `geventjs: patchAll() ran after ${users.join(', ')} loaded; ${early.join(', ')} was already loaded, ` +
      `so a module that copied a function out of it (const { execSync } = require('child_process')) keeps the original. ` +
      `Patch first: node -r geventjs/patch app.js, or call patchAll() before other requires.`,
    'MonkeyPatchWarning',
  );
}

/**
 * Patches every module (or those the options leave on), like gevent's `patch_all()`. Calling
 * it again is harmless; with different options it warns and patches what is newly asked for.
 *
 * @example
 * const { monkey } = require('geventjs');
 * monkey.patchAll();             // or patchAll({ net: false })
 * spawn(function* () { const out = yield execSync('echo hi'); });
 */
export function patchAll(options?: PatchAllOptions): void {
  const opts = checkOptions(options);
  const key = JSON.stringify(Object.fromEntries(MODULE_NAMES.map((n) => [n, opts[n as keyof PatchAllOptions] !== false])));
  if (lastOptions !== null && lastOptions !== key) {
    process.emitWarning(`geventjs: patchAll() called again with different options (${key}, was ${lastOptions})`, 'MonkeyPatchWarning');
  }
  lastOptions = key;
  const names = MODULE_NAMES.filter((n) => opts[n as keyof PatchAllOptions] !== false);
  warnIfLate(names);
  for (const name of names) patchModule(name);
}

/**
 * True when `name` ('timers', 'dns', 'child_process', 'net') is patched.
 *
 * @example
 * monkey.isPatched('dns'); // false until patchDns() or patchAll()
 */
export function isPatched(name: string): boolean {
  return saved.has(name.replace(/^node:/, ''));
}

/**
 * Node's original `item` of module `name`, as it was before patching (gevent's get_original):
 * for a real blocking call inside a greenlet.
 *
 * @example
 * const execSync = monkey.getOriginal('child_process', 'execSync');
 * execSync('sleep 1'); // blocks the whole process, on purpose
 */
export function getOriginal(name: string, item: string): Function {
  const bare = String(name).replace(/^node:/, '');
  if (!MODULE_NAMES.includes(bare)) {
    throw new RangeError(`getOriginal: unknown module '${name}'; geventjs patches ${MODULE_NAMES.join(', ')}`);
  }
  const found = saved.get(bare)?.find((s) => s.prop === item);
  if (found === undefined || found.original === undefined) {
    throw new RangeError(
      `getOriginal('${bare}', '${item}'): ${bare}.${item} is not patched` +
        (saved.has(bare) ? '' : ` (${bare} was never patched)`) + `; use require('node:${bare}').${item} directly`,
    );
  }
  return found.original;
}

/**
 * Undoes every patch: each property gets back its exact original value and descriptor.
 *
 * @example
 * monkey.patchAll(); monkey.unpatchAll(); // require('timers').setTimeout is Node's again
 */
export function unpatchAll(): void {
  for (const items of saved.values()) {
    // Newest first, so a property wrapped twice ends up with its very first value.
    for (let i = items.length - 1; i >= 0; i--) {
      const { target, prop, descriptor } = items[i];
      if (descriptor === undefined) delete (target as Record<PropertyKey, unknown>)[prop];
      else Object.defineProperty(target, prop, descriptor);
    }
  }
  saved.clear();
  patchedFrom.clear();
  lastOptions = null;
  Module.syncBuiltinESMExports();
}

/**
 * What is patched, from where, and which modules were loaded before patching.
 *
 * @example
 * console.log(monkey.report());
 * // timers: patched (setTimeout, setImmediate, ...) from /app/main.js:1:8
 */
export function report(): string {
  const lines: string[] = [];
  for (const name of MODULE_NAMES) {
    const items = saved.get(name);
    if (items === undefined) {
      lines.push(`${name}: not patched`);
      continue;
    }
    const props = [...new Set(items.map((i) => (typeof i.prop === 'symbol' ? `yield ${(i.target as object).constructor.name}` : String(i.prop))))].join(', ');
    lines.push(`${name}: patched (${props}) from ${patchedFrom.get(name)}`);
  }
  if (warnedEarly.length > 0) lines.push(`loaded before patching (may hold originals): ${warnedEarly.join(', ')}`);
  return lines.join('\n');
}
