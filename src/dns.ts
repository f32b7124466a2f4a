/**
 * gevent's cooperative DNS: `getaddrinfo` and `gethostbyname` on Node's `dns.lookup` (the
 * system's getaddrinfo, so /etc/hosts is honoured), and resolver Ops on `dns.Resolver`
 * (queries to DNS servers). Errors are Node's, with their codes (ENOTFOUND, ETIMEOUT, ...).
 *
 * @example
 * import { run } from 'geventjs';
 * import { gethostbyname } from 'geventjs/dns';
 * await run(function* () { console.log(yield* gethostbyname('localhost')); }); // 127.0.0.1
 */
import * as dns from 'node:dns';
import type { Greenlet } from './greenlet.js';
import { describeValue } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { Op, Wait } from './op.js';

// Captured at load: a monkey patch later replaces these on the shared `dns` module.
const nodeLookup = dns.lookup;
const NodeResolver = dns.Resolver;

/**
 * Any address family (getaddrinfo's default). Families are Node's numbers: 4 and 6.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { family: AF_UNSPEC });
 */
export const AF_UNSPEC = 0;
/**
 * IPv4 addresses only.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { family: AF_INET });
 */
export const AF_INET = 4;
/**
 * IPv6 addresses only.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { family: AF_INET6 });
 */
export const AF_INET6 = 6;
/**
 * A stream (TCP) socket type, in getaddrinfo's results and `{ type }`.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { type: SOCK_STREAM });
 */
export const SOCK_STREAM = 1;
/**
 * A datagram (UDP) socket type.
 *
 * @example
 * yield* getaddrinfo('localhost', 53, { type: SOCK_DGRAM });
 */
export const SOCK_DGRAM = 2;

/**
 * One getaddrinfo result: `[family, type, proto, canonname, [address, port]]`.
 *
 * @example
 * const [family, , , , [address, port]]: AddrInfo = (yield* getaddrinfo('localhost', 80))[0];
 */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: [string, number]];

/**
 * A call of a Node callback API, as an Op. Node's lookups cannot be stopped once started, so
 * a cancelled wait only stops listening: the answer is dropped.
 */
class CallbackWait<T> extends Wait<T> {
  constructor(
    private readonly start: (cb: (err: Error | null, v?: T) => void) => void,
    private readonly label: string,
  ) {
    super();
  }

  park(g: Greenlet): void {
    this.start((err, v) => {
      if (g._wait !== this) return;
      if (err) wakeError(g, err);
      else wake(g, v);
    });
  }

  override describe(): string {
    return this.label;
  }
}

function checkHost(host: unknown, what: string): asserts host is string {
  if (typeof host !== 'string') {
    throw new TypeError(`${what} needs a host name as a string, got ${describeValue(host)}; pass e.g. 'localhost'`);
  }
}

function checkFamily(family: unknown, what: string): 0 | 4 | 6 {
  if (family === undefined || family === 0) return 0;
  if (family === 4 || family === 6) return family;
  throw new RangeError(`${what}: family must be AF_UNSPEC (0), AF_INET (4) or AF_INET6 (6), got ${describeValue(family)}`);
}

/**
 * Resolves `host` and `port` like Python's `socket.getaddrinfo`: a list of
 * `[family, type, proto, canonname, [address, port]]`, one per address (and per socket type
 * when `type` is not given).
 *
 * @example
 * const infos = yield* getaddrinfo('localhost', 80, { family: AF_INET });
 * const [, , , , [address, port]] = infos[0]; // '127.0.0.1', 80
 */
export function getaddrinfo(
  host: string,
  port: number | string | null,
  opts: { family?: number; type?: number; proto?: number; flags?: number } = {},
): Op<AddrInfo[]> {
  checkHost(host, 'getaddrinfo()');
  const family = checkFamily(opts.family, 'getaddrinfo()');
  const portNumber = port === null ? 0 : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw new RangeError(`getaddrinfo(): port must be a number 0-65535 (or its string, or null), got ${describeValue(port)}`);
  }
  const types = opts.type ? [opts.type] : [SOCK_STREAM, SOCK_DGRAM];
  return new CallbackWait<AddrInfo[]>(
    (cb) =>
      nodeLookup(host, { family, all: true, hints: opts.flags ?? 0 }, (err, addresses) => {
        if (err) return cb(err);
        const out: AddrInfo[] = [];
        for (const a of addresses) {
          for (const t of types) out.push([a.family, t, opts.proto ?? (t === SOCK_STREAM ? 6 : 17), '', [a.address, portNumber]]);
        }
        cb(null, out);
      }),
    `getaddrinfo(${JSON.stringify(host)})`,
  );
}

