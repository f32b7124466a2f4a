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
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Greenlet } from './greenlet.js';
import { describeValue, ownOptions } from './arg-checks.js';
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
 * getaddrinfo flag: with a `null` host, give the wildcard addresses (for binding) rather
 * than the loopback ones. The AI_* values are Linux's, as Python's `socket` module has them.
 *
 * @example
 * yield* getaddrinfo(null, 8080, { flags: AI_PASSIVE }); // 0.0.0.0 and ::
 */
export const AI_PASSIVE = 0x1;
/**
 * getaddrinfo flag asking for the canonical name: not available (Node's getaddrinfo does not
 * report it), so it is a RangeError saying so rather than a silently empty name.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { flags: AI_CANONNAME }); // RangeError
 */
export const AI_CANONNAME = 0x2;
/**
 * getaddrinfo flag: `host` must be a numeric address; no name is looked up.
 *
 * @example
 * yield* getaddrinfo('127.0.0.1', 80, { flags: AI_NUMERICHOST });
 */
export const AI_NUMERICHOST = 0x4;
/**
 * getaddrinfo flag (Node's `dns.V4MAPPED`): with `family: AF_INET6`, give IPv4 addresses as
 * IPv4-mapped IPv6 ones when there are no IPv6 addresses.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { family: AF_INET6, flags: AI_V4MAPPED });
 */
export const AI_V4MAPPED = 0x8;
/**
 * getaddrinfo flag (Node's `dns.ALL`): with AI_V4MAPPED, give the mapped IPv4 addresses
 * as well as the IPv6 ones.
 *
 * @example
 * yield* getaddrinfo('localhost', 80, { family: AF_INET6, flags: AI_V4MAPPED | AI_ALL });
 */
export const AI_ALL = 0x10;
/**
 * getaddrinfo flag (Node's `dns.ADDRCONFIG`): only the address families this machine has
 * an address of (other than loopback).
 *
 * @example
 * yield* getaddrinfo('example.com', 443, { flags: AI_ADDRCONFIG });
 */
export const AI_ADDRCONFIG = 0x20;
/**
 * getaddrinfo flag: `port` must be numeric; no service name is looked up.
 *
 * @example
 * yield* getaddrinfo('localhost', '8080', { flags: AI_NUMERICSERV });
 */
export const AI_NUMERICSERV = 0x400;

const KNOWN_FLAGS = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG | AI_NUMERICSERV;

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
 * A lookup failure shaped as Node's own (`code`, `errno`, `syscall`, `hostname`), for the cases
 * geventjs answers without asking the system: Python raises `socket.gaierror` for them.
 */
function lookupError(code: 'ENOTFOUND' | 'EAI_SERVICE', host: string | null, why: string): Error {
  const err = new Error(`getaddrinfo ${code} ${host ?? ''}: ${why}`) as NodeJS.ErrnoException & { hostname?: string | null };
  err.code = code;
  err.errno = code === 'ENOTFOUND' ? -3008 : -3010;
  err.syscall = 'getaddrinfo';
  err.hostname = host;
  return err;
}

/** An Op that fails with `err` at the yield, as a failed lookup does. */
function failedLookup<T>(err: Error, label: string): Op<T> {
  return new CallbackWait<T>((cb) => cb(err), label);
}

/**
 * Service names (`'http'`) to ports, per protocol, from the system's /etc/services (what
 * Python's getaddrinfo reads through the C library). Node has no getservbyname; without the
 * file, a few common names are known.
 */
let services: Map<string, number> | null = null;
const COMMON_SERVICES = 'ftp 21/tcp ssh 22/tcp telnet 23/tcp smtp 25/tcp domain 53/tcp domain 53/udp http 80/tcp ' +
  'pop3 110/tcp ntp 123/udp imap 143/tcp https 443/tcp submission 587/tcp imaps 993/tcp pop3s 995/tcp';

function servicePort(name: string, proto: 'tcp' | 'udp'): number | undefined {
  if (services === null) {
    services = new Map();
    let text: string;
    try {
      text = readFileSync('/etc/services', 'utf8'); // small, read once
    } catch {
      text = COMMON_SERVICES.replace(/ (\d+\/(tcp|udp)) /g, ' $1\n');
    }
    for (const line of text.split('\n')) {
      const [entry] = line.split('#');
      const [service, portProto, ...aliases] = entry.trim().split(/\s+/);
      const m = /^(\d+)\/(tcp|udp)$/.exec(portProto ?? '');
      if (!service || m === null) continue;
      for (const n of [service, ...aliases]) if (!services.has(`${n}/${m[2]}`)) services.set(`${n}/${m[2]}`, Number(m[1]));
    }
  }
  return services.get(`${name}/${proto}`);
}

