import * as dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { run, spawn, Timeout } from '../src/index.js';
import { AF_INET, getaddrinfo, gethostbyname, Resolver, SOCK_STREAM } from '../src/dns.js';

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

  it('bad input is a TypeError or RangeError naming the argument', () => {
    expect(() => gethostbyname(42 as never)).toThrow(/host name as a string/);
    expect(() => getaddrinfo('localhost', 99999)).toThrow(RangeError);
    expect(() => getaddrinfo('localhost', 80, { family: 5 })).toThrow(/AF_INET/);
    expect(() => new Resolver({ timeout: -1 })).toThrow(RangeError);
    expect(() => new Resolver({ tries: 0 })).toThrow(RangeError);
  });
});
