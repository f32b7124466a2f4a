import * as dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { run, spawn, Timeout } from '../src/index.js';
import {
  AF_INET, AF_INET6, AI_ADDRCONFIG, AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE, AI_V4MAPPED,
  getaddrinfo, gethostbyname, Resolver, SOCK_DGRAM, SOCK_STREAM,
} from '../src/dns.js';

/** The error an Op fails with at the yield, or 'no error'. */
async function failure(op: () => unknown): Promise<NodeJS.ErrnoException | string> {
  return run(function* () {
    try {
      yield op();
      return 'no error';
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  });
}

describe('dns', () => {
  it('gethostbyname resolves localhost through the system resolver (/etc/hosts)', async () => {
    expect(await gethostbyname('localhost')).toBe('127.0.0.1');
  });

  it('getaddrinfo gives [family, type, proto, canonname, [address, port]] tuples', async () => {
    const infos = await getaddrinfo('localhost', 8080, { family: AF_INET, type: SOCK_STREAM });
    expect(infos.length).toBeGreaterThan(0);
    expect(infos[0]).toEqual([4, SOCK_STREAM, 6, '', ['127.0.0.1', 8080]]);
  });

  it('lookups in several greenlets run concurrently and each gets its answer', async () => {
    const got = await run(function* () {
      const gs = [1, 2, 3].map((i) => spawn(function* () {
        const infos = yield* getaddrinfo('localhost', i, { family: AF_INET });
        return infos[0][4][1];
      }));
      return [yield* gs[0].get(), yield* gs[1].get(), yield* gs[2].get()];
    });
    expect(got).toEqual([1, 2, 3]);
  });

  it('a name that does not exist fails with Node\'s ENOTFOUND code', async () => {
    const err = await run(function* () {
      try {
        yield* gethostbyname('no-such-host.invalid');
        return null;
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    });
    expect(err?.code).toBe('ENOTFOUND');
  });

  it('a resolver whose server never answers times out with ETIMEOUT, and a gevent Timeout cuts it short', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const r = new Resolver({ timeout: 0.1, tries: 1 });
    r.setServers([`127.0.0.1:${silent.address().port}`]);
    expect(r.getServers()).toEqual([`127.0.0.1:${silent.address().port}`]);
    const got = await run(function* () {
      let code: string | undefined;
      try {
        yield* r.resolve4('example.test');
      } catch (e) {
        code = (e as NodeJS.ErrnoException).code;
      }
      const slow = new Resolver({ timeout: 30, tries: 1 });
      slow.setServers([`127.0.0.1:${silent.address().port}`]);
      const t = Timeout.start(0.05);
      let cut = false;
      try {
        yield* slow.resolveMx('example.test');
      } catch (e) {
        cut = e === t;
      }
      slow.resolver.cancel();
      return [code, cut];
    });
    silent.close();
    expect(got).toEqual(['ETIMEOUT', true]);
  });

  it("empty and null hosts follow Python: '' is ENOTFOUND for getaddrinfo and 0.0.0.0 for gethostbyname; null is this machine", async () => {
    const err = await failure(() => getaddrinfo('', 80));
    expect([(err as NodeJS.ErrnoException).code, (err as NodeJS.ErrnoException).syscall]).toEqual(['ENOTFOUND', 'getaddrinfo']);
    expect(await gethostbyname('')).toBe('0.0.0.0');
    expect(await getaddrinfo(null, 80, { type: SOCK_STREAM })).toEqual([
      [AF_INET6, SOCK_STREAM, 6, '', ['::1', 80]],
      [AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]],
    ]);
    expect(await getaddrinfo(null, 80, { family: AF_INET, flags: AI_PASSIVE })).toEqual([
      [AF_INET, SOCK_STREAM, 6, '', ['0.0.0.0', 80]],
      [AF_INET, SOCK_DGRAM, 17, '', ['0.0.0.0', 80]],
    ]);
  });

  it("service names are ports, per protocol, from /etc/services ('http' is TCP only)", async () => {
    expect(await getaddrinfo('localhost', 'http', { family: AF_INET })).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]]]);
    expect(await getaddrinfo('localhost', '8080', { family: AF_INET, type: SOCK_STREAM })).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 8080]]]);
    expect(await getaddrinfo('localhost', 'domain', { family: AF_INET, type: SOCK_DGRAM })).toEqual([[AF_INET, SOCK_DGRAM, 17, '', ['127.0.0.1', 53]]]);
    const unknown = (await failure(() => getaddrinfo('localhost', 'no-such-service'))) as NodeJS.ErrnoException;
    expect([unknown.code, unknown.message]).toEqual(['EAI_SERVICE', 'getaddrinfo EAI_SERVICE localhost: unknown service "no-such-service" for this socket type; pass a port number']);
    expect(((await failure(() => getaddrinfo('localhost', 'http', { type: SOCK_DGRAM }))) as NodeJS.ErrnoException).code).toBe('EAI_SERVICE');
  });

  it("Python's AI_* flags map to Node's hints; AI_NUMERICHOST/AI_NUMERICSERV refuse names; AI_CANONNAME is a clear RangeError", async () => {
    expect(await getaddrinfo('localhost', 80, { family: AF_INET, type: SOCK_STREAM, flags: AI_ADDRCONFIG | AI_V4MAPPED })).toEqual([
      [AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]],
    ]);
    expect(await getaddrinfo('127.0.0.1', 80, { type: SOCK_STREAM, flags: AI_NUMERICHOST })).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]]]);
    expect(((await failure(() => getaddrinfo('localhost', 80, { flags: AI_NUMERICHOST }))) as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    expect(((await failure(() => getaddrinfo('localhost', 'http', { flags: AI_NUMERICSERV }))) as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    expect(() => getaddrinfo('localhost', 80, { flags: AI_CANONNAME })).toThrow(/AI_CANONNAME is not supported.*leave it out/);
    expect(() => getaddrinfo('localhost', 80, { flags: 0x4000 })).toThrow(/unknown flags 0x4000/);
    expect(() => getaddrinfo('localhost', 80, { flags: 'x' as never })).toThrow(TypeError);
  });

  it('options are read as own properties only', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.family = 6;
    proto.type = 99;
    proto.timeout = -1;
    try {
      expect(await getaddrinfo('localhost', 80, { type: SOCK_STREAM })).toEqual([[AF_INET, SOCK_STREAM, 6, '', ['127.0.0.1', 80]]]);
      expect(() => new Resolver({})).not.toThrow();
    } finally {
      delete proto.family;
      delete proto.type;
      delete proto.timeout;
    }
    expect(() => getaddrinfo('localhost', 80, 'x' as never)).toThrow(/options object/);
  });

  it('bad input is a TypeError or RangeError naming the argument', () => {
    expect(() => gethostbyname(42 as never)).toThrow(/host name as a string/);
    expect(() => getaddrinfo('localhost', 99999)).toThrow(RangeError);
    expect(() => getaddrinfo('localhost', 80, { family: 5 })).toThrow(/AF_INET/);
    expect(() => getaddrinfo('localhost', 80, { type: 7 })).toThrow(/SOCK_STREAM/);
    expect(() => getaddrinfo('localhost', 80, { proto: -1 })).toThrow(/proto/);
    expect(() => getaddrinfo('localhost', {} as never)).toThrow(/service name/);
    expect(() => new Resolver({ timeout: -1 })).toThrow(RangeError);
    // A timeout of any size is kept (c-ares takes at most 2^31-1 ms per try: longer ones, and
    // Infinity, are that, about 24.8 days); before, Node's ERR_OUT_OF_RANGE in milliseconds.
    expect(new Resolver({ timeout: 3e6 }).resolver).toBeDefined();
    expect(new Resolver({ timeout: Infinity }).resolver).toBeDefined();
    expect(() => new Resolver({ timeout: NaN })).toThrow(/must be seconds > 0, got/);
    expect(() => new Resolver({ tries: 0 })).toThrow(RangeError);
  });
});