function checkType(type: unknown): number {
  if (type === undefined || type === 0) return 0;
  if (type === SOCK_STREAM || type === SOCK_DGRAM) return type;
  throw new RangeError(`getaddrinfo(): type must be 0, SOCK_STREAM (1) or SOCK_DGRAM (2), got ${describeValue(type)}`);
}

function checkFlags(flags: unknown): number {
  if (flags === undefined) return 0;
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0) {
    throw new TypeError(`getaddrinfo(): flags must be a whole number made of AI_* constants, got ${describeValue(flags)}; pass e.g. AI_ADDRCONFIG`);
  }
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new RangeError(
      `getaddrinfo(): unknown flags 0x${(flags & ~KNOWN_FLAGS).toString(16)} in ${flags}; use AI_PASSIVE, AI_NUMERICHOST, ` +
        'AI_NUMERICSERV, AI_V4MAPPED, AI_ALL, AI_ADDRCONFIG',
    );
  }
  if ((flags & AI_CANONNAME) !== 0) {
    throw new RangeError(
      "getaddrinfo(): AI_CANONNAME is not supported: Node's getaddrinfo does not report canonical names; leave it out " +
        '(canonname is always an empty string)',
    );
  }
  return flags;
}

/**
 * The port for each socket type asked for: a number, a numeric string, null (0), or a
 * service name looked up per protocol. Types whose protocol lacks the service are left out,
 * as the C library does; an empty list means the service is unknown.
 */
function portsFor(port: number | string | null, types: number[], flags: number): Array<[number, number]> | RangeError {
  const asNumber = port === null ? 0 : typeof port === 'number' ? port : /^\d+$/.test(port) ? Number(port) : NaN;
  if (!Number.isNaN(asNumber)) {
    if (!Number.isInteger(asNumber) || asNumber < 0 || asNumber > 65535) {
      return new RangeError(`getaddrinfo(): port must be 0-65535, got ${describeValue(port)}`);
    }
    return types.map((t) => [t, asNumber]);
  }
  if ((flags & AI_NUMERICSERV) !== 0) return [];
  const out: Array<[number, number]> = [];
  for (const t of types) {
    const p = servicePort(port as string, t === SOCK_STREAM ? 'tcp' : 'udp');
    if (p !== undefined) out.push([t, p]);
  }
  return out;
}

/** Python's answer for a `null` host: loopback addresses, or wildcard ones with AI_PASSIVE. */
function addressesForNoHost(family: number, flags: number): Array<{ address: string; family: number }> {
  const passive = (flags & AI_PASSIVE) !== 0;
  const v4 = { address: passive ? '0.0.0.0' : '127.0.0.1', family: 4 };
  const v6 = { address: passive ? '::' : '::1', family: 6 };
  const all = passive ? [v4, v6] : [v6, v4]; // the C library's order
  return all.filter((a) => family === 0 || a.family === family);
}

/**
 * Resolves `host` and `port` like Python's `socket.getaddrinfo`: a list of
 * `[family, type, proto, canonname, [address, port]]`, one per address (and per socket type
 * when `type` is not given). `host` null means this machine (loopback, or the wildcard with
 * AI_PASSIVE); an empty host fails with ENOTFOUND, as Python's gaierror. `port` may be a
 * number, a numeric string, null, or a service name (`'http'`, from /etc/services). `flags`
 * are Python's AI_* constants.
 *
 * @example
 * const infos = yield* getaddrinfo('localhost', 80, { family: AF_INET });
 * const [, , , , [address, port]] = infos[0]; // '127.0.0.1', 80
 * yield* getaddrinfo('localhost', 'https', { type: SOCK_STREAM }); // port 443
 */
