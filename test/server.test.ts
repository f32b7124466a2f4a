import { spawn as spawnProcess, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GreenletExit, run, sleep, spawn } from '../src/index.js';
import { captureErrors } from './capture-errors.js';
import { Pool } from '../src/pool.js';
import { DatagramServer, StreamServer } from '../src/server.js';
import { createConnection, type GSocket } from '../src/socket.js';

function* echo(sock: GSocket): Generator<unknown, void, unknown> {
  for (let d = yield* sock.recv(65536); d.length > 0; d = yield* sock.recv(65536)) yield* sock.sendall(d);
}

/** echo, but a peer's reset ends it quietly (instead of a reported greenlet failure). */
function* echoTolerant(sock: GSocket): Generator<unknown, void, unknown> {
  try {
    yield* echo(sock);
  } catch (e) {
    if (!['ECONNRESET', 'EPIPE'].includes((e as NodeJS.ErrnoException).code!)) throw e;
  }
}

/** A raw Node client: sends `msg`, resolves with what came back once `msg.length` bytes did. */
function rawRoundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('error', reject);
    s.on('connect', () => s.write(msg));
    s.on('data', (d) => {
      got += d.toString();
      if (got.length >= msg.length) {
        s.end();
        resolve(got);
      }
    });
  });
}

/** Polls (cooperatively) until `cond()` holds; liveness only, no time assertion. */
function* until(cond: () => boolean): Generator<unknown, void, unknown> {
  while (!cond()) yield* sleep(0.01);
}

