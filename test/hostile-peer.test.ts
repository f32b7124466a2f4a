/**
 * Hostile peers against real servers: a geventjs server runs in a child program
 * (fixtures/hostile-server.js, with a kill-timer: a wedged server fails the test) and this
 * process attacks it over 127.0.0.1 with plain Node sockets. Each attack once hurt: readline()
 * fed one byte at a time pinned the hub, a full pool let fds and memory grow without bound,
 * a datagram flood made tens of thousands of greenlets.
 */
import { spawn as spawnChild, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';

const distDir = join(__dirname, '..', 'dist', 'src');
const fixture = join(__dirname, 'fixtures', 'hostile-server.js');

type Findings = Record<string, number>;

/** The server child: its port, a `measure()` that asks it for findings, and `end()`. */
interface Server {
  port: number;
  measure(): Promise<Findings>;
  end(): Promise<{ code: number | null; stderr: string }>;
}

function startServer(mode: string, killAfterMs: number): Promise<Server> {
  const child: ChildProcessWithoutNullStreams = spawnChild(process.execPath, [fixture, distDir, mode]);
  let stderr = '';
  let out = '';
  const lines: ((line: string) => void)[] = [];
  const killTimer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killTimer);
      resolve({ code, stderr });
    }),
  );
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => {
    out += d;
    for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      lines.shift()?.(line);
    }
  });
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      lines.push(resolve);
      exited.then(({ code }) => reject(new Error(`the server exited (${code}) before answering; stderr:\n${stderr}`)));
    });
  return nextLine().then((ready) => ({
    port: Number(/^ready (\d+)$/.exec(ready)![1]),
    measure: () => {
      child.stdin.write('measure\n');
      return nextLine().then((line) => JSON.parse(line) as Findings);
    },
    end: () => {
      child.stdin.end();
      return exited;
    },
  }));
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.on('error', reject);
  });
}

describe('hostile peers against a StreamServer and a DatagramServer in a child program', () => {
  it('readline() fed one byte at a time: linear scanning, and the hub keeps ticking', async () => {
    const server = await startServer('readline', 30_000);
    const L = 400; // two lines of L bytes: one read by readline(), one by readline(64)
    const c = await connect(server.port);
    c.setNoDelay(true);
    const reply = new Promise<string>((resolve) => {
      let got = '';
      c.on('data', (d) => (got += d));
      c.on('close', () => resolve(got));
    });
    for (let i = 0; i < 2 * L; i++) {
      c.write(i === L - 1 || i === 2 * L - 1 ? '\n' : 'x');
      await delay(1); // one byte per segment
    }
    const answered = await Promise.race([reply, delay(10_000).then(() => 'no reply')]);
    c.destroy();
    const found = await server.measure();
    const { code, stderr } = await server.end();
    expect(answered).toBe('done\n');
    expect(found).toMatchObject({ whole: L, limited: L });
    expect(found.maxPart).toBeLessThanOrEqual(64);
    // Each received byte is searched a bounded number of times: quadratic would be ~L^2/2.
    expect(found.scanned).toBeLessThan(4 * 2 * L);
    // The ticker's sleep(0.01) loop went on while the lines trickled in (hundreds of
    // milliseconds): the hub was never pinned.
    expect(found.ticksWhileReading).toBeGreaterThan(5);
    expect([code, stderr]).toEqual([0, '']);
  }, 40_000);

  it('a full pool with maxConnections: 1,000 clients sending 64 KiB each leave fds and RSS bounded', async () => {
    const server = await startServer('pool', 40_000);
    const before = await server.measure();
    const chunk = Buffer.alloc(64 * 1024, 7);
    const clients: net.Socket[] = [];
    let closedByServer = 0;
    await Promise.all(
      Array.from(
        { length: 1000 },
        () =>
          new Promise<void>((resolve) => {
            const c = net.connect(server.port, '127.0.0.1', () => {
              c.write(chunk);
              resolve();
            });
            c.on('error', () => resolve());
            c.on('close', () => {
              closedByServer++;
              resolve();
            });
            c.on('data', () => {});
            clients.push(c);
          }),
      ),
    );
    await delay(1000); // let the server take (and refuse) what it will
    const during = await server.measure();
    for (const c of clients) c.destroy();
    const { code, stderr } = await server.end();
    // 2 handlers + at most 40 connections held in all; 1,000 unbounded would be 1,000+ fds.
    expect(during.handlers).toBe(2);
    expect(during.fds - before.fds).toBeLessThanOrEqual(40 + 10);
    expect(closedByServer).toBeGreaterThan(900); // the rest were closed at once
    // 1,000 x 64 KiB read into the process would be 62.5 MiB more; unread data stays in the kernel.
    expect(during.rss - before.rss).toBeLessThan(24 * 1024 * 1024);
    expect([code, stderr]).toEqual([0, '']);
  }, 60_000);

  it('a datagram flood makes at most `spawn` handlers, and few greenlets', async () => {
    const server = await startServer('datagram', 30_000);
    const client = dgram.createSocket('udp4');
    for (let i = 0; i < 20_000; i++) {
      client.send('flood', server.port, '127.0.0.1');
      if (i % 1000 === 999) await delay(5);
    }
    await delay(500);
    const found = await server.measure();
    client.close();
    const { code, stderr } = await server.end();
    expect(found.handled).toBeGreaterThan(8);
    expect(found.mostHandlers).toBe(8);
    // 8 handlers, the ticker, the accept loop, serveForever and the root: never thousands.
    expect(found.mostGreenlets).toBeLessThanOrEqual(8 + 8);
    expect([code, stderr]).toEqual([0, '']);
  }, 40_000);
});
