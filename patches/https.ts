/**
 * Patch for Node's `https` client. It wraps no function; it adds:
 *   - `toOp` on http.ClientRequest.prototype, the class `https.get` and `https.request`
 *     return: `yield https.get(...)` inside a greenlet gives the `IncomingMessage` or throws
 *     the request's error, and a kill or Timeout destroys the request (see patches/http.ts;
 *     the two modules share the class, so patching either makes both yieldable).
 * https.get and https.request keep returning the ClientRequest: callback use is unchanged.
 */
import { addRequestToOp } from './http.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/patch-spec.js';

/**
 * The https patch, applied by monkey.patchHttps().
 *
 * @example
 * monkey.patchHttps();
 * spawn(function* () { const res = yield https.get('https://example.org/'); });
 */
export const httpsPatch: PatchSpec = {
  module: 'https',
  apply(_https: typeof import('node:https'), _wrap: WrapFn, add: AddFn) {
    // http is required here, not at load: loading geventjs must not load Node's http.
    addRequestToOp(require('node:http') as typeof import('node:http'), add);
  },
};
