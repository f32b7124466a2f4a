/**
 * Argument checks shared by every module: they sit below the hub and the primitives so that
 * none of them has to import the other for a type check. Messages name the value and the fix.
 */

/**
 * Checks a duration in seconds: a finite or infinite number >= 0.
 * Throws a TypeError for a non-number and a RangeError for NaN or a negative number.
 *
 * @example
 * checkSeconds(0.5, 'sleep(seconds)'); // ok
 * checkSeconds('1', 'sleep(seconds)'); // TypeError: sleep(seconds) must be a number of seconds, got a string ("1"); pass e.g. 0.5
 */
export function checkSeconds(s: unknown, what: string): asserts s is number {
  if (typeof s !== 'number') {
    throw new TypeError(`${what} must be a number of seconds, got ${describeValue(s)}; pass e.g. 0.5`);
  }
  if (Number.isNaN(s) || s < 0) {
    throw new RangeError(`${what} must be a number of seconds >= 0, got ${s}; pass 0 or more (Infinity waits forever)`);
  }
}

/**
 * A `{ timeout }` in seconds must be a number >= 0 (Infinity: no limit).
 *
 * @example
 * checkTimeout(opts.timeout, 'Queue.get({ timeout })');
 */
export function checkTimeout(seconds: unknown, what: string): asserts seconds is number {
  if (typeof seconds !== 'number') {
    throw new TypeError(`${what} must be a number of seconds or null, got ${describeValue(seconds)}; pass e.g. { timeout: 0.5 }`);
  }
  if (Number.isNaN(seconds) || seconds < 0) {
    throw new RangeError(`${what} must be >= 0 seconds, got ${seconds}; pass 0 or more, or null for no limit`);
  }
}

/**
 * A short description of any value for error messages: "a number (42)".
 *
 * @example
 * describeValue(42);        // 'a number (42)'
 * describeValue(new Map()); // 'a Map'
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  switch (typeof v) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return `a ${typeof v} (${String(v)})`;
    case 'string':
      return `a string (${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)})`;
    case 'function':
      return `a function (${v.name || 'anonymous'})`;
    case 'symbol':
      return `a symbol (${v.description ?? ''})`;
    default: {
      let name: unknown;
      try {
        name = (v as object).constructor?.name; // a Proxy or a null-prototype object may throw or lack it
      } catch {
        name = undefined;
      }
      if (Array.isArray(v)) return 'an array';
      if (typeof name !== 'string' || name === '' || name === 'Object') return 'an object';
      return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
    }
  }
}

const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null));

/**
 * The caller's options as a null-prototype copy of their own enumerable properties, as Node
 * copies options (`{ __proto__: null, ...options }`): a property planted on
 * `Object.prototype` (prototype pollution) is never read as an option. `undefined` and `null`
 * mean "no options"; anything else that is not an object is a TypeError naming the fix.
 *
 * @example
 * const o = ownOptions(opts, 'Queue.get(options)'); // o.timeout is opts's own timeout, or undefined
 */
export function ownOptions<T extends object>(opts: T | null | undefined, what: string): Partial<T> {
  if (opts === undefined || opts === null) return NO_OPTIONS as Partial<T>;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(`${what} must be an options object or undefined, got ${describeValue(opts)}; pass e.g. { timeout: 1 }`);
  }
  return { __proto__: null, ...opts } as Partial<T>;
}

/**
 * One option, read only if it is the object's own property (no copy: for hot paths).
 *
 * @example
 * const timeout = ownOption(opts, 'timeout'); // undefined if opts lacks it or only inherits it
 */
export function ownOption<T extends object, K extends keyof T>(opts: T | null | undefined, key: K): T[K] | undefined {
  if (opts === undefined || opts === null) return undefined;
  return Object.prototype.hasOwnProperty.call(opts, key) ? opts[key] : undefined;
}

/**
 * Checks an optional boolean option (undefined keeps the default). A string such as 'no' is a
 * TypeError rather than a truthy surprise.
 *
 * @example
 * const block = checkBoolean(o.block, 'Queue.get({ block })', true);
 */
export function checkBoolean(v: unknown, what: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${what} must be true or false, got ${describeValue(v)}`);
  return v;
}
