/**
 * An echo server (gevent's StreamServer example): start it on a free port, connect a few
 * clients at once, print what each got back, stop the server.
 *
 * Run: node dist/examples/echo-server.js
 */
import { joinall, run, spawn } from '../src/index.js';
import { StreamServer } from '../src/server.js';
import { createConnection, type GSocket } from '../src/socket.js';

/** The handler: one greenlet per connection, echoing until the client closes its side. */
function* echo(sock: GSocket): Generator<unknown, void, unknown> {
  for (let data = yield* sock.recv(1024); data.length > 0; data = yield* sock.recv(1024)) {
    yield* sock.sendall(data);
  }
}

function* client(port: number, n: number): Generator<unknown, string, unknown> {
  const sock = yield* createConnection(['127.0.0.1', port], { timeout: 10 });
  const message = `hello from client ${n}`;
  yield* sock.sendall(message);
  const reply = yield* sock.recvExactly(Buffer.byteLength(message));
  sock.close();
  return reply.toString();
}

run(function* () {
  const server = new StreamServer(['127.0.0.1', 0], echo);
  yield* server.start();
  console.log('echo server started');
  const clients = [1, 2, 3].map((n) => spawn(client, server.serverPort, n));
  yield* joinall(clients);
  clients.forEach((g, i) => console.log(`client ${i + 1} got back: ${g.value}`));
  yield* server.stop();
  console.log(`server stopped; handlers left: ${server.handlerCount()}`);
}).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
