/**
 * B7: geventjs's echo server, a StreamServer whose handler loops on recv/sendall.
 * Usage: node dist/bench/echo-server.js PORT [WORKERS]  (binds 127.0.0.1; prints `listening PORT`).
 * WORKERS > 0 serves from that many processes through Node's cluster.
 */
import cluster from 'node:cluster';
import { run } from '../src/index.js';
import { StreamServer } from '../src/server.js';
import type { GSocket } from '../src/socket.js';

const port = Number(process.argv[2] ?? 9000);
const workers = Number(process.argv[3] ?? 0);

function* echo(sock: GSocket): Generator<unknown, void, unknown> {
  for (let data = yield* sock.recv(65536); data.length > 0; data = yield* sock.recv(65536)) {
    yield* sock.sendall(data);
  }
}

const server = new StreamServer(['127.0.0.1', port], echo, { workers });
run(function* () {
  yield* server.start();
  if (cluster.isPrimary) console.log(`listening ${server.serverPort}`);
  yield* server.serveForever();
}).catch((e) => {
  console.error(e);
  process.exit(1);
});
