/**
 * Monkey patching (gevent.monkey): makes Node's own `timers`, `dns`, `child_process`, `net`,
 * `http`, `https` and the global `fetch` cooperative inside greenlets. Each patch is described
 * in patches/<module>.ts; this file keeps the registry of what was replaced (gevent's
 * `saved`), applies and undoes patches in place on Node's shared module objects, and answers
 * `isPatched`, `getOriginal` and `report`.
 *
 * Outside a greenlet, or called with a callback, every patched function hands the call to
 * Node's original unchanged. Loading this module costs nothing beyond itself: no require hook,
 * no patch, until a patch function is called.
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import shimmer from 'shimmer';
import { timersPatch } from '../patches/timers.js';
import { dnsPatch } from '../patches/dns.js';
import { childProcessPatch } from '../patches/child_process.js';
import { netPatch } from '../patches/net.js';
import { httpPatch } from '../patches/http.js';
import { httpsPatch } from '../patches/https.js';
import { fetchPatch } from '../patches/fetch.js';

import type { AddFn, PatchSpec, WrapFn } from './patch-spec.js';
export type { AddFn, PatchSpec, WrapFn } from './patch-spec.js';
export { markBlocking, markCooperative } from './patched-call.js';

/** Which modules `patchAll` patches; every one is on by default. */
export interface PatchAllOptions {
  timers?: boolean;
  dns?: boolean;
  child_process?: boolean;
  net?: boolean;
  http?: boolean;
  https?: boolean;
  fetch?: boolean;
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
  http: httpPatch,
  https: httpsPatch,
  fetch: fetchPatch,
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
  const wrappers = new Set<Function>();
  return (target, prop, make) => {
    const descriptor = Object.getOwnPropertyDescriptor(target, prop);
    const original = (target as Record<PropertyKey, unknown>)[prop];
    if (descriptor === undefined || typeof original !== 'function' || wrappers.has(original)) return;
    // Wrapping a property again (Node replaced our wrapper: dns.setServers re-binds resolve*)
    // records the new original in place, so getOriginal and unpatchAll give the current one.
    const existing = items.find((i) => i.target === target && i.prop === prop);
    if (existing !== undefined) {
      existing.descriptor = descriptor;
      existing.original = original;
    } else {
      items.push({ target, prop, descriptor, original });
    }
    // shimmer's wrap takes string names; symbols never occur in our patches.
    shimmer.wrap(target as Record<string, Function>, prop as string, (orig: Function) => {
      let wrapped = made.get(orig);
      if (wrapped === undefined) {
        wrapped = make(orig);
        copyOwnProperties(orig, wrapped);
        made.set(orig, wrapped);
        wrappers.add(wrapped);
      }
      return wrapped;
    });
  };
}

