import * as net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcurrentObjectUseError, GreenletExit, run, sleep, spawn, Timeout } from '../src/index.js';
import {
  createConnection,
  GListener,
  GSocket,
  listen,
  SHUT_WR,
  SocketTimeout,
} from '../src/socket.js';

/** A connected pair over loopback: [client, server side]. */
function* socketPair(): Generator<unknown, [GSocket, GSocket, GListener], unknown> {
  const listener = yield* listen(['127.0.0.1', 0]);
  const [, port] = listener.getsockname();
  const acc = spawn(function* () {
    return (yield* listener.accept())[0];
  });
  const client = yield* createConnection(['127.0.0.1', port]);
  const server = yield* acc.get();
  return [client, server, listener];
}

describe('socket', () => {
  it('echoes bytes through createConnection, listen and accept', async () => {
    const got = await run(function* () {
      const listener = yield* listen(['127.0.0.1', 0]);
      const [host, port] = listener.getsockname();
      expect(host).toBe('127.0.0.1');
      expect(port).toBeGreaterThan(0);
      spawn(function* () {
        const [sock, [peerHost]] = yield* listener.accept();
        expect(peerHost).toBe('127.0.0.1');
        for (let d = yield* sock.recv(100); d.length > 0; d = yield* sock.recv(100)) yield* sock.sendall(d);
        sock.close();
      });
      const c = yield* createConnection(['127.0.0.1', port]);
      const n = yield* c.send('hello ');
      yield* c.sendall(Buffer.from('world'));
      const back = yield* c.recvExactly(11);
      c.close();
      listener.close();
      return [n, back.toString()];
    });
    expect(got).toEqual([6, 'hello world']);
  });

  it('recv gives an empty Buffer at EOF and recvExactly throws on an early EOF', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      yield* s.sendall('abc');
      s.shutdown(SHUT_WR);
      let err: unknown;
      try {
        yield* c.recvExactly(5);
      } catch (e) {
        err = e;
      }
      const rest = yield* c.recv(10); // recvExactly took nothing
      const eof = yield* c.recv(10);
      c.close();
      s.close();
      l.close();
      return [(err as NodeJS.ErrnoException).code, rest.toString(), eof.length];
    });
    expect(got).toEqual(['ECONNRESET', 'abc', 0]);
  });

  it('half close: the peer sees EOF and can still answer', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      yield* c.sendall('question');
      c.shutdown(SHUT_WR);
      const f = s.makefile();
      const q = yield* f.read();
      yield* s.sendall(`answer to ${q}`);
      s.close();
      const a = yield* c.makefile().read();
      c.close();
      l.close();
      return a.toString();
    });
    expect(got).toBe('answer to question');
  });

  it('makefile reads lines and sized blocks from the same buffer as recv', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      yield* c.sendall('line one\nline two\nXYZ12345');
      c.shutdown(SHUT_WR);
      const f = s.makefile();
      const out = [
        (yield* f.readline()).toString(),
        (yield* f.readline()).toString(),
        (yield* s.recvExactly(3)).toString(),
        (yield* f.read(2)).toString(),
        (yield* f.read()).toString(),
        (yield* f.readline()).length,
      ];
      c.close();
      s.close();
      l.close();
      return out;
    });
    expect(got).toEqual(['line one\n', 'line two\n', 'XYZ', '12', '345', 0]);
  });

  it('settimeout makes a recv with no data throw SocketTimeout, and the socket still works', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      c.settimeout(0.05);
      expect(c.gettimeout()).toBe(0.05);
      let err: unknown;
      try {
        yield* c.recv(10);
      } catch (e) {
        err = e;
      }
      yield* s.sendall('late');
      const d = yield* c.recv(10);
      c.close();
      s.close();
      l.close();
      return [err instanceof SocketTimeout, d.toString()];
    });
    expect(got).toEqual([true, 'late']);
  });

  it('settimeout also limits a sendall that a peer who never reads keeps waiting', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      c.settimeout(0.2);
      const block = Buffer.alloc(1 << 20);
      let err: unknown;
      try {
        for (let i = 0; i < 256; i++) yield* c.sendall(block);
      } catch (e) {
        err = e;
      }
      c.close();
      s.close();
      l.close();
      return err instanceof SocketTimeout;
    });
    expect(got).toBe(true);
  });

  it('two greenlets reading one socket at once get ConcurrentObjectUseError', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const first = spawn(function* () {
        return (yield* c.recv(10)).toString();
      });
      yield* sleep(0.01);
      let err: unknown;
      try {
        yield* c.recv(10);
      } catch (e) {
        err = e;
      }
      yield* s.sendall('x');
      const v = yield* first.get();
      c.close();
      s.close();
      l.close();
      return [err instanceof ConcurrentObjectUseError, v];
    });
    expect(got).toEqual([true, 'x']);
  });

  it('close() while another greenlet reads wakes it with EBADF', async () => {
    const code = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const reader = spawn(function* () {
        try {
          yield* c.recv(10);
          return 'no error';
        } catch (e) {
          return (e as NodeJS.ErrnoException).code;
        }
      });
      yield* sleep(0.01);
      c.close();
      const v = yield* reader.get();
      s.close();
      l.close();
      return v;
    });
    expect(code).toBe('EBADF');
  });

  it('a slow reader pauses the peer: the sender blocks in sendall and the reader buffers a bounded amount', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const total = 16 * 1024 * 1024;
      const sender = spawn(function* () {
        const block = Buffer.alloc(64 * 1024, 7);
        for (let sent = 0; sent < total; sent += block.length) yield* c.sendall(block);
        c.shutdown(SHUT_WR);
      });
      yield* sleep(0.3);
      const blocked = !sender.dead;
      const buffered = (s as unknown as { buffered: number }).buffered;
      let received = 0;
      for (let d = yield* s.recv(1 << 20); d.length > 0; d = yield* s.recv(1 << 20)) received += d.length;
      yield* sender.join();
      c.close();
      s.close();
      l.close();
      return { blocked, bounded: buffered < 1024 * 1024, received };
    });
    expect(got).toEqual({ blocked: true, bounded: true, received: 16 * 1024 * 1024 });
  });

  it('recv and recvExactly cut short by random kills and Timeouts lose no bytes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
        fc.array(
          fc.record({ exact: fc.boolean(), n: fc.integer({ min: 1, max: 400 }), stop: fc.constantFrom('none', 'timeout', 'kill', 'killOnData'), after: fc.integer({ min: 0, max: 3 }) }),
          { minLength: 1, maxLength: 30 },
        ),
        async (chunks, reads) => {
          const result = await run(function* () {
            const [c, s, l] = yield* socketPair();
            let seq = 0;
            const sent: number[] = [];
            const writer = spawn(function* () {
              for (const n of chunks) {
                const b = Buffer.alloc(n);
                for (let i = 0; i < n; i++) b[i] = seq++ & 255;
                sent.push(...b);
                yield* s.sendall(b);
                yield* sleep(0.001);
              }
              s.shutdown(SHUT_WR);
            });
            const got: number[] = [];
            for (const r of reads) {
              const reader = spawn(function* () {
                const t = r.stop === 'timeout' ? Timeout.start(r.after / 1000) : null;
                try {
                  const d = r.exact ? yield* c.recvExactly(r.n) : yield* c.recv(r.n);
                  got.push(...d);
                } catch (e) {
                  if (e !== t && !(e as NodeJS.ErrnoException).code) throw e;
                } finally {
                  t?.cancel();
                }
              });
              if (r.stop === 'killOnData') {
                // Killed right after the bytes woke it, before it ran: they must be given back.
                const killer = () => reader.kill({ block: false });
                c._ns.once('data', killer);
                yield* reader.join();
                c._ns.removeListener('data', killer);
              } else if (r.stop === 'kill') {
                yield* sleep(r.after / 1000);
                yield* reader.kill();
              } else yield* reader.join();
            }
            yield* writer.join();
            // Whatever no read took is still there, in order.
            for (let d = yield* c.recv(4096); d.length > 0; d = yield* c.recv(4096)) got.push(...d);
            c.close();
            s.close();
            l.close();
            return got.length === sent.length && got.every((v, i) => v === sent[i]);
          });
          expect(result).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);

  it('a reader killed after bytes woke it but before it ran gives them back to the next recv', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const reader = spawn(function* () {
        return yield* c.recv(100);
      });
      // The 'data' event runs woken greenlets at once (runNow), but behind those already
      // queued: this one never leaves the queue, so when the bytes wake the reader it runs
      // first and kills the reader before the reader runs.
      const killer = spawn(function* () {
        while (reader._state !== 1 /* READY */) yield;
        reader.kill({ block: false });
      });
      yield* sleep(0.01);
      yield* s.sendall('precious');
      yield* reader.join();
      yield* killer.join();
      const d = yield* c.recv(100);
      c.close();
      s.close();
      l.close();
      return [reader.value instanceof GreenletExit, d.toString()];
    });
    expect(got).toEqual([true, 'precious']);
  });

  it('an accept() killed after a connection woke it hands the connection to the next waiting accept(), bytes intact', async () => {
    const got = await run(function* () {
      const l = yield* listen(['127.0.0.1', 0]);
      const first = spawn(function* () {
        return yield* l.accept();
      });
      const second = spawn(function* () {
        return yield* l.accept(); // parked behind the first
      });
      yield* sleep(0.01);
      l.server.once('connection', () => first.kill({ block: false }));
      const c = yield* createConnection(l.getsockname());
      yield* c.sendall('once');
      c.shutdown(SHUT_WR);
      yield* first.join();
      const [s] = yield* second.get();
      const data = yield* s.makefile().read();
      c.close();
      s.close();
      l.close();
      return [first.successful(), data.toString()];
    });
    expect(got).toEqual([true, 'once']);
  });

  it('GSocket.wrap and GListener.wrap take Node objects that already exist', async () => {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const got = await run(function* () {
      const l = GListener.wrap(server);
      const c = GSocket.wrap(net.connect(port, '127.0.0.1'));
      const [s] = yield* l.accept();
      yield* c.sendall('wrapped');
      const d = yield* s.recv(100);
      c.close();
      s.close();
      l.close();
      return d.toString();
    });
    expect(got).toBe('wrapped');
    expect(() => GSocket.wrap({} as net.Socket)).toThrow(TypeError);
    expect(() => GListener.wrap({} as net.Server)).toThrow(TypeError);
  });

  describe('bad input', () => {
    it('a bad address is a TypeError or RangeError naming the fix', () => {
      expect(() => createConnection('127.0.0.1:80' as never)).toThrow(/\[host, port\]/);
      expect(() => createConnection([80, '127.0.0.1'] as never)).toThrow(TypeError);
      expect(() => createConnection(['127.0.0.1', 70000])).toThrow(RangeError);
      expect(() => createConnection(['127.0.0.1', 0])).toThrow(/port 0/);
      expect(() => listen(['127.0.0.1', 1.5])).toThrow(/integer/);
    });

    it('recv with a negative or non-number size is a RangeError or TypeError', async () => {
      const got = await run(function* () {
        const [c, s, l] = yield* socketPair();
        const errs = [() => c.recv(-1), () => c.recv('10' as never), () => c.recvExactly(-5), () => c.makefile().read(-2)].map((f) => {
          try {
            f();
            return 'none';
          } catch (e) {
            return (e as Error).name;
          }
        });
        c.close();
        s.close();
        l.close();
        return errs;
      });
      expect(got).toEqual(['RangeError', 'TypeError', 'RangeError', 'RangeError']);
    });

    it('recv and sendall on a closed socket throw EBADF', async () => {
      const got = await run(function* () {
        const [c, s, l] = yield* socketPair();
        c.close();
        const codes: string[] = [];
        for (const op of [() => c.recv(1), () => c.sendall('x')]) {
          try {
            yield* op();
          } catch (e) {
            codes.push((e as NodeJS.ErrnoException).code!);
          }
        }
        s.close();
        l.close();
        return codes;
      });
      expect(got).toEqual(['EBADF', 'EBADF']);
    });

    it('a port in use is a clear EADDRINUSE error', async () => {
      const err = await run(function* () {
        const l = yield* listen(['127.0.0.1', 0]);
        try {
          yield* listen(['127.0.0.1', l.getsockname()[1]]);
          return null;
        } catch (e) {
          return e as NodeJS.ErrnoException;
        } finally {
          l.close();
        }
      });
      expect(err?.code).toBe('EADDRINUSE');
      expect(err?.message).toMatch(/already in use.*pick another port/);
    });

    it('connecting to a port nobody listens on gives ECONNREFUSED', async () => {
      const port = await new Promise<number>((resolve) => {
        const srv = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (srv.address() as net.AddressInfo).port;
          srv.close(() => resolve(p));
        });
      });
      const code = await run(function* () {
        try {
          yield* createConnection(['127.0.0.1', port]);
          return 'connected';
        } catch (e) {
          return (e as NodeJS.ErrnoException).code;
        }
      });
      expect(code).toBe('ECONNREFUSED');
    });

    it('settimeout and shutdown reject bad values', async () => {
      await run(function* () {
        const [c, s, l] = yield* socketPair();
        expect(() => c.settimeout(-1)).toThrow(RangeError);
        expect(() => c.settimeout('1' as never)).toThrow(TypeError);
        expect(() => c.shutdown(7)).toThrow(/SHUT_RD/);
        expect(() => c.sendall(42 as never)).toThrow(TypeError);
        c.close();
        s.close();
        l.close();
      });
    });
  });
});
