import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { run, sleep, spawn } from '../src/index.js';
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
    const conns = await new Promise<number>((resolve) => (server as any).listener.server.getConnections((_e: unknown, n: number) => resolve(n)));
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
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { spawn: {} as never })).toThrow(/Pool or a size/);
    expect(() => new StreamServer(['127.0.0.1', 0], echo, { workers: -1 })).toThrow(RangeError);
    expect(() => new StreamServer(['127.0.0.1', 0], echo).stop({ timeout: -1 })).toThrow(RangeError);
  });

  it('a port in use makes start() fail with EADDRINUSE', async () => {
    const a = new StreamServer(['127.0.0.1', 0], echo);
    await a.start();
    const b = new StreamServer(['127.0.0.1', a.serverPort], echo);
    const err = await b.start().then(
      () => null,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
    await a.stop();
    expect(err?.code).toBe('EADDRINUSE');
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
});