export function getaddrinfo(
  host: string | null,
  port: number | string | null,
  opts: { family?: number; type?: number; proto?: number; flags?: number } = {},
): Op<AddrInfo[]> {
  if (host !== null) checkHost(host, 'getaddrinfo()');
  const o = ownOptions(opts, 'getaddrinfo(host, port, options)');
  const family = checkFamily(o.family, 'getaddrinfo()');
  const type = checkType(o.type);
  const flags = checkFlags(o.flags);
  if (o.proto !== undefined && (!Number.isInteger(o.proto) || o.proto < 0)) {
    throw new RangeError(`getaddrinfo(): proto must be a whole number >= 0, got ${describeValue(o.proto)}`);
  }
  if (port !== null && port !== undefined && typeof port !== 'number' && typeof port !== 'string') {
    throw new TypeError(`getaddrinfo(): port must be a number, a string (a number or a service name such as 'http') or null, got ${describeValue(port)}`);
  }
  const label = `getaddrinfo(${JSON.stringify(host)})`;
  const ports = portsFor(port ?? null, type === 0 ? [SOCK_STREAM, SOCK_DGRAM] : [type], flags);
  if (ports instanceof RangeError) throw ports;
  if (ports.length === 0) {
    const why = (flags & AI_NUMERICSERV) !== 0 ? `AI_NUMERICSERV needs a numeric port, got ${JSON.stringify(port)}` : `unknown service ${JSON.stringify(port)} for this socket type; pass a port number`;
    return failedLookup((flags & AI_NUMERICSERV) !== 0 ? lookupError('ENOTFOUND', host, why) : lookupError('EAI_SERVICE', host, why), label);
  }
  if (host === '') return failedLookup(lookupError('ENOTFOUND', host, 'an empty host name names no host; pass null for this machine'), label);
  if ((flags & AI_NUMERICHOST) !== 0 && host !== null && isIP(host) === 0) {
    return failedLookup(lookupError('ENOTFOUND', host, 'AI_NUMERICHOST needs a numeric address'), label);
  }
  const toInfos = (addresses: Array<{ address: string; family: number }>): AddrInfo[] => {
    const out: AddrInfo[] = [];
    for (const a of addresses) {
      for (const [t, p] of ports) out.push([a.family, t, o.proto ?? (t === SOCK_STREAM ? 6 : 17), '', [a.address, p]]);
    }
    return out;
  };
  if (host === null) {
    const infos = toInfos(addressesForNoHost(family, flags));
    return new CallbackWait<AddrInfo[]>((cb) => cb(null, infos), label);
  }
  const hints = flags & (AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG);
  // Node's names for these bits (the same values as the C library's on Linux).
  const nodeHints = (hints & AI_V4MAPPED ? dns.V4MAPPED : 0) | (hints & AI_ALL ? dns.ALL : 0) | (hints & AI_ADDRCONFIG ? dns.ADDRCONFIG : 0);
  return new CallbackWait<AddrInfo[]>(
    (cb) =>
      nodeLookup(host, { family, all: true, hints: nodeHints }, (err, addresses) => {
        if (err) return cb(err);
        cb(null, toInfos(addresses));
      }),
    label,
  );
}

/**
 * The first IPv4 address of `host` (Python's `socket.gethostbyname`); an empty host gives
 * `'0.0.0.0'`, as in Python.
 *
 * @example
 * const ip = yield* gethostbyname('localhost'); // '127.0.0.1'
 */
export function gethostbyname(host: string): Op<string> {
  checkHost(host, 'gethostbyname()');
  const label = `gethostbyname(${JSON.stringify(host)})`;
  if (host === '') return new CallbackWait<string>((cb) => cb(null, '0.0.0.0'), label);
  return new CallbackWait<string>(
    (cb) => nodeLookup(host, { family: 4 }, (err, address) => cb(err, address)),
    label,
  );
}

/** The longest per-try timeout Node's resolver takes, in milliseconds (2^31-1). */
const MAX_RESOLVER_TIMEOUT_MS = 2 ** 31 - 1;

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
    const { timeout, tries } = ownOptions(opts, 'new Resolver(options)');
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
      throw new RangeError(`new Resolver({ timeout }) must be seconds > 0, got ${describeValue(timeout)}`);
    }
    if (tries !== undefined && (!Number.isInteger(tries) || tries < 1)) {
      throw new RangeError(`new Resolver({ tries }) must be a whole number >= 1, got ${describeValue(tries)}`);
    }
    // c-ares takes at most 2^31-1 ms per try (about 24.8 days): a longer timeout, Infinity
    // included, is that, never an error in milliseconds the caller did not write.
    this.resolver = new NodeResolver({ timeout: timeout === undefined ? -1 : Math.min(MAX_RESOLVER_TIMEOUT_MS, Math.ceil(timeout * 1000)), tries });
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
