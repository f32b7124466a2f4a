/**
 * The shape of a patch file (patches/<module>.ts), shared by monkey.ts, which applies patches,
 * and the patch files, which describe them: it lives below both so that neither imports the
 * other for its types.
 *
 * @example
 * export const timersPatch: PatchSpec = { module: 'timers', apply(timers, wrap) { wrap(timers, 'setTimeout', (orig) => orig); } };
 */

/** Wraps `target[prop]` with `make(original)`; what a patch file calls for each function it replaces. */
export type WrapFn = (target: object, prop: PropertyKey, make: (original: Function) => Function) => void;

/** Gives `target` a new property `prop` (a `toOp` method), removed again by unpatchAll. */
export type AddFn = (target: object, prop: PropertyKey, value: Function) => void;

/** One patch file's description: the Node module it patches and how. */
export interface PatchSpec {
  /** The builtin's name without `node:` ('timers', 'dns', 'http'...), or 'fetch' for the global. */
  readonly module: string;
  /** What `apply` patches when it is not `require('node:<module>')` (the global object, for fetch). */
  load?(): object;
  /** Replaces what the patch wraps, calling `wrap` once per property. */
  apply(moduleExports: any, wrap: WrapFn, add: AddFn): void;
}