function adderFor(moduleName: string): AddFn {
  const items = saved.get(moduleName)!;
  return (target, prop, value) => {
    if (Object.prototype.hasOwnProperty.call(target, prop)) {
      // Added already by another of our patches (http and https share ClientRequest): note it,
      // so report() lists it for both; unpatchAll deletes it either way.
      const ours = [...saved.values()].some((list) => list.some((i) => i.target === target && i.prop === prop && i.descriptor === undefined));
      if (ours) items.push({ target, prop, descriptor: undefined, original: undefined });
      return;
    }
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
  const spec = SPECS[name]!;
  spec.apply(spec.load ? spec.load() : require(`node:${name}`), wrapperFor(name), adderFor(name));
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

/** Patches `http`: `yield http.get(url)` / `yield http.request(opts)` give the response; an interruption destroys the request. @example monkey.patchHttp(); */
export function patchHttp(): void {
  patchModule('http');
}

/** Patches `https` as patchHttp does `http`. @example monkey.patchHttps(); */
export function patchHttps(): void {
  patchModule('https');
}

/** Patches the global `fetch`: `yield fetch(url)` and `yield res.text()` abort when the greenlet is interrupted. @example monkey.patchFetch(); */
export function patchFetch(): void {
  patchModule('fetch');
}

const NO_OPTIONS: PatchAllOptions = Object.freeze({ __proto__: null }) as PatchAllOptions;

function checkOptions(options: unknown): PatchAllOptions {
  if (options === undefined) return NO_OPTIONS;
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`patchAll(options) takes an object such as { net: false }, got ${options === null ? 'null' : typeof options}`);
  }
  // Own properties only: `Object.prototype.net = false` from anywhere must not turn a patch off.
  const own: PatchAllOptions = { __proto__: null, ...options } as PatchAllOptions;
  for (const [key, value] of Object.entries(own)) {
    if (!MODULE_NAMES.includes(key)) {
      throw new RangeError(`patchAll: unknown option '${key}'; the options are ${MODULE_NAMES.join(', ')} (each true or false)`);
    }
    if (typeof value !== 'boolean') {
      throw new TypeError(`patchAll: option '${key}' must be true or false, got ${typeof value}`);
    }
  }
  return own;
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

/**
 * The modules whose patch replaces functions: a file that copied one out before patching
 * (`const { execSync } = require('child_process')`) keeps Node's original. (timers is loaded by
 * Node itself at start-up, so its being loaded says nothing; net, http and https only gain
 * methods on their prototypes, which a copy cannot miss.)
 */
const COPYABLE = ['dns', 'child_process'];

/**
 * Which of the user's files loaded so far mention `name` as a module (`'node:dns'`, "dns"):
 * the ones that may hold an original. Read only when a warning is due, so a program that
 * patches first (or never) pays nothing: no require hook watches the program's loading.
 */
function filesMentioning(files: string[], names: string[]): string[] {
  const quoted = new RegExp(`['"\`](?:node:)?(${names.join('|')})['"\`]`, 'g');
  const found: string[] = [];
  for (const file of files) {
    let source: string;
    try {
      source = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const mods = new Set([...source.matchAll(quoted)].map((m) => m[1]!));
    if (mods.size > 0) found.push(`${file} (${[...mods].join(', ')})`);
  }
  return found;
}

function warnIfLate(names: string[]): void {
  const loadList = loadedBuiltins();
  const early = names.filter((n) => COPYABLE.includes(n) && loadList.includes(`NativeModule ${n}`));
  if (early.length === 0 || warnedEarly.length > 0) return;
  // The files that name the module, where the source says so; otherwise every user file so far.
  const loaded = modulesLoadedBefore();
  const naming = filesMentioning(loaded, early);
  const users = naming.length > 0 ? naming : loaded;
  if (users.length === 0) return;
  warnedEarly = users;
  process.emitWarning(
    `geventjs: patchAll() ran after ${users.join(', ')} loaded; ${early.join(' and ')} ${early.length > 1 ? 'were' : 'was'} already loaded, ` +
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
 * True when `name` ('timers', 'dns', 'child_process', 'net', 'http', 'https', 'fetch') is patched.
 *
 * @example
 * monkey.isPatched('dns'); // false until patchDns() or patchAll()
 */
export function isPatched(name: string): boolean {
  return saved.has(name.replace(/^node:/, ''));
}

/** The modules geventjs patches, by name, as getOriginal types them. */
export interface PatchedModules {
  timers: typeof import('node:timers');
  dns: typeof import('node:dns');
  child_process: typeof import('node:child_process');
  net: typeof import('node:net');
  http: typeof import('node:http');
  https: typeof import('node:https');
  /** The global object, where `fetch` lives. */
  fetch: typeof globalThis;
}

/** The object that holds module `bare`'s items: the builtin's exports, or the global for 'fetch'. */
function moduleObject(bare: string, name: string, item: string): Record<string, unknown> {
  if (bare === 'fetch') return globalThis as unknown as Record<string, unknown>;
  if (!Module.isBuiltin(bare)) {
    throw new RangeError(
      `getOriginal('${name}', '${item}'): '${name}' is not a Node builtin module; geventjs patches ${MODULE_NAMES.join(', ')}`,
    );
  }
  return require(`node:${bare}`) as Record<string, unknown>;
}

/**
 * Node's original `item` of module `name`, as it was before patching (gevent's get_original):
 * for a real blocking call inside a greenlet. An item that was never patched (or a module
 * geventjs does not patch, such as 'fs') gives the module's current item; only an item the
 * module lacks is an error.
 *
 * @example
 * const execSync = monkey.getOriginal('child_process', 'execSync');
 * execSync('sleep 1'); // blocks the whole process, on purpose
 */
export function getOriginal<M extends keyof PatchedModules, K extends keyof PatchedModules[M] & string>(name: M | `node:${M}`, item: K): PatchedModules[M][K];
export function getOriginal(name: string, item: string): unknown;
export function getOriginal(name: string, item: string): unknown {
  if (typeof name !== 'string' || typeof item !== 'string') {
    throw new TypeError(`getOriginal(module, item) takes two strings such as ('child_process', 'execSync'), got ${typeof name} and ${typeof item}`);
  }
  const bare = name.replace(/^node:/, '');
  const mod = moduleObject(bare, name, item);
  const found = saved.get(bare)?.find((s) => s.target === mod && s.prop === item && s.original !== undefined);
  if (found !== undefined) return found.original;
  if (!(item in mod)) {
    throw new RangeError(`getOriginal('${name}', '${item}'): ${bare === 'fetch' ? 'the global object' : `node:${bare}`} has no '${item}'`);
  }
  return mod[item];
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
