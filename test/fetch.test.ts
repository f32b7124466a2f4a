import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { runJson } from './monkey-child.js';

// The fetch patch in a real program against a real HTTP server on 127.0.0.1.
describe('fetch patch', () => {
  it('yield fetch and yield res.text() work in greenlets; a Timeout or kill aborts the request or the body; the caller signal is kept; outside greenlets fetch is untouched', async () => {
    // Before: a Timeout or kill left the request running (the server never saw the close).
    const r = await runJson([path.join('test/fixtures', 'http-fetch.js')]);
    expect(r).toEqual({
      patched: true,
      getOriginal: true,
      outsideIsPlainPromise: true,
      outsideBody: 'hello',
      fetched: [200, 'hello'],
      json: { a: 1 },
      awaitInside: 'echo:x',
      timeoutWaitingForResponse: 'timed out',
      serverSawCloseAfterTimeout: true,
      killed: 'GreenletExit',
      serverSawCloseAfterKill: true,
      timeoutReadingBody: 'timed out',
      serverSawCloseAfterBodyTimeout: true,
      ownSignal: 'Error: mine',
      serverSawCloseAfterOwnAbort: true,
      requestSignal: 'Error: request signal',
    });
  }, 60_000);
});
