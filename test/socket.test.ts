import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcurrentObjectUseError, GreenletExit, run, sleep, spawn, Timeout } from '../src/index.js';
import { turnEndHook } from '../src/hub.js';
import { untrack } from '../src/op.js';
import {
  BlockingIOError,
  createConnection,
  GListener,
  GSocket,
  listen,
  SHUT_WR,
  SocketTimeout,
} from '../src/socket.js';

const fixture = (name: string) => path.resolve(__dirname, 'fixtures', name);

/** Runs a fixture program against dist/ (built by `npm test`), killed after 30 s if it hangs. */
function runFixture(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [fixture(name)], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** Reads `sock` to EOF; the number of bytes. */
function* drain(sock: GSocket): Generator<unknown, number, unknown> {
  let n = 0;
  for (let d = yield* sock.recv(1 << 20); d.length > 0; d = yield* sock.recv(1 << 20)) n += d.length;
  return n;
}

/** Counts the bytes Buffer.prototype.indexOf searches while `body` runs (readline's work). */
async function countScanned<T>(body: () => Promise<T>): Promise<[T, number]> {
  const original = Buffer.prototype.indexOf;
  let scanned = 0;
  Buffer.prototype.indexOf = function (this: Buffer, ...args: Parameters<Buffer['indexOf']>) {
    scanned += this.length;
    return original.apply(this, args);
  };
  try {
    return [await body(), scanned];
  } finally {
    Buffer.prototype.indexOf = original;
  }
}

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

  it('recv, recvExactly, readline and read, of any size down to 0, at EOF or cut short by random kills and Timeouts, lose no bytes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
        fc.array(
          fc.record({ kind: fc.constantFrom('recv', 'exact', 'line', 'read'), n: fc.integer({ min: 0, max: 400 }), stop: fc.constantFrom('none', 'timeout', 'kill', 'killOnData'), after: fc.integer({ min: 0, max: 3 }) }),
          { minLength: 1, maxLength: 40 },
        ),
        async (chunks, reads) => {
          const result = await run(function* () {
            const [c, s, l] = yield* socketPair();
            let seq = 0;
            const sent: number[] = [];
            const writer = spawn(function* () {
              for (const n of chunks) {
                const b = Buffer.alloc(n);
                for (let i = 0; i < n; i++) b[i] = seq++ % 11; // '\n' (10) now and then, for readline
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
                  const f = c.makefile();
                  const d =
                    r.kind === 'exact' ? yield* c.recvExactly(r.n)
                    : r.kind === 'line' ? yield* f.readline(r.n)
                    : r.kind === 'read' ? yield* f.read(r.n)
                    : yield* c.recv(r.n);
                  if (!Buffer.isBuffer(d)) throw new Error('not a Buffer');
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

  it.each([
    ['recv', (c: GSocket) => c.recv(100)],
    ['recvExactly (buffered bytes first)', (c: GSocket) => c.recvExactly(4)],
  ])("a %s woken by 'data' runs after the event, in one hub turn from an immediate (before any timer), and no second (empty) turn is queued", async (name, read) => {
    let turns = 0;
    const previous = turnEndHook.fn;
    turnEndHook.fn = (readyEmpty) => {
      turns++;
      previous?.(readyEmpty);
    };
    try {
      const seen = await run(function* () {
        const [c, s, l] = yield* socketPair();
        let received = '';
        const reader = spawn(function* () {
          received = (yield* read(c)).toString();
        });
        yield* sleep(0.01);
        if (name !== 'recv') {
          yield* s.sendall('pi'); // half of it: buffered, the reader waits on
          while (c._ns.bytesRead < 2) yield* sleep(0.001);
        }
        // Listens after the GSocket's own 'data' listener: sees what that one left behind. An
        // immediate queued here runs right after the one that runs the readers (immediates run
        // in order); a microtask queued from it runs after any drain the hub would have
        // queued. A timer queued here fires on the loop's next turn.
        let atEvent: [string, number] | null = null;
        let afterImmediate: [string, number] | null = null;
        let atTimer: string | null = null;
        let extraTurns = -1;
        c._ns.once('data', () => {
          atEvent = [received, turns];
          setTimeout(() => (atTimer = received), 0);
          setImmediate(() => {
            afterImmediate = [received, turns - atEvent![1]];
            queueMicrotask(() => (extraTurns = turns - atEvent![1]));
          });
        });
        yield* s.sendall(name === 'recv' ? 'ping' : 'ng');
        // Polled, not joined: a joiner woken inside the event would add a turn of its own.
        while (extraTurns < 0 || atTimer === null) yield* sleep(0.001);
        yield* reader.join();
        c.close();
        s.close();
        l.close();
        return [(atEvent as [string, number] | null)?.[0], afterImmediate, extraTurns, atTimer];
      });
      // Not yet run at the event; run (in one turn) by the immediate; no turn more; before the timer.
      expect(seen).toEqual(['', ['ping', 1], 1, 'ping']);
    } finally {
      turnEndHook.fn = previous;
    }
  });

  it("readers woken by 'data' events of one poll run together, in one hub turn", async () => {
    let turns = 0;
    const previous = turnEndHook.fn;
    turnEndHook.fn = (readyEmpty) => {
      turns++;
      previous?.(readyEmpty);
    };
    try {
      const seen = await run(function* () {
        const pairs = [yield* socketPair(), yield* socketPair(), yield* socketPair()];
        const readers = pairs.map(([c]) => spawn(function* () {
          return [(yield* c.recv(100)).toString(), turns];
        }));
        yield* sleep(0.01);
        // Three 'data' events in one callback of the loop, as one poll delivers them.
        let before = -1;
        setTimeout(() => {
          before = turns;
          pairs.forEach(([c], i) => c._ns.emit('data', Buffer.from(`m${i}`)));
        }, 0);
        const got: unknown[] = [];
        for (const r of readers) got.push(yield* r.get());
        for (const [c, s, l] of pairs) {
          c.close();
          s.close();
          l.close();
        }
        return got.map((x) => [(x as [string, number])[0], (x as [string, number])[1] - before]);
      });
      // Each ran in the first turn after the events (its step counted when that turn ends).
      expect(seen).toEqual([['m0', 0], ['m1', 0], ['m2', 0]]);
    } finally {
      turnEndHook.fn = previous;
    }
  });

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

  it('reads of zero bytes and reads at EOF give an empty Buffer, as Python gives b""', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const f = c.makefile();
      const t = Timeout.start(5); // a read that waits instead of answering fails the test
      try {
        // Nothing buffered, the peer still open: zero-byte reads answer at once.
        const open = [yield* c.recv(0), yield* c.recvExactly(0), yield* f.read(0), yield* f.readline(0)];
        yield* s.sendall('ab\ncd');
        s.shutdown(SHUT_WR);
        const line = yield* f.readline();
        // Bytes buffered: zero-byte reads still take nothing.
        const buffered = [yield* c.recvExactly(0), yield* f.readline(0), yield* f.read(0), yield* c.recv(0)];
        const rest = yield* f.read();
        // At EOF with nothing left.
        const eof = [
          yield* f.read(5), yield* f.read(), yield* f.readline(), yield* f.readline(0), yield* c.recv(5),
          yield* c.recvExactly(0), yield* f.read(0),
        ];
        return {
          open: open.map((b) => Buffer.isBuffer(b) && b.length),
          line: line.toString(),
          buffered: buffered.map((b) => Buffer.isBuffer(b) && b.length),
          rest: rest.toString(),
          eof: eof.map((b) => Buffer.isBuffer(b) && b.length),
        };
      } finally {
        t.cancel();
        c.close();
        s.close();
        l.close();
      }
    });
    expect(got).toEqual({ open: [0, 0, 0, 0], line: 'ab\n', buffered: [0, 0, 0, 0], rest: 'cd', eof: [0, 0, 0, 0, 0, 0, 0] });
  });

  it('makefile().close() closes the file only: the socket stays open (Python semantics)', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const f = c.makefile();
      f.close();
      yield* c.sendall('still open\n');
      const line = yield* s.makefile().readline();
      let err: unknown;
      try {
        yield* f.readline();
      } catch (e) {
        err = e;
      }
      const out = [line.toString(), f.closed, c.closed, (err as NodeJS.ErrnoException).code];
      c.close();
      s.close();
      l.close();
      return out;
    });
    expect(got).toEqual(['still open\n', true, false, 'EBADF']);
  });

  it('a killed sendall stops: of 50 MB to a peer that is not reading, only what went out before the kill arrives', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const big = Buffer.alloc(50 << 20, 1);
      const sender = spawn(function* () {
        yield* c.sendall(big);
      });
      yield* sleep(0.2); // the kernel's buffers fill; sendall waits
      yield* sender.kill();
      c.shutdown(SHUT_WR);
      const received = yield* drain(s);
      c.close();
      s.close();
      l.close();
      return { killed: sender.successful(), received };
    });
    expect(got.killed).toBe(true);
    expect(got.received).toBeGreaterThan(0);
    expect(got.received).toBeLessThan(25 << 20);
  });

  it('a sendall that times out (settimeout) stops sending too', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      c.settimeout(0.2);
      let err: unknown;
      try {
        yield* c.sendall(Buffer.alloc(50 << 20, 2));
      } catch (e) {
        err = e;
      }
      c.shutdown(SHUT_WR);
      const received = yield* drain(s);
      c.close();
      s.close();
      l.close();
      return { timedOut: err instanceof SocketTimeout, received };
    });
    expect(got.timedOut).toBe(true);
    expect(got.received).toBeLessThan(25 << 20);
  });

  it('concurrent sendalls never interleave their bytes (five writers, a slow reader, five rounds)', async () => {
    const got = await run(function* () {
      const out: string[] = [];
      for (let round = 0; round < 5; round++) {
        const [c, s, l] = yield* socketPair();
        const size = (1 << 20) + 1000; // not a whole number of chunks
        const letters = 'ABCDE';
        const senders = [...letters].map((ch) => spawn(() => c.sendall(Buffer.alloc(size, ch))));
        const reader = spawn(function* () {
          const all: Buffer[] = [];
          for (let d = yield* s.recv(1 << 14); d.length > 0; d = yield* s.recv(1 << 14)) {
            all.push(d);
            if (all.length % 7 === 0) yield* sleep(0.001);
          }
          return Buffer.concat(all);
        });
        for (const g of senders) yield* g.join();
        c.shutdown(SHUT_WR);
        const data = yield* reader.get();
        c.close();
        s.close();
        l.close();
        // One run of each letter, whole: the letters in the order they come.
        let runs = String.fromCharCode(data[0]);
        for (let i = 1; i < data.length; i++) if (data[i] !== data[i - 1]) runs += String.fromCharCode(data[i]);
        out.push(`${data.length === size * letters.length} ${runs}`);
      }
      return out;
    });
    expect(got).toEqual(Array(5).fill('true ABCDE'));
  }, 60_000);

  it('readline is linear: a 16 MB line is searched once, not once per arriving chunk', async () => {
    const L = 16 << 20;
    const [got, scanned] = await countScanned(() =>
      run(function* () {
        const [c, s, l] = yield* socketPair();
        const line = Buffer.alloc(L, 120);
        line[L - 1] = 10;
        const sender = spawn(() => s.sendall(line));
        const r = yield* c.makefile().readline();
        yield* sender.join();
        c.close();
        s.close();
        l.close();
        return [r.length, r[L - 1], r.subarray(0, L - 1).every((b) => b === 120)];
      }),
    );
    expect(got).toEqual([L, 10, true]);
    expect(scanned).toBeLessThan(2 * L);
  }, 60_000);

  it('a hostile peer sending one byte per write cannot make readline quadratic, with or without a limit', async () => {
    const L = 600;
    const [got, scanned] = await countScanned(() =>
      run(function* () {
        const [c, s, l] = yield* socketPair();
        s.setNoDelay();
        let pieces = 0;
        c._ns.on('data', () => pieces++);
        const sender = spawn(function* () {
          for (let i = 0; i < 2 * L; i++) {
            yield* s.sendall(i === L - 1 || i === 2 * L - 1 ? '\n' : 'x');
            yield* sleep(0.001);
          }
        });
        const f = c.makefile();
        const whole = yield* f.readline();
        const limited: number[] = [];
        for (let part = yield* f.readline(64); ; part = yield* f.readline(64)) {
          limited.push(part.length);
          if (part[part.length - 1] === 10) break;
        }
        yield* sender.join();
        c.close();
        s.close();
        l.close();
        return { whole: whole.length, limited: limited.reduce((a, b) => a + b, 0), maxPart: Math.max(...limited), pieces };
      }),
    );
    expect(got.whole).toBe(L);
    expect(got.limited).toBe(L);
    expect(got.maxPart).toBeLessThanOrEqual(64);
    expect(got.pieces).toBeGreaterThan(L / 4); // the line really came in many pieces
    expect(scanned).toBeLessThan(4 * L);
  }, 60_000);

  it('recvInto fills the caller\'s buffer: a count, 0 at EOF and for size 0, and nothing lost when interrupted', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      const buf = Buffer.alloc(8);
      const zero = yield* c.recvInto(buf, 0);
      // Killed while waiting: nothing written into buf, nothing consumed.
      const waiter = spawn(() => c.recvInto(buf));
      yield* sleep(0.01);
      yield* waiter.kill();
      yield* s.sendall('hello');
      const n = yield* c.recvInto(buf);
      const first = buf.subarray(0, n).toString();
      s.shutdown(SHUT_WR);
      const eof = yield* c.recvInto(buf, 4);
      c.close();
      s.close();
      l.close();
      return [zero, n, first, eof];
    });
    expect(got).toEqual([0, 5, 'hello', 0]);
    await run(function* () {
      const [c, s, l] = yield* socketPair();
      expect(() => c.recvInto('x' as never)).toThrow(/Buffer or Uint8Array/);
      expect(() => c.recvInto(Buffer.alloc(2), 3)).toThrow(RangeError);
      c.close();
      s.close();
      l.close();
    });
  });

  it('read(null) and readline(null) mean no limit, as Python\'s None', async () => {
    const got = await run(function* () {
      const [c, s, l] = yield* socketPair();
      yield* s.sendall('one\ntwo');
      s.shutdown(SHUT_WR);
      const f = c.makefile();
      const out = [(yield* f.readline(null)).toString(), (yield* f.read(null)).toString()];
      c.close();
      s.close();
      l.close();
      return out;
    });
    expect(got).toEqual(['one\n', 'two']);
  });

  it('a sendall waiting on a peer that does not read fails, not hangs, when the socket is closed or the peer resets', async () => {
    const got = await run(function* () {
      const codes: string[] = [];
      for (const how of ['close', 'reset']) {
        const [c, s, l] = yield* socketPair();
        const sender = spawn(function* () {
          try {
            yield* c.sendall(Buffer.alloc(32 << 20));
            return 'sent';
          } catch (e) {
            return (e as NodeJS.ErrnoException).code ?? String(e);
          }
        });
        yield* sleep(0.1);
        if (how === 'close') c.close();
        else s._ns.resetAndDestroy();
        codes.push((yield* sender.get()) as string);
        c.close();
        s.close();
        l.close();
      }
      return codes;
    });
    expect(got[0]).toMatch(/^(EBADF|EPIPE)$/);
    expect(got[1]).toMatch(/^(ECONNRESET|EPIPE)$/);
  }, 30_000);

  describe('non-blocking mode (settimeout(0))', () => {
    it('recv with nothing buffered throws BlockingIOError (EAGAIN) at once and takes nothing', async () => {
      const got = await run(function* () {
        const [c, s, l] = yield* socketPair();
        c.setblocking(false);
        const errs: unknown[] = [];
        for (const read of [() => c.recv(10), () => c.recvExactly(3), () => c.makefile().readline()]) {
          try {
            yield* read();
          } catch (e) {
            errs.push(e);
          }
        }
        yield* s.sendall('ab');
        yield* sleep(0.05);
        try {
          yield* c.recvExactly(3); // two of three: would block, takes nothing
        } catch (e) {
          errs.push(e);
        }
        const d = yield* c.recv(10);
        s.close();
        yield* sleep(0.05);
        const eof = yield* c.recv(10); // EOF is not "would block"
        c.close();
        l.close();
        return {
          errs: errs.map((e) => e instanceof BlockingIOError && (e as NodeJS.ErrnoException).code),
          name: (errs[0] as Error).name,
          timeout: c.gettimeout(),
          d: d.toString(),
          eof: eof.length,
        };
      });
      expect(got).toEqual({ errs: ['EAGAIN', 'EAGAIN', 'EAGAIN', 'EAGAIN'], name: 'BlockingIOError', timeout: 0, d: 'ab', eof: 0 });
    });

    it('send writes what fits and says how much; the peer receives exactly the counted bytes', async () => {
      const got = await run(function* () {
        const [c, s, l] = yield* socketPair();
        c.settimeout(0);
        const block = Buffer.alloc(256 * 1024, 3);
        let counted = 0;
        let err: unknown;
        for (;;) {
          try {
            counted += yield* c.send(block);
          } catch (e) {
            err = e;
            break;
          }
        }
        c.shutdown(SHUT_WR);
        const received = yield* drain(s);
        c.close();
        s.close();
        l.close();
        return { blocked: err instanceof BlockingIOError, same: received === counted, some: counted > 0 };
      });
      expect(got).toEqual({ blocked: true, same: true, some: true });
    });

    it('sendall raises BlockingIOError once the kernel takes no more, without sending the rest later', async () => {
      const got = await run(function* () {
        const [c, s, l] = yield* socketPair();
        c.settimeout(0);
        let err: unknown;
        try {
          yield* c.sendall(Buffer.alloc(64 << 20, 4));
        } catch (e) {
          err = e;
        }
        c.shutdown(SHUT_WR);
        const received = yield* drain(s);
        c.close();
        s.close();
        l.close();
        return { blocked: err instanceof BlockingIOError, partial: received < 32 << 20 };
      });
      expect(got).toEqual({ blocked: true, partial: true });
    });
  });

  it('options are read as own properties only (Object.prototype pollution is ignored)', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.timeout = 0.000001;
    proto.backlog = -1;
    try {
      const got = await run(function* () {
        const l = yield* listen(['127.0.0.1', 0]);
        const c = yield* createConnection(l.getsockname());
        const t = c.gettimeout();
        c.close();
        l.close();
        return t;
      });
      expect(got).toBeNull();
    } finally {
      delete proto.timeout;
      delete proto.backlog;
    }
  });

  it('interrupted sendalls deliver a prefix of whole 64 KiB chunks and nothing after (property)', async () => {
    const CHUNK = 64 * 1024;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 << 20 }),
        fc.constantFrom('none', 'kill', 'timeout'),
        fc.integer({ min: 0, max: 20 }),
        async (size, stop, after) => {
          const result = await run(function* () {
            const [c, s, l] = yield* socketPair();
            const data = Buffer.alloc(size);
            for (let i = 0; i + 4 <= size; i += 4096) data.writeUInt32BE(i >>> 12, i); // every 4 KiB block numbered
            const readAll = () =>
              spawn(function* () {
                const parts: Buffer[] = [];
                for (let d = yield* s.recv(1 << 20); d.length > 0; d = yield* s.recv(1 << 20)) parts.push(d);
                return Buffer.concat(parts);
              });
            // Uninterrupted, the peer reads all along; otherwise it reads nothing until the
            // kill or Timeout, so the kernel's buffers fill and sendall is found waiting.
            let reader = stop === 'none' ? readAll() : null;
            let completed = false;
            const sender = spawn(function* () {
              const t = stop === 'timeout' ? Timeout.start(after / 1000) : null;
              try {
                yield* c.sendall(data);
                completed = true;
              } catch (e) {
                if (e !== t) throw e;
              } finally {
                t?.cancel();
              }
            });
            if (stop === 'kill') {
              yield* sleep(after / 1000);
              yield* sender.kill();
            } else yield* sender.join();
            reader ??= readAll();
            yield* c.sendall('END');
            c.shutdown(SHUT_WR);
            const got = yield* reader.get();
            c.close();
            s.close();
            l.close();
            const n = got.length - 3;
            return (
              got.subarray(n).toString() === 'END' &&
              got.subarray(0, n).equals(data.subarray(0, n)) &&
              (n === size || n % CHUNK === 0) &&
              // (An interrupted sendall may still have handed over its last chunk: the
              // dedicated 50 MB tests above show that it stops well short of the end.)
              (!completed || n === size)
            );
          });
          expect(result).toBe(true);
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);

  it('yield net.connect(...) after the connect finished (unix path, port, options) or failed gives the outcome at once; killed once ready, the socket or server is closed', async () => {
    // Before: a connected unix socket has no remoteAddress, and a failed one had emitted its
    // 'error' already: both yields waited forever (here: until the fixture's 5 s Timeout).
    const r = await runFixture('socket-net-late-yield.js');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({
      unixPath: 'ok hi',
      unixOptions: 'ok hi',
      portHost: 'ok hi',
      options: 'ok hi',
      refused: 'Error ECONNREFUSED',
      destroyed: 'Error ERR_SOCKET_CLOSED',
      killedWhenReady: { serverListening: false, socketDestroyed: true },
    });
  }, 60_000);

  it('a patched net.connect or listen interrupted mid-way cannot crash the process; yield server.listen gives the server, with accept()', async () => {
    const r = await runFixture('socket-net-patch.js');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({
      listenGivesServer: true,
      getsockname: true,
      accepted: 'hi\n',
      closeWakesAccept: 'EBADF',
      acceptAfterRelisten: 'accepted',
      thirdListening: false,
      interrupted: ['net.connect 127.0.0.1', 'net.connect localhost', 'createConnection 127.0.0.1', 'createConnection localhost'],
      destroyed: true,
      secondListening: false,
    });
  }, 60_000);

  it('sockets and listeners made for greenlets stop holding the process once keep-alive lets go', async () => {
    const r = await runFixture('socket-keep-alive.js');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('left');
  }, 60_000);

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

    it('createConnection and listen take null or an options object, and name the fix for anything else', () => {
      // Made and dropped on purpose: untracked, so no "never started" report.
      expect(() => untrack(createConnection(['127.0.0.1', 80], null))).not.toThrow();
      expect(() => untrack(listen(['127.0.0.1', 0], null))).not.toThrow();
      expect(() => createConnection(['127.0.0.1', 80], 5 as never)).toThrow(/options object/);
      expect(() => createConnection(['127.0.0.1', 80], { timeout: -1 })).toThrow(RangeError);
      expect(() => createConnection(['127.0.0.1', 80], { timeout: '1' as never })).toThrow(TypeError);
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