describe('StreamServer', () => {
  it('serves each connection in its own greenlet and closes the socket after handle returns', async () => {
    const server = new StreamServer(['127.0.0.1', 0], function* (sock, [host]) {
      const name = (yield* sock.makefile().readline()).toString().trim();
      yield* sock.sendall(`hello ${name} from ${host}\n`);
    });
    const got = await run(function* () {
      yield* server.start();
      expect(server.started).toBe(true);
      expect(server.address[0]).toBe('127.0.0.1');
      const replies: string[] = [];
      for (const name of ['ann', 'bob']) {
        const c = yield* createConnection(['127.0.0.1', server.serverPort]);
        yield* c.sendall(`${name}\n`);
        replies.push((yield* c.makefile().read()).toString()); // read() to EOF: the server closed it
        c.close();
      }
      yield* server.stop();
      return replies;
    });
    expect(got).toEqual(['hello ann from 127.0.0.1\n', 'hello bob from 127.0.0.1\n']);
    expect(server.closed).toBe(true);
  });

  it("a generator handler is resumed by its connection's greenlet directly, through no wrapper generator per wake-up", async () => {
    let stack = '';
    const server = new StreamServer(['127.0.0.1', 0], function* handlerUnderTest(sock) {
      yield* sock.recv(10); // resumed by the hub: the stack below is what every wake-up goes through
      stack = new Error('where').stack ?? '';
      yield* sock.sendall('ok');
    });
    const reply = await run(function* () {
      yield* server.start();
      const c = yield* createConnection(['127.0.0.1', server.serverPort]);
      yield* c.sendall('x');
      const r = (yield* c.recv(10)).toString();
      c.close();
      yield* server.stop();
      return r;
    });
    expect(reply).toBe('ok');
    // Generator frames, without the '.next' entries V8 lists for each resume.
    const frames = stack.split('\n').slice(1).map((l) => l.trim().split(' ')[1]).filter((f) => !f?.endsWith('.next'));
    const at = frames.findIndex((f) => f?.includes('handlerUnderTest'));
    // Right under the handler: the greenlet's own body (socket closed in its finally).
    expect([at >= 0, frames[at + 1]?.replace(/^.*\./, '')]).toEqual([true, 'serveConnection']);
  });

  it('however a handler ends (returns, throws, killed mid-recv, plain or async), its socket is closed and only a real error is reported', async () => {
    const ends: string[] = [];
    const handlers: Record<string, (sock: GSocket) => unknown> = {
      *returns(sock) {
        yield* sock.sendall('r');
      },
      *throws(sock) {
        yield* sock.sendall('t');
        throw new Error('handler bug');
      },
      *killed(sock) {
        try {
          yield* sock.sendall('k');
          yield* sock.recv(10); // killed here by stop({ timeout: 0 })
        } finally {
          ends.push('killed: finally ran');
        }
      },
      plainThrows() {
        throw new Error('plain handler bug');
      },
      async asyncReturns(sock: GSocket) {
        await sock.sendall('a');
      },
    };
    const servers = Object.fromEntries(Object.entries(handlers).map(([k, h]) => [k, new StreamServer(['127.0.0.1', 0], h)]));
    const report = await captureErrors(() =>
      run(function* () {
        const got: Record<string, string> = {};
        for (const [k, server] of Object.entries(servers)) {
          yield* server.start();
          const c = yield* createConnection(['127.0.0.1', server.serverPort]);
          // Everything the server sent, up to EOF: it arrives only if the handler closed the socket.
          const read = spawn(function* () {
            return (yield* c.makefile().read()).toString();
          });
          if (k === 'killed') {
            yield* until(() => server.handlerCount() === 1);
            yield* sleep(0.02);
            yield* server.stop({ timeout: 0 });
          }
          got[k] = yield* read.get();
          c.close();
          yield* until(() => server.handlerCount() === 0);
          yield* server.stop();
        }
        return got;
      }).then((got) => ends.push(JSON.stringify(got))),
    );
    expect(ends).toEqual(['killed: finally ran', JSON.stringify({ returns: 'r', throws: 't', killed: 'k', plainThrows: '', asyncReturns: 'a' })]);
    // The two bugs are reported with their stacks; the return, the kill and the async end are not.
    expect(report.match(/Error: handler bug\n\s+at /g)?.length).toBe(1);
    expect(report.match(/Error: plain handler bug\n\s+at /g)?.length).toBe(1);
    expect(report).not.toMatch(/GreenletExit/);
  });

  it('holds 1,000 concurrent connections and ends with no handler left', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    await server.start();
    const n = 1000;
    const clients: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        new Promise<void>((resolve, reject) => {
          const s = net.connect(server.serverPort, '127.0.0.1', () => resolve());
          s.on('error', reject);
          clients[i] = s;
        }),
      ),
    );
    await run(function* () {
      yield* until(() => server.handlerCount() === n);
    });
    expect(server.handlerCount()).toBe(n);
    // Every connection, all open at once, gets its own bytes back.
    const echoed = await Promise.all(
      clients.map(
        (s, i) =>
          new Promise<string>((resolve) => {
            let got = '';
            s.on('data', (d) => {
              got += d;
              if (got.length === `msg ${i}`.length) resolve(got);
            });
            s.write(`msg ${i}`);
          }),
      ),
    );
    expect(echoed.every((m, i) => m === `msg ${i}`)).toBe(true);
    for (const s of clients) s.end();
    await run(function* () {
      yield* until(() => server.handlerCount() === 0);
    });
    expect(server.handlerCount()).toBe(0);
    await server.stop();
  }, 60_000);

  it('clients that reset mid-message, half close or never read do not stall others, and leave nothing behind', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echoTolerant);
    await server.start();
    const port = server.serverPort;
    // Never reads: the server's sendall blocks on it once buffers fill.
    const hog = net.connect(port, '127.0.0.1');
    hog.on('error', () => {});
    hog.pause();
    const big = Buffer.alloc(4 << 20, 1);
    hog.on('connect', () => hog.write(big));
    // Resets in the middle of a message.
    const resetters = Array.from({ length: 20 }, () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('connect', () => {
        s.write('half a mess');
        setImmediate(() => s.resetAndDestroy());
      });
      return s;
    });
    // Half closes: sends, ends its side, still reads the echo.
    const halfClosed = new Promise<string>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let got = '';
      s.on('connect', () => s.end('bye'));
      s.on('data', (d) => (got += d));
      s.on('end', () => resolve(got));
    });
    const others = await Promise.all(Array.from({ length: 50 }, (_, i) => rawRoundTrip(port, `client ${i}`)));
    expect(others.every((m, i) => m === `client ${i}`)).toBe(true);
    expect(await halfClosed).toBe('bye');
    expect(resetters.length).toBe(20);
    hog.destroy();
    await run(function* () {
      yield* until(() => server.handlerCount() === 0);
    });
    const conns = await new Promise<number>((resolve) => (server as any).nodeServer.getConnections((_e: unknown, n: number) => resolve(n)));
    expect(server.handlerCount()).toBe(0);
    expect(conns).toBe(0);
    await server.stop();
  }, 60_000);

  it('stop({ timeout }) under load lets the requests in flight finish and refuses new ones', async () => {
    let inHandler = 0;
    const server = new StreamServer(['127.0.0.1', 0], function* (sock) {
      const req = yield* sock.recvExactly(4);
      inHandler++;
      yield* sleep(0.2);
      yield* sock.sendall(`done ${req}`);
    });
    await server.start();
    const port = server.serverPort;
    const replies = Array.from({ length: 30 }, (_, i) => rawRoundTrip(port, String(1000 + i)).catch((e) => String(e)));
    await run(function* () {
      yield* until(() => inHandler === 30);
      yield* server.stop({ timeout: 30 });
    });
    const got = await Promise.all(replies);
    // rawRoundTrip resolves once it has as many bytes as it sent; the rest follows on 'data'.
    expect(got.every((r, i) => `done ${1000 + i}`.startsWith(r))).toBe(true);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(server.handlerCount()).toBe(0);
  }, 60_000);

  it('stop({ timeout }) kills handlers still running after the timeout, running their finally blocks', async () => {
    let cleaned = 0;
    const server = new StreamServer(['127.0.0.1', 0], function* () {
      try {
        yield* sleep(1000);
      } finally {
        cleaned++;
      }
    });
    await run(function* () {
      yield* server.start();
      const cs = [yield* createConnection(['127.0.0.1', server.serverPort]), yield* createConnection(['127.0.0.1', server.serverPort])];
      yield* until(() => server.handlerCount() === 2);
      yield* server.stop({ timeout: 0.05 });
      for (const c of cs) c.close();
    });
    expect(cleaned).toBe(2);
    expect(server.handlerCount()).toBe(0);
  });

  it('{ spawn: size } runs at most that many handlers at once', async () => {
    let running = 0;
    let most = 0;
    const server = new StreamServer(
      ['127.0.0.1', 0],
      function* (sock) {
        running++;
        most = Math.max(most, running);
        yield* sleep(0.02);
        yield* sock.sendall('ok');
        running--;
      },
      { spawn: 2 },
    );
    await server.start();
    const got = await Promise.all(Array.from({ length: 8 }, () => rawRoundTrip(server.serverPort, 'xx')));
    await server.stop();
    expect(got).toEqual(Array(8).fill('ok'));
    expect(most).toBe(2);
  });

  it('{ spawn: Pool } runs handlers in the pool, at most its size at once', async () => {
    const pool = new Pool(3);
    let most = 0;
    const server = new StreamServer(
      ['127.0.0.1', 0],
      function* (sock) {
        most = Math.max(most, pool.len());
        yield* sleep(0.02);
        yield* sock.sendall('ok');
      },
      { spawn: pool },
    );
    await server.start();
    const got = await Promise.all(Array.from({ length: 9 }, () => rawRoundTrip(server.serverPort, 'xx')));
    await server.stop();
    expect(got).toEqual(Array(9).fill('ok'));
    expect(most).toBe(3);
    expect(pool.len()).toBe(0);
  });

  it('serveForever returns once another greenlet stops the server', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    const order = await run(function* () {
      const log: string[] = [];
      const serving = spawn(function* () {
        yield* server.serveForever();
        log.push('serveForever returned');
      });
      yield* until(() => server.started);
      log.push(yield* spawn(function* () {
        const c = yield* createConnection(['127.0.0.1', server.serverPort]);
        yield* c.sendall('ping');
        const r = (yield* c.recv(10)).toString();
        c.close();
        return r;
      }).get());
      yield* server.stop();
      yield* serving.join();
      return log;
    });
    expect(order).toEqual(['ping', 'serveForever returned']);
  });

  it('bad input: a clear TypeError or RangeError naming the argument', () => {
    expect(() => new StreamServer('127.0.0.1:80' as never, echo)).toThrow(/\[host, port\]/);
    expect(() => new StreamServer(['127.0.0.1', 0], 'echo' as never)).toThrow(/handle function/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { spawn: 0 })).toThrow(RangeError);
    // A Pool of size 0 is valid but never runs anything: a server with it would never serve.
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { spawn: new Pool(0) })).toThrow(/Pool of size 0 never runs a handler.*size >= 1/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { spawn: new Pool(0) })).toThrow(RangeError);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { spawn: {} as never })).toThrow(/Pool or a size/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { workers: -1 })).toThrow(RangeError);
    expect(() => new StreamServer(['127.0.0.1', 0], echo).stop({ timeout: -1 })).toThrow(RangeError);
  });

  it('a port in use makes start() fail with EADDRINUSE', async () => {
    const a = new StreamServer(['127.0.0.1', 0], echo);
    await a.start();
    const b = new StreamServer(['127.0.0.1', a.serverPort], echo);
    let err: NodeJS.ErrnoException | null = null;
    await captureErrors(async () => {
      err = await b.start().then(
        () => null,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
    });
    await a.stop();
    expect((err as NodeJS.ErrnoException | null)?.code).toBe('EADDRINUSE');
  });
});

