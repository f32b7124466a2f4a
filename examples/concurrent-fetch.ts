/**
 * The gevent tutorial's first example on loopback: fetch several URLs at once, one greenlet per URL,
 * each doing a plain HTTP/1.0 GET over a geventjs socket. The URLs are served by Node's own
 * http server on a free port of 127.0.0.1.
 *
 * Run: node dist/examples/concurrent-fetch.js
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { joinall, run, spawn } from '../src/index.js';
import { createConnection } from '../src/socket.js';

const pages: Record<string, string> = {
  '/gevent': 'gevent is a coroutine-based Python networking library. '.repeat(20),
  '/baidu': 'search '.repeat(100),
  '/python': 'Python is a programming language that lets you work quickly. '.repeat(5),
};

function* fetchUrl(url: string): Generator<unknown, Buffer, unknown> {
  const { hostname, port, pathname } = new URL(url);
  const sock = yield* createConnection([hostname, Number(port)], { timeout: 10 });
  yield* sock.sendall(`GET ${pathname} HTTP/1.0\r\nHost: ${hostname}\r\n\r\n`);
  const response = yield* sock.makefile().read(); // HTTP/1.0: the server closes at the end
  sock.close();
  return response.subarray(response.indexOf('\r\n\r\n') + 4); // the body
}

/** The URL without its port, which the OS picks anew on each run. */
function shown(url: string): string {
  return url.replace(/:\d+\//, ':PORT/');
}

function* printHead(url: string): Generator<unknown, string, unknown> {
  console.log(`Starting ${shown(url)}`);
  const data = yield* fetchUrl(url);
  return `${shown(url)}: ${data.length} bytes: ${JSON.stringify(data.subarray(0, 30).toString())}`;
}

const server = http.createServer((req, res) => res.end(pages[req.url ?? ''] ?? 'not found'));
server.listen(0, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const urls = Object.keys(pages).map((p) => base + p);
  run(function* () {
    const jobs = urls.map((url) => spawn(printHead, url));
    yield* joinall(jobs);
    // In URL order, whatever order they finished in.
    for (const g of jobs) console.log(g.value);
  })
    .catch((e) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => server.close());
});
