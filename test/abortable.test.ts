/**
 * abortable(): a promise-returning call whose interruption aborts its AbortSignal, proven with
 * a real fetch to an HTTP server on 127.0.0.1 that never answers.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortable, run, sleep, spawn, Timeout, withTimeout } from '../src/index.js';

/** A server that takes requests and never answers; `closed` resolves when a request's socket closes. */
let server: http.Server;
let url: string;
let requestSeen: Promise<void>;
let socketClosed: Promise<void>;

beforeEach(async () => {
  let seen!: () => void;
  let closed!: () => void;
  requestSeen = new Promise((r) => (seen = r));
  socketClosed = new Promise((r) => (closed = r));
  server = http.createServer((req) => {
    seen();
    req.socket.on('close', () => closed());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('abortable', () => {
  it('a kill aborts the signal: the server sees the request socket close', async () => {
    let signalSeen: AbortSignal | null = null;
    const g = spawn(function* () {
      return yield* abortable((signal) => {
        signalSeen = signal;
        return fetch(url, { signal });
      });
    });
    await requestSeen;
    expect(signalSeen!.aborted).toBe(false);
    await run(function* () {
      yield* g.kill();
    });
    expect(signalSeen!.aborted).toBe(true);
    await socketClosed; // the real connection was torn down
    expect(g.successful()).toBe(true); // a GreenletExit kill
  });

  it('a Timeout firing aborts the signal and is what the greenlet catches', async () => {
    let signalSeen: AbortSignal | null = null;
    const caught = await run(function* () {
      // Long enough for the request to reach the server even on a loaded machine.
      const t = Timeout.start(0.5);
      try {
        yield* abortable((signal) => {
          signalSeen = signal;
          return fetch(url, { signal });
        });
        return 'answered?';
      } catch (e) {
        return e === t ? 'own timeout' : e;
      } finally {
        t.cancel();
      }
    });
    expect(caught).toBe('own timeout');
    expect(signalSeen!.aborted).toBe(true);
    await socketClosed;
  });

  it('withTimeout with timeoutValue around a fetch gives the value and aborts the request', async () => {
    const v = await withTimeout(0.5, abortable((signal) => fetch(url, { signal })), { timeoutValue: 'gave up' });
    expect(v).toBe('gave up');
    await socketClosed;
  });

  it('a promise that resolves gives its value, and a rejection is thrown at the yield', async () => {
    const v = await run(function* () {
      const a = yield* abortable(async () => 'fine');
      let b = '';
      try {
        yield* abortable(async () => {
          throw new Error('bad');
        });
      } catch (e) {
        b = (e as Error).message;
      }
      yield* sleep(0);
      return [a, b];
    });
    expect(v).toEqual(['fine', 'bad']);
  });

  it('a non-function is a TypeError naming the value and the fix', () => {
    expect(() => abortable(42 as never)).toThrow(TypeError);
    expect(() => abortable(42 as never)).toThrow(/abortable\(\) needs a function \(signal\) => promise, got a number \(42\)/);
  });
});