describe('DatagramServer', () => {
  it('runs handle(data, address) per datagram and answers with sendto', async () => {
    const server: DatagramServer = new DatagramServer(['127.0.0.1', 0], function* (data, address): Generator<unknown, void, unknown> {
      yield* server.sendto(Buffer.from(data.toString().toUpperCase()), address);
    });
    await server.start();
    const client = dgram.createSocket('udp4');
    const replies = await new Promise<string[]>((resolve) => {
      const got: string[] = [];
      client.on('message', (m) => {
        got.push(m.toString());
        if (got.length === 3) resolve(got.sort());
      });
      for (const w of ['a', 'b', 'c']) client.send(w, server.serverPort, '127.0.0.1');
    });
    client.close();
    await server.stop();
    expect(replies).toEqual(['A', 'B', 'C']);
    expect(server.closed).toBe(true);
    expect(() => new DatagramServer(['127.0.0.1', 0], 5 as never)).toThrow(TypeError);
  });

  it('an async handler may await an Op it made before its first await (no forgotten-yield* failure), with or without a pool', async () => {
    for (const spawnOpt of [undefined, 4]) {
      const server: DatagramServer = new DatagramServer(['127.0.0.1', 0], async (data, address) => {
        await server.sendto(Buffer.from(data.toString().toUpperCase()), address);
      }, { spawn: spawnOpt });
      const report = await captureErrors(async () => {
        await server.start();
        const client = dgram.createSocket('udp4');
        const reply = await new Promise<string>((resolve) => {
          client.on('message', (m) => resolve(m.toString()));
          client.send('a', server.serverPort, '127.0.0.1');
        });
        client.close();
        await server.stop();
        expect(reply).toBe('A');
      });
      expect(report).toBe('');
    }
  });
});

