/**
 * Patch for Node's `dns` module. It wraps, on the module object:
 *   - dns.lookup(host, options?): with no callback inside a greenlet, `yield` gives
 *     `{ address, family }`, or the array of them with `{ all: true }` (as dns.promises.lookup);
 *   - dns.lookupService(address, port): `{ hostname, service }`;
 *   - dns.resolve(host, rrtype?), resolve4, resolve6, resolveAny, resolveCaa, resolveCname,
 *     resolveMx, resolveNaptr, resolveNs, resolvePtr, resolveSoa, resolveSrv, resolveTxt and
 *     dns.reverse(ip): `yield` gives the records the callback would get;
 *   - dns.setServers(servers): Node's own, then the resolve* wrappers again, because Node
 *     replaces every dns.resolve* with a function bound to a new default resolver.
 * With a callback, or outside a greenlet, every call goes to Node's original untouched (Node's
 * own net.connect and http.get call dns.lookup with a callback); outside a greenlet, the error
 * of a call with no callback also says the blocking form needs one. In the blocking form an
 * options object is read as its own properties only. dns.promises and dns.Resolver objects are
 * not touched.
 */
import Module from 'node:module';
import { getcurrent } from '../src/hub.js';
import { PatchedCall, showArg } from '../src/patched-call.js';
import { callNeedingGreenlet } from '../src/needs-greenlet.js';
import type { PatchSpec, WrapFn } from '../src/patch-spec.js';

const RESOLVERS = [
  'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx',
  'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse',
];

/** Builds what `yield` gives from the callback's arguments after `err`. */
type Shape = (results: unknown[], args: unknown[]) => unknown;

const firstResult: Shape = (results) => results[0];

const lookupShape: Shape = (results) =>
  Array.isArray(results[0]) ? results[0] : { address: results[0], family: results[1] };

const serviceShape: Shape = (results) => ({ hostname: results[0], service: results[1] });

/** An options object as its own properties only (a polluted Object.prototype adds nothing). */
function ownArg(a: unknown): unknown {
  return a !== null && typeof a === 'object' && !Array.isArray(a) ? { __proto__: null, ...a } : a;
}

function wrapWithShape(name: string, shape: Shape) {
  return (original: Function): Function =>
    function (this: unknown, ...given: unknown[]) {
      if (typeof given[given.length - 1] === 'function') return original.apply(this, given);
      if (getcurrent() === null) return callNeedingGreenlet(original, this, given, `dns.${name}(...)`);
      const self = this;
      const args = given.map(ownArg);
      return new PatchedCall(`dns.${name}(${args.map(showArg).join(', ')})`, (out) => {
        // Validation errors (a bad hostname type) are thrown synchronously by Node: they reach
        // the greenlet at its yield, as they would at the call.
        original.apply(self, [
          ...args,
          (err: unknown, ...results: unknown[]) => (err ? out.fail(err) : out.ok(shape(results, args))),
        ]);
      }, ['dns', name]);
    };
}

/**
 * The dns patch, applied by monkey.patchDns().
 *
 * @example
 * monkey.patchDns();
 * spawn(function* () { const { address } = yield dns.lookup('localhost'); });
 */
export const dnsPatch: PatchSpec = {
  module: 'dns',
  apply(dns: typeof import('node:dns'), wrap: WrapFn) {
    wrap(dns, 'lookup', wrapWithShape('lookup', lookupShape));
    wrap(dns, 'lookupService', wrapWithShape('lookupService', serviceShape));
    const wrapResolvers = () => {
      for (const name of RESOLVERS) wrap(dns, name, wrapWithShape(name, firstResult));
    };
    wrapResolvers();
    wrap(dns, 'setServers', (original) =>
      function setServers(this: unknown) {
        const result = original.apply(this, arguments);
        // Node re-bound dns.resolve* to the new default resolver, over our wrappers.
        wrapResolvers();
        Module.syncBuiltinESMExports();
        return result;
      });
  },
};
