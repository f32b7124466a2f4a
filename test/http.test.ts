import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { runJson, runNode } from './monkey-child.js';

// The http patch and readBody, in real programs (patching rewrites Node's shared builtins, so
// never in the vitest worker) against a real HTTP server on 127.0.0.1.
const fixture = (name: string) => path.join('test/fixtures', name);

describe('http patch: yield http.get / http.request in a greenlet', () => {
  it('gives the IncomingMessage, sends a request the caller did not end, reads bodies with readBody, and interruptions close the connection', async () => {
    // Before: `yield http.get(url)` was a TypeError (a ClientRequest is not yieldable) and
    // nothing stopped the request.
    const r = await runJson([fixture('http-client.js')]);
    expect(r).toEqual({
      get: ['IncomingMessage', 200, 'hello'],
      postWithBody: 'echo:abc',
      pipedBody: 'echo:piped',
      requestNotEnded: 'hello',
      timeoutWaitingForResponse: 'timed out',
      serverSawCloseAfterTimeout: true,
      killed: 'GreenletExit',
      serverSawCloseAfterKill: true,
      timeoutReadingBody: 'timed out',
      serverSawCloseAfterBodyTimeout: true,
      bodyStreamDestroyed: true,
      resetMidBody: 'Error: read ECONNRESET',
      refused: 'Error: connect ECONNREFUSED 127.0.0.1:1',
      refusedBeforeYield: 'Error: GET /: the request closed before a response came',
      tooLarge: 'BodyTooLargeError: readBody: the body is larger than maxBytes (3); raise { maxBytes } or read the stream in parts',
      tooLargeCode: 'GEVENTJS_BODY_TOO_LARGE',
      callbackInside: ['ClientRequest', 'hello'],
      badStream: 'TypeError: readBody(stream) needs a readable stream such as the IncomingMessage of yield http.get(url), got a string ("not a stream")',
      badMaxBytes: 'TypeError',
    });
  }, 60_000);

  it('https alone (http left unpatched): yield https.get gives the response over TLS, a Timeout destroys the request', async () => {
    expect(await runJson([fixture('http-https.js')])).toEqual({
      httpsPatched: true, httpPatched: false, body: 'secure hello', timedOut: true, serverSawClose: true,
    });
  }, 60_000);

  it('a program whose fetch and http.get time out at 0.2 s against a server that never answers exits at once, and the server sees both connections close', async () => {
    // The server lives in this (unpatched) test process; the program is a child.
    const { start } = require('./fixtures/http-server.js') as {
      start(listening: (base: string) => void): import('node:http').Server & { closedSoon(tag: string, ms?: number): Promise<boolean> };
    };
    let server!: ReturnType<typeof start>;
    const base = await new Promise<string>((resolve) => {
      server = start(resolve);
    });
    try {
      // Before: the timed-out fetch went on (undici waits 300 s for headers) and the kill
      // timer ended the program with SIGKILL.
      const r = await runNode([fixture('http-timeout-exit.js'), base + '/never'], { timeout: 15_000 });
      expect(r.signal, r.stderr).toBe(null);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual(['fetch: timed out', 'http.get: timed out']);
      expect(await server.closedSoon('fetch')).toBe(true);
      expect(await server.closedSoon('http')).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 60_000);
});