/** Resolves with 'connected' or the connection's error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
  });
}

/** A port that was free a moment ago (for tests that need a fixed port). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('StreamServer lifecycle', () => {
  it('killing the greenlet in serveForever() stops the server: the port is closed, started is false', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    const port = await run(function* () {
      const g = spawn(function* () {
        yield* server.serveForever();
      });
      yield* until(() => server.started);
      const p = server.serverPort;
      yield* g.kill();
      return p;
    });
    expect(server.started).toBe(false);
    expect(server.closed).toBe(true);
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  });

  it('start() from two greenlets at once binds one listener (a fixed port: no EADDRINUSE)', async () => {
    const port = await freePort();
    const server = new StreamServer(['127.0.0.1', port], echo);
    const seen = await run(function* () {
      const serving = spawn(function* () {
        yield* server.serveForever();
      });
      yield* server.start(); // while the serveForever greenlet may still be binding
      const p = server.serverPort;
      const reply = yield* spawn(function* () {
        const c = yield* createConnection(['127.0.0.1', p]);
        yield* c.sendall('one');
        const r = (yield* c.recv(10)).toString();
        c.close();
        return r;
      }).get();
      yield* server.stop();
      yield* serving.join();
      return { p, reply, servingError: serving.exception };
    });
    expect(seen).toEqual({ p: port, reply: 'one', servingError: undefined });
    expect(await tryConnect(port)).toBe('ECONNREFUSED'); // no orphaned listener left
  });

  it('start() from two greenlets at once on port 0 leaves no orphaned listener after stop()', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    const ports = await run(function* () {
      const a = spawn(function* () {
        yield* server.start();
        return server.serverPort;
      });
      const b = spawn(function* () {
        yield* server.start();
        return server.serverPort;
      });
      const r = [yield* a.get(), yield* b.get()];
      yield* server.stop();
      return r;
    });
    expect(ports[0]).toBe(ports[1]);
    expect(await tryConnect(ports[0])).toBe('ECONNREFUSED');
    const handles = (process as any)._getActiveHandles().filter((h: unknown) => h instanceof net.Server && (h as net.Server).listening);
    expect(handles.length).toBe(0);
  });

  it('stop() then start() binds again on the same port and serves', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    await server.start();
    const port = server.serverPort;
    await server.stop();
    expect(server.started).toBe(false);
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    await server.start();
    expect(server.started).toBe(true);
    expect(server.closed).toBe(false);
    expect(server.serverPort).toBe(port);
    expect(await rawRoundTrip(port, 'again')).toBe('again');
    await server.stop();
  });

  it('stop() closes the connection the accept loop holds while { spawn: 1 } is full, and every waiting one', async () => {
    let release = false;
    const server = new StreamServer(
      ['127.0.0.1', 0],
      function* (sock) {
        yield* sock.sendall('busy\n');
        while (!release) yield* sleep(0.01);
      },
      { spawn: 1 },
    );
    await server.start();
    const port = server.serverPort;
    const first = net.connect(port, '127.0.0.1');
    first.on('error', () => {});
    await new Promise((resolve) => first.once('data', resolve)); // the pool's one slot is taken
    // The waiting clients: each must see the server end its connection when stop() runs.
    const ends = Array.from({ length: 3 }, () => {
      const c = net.connect(port, '127.0.0.1');
      c.on('data', () => {});
      return new Promise<string>((resolve) => {
        c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
        c.on('close', () => resolve('closed'));
      });
    });
    await run(function* () {
      yield* until(() => (server as any).held !== null || (server as any).waiting.length > 0);
      yield* sleep(0.1);
      yield* server.stop({ timeout: 0.05 });
    });
    release = true;
    const got = await Promise.all(ends);
    expect(got.every((r) => r === 'closed' || r === 'ECONNRESET')).toBe(true);
    first.destroy();
    expect(server.handlerCount()).toBe(0);
  });

  it('a server made from a GListener: a connection woken into the accept loop as stop() runs is closed, not leaked', async () => {
    const { listen } = await import('../src/socket.js');
    let spins = 0;
    const outcome = await run(function* () {
      const listener = yield* listen(['127.0.0.1', 0]);
      const server = new StreamServer(listener, echo);
      yield* server.start();
      let arrived = false;
      listener.server.on('connection', () => (arrived = true)); // after GListener's own listener
      const client = net.connect(server.serverPort, '127.0.0.1');
      const closed = new Promise<string>((resolve) => {
        client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
        client.on('close', () => resolve('closed'));
      });
      // A busy hub: this greenlet is queued ahead of the accept loop when the connection
      // wakes it, and stops the server before the accept loop runs.
      while (!arrived) {
        spins++;
        yield* sleep(0);
      }
      yield* server.stop({ timeout: 0 });
      const pendingAfter = listener._pending.length;
      const how = yield* (function* () {
        return (yield closed) as string;
      })();
      return { pendingAfter, how };
    });
    expect(spins).toBeGreaterThan(0);
    expect(outcome).toEqual({ pendingAfter: 0, how: outcome.how === 'ECONNRESET' ? 'ECONNRESET' : 'closed' });
  }, 15_000);

  it('a handler may stop its own server: stop({ timeout: null }) does not wait for the handler calling it', async () => {
    let stoppedInside = false;
    const server: StreamServer = new StreamServer(['127.0.0.1', 0], function* (sock): Generator<unknown, void, unknown> {
      yield* sock.sendall('bye\n');
      yield* server.stop({ timeout: null });
      stoppedInside = true;
    });
    await server.start();
    const reply = await ask(server.serverPort, 'quit');
    await run(function* () {
      yield* until(() => stoppedInside);
    });
    expect(reply).toBe('bye');
    expect(server.started).toBe(false);
    expect(await tryConnect(server.serverPort)).toBe('ECONNREFUSED');
  }, 15_000);

  it('stop({ timeout }) returns even when a handler catches GreenletExit and goes on', async () => {
    let kills = 0;
    let done = false;
    const server = new StreamServer(['127.0.0.1', 0], function* () {
      while (!done) {
        try {
          yield* sleep(0.05);
        } catch (e) {
          if (!(e instanceof GreenletExit)) throw e;
          kills++;
        }
      }
    });
    const report = await captureErrors(() =>
      run(function* () {
        yield* server.start();
        const c = yield* createConnection(['127.0.0.1', server.serverPort]);
        yield* until(() => server.handlerCount() === 1);
        yield* server.stop({ timeout: 0.1 });
        c.close();
      }),
    );
    expect(server.started).toBe(false);
    expect(kills).toBeGreaterThanOrEqual(1);
    expect(report).toMatch(/1 handler\(s\) still running 1 s after being killed/);
    done = true;
  }, 15_000);

  it('a full pool stops reading: 1,000 hostile clients sending data are held unread, at most pool size + backlog', async () => {
    let release = false;
    const server = new StreamServer(
      ['127.0.0.1', 0],
      function* (sock) {
        while (!release) yield* sleep(0.01);
        yield* sock.sendall('served\n');
      },
      { spawn: 1, backlog: 150 }, // maxConnections defaults to pool size + backlog: 151
    );
    await server.start();
    const port = server.serverPort;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const before = process.memoryUsage().arrayBuffers;
    const clients: net.Socket[] = [];
    let ended = 0;
    await Promise.all(
      Array.from({ length: 1000 }, () =>
        new Promise<void>((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => {
            c.write(chunk);
            resolve();
          });
          c.on('error', () => resolve());
          c.on('close', () => ended++);
          c.on('data', () => {});
          clients.push(c);
        }),
      ),
    );
    await run(function* () {
      yield* sleep(0.5); // let the server take what it will
    });
    const nodeServer: net.Server = (server as any).nodeServer;
    const open = await new Promise<number>((resolve) => nodeServer.getConnections((_e, n) => resolve(n)));
    const waiting: net.Socket[] = (server as any).waiting;
    const grew = process.memoryUsage().arrayBuffers - before;
    expect(open).toBeLessThanOrEqual(151);
    expect(waiting.length).toBeGreaterThan(100);
    expect(waiting.reduce((n, s) => n + s.bytesRead, 0)).toBe(0); // nothing read from them
    expect(grew).toBeLessThan(16 * 1024 * 1024); // 1,000 x 64 KB would be 64 MB
    release = true;
    // The first of those waiting is served once the slot frees.
    const served = await new Promise<boolean>((resolve) => {
      const w = clients.find((c) => !c.destroyed && c.readyState === 'open');
      if (!w) return resolve(false);
      w.on('data', (d) => resolve(d.toString().includes('served')));
      w.on('close', () => resolve(false));
    });
    await server.stop({ timeout: 0 });
    for (const c of clients) c.destroy();
    expect(served).toBe(true);
  }, 60_000);

  it('a handler that dies of a peer reset gets a one-line report, not a stack', async () => {
    const server = new StreamServer(['127.0.0.1', 0], echo);
    const report = await captureErrors(async () => {
      await server.start();
      await new Promise<void>((resolve) => {
        const c = net.connect(server.serverPort, '127.0.0.1', () => {
          c.write('hello');
          c.once('data', () => {
            c.resetAndDestroy();
            resolve();
          });
        });
      });
      await run(function* () {
        yield* until(() => server.handlerCount() === 0);
      });
      await server.stop();
    });
    expect(report).toMatch(/^geventjs: StreamServer handler for 127\.0\.0\.1:\d+ ended: the peer dropped the connection \(ECONNRESET\)\n$/);
  });

  it('options are read as own properties only (a polluted Object.prototype is ignored)', async () => {
    const proto = Object.prototype as any;
    proto.spawn = 1;
    proto.stopTimeout = 'bad';
    let server: StreamServer;
    try {
      server = new StreamServer(['127.0.0.1', 0], function* (sock) {
        yield* sleep(0.05);
        yield* sock.sendall('ok');
      }, {});
    } finally {
      delete proto.spawn;
      delete proto.stopTimeout;
    }
    await server.start();
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, server.handlerCount())), 5);
    await Promise.all(Array.from({ length: 4 }, () => rawRoundTrip(server.serverPort, 'xx')));
    clearInterval(watch);
    await server.stop();
    expect(most).toBeGreaterThan(1); // no Pool(1) from the prototype
  });

  it('bad options: maxConnections, backlog, stopTimeout, handleSignals, serveForever options', () => {
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { maxConnections: 0 })).toThrow(/maxConnections/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { backlog: -1 })).toThrow(/backlog/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { stopTimeout: -1 })).toThrow(/stopTimeout/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { handleSignals: 'no' as never })).toThrow(/handleSignals/);
    expect(() => new StreamServer(['127.0.0.1', 70000], echo)).toThrow(/port 0-65535/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, 5 as never)).toThrow(/options object/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo).serveForever({ stopTimeout: -2 })).toThrow(RangeError);
  });
});

describe('DatagramServer lifecycle and pool', () => {
  /** Sends `n` datagrams from one client socket, paced so the client does not drop its own. */
  async function sendMany(port: number, n: number, payload = 'x'): Promise<dgram.Socket> {
    const client = dgram.createSocket('udp4');
    for (let i = 0; i < n; i++) {
      await new Promise<void>((resolve) => client.send(payload, port, '127.0.0.1', () => resolve()));
    }
    return client;
  }

  it('{ spawn: 10 } runs at most 10 handlers at once', async () => {
    let running = 0;
    let most = 0;
    let handled = 0;
    const server = new DatagramServer(
      ['127.0.0.1', 0],
      function* () {
        running++;
        most = Math.max(most, running);
        yield* sleep(0.02);
        running--;
        handled++;
      },
      { spawn: 10 },
    );
    await server.start();
    const client = await sendMany(server.serverPort, 300);
    await run(function* () {
      yield* until(() => handled >= 250 && running === 0);
    });
    client.close();
    await server.stop();
    expect(most).toBe(10);
  }, 30_000);

  it('a flood at a { spawn: 10 } server makes at most 10 handlers and a bounded queue', async () => {
    let running = 0;
    let most = 0;
    let mostQueued = 0;
    let release = false;
    const server = new DatagramServer(
      ['127.0.0.1', 0],
      function* () {
        running++;
        most = Math.max(most, running);
        while (!release) yield* sleep(0.01);
        running--;
      },
      { spawn: 10 },
    );
    await server.start();
    const watch = setInterval(() => (mostQueued = Math.max(mostQueued, (server as any).inbox.length)), 1);
    const client = dgram.createSocket('udp4');
    for (let i = 0; i < 20000; i++) client.send('flood', server.serverPort, '127.0.0.1');
    await run(function* () {
      yield* sleep(0.5);
    });
    clearInterval(watch);
    mostQueued = Math.max(mostQueued, (server as any).inbox.length);
    release = true;
    client.close();
    await server.stop({ timeout: 1 });
    expect(most).toBe(10);
    expect(mostQueued).toBeLessThanOrEqual(64);
  }, 30_000);

  it('start() from two greenlets at once binds one socket; stop() then start() binds the same port again', async () => {
    const server: DatagramServer = new DatagramServer(['127.0.0.1', 0], function* (data, address): Generator<unknown, void, unknown> {
      yield* server.sendto(data, address);
    });
    const ports = await run(function* () {
      const a = spawn(function* () {
        yield* server.start();
        return server.serverPort;
      });
      yield* server.start();
      return [server.serverPort, yield* a.get()];
    });
    expect(ports[0]).toBe(ports[1]);
    await server.stop();
    await server.start();
    expect(server.serverPort).toBe(ports[0]);
    const client = dgram.createSocket('udp4');
    const reply = await new Promise<string>((resolve) => {
      client.on('message', (m) => resolve(m.toString()));
      client.send('again', server.serverPort, '127.0.0.1');
    });
    client.close();
    await server.stop();
    expect(reply).toBe('again');
    await new Promise((resolve) => setTimeout(resolve, 100)); // dgram close() completes a turn later
    const sockets = (process as any)._getActiveHandles().filter((h: unknown) => h instanceof dgram.Socket);
    expect(sockets.length).toBe(0);
  });

  it('sendto after stop() names the state; killing serveForever() closes the socket', async () => {
    const server = new DatagramServer(['127.0.0.1', 0], function* () {});
    await run(function* () {
      const g = spawn(function* () {
        yield* server.serveForever();
      });
      yield* until(() => server.started);
      yield* g.kill();
    });
    expect(server.started).toBe(false);
    expect(() => server.sendto('late', ['127.0.0.1', 9])).toThrow(/the server is stopped.*start\(\) it again/);
    await new Promise((resolve) => setTimeout(resolve, 100)); // dgram close() completes a turn later
    const sockets = (process as any)._getActiveHandles().filter((h: unknown) => h instanceof dgram.Socket);
    expect(sockets.length).toBe(0);
  });

  it('bad options', () => {
    expect(() => new DatagramServer(['127.0.0.1', 0], function* () {}, { spawn: 0 })).toThrow(RangeError);
    expect(() => new DatagramServer(['127.0.0.1', 0], function* () {}, { spawn: new Pool(0) })).toThrow(/Pool of size 0 never runs a handler/);
    expect(() => new DatagramServer(['127.0.0.1', 0], function* () {}, { recvBufferSize: -1 })).toThrow(/recvBufferSize/);
  });
});