/**
 * The first IPv4 address of `host` (Python's `socket.gethostbyname`).
 *
 * @example
 * const ip = yield* gethostbyname('localhost'); // '127.0.0.1'
 */
export function gethostbyname(host: string): Op<string> {
  checkHost(host, 'gethostbyname()');
  return new CallbackWait<string>(
    (cb) => nodeLookup(host, { family: 4 }, (err, address) => cb(err, address)),
    `gethostbyname(${JSON.stringify(host)})`,
  );
}

/**
 * DNS queries as Ops, on a Node `dns.Resolver` of its own (its own servers, time limit and
 * tries). `timeout` is in seconds.
 *
 * @example
 * const r = new Resolver({ timeout: 2, tries: 2 });
 * r.setServers(['1.1.1.1']);
 * const mx = yield* r.resolveMx('example.com');
 */
export class Resolver {
  /** The Node resolver under it. */
  readonly resolver: dns.Resolver;

  constructor(opts: { timeout?: number; tries?: number } = {}) {
    const { timeout, tries } = opts;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
      throw new RangeError(`new Resolver({ timeout }) must be seconds > 0, got ${describeValue(timeout)}`);
    }
    if (tries !== undefined && (!Number.isInteger(tries) || tries < 1)) {
      throw new RangeError(`new Resolver({ tries }) must be a whole number >= 1, got ${describeValue(tries)}`);
    }
    this.resolver = new NodeResolver({ timeout: timeout === undefined ? -1 : Math.ceil(timeout * 1000), tries });
  }

  /** The DNS servers queried, as Node's `getServers()`. */
  getServers(): string[] {
    return this.resolver.getServers();
  }

  /** Sets the DNS servers (`'1.2.3.4'` or `'1.2.3.4:5353'`). */
  setServers(servers: string[]): void {
    this.resolver.setServers(servers);
  }

  private query<T>(method: string, name: string, call: (cb: (err: Error | null, v?: T) => void) => void): Op<T> {
    checkHost(name, `Resolver.${method}()`);
    return new CallbackWait<T>(call, `Resolver.${method}(${JSON.stringify(name)})`);
  }

  /** IPv4 addresses of `host`. */
  resolve4(host: string): Op<string[]> {
    return this.query('resolve4', host, (cb) => this.resolver.resolve4(host, cb));
  }

  /** IPv6 addresses of `host`. */
  resolve6(host: string): Op<string[]> {
    return this.query('resolve6', host, (cb) => this.resolver.resolve6(host, cb));
  }

  /** Mail exchangers of `host`. */
  resolveMx(host: string): Op<dns.MxRecord[]> {
    return this.query('resolveMx', host, (cb) => this.resolver.resolveMx(host, cb));
  }

  /** TXT records of `host`. */
  resolveTxt(host: string): Op<string[][]> {
    return this.query('resolveTxt', host, (cb) => this.resolver.resolveTxt(host, cb));
  }

  /** SRV records of `host`. */
  resolveSrv(host: string): Op<dns.SrvRecord[]> {
    return this.query('resolveSrv', host, (cb) => this.resolver.resolveSrv(host, cb));
  }

  /** CNAME records of `host`. */
  resolveCname(host: string): Op<string[]> {
    return this.query('resolveCname', host, (cb) => this.resolver.resolveCname(host, cb));
  }

  /** Name servers of `host`. */
  resolveNs(host: string): Op<string[]> {
    return this.query('resolveNs', host, (cb) => this.resolver.resolveNs(host, cb));
  }

  /** Host names of an IP address (PTR). */
  reverse(ip: string): Op<string[]> {
    return this.query('reverse', ip, (cb) => this.resolver.reverse(ip, cb));
  }
}

/**
 * The module's default resolver (the system's DNS servers).
 *
 * @example
 * const names = yield* resolver.reverse('127.0.0.1');
 */
export const resolver = new Resolver();
