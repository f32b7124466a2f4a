/**
 * One shared `prototype` for the generator functions greenlets run, and a direct way to step
 * their generator objects.
 *
 * V8 gives every generator function its own `prototype` object, made at its first call, and
 * gives the generator objects of each function a hidden class (map) of their own. Users write
 * `spawn(function* () { ... })`: a fresh closure per greenlet, so every spawn paid for a new
 * prototype object, a new map for it and a new map for its generator, and the hub's
 * `it.next()` saw a different map at every greenlet (its inline cache thrashed, each call
 * went to V8's slow lookup). Measured on Node 20: about half the cost of an inline spawn.
 *
 * So geventjs sets a spawned generator function's `prototype` to one shared object (itself a
 * plain generator prototype: `next`, `return`, `throw` and `Symbol.toStringTag` behave as
 * before), once per function: no prototype object nor a map for it per closure. (The map of
 * each closure's generators stays V8's own.) And the hub runs a greenlet's first step with
 * `Generator.prototype.next` called directly, which looks nothing up on the generator object;
 * later steps use `it.next()`, the faster call where a call site sees few maps (a sleep(0)
 * loop).
 *
 * The one visible change: `fn.prototype` of a spawned generator function is that shared
 * object, so `gen instanceof fn` is true for the generators of any spawned generator function,
 * and a `prototype` the program set on the function before spawning it is replaced (found out
 * only by reading it, which would cost what this saves). A frozen function is left alone.
 */

/** `Object.getPrototypeOf(function* () {})`: what every generator function inherits from. */
const GeneratorFunctionPrototype = Object.getPrototypeOf(function* () {}) as object;
/** %GeneratorPrototype%: `next`, `return`, `throw` of every generator object. */
const GeneratorPrototype = (GeneratorFunctionPrototype as { prototype: object }).prototype;

/** `Object.prototype.isPrototypeOf`, called on our own objects (a program may replace the global). */
const isPrototypeOf = Object.prototype.isPrototypeOf;

/** The `prototype` every spawned generator function gets. */
const SHARED: object = Object.create(GeneratorPrototype);

/**
 * How many distinct generator functions were spawned, counted up to MANY. Past that many,
 * V8's call site for `it.next()` in the hub sees so many generator maps (one per function)
 * that its caches miss (measured: ~130 ns a call, against ~20 ns for a direct call), and
 * the hub steps shared generators by direct call on every step, not only the first.
 *
 * @example
 * if (generatorFunctions.seen >= MANY) { ... } // inline closures are being spawned
 */
export const generatorFunctions = { seen: 0 };
/** See `generatorFunctions`: well past the 4 maps an inline cache holds before it goes generic. */
export const MANY = 64;

/** Returns what it is given: lets `FunctionMark` stamp a private field onto any object. */
class ReturnsArgument {
  constructor(o: object) {
    return o;
  }
}

/**
 * A function already seen (its `prototype` set, or left alone). A private field: invisible to
 * the program (no own key, nothing in `console.log(fn)`), addable even to a frozen function,
 * and as cheap to test and to add as an ordinary property.
 */
class FunctionMark extends ReturnsArgument {
  #seen = true;

  static has(fn: Function): boolean {
    return #seen in fn;
  }

  static add(fn: Function): void {
    new FunctionMark(fn);
  }
}

/**
 * Gives generator function `fn` the shared prototype before its first call, once. Plain,
 * async and bound functions are left alone.
 *
 * Setting `prototype` again on a function that was already called makes V8 copy its map each
 * time, so each function is marked the first time it is seen (reading `fn.prototype` to
 * compare would itself make the object this avoids).
 *
 * @example
 * shareGeneratorPrototype(function* () {}); // its generators now share one prototype
 */
export function shareGeneratorPrototype(fn: Function): void {
  if (FunctionMark.has(fn) || !isGeneratorFunction(fn)) return;
  FunctionMark.add(fn);
  if (generatorFunctions.seen < MANY) generatorFunctions.seen++;
  // A bound generator function has no `prototype` of its own (its target's generators are made).
  if (!Object.prototype.hasOwnProperty.call(fn, 'prototype')) return;
  try {
    (fn as { prototype: unknown }).prototype = SHARED;
  } catch {
    // A frozen function, or `prototype` made read-only by the program: left as it is.
  }
}

/**
 * True when `x` is a generator object made by a function with the shared prototype: the hub
 * may step it with `generatorNext` / `generatorThrow`.
 *
 * @example
 * isSharedGenerator(g._it); // true for a spawned function*'s generator
 */
export function isSharedGenerator(x: unknown): boolean {
  // isPrototypeOf, not Object.getPrototypeOf(x) === SHARED: on Node 20 the latter costs about
  // 20 ns on a generator object and this about 8 (measured), and the hub asks at every spawn.
  // Only a spawned function*'s generators have SHARED as their prototype (nothing else is
  // made from it), and a hand-made object built on one is refused by `generatorNext` itself.
  return typeof x === 'object' && x !== null && isPrototypeOf.call(SHARED, x);
}

/**
 * True for a `function*` (not an async one). By isPrototypeOf rather than
 * `Object.getPrototypeOf(fn) === ...`, which costs several times more on Node 20 (measured),
 * and spawns ask it every time.
 *
 * @example
 * isGeneratorFunction(function* () {}); // true
 */
export function isGeneratorFunction(fn: Function): boolean {
  return isPrototypeOf.call(GeneratorFunctionPrototype, fn);
}

/** `Generator.prototype.next`, to call on a generator without a lookup on it. */
export const generatorNext = (GeneratorPrototype as Generator).next as (this: Iterator<unknown>, v?: unknown) => IteratorResult<unknown>;