/** A real program (a cluster primary) in its own process group, killed with its workers at the end. */
interface Program {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stdout (or stderr with `fromStderr`); rejects if the program ends first. */
  waitFor(re: RegExp, fromStderr?: boolean): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; killedByTimer: boolean }>;
  killAll(): void;
}

const clusterFixture = path.join(__dirname, 'fixtures', 'server-cluster.js');
const repoRoot = path.join(__dirname, '..');

function startProgram(args: string[], killAfterMs = 30_000, env: NodeJS.ProcessEnv = {}): Program {
  const child = spawnProcess(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  let killedByTimer = false;
  const changed = new Set<() => void>();
  child.stdout!.on('data', (d) => {
    out += d;
    for (const f of changed) f();
  });
  child.stderr!.on('data', (d) => {
    err += d;
    for (const f of changed) f();
  });
  const killAll = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    killedByTimer = true;
    killAll();
  }, killAfterMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; killedByTimer: boolean }>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Let the pipes drain before anyone reads the output.
      setTimeout(() => {
        for (const f of changed) f();
        resolve({ code, signal, killedByTimer });
      }, 50);
    }),
  );
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const f of changed) f();
  });
  const waitFor = (re: RegExp, fromStderr = false) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = (fromStderr ? err : out).match(re);
        if (m) {
          changed.delete(check);
          resolve(m);
        } else if (ended) {
          changed.delete(check);
          reject(new Error(`the program ended before ${re} appeared; stdout:\n${out}\nstderr:\n${err}`));
        }
      };
      changed.add(check);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, exited, killAll };
}

