/**
 * Patch for Node's `dns` module. It wraps, on the module object:
 *   - dns.lookup(host, options?): with no callback inside a greenlet, `yield` gives
 *     `{ address, family }`, or the array of them with `{ all: true }` (as dns.promises.lookup);
 *   - dns.lookupService(address, port): `{ hostname, service }`;
 *   - dns.resolve(host, rrtype?), resolve4, resolve6, resolveAny, resolveCaa, resolveCname,
 *     resolveMx, resolveNaptr, resolveNs, resolvePtr, resolveSoa, resolveSrv, resolveTxt and
 *     dns.reverse(ip): `yield` gives the records the callback would get.
 * With a callback, or outside a greenlet, every call goes to Node's original untouched (Node's
 * own net.connect and http.get call dns.lookup with a callback). dns.promises and dns.Resolver
 * objects are not touched.
 */
import { getcurrent } from '../src/hub.js';
import { PatchedCall, showArg } from '../src/patched-call.js';
import type { PatchSpec, WrapFn } from '../src/monkey.js';

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

function wrapWithShape(name: string, shape: Shape) {
  return (original: Function): Function =>
    function (this: unknown, ...args: unknown[]) {
      if (getcurrent() === null || typeof args[args.length - 1] === 'function') return original.apply(this, args);
      const self = this;
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
    for (const name of RESOLVERS) wrap(dns, name, wrapWithShape(name, firstResult));
  },
};
