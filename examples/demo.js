// The main demo: a blocking-style plain-JavaScript program, run with everything patched by the
// geventjs bin (`node dist/bin/geventjs.js examples/demo.js`, or `npm start`). It is gevent's
// first tutorial example on loopback: a local HTTP server, several pages fetched at once, a
// lookup of `localhost` and a subprocess, while a ticker greenlet keeps going. Every call below
// reads like blocking code; `yield` lets the others run while it waits.
const http = require('node:http');
const net = require('node:net');
const dns = require('node:dns');
const { execSync } = require('node:child_process');
const { spawn, joinall } = require('geventjs');

const PAGES = ['/alpha', '/beta', '/gamma', '/delta'];
const PAGE_DELAY_MS = 300; // each page takes this long to serve

function* serve() {
  const server = http.createServer((req, res) => {
    // A slow page: served after PAGE_DELAY_MS, with a callback timer (Node's own, unchanged).
    setTimeout(() => res.end(`page ${req.url}`), PAGE_DELAY_MS);
  });
  yield server.listen(0, '127.0.0.1');
  return server;
}

function* fetchPage(port, path) {
  const t0 = Date.now();
  const sock = yield net.connect(port, '127.0.0.1');
  yield* sock.sendall(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  let response = '';
  for (let chunk; (chunk = yield* sock.recv(4096)).length > 0; ) response += chunk;
  sock.close();
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return { what: `GET ${path}: ${response.split('\r\n')[0]}, body '${body}'`, ms: Date.now() - t0 };
}

function* lookup() {
  const t0 = Date.now();
  const { address } = yield dns.lookup('localhost', { family: 4 });
  return { what: `lookup localhost: ${address}`, ms: Date.now() - t0 };
}

function* subprocess() {
  const t0 = Date.now();
  const out = yield execSync('sleep 0.3; echo hi', { encoding: 'utf8' });
  return { what: `execSync('sleep 0.3; echo hi'): ${out.trim()}`, ms: Date.now() - t0 };
}

let ticks = 0;
let running = true;
function* ticker() {
  while (running) {
    yield setTimeout(50);
    ticks++;
  }
}

spawn(function* main() {
  const start = Date.now();
  const server = yield* serve();
  const port = server.address().port;
  const tick = spawn(ticker);
  const jobs = [...PAGES.map((p) => spawn(fetchPage, port, p)), spawn(lookup), spawn(subprocess)];
  yield* joinall(jobs, { raiseError: true });
  running = false;
  yield* joinall([tick]);
  server.close();
  const total = Date.now() - start;
  let sum = 0;
  for (const job of jobs) {
    console.log(job.value.what);
    sum += job.value.ms;
  }
  console.log(`ticker kept ticking meanwhile: ${ticks > 0 ? 'yes' : 'no'}`);
  console.log(`total ${total} ms against ${sum} ms for the parts one after another: ${total < sum ? 'concurrent' : 'sequential'}`);
});