/** Sends one line, gives the one-line reply (or the error code). */
function ask(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`${line}\n`));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.includes('\n')) {
        s.destroy();
        resolve(got.trim());
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
    s.on('close', () => resolve(got.trim() || 'closed'));
  });
}

describe('StreamServer({ workers }) with real worker processes', () => {
  it('start() in the primary raises EADDRINUSE when the workers cannot listen', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => taken.once('listening', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const p = startProgram([clusterFixture, 'serve', String(port)]);
    try {
      const r = await p.exited;
      expect(r.killedByTimer).toBe(false);
      expect(p.stdout()).toMatch(/^start failed EADDRINUSE: .*already in use/m);
    } finally {
      p.killAll();
      taken.close();
    }
  }, 40_000);

  it("the primary reports the StreamServer's own port, not a worker's other listener", async () => {
    const p = startProgram([clusterFixture, 'metrics']);
    try {
      const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
      expect(await ask(port, 'ping')).toMatch(/^pong \d+$/);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('stop({ timeout: null }) waits for a 2.5 s request: the reply arrives and the finally block runs', async () => {
    const p = startProgram([clusterFixture, 'stop-null']);
    try {
      const r = await p.exited;
      expect(r.killedByTimer).toBe(false);
      expect(p.stdout()).toMatch(/^got slow 2.5$/m);
      expect(p.stdout()).toMatch(/^finally slow 2.5$/m);
      expect(p.stdout()).toMatch(/^reply done slow 2.5\nstopped$/m);
      expect(r.code).toBe(0);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('stop({ timeout }) past 2^31-1 ms (1e7 s, Infinity) is a long wait, not an immediate SIGKILL of the workers', async () => {
    // Node fires a setTimeout past 2^31-1 ms after 1 ms: the primary's kill timer must not.
    for (const stopWith of ['1e7', 'Infinity']) {
      const p = startProgram([clusterFixture, 'stop-null'], 30_000, { STOP_WITH: stopWith });
      try {
        const r = await p.exited;
        expect(r.killedByTimer, stopWith).toBe(false);
        expect(p.stderr(), stopWith).not.toMatch(/SIGKILL/);
        expect(p.stdout(), stopWith).toMatch(/^finally slow 2.5$/m);
        expect(p.stdout(), stopWith).toMatch(/^reply done slow 2.5\nstopped$/m);
        expect(r.code, stopWith).toBe(0);
      } finally {
        p.killAll();
      }
    }
  }, 70_000);

  it('stop() then start() in the primary forks new workers on the same port', async () => {
    const p = startProgram([clusterFixture, 'restart']);
    try {
      const r = await p.exited;
      expect(r.killedByTimer).toBe(false);
      const port = p.stdout().match(/^listening (\d+)$/m)![1];
      expect(p.stdout()).toMatch(/^first pong \d+$/m);
      expect(p.stdout()).toMatch(new RegExp(`^again listening ${port}$`, 'm'));
      expect(p.stdout()).toMatch(/^second pong \d+\nstopped$/m);
      expect(r.code).toBe(0);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('a crashed worker is replaced, with a report, and later clients are served', async () => {
    const p = startProgram([clusterFixture, 'serve']);
    try {
      const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
      expect(await ask(port, 'crash')).toMatch(/^(closed|ECONNRESET)$/);
      const m = await p.waitFor(/StreamServer worker (\d+) exited with code 3; starting a replacement in 0\.1 s \(crash 1 in a row\)/, true);
      expect(Number(m[1])).toBeGreaterThan(0);
      // Both workers serve again: ask until two pids answered (the replacement among them).
      const pids = new Set<string>();
      for (let i = 0; i < 200 && pids.size < 2; i++) {
        const reply = await ask(port, 'ping');
        expect(reply).toMatch(/^pong \d+$/);
        pids.add(reply.split(' ')[1]);
        await new Promise((resolve) => setTimeout(resolve, 50)); // the replacement boots meanwhile
      }
      expect(pids.size).toBe(2);
      expect(pids.has(m[1])).toBe(false);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('replacements that fail to start are retried with a growing wait, then given up on, with reports', async () => {
    const p = startProgram([clusterFixture, 'bad-replacement']);
    try {
      const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
      expect(await ask(port, 'crash')).toMatch(/^(closed|ECONNRESET)$/);
      await p.waitFor(/5 replacements in a row failed to start, so no more are started \(1 worker left\)/, true);
      const waits = [...p.stderr().matchAll(/starting a replacement in ([\d.]+) s/g)].map((m) => Number(m[1]));
      expect(waits).toEqual([0.1, 0.2, 0.4, 0.8, 1.6]);
      expect(p.stderr()).toMatch(/exited with code 1 before its server listened; starting a replacement in 0\.2 s \(failed start 1 of at most 5 in a row\)/);
      // The worker left goes on serving.
      expect(await ask(port, 'ping')).toMatch(/^pong \d+$/);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('two servers in one program: SIGTERM stops both gracefully before the primary exits', async () => {
    const p = startProgram([clusterFixture, 'two']);
    try {
      const port = Number((await p.waitFor(/^second (\d+)$/m))[1]);
      const reply = ask(port, 'slow 1.5');
      await p.waitFor(/^got slow 1.5$/m);
      process.kill(p.child.pid!, 'SIGTERM');
      const r = await p.exited;
      expect(r.killedByTimer).toBe(false);
      expect(r.signal).toBe('SIGTERM');
      expect(p.stdout()).toMatch(/^finally slow 1.5$/m); // printed before the primary exited
      expect(await reply).toBe('done slow 1.5');
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('a worker that will not stop is killed 3 s after its stop timeout, with a report, and the primary exits', async () => {
    const p = startProgram([clusterFixture, 'serve'], 30_000, { STOP_TIMEOUT: '0.2' });
    try {
      const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
      const c = net.connect(port, '127.0.0.1', () => c.write('stubborn\n'));
      c.on('error', () => {});
      await p.waitFor(/^stubborn$/m);
      process.kill(p.child.pid!, 'SIGTERM');
      const r = await p.exited;
      c.destroy();
      expect(r.killedByTimer).toBe(false);
      expect(r.signal).toBe('SIGTERM');
      expect(p.stderr()).toMatch(/handler\(s\) still running 1 s after being killed \(they catch GreenletExit\); left running/);
      expect(p.stderr()).toMatch(/StreamServer worker \d+ was still alive 3 s after its stop timeout \(0\.2 s\); killed with SIGKILL/);
    } finally {
      p.killAll();
    }
  }, 40_000);

  it('under the geventjs CLI the workers are patched as the primary is', async () => {
    const p = startProgram([path.join(repoRoot, 'dist', 'bin', 'geventjs.js'), clusterFixture, 'serve']);
    try {
      const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
      expect([await ask(port, 'patched?'), await ask(port, 'patched?')]).toEqual(['patched true', 'patched true']);
    } finally {
      p.killAll();
    }
  }, 40_000);

  for (const target of ['the primary', 'the whole process group']) {
    it(`SIGTERM to ${target}: workers finish the request in flight (finally runs), then all exit`, async () => {
      const p = startProgram([clusterFixture, 'serve']);
      try {
        const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
        const reply = ask(port, 'slow 1.5');
        await p.waitFor(/^got slow 1.5$/m);
        process.kill(target === 'the primary' ? p.child.pid! : -p.child.pid!, 'SIGTERM');
        expect(await reply).toBe('done slow 1.5');
        const r = await p.exited;
        expect(r.killedByTimer).toBe(false);
        expect(r.signal).toBe('SIGTERM');
        expect(p.stdout()).toMatch(/^finally slow 1.5$/m);
        expect(p.stderr()).toMatch(/SIGTERM: stopping gracefully/);
        expect(p.stderr()).not.toMatch(/starting a replacement|SIGKILL/);
      } finally {
        p.killAll();
      }
    }, 40_000);
  }
});

describe('the documented shutdown shape', () => {
  // cluster: before, the primary had no greenlet for shutdown() to kill, so it served on.
  for (const kind of ['stream', 'datagram', 'cluster']) {
    it(`signalHandler('SIGQUIT', shutdown) with run(() => server.serveForever()) ends the program (${kind})`, async () => {
      const p = startProgram([path.join(__dirname, 'fixtures', 'server-shutdown.js'), kind]);
      try {
        const port = Number((await p.waitFor(/^listening (\d+)$/m))[1]);
        if (kind !== 'datagram') expect(await ask(port, '')).toBe('hi');
        process.kill(p.child.pid!, 'SIGQUIT');
        const r = await p.exited;
        expect(r.killedByTimer).toBe(false);
        expect(r.code).toBe(0);
        expect(p.stdout()).toMatch(kind === 'cluster' ? /^serveForever returned$/m : /serveForever returned\n$/);
        // The workers stopped gracefully (the primary's process ends after them; their lines
        // and its own may come in any order on the shared stdout).
        if (kind === 'cluster') expect(p.stdout().match(/^worker serveForever returned$/gm)).toHaveLength(2);
      } finally {
        p.killAll();
      }
    }, 40_000);
  }
});

describe('docs/production.md', () => {
  it('its server, run as a real cluster, finishes a request in flight on SIGTERM, then exits', async () => {
    const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'production.md'), 'utf8');
    const block = doc.match(/```js\n([\s\S]*?)```/);
    expect(block).not.toBeNull();
    const dist = path.join(repoRoot, 'dist', 'src');
    const code = block![1]
      .replace(/require\('geventjs'\)/g, `require(${JSON.stringify(path.join(dist, 'index.js'))})`)
      .replace(/require\('geventjs\/(\w+)'\)/g, (_m, mod: string) => `require(${JSON.stringify(path.join(dist, `${mod}.js`))})`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geventjs-production-'));
    const file = path.join(dir, 'server.js');
    fs.writeFileSync(file, code);
    const p = startProgram([file]);
    try {
      const port = Number((await p.waitFor(/^listening on port (\d+)$/m))[1]);
      const reply = ask(port, 'order 42');
      await p.waitFor(/^worker \d+ handles order 42$/m);
      process.kill(p.child.pid!, 'SIGTERM');
      expect(await reply).toBe('done: order 42');
      const r = await p.exited;
      expect(r.killedByTimer).toBe(false);
      expect(r.signal).toBe('SIGTERM');
      expect(p.stderr()).toMatch(/^geventjs: StreamServer on port \d+: SIGTERM: stopping gracefully \(handlers get 10 s\)$/m);
    } finally {
      p.killAll();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
