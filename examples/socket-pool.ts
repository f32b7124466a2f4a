/**
 * The gevent tutorial's SocketPool: a Pool(1000) of greenlets, each listening on one accepted socket;
 * adding a handler to a full pool is an error, and shutdown() kills every listener.
 *
 * Run: node dist/examples/socket-pool.js
 */
import { run, sleep, spawn } from '../src/index.js';
import { Pool } from '../src/pool.js';
import { createConnection, type GSocket, listen } from '../src/socket.js';

class SocketPool {
  readonly pool = new Pool(1000);
  readonly heard: string[] = [];

  /** One listener per socket: records every message until the peer closes. */
  *listen(socket: GSocket): Generator<unknown, void, unknown> {
    for (let data = yield* socket.recv(1024); data.length > 0; data = yield* socket.recv(1024)) {
      this.heard.push(data.toString());
    }
  }

  *addHandler(socket: GSocket): Generator<unknown, void, unknown> {
    if (this.pool.full()) throw new Error('At maximum pool size');
    yield* this.pool.spawn((s: GSocket) => this.listen(s), socket);
  }

  shutdown() {
    return this.pool.kill();
  }
}

run(function* () {
  const listener = yield* listen(['127.0.0.1', 0]);
  const sockets = new SocketPool();
  const clients: GSocket[] = [];
  for (let i = 1; i <= 3; i++) {
    const connecting = spawn(() => createConnection(listener.getsockname()));
    const [accepted] = yield* listener.accept();
    yield* sockets.addHandler(accepted);
    const client = yield* connecting.get();
    clients.push(client);
    yield* client.sendall(`message from client ${i}`);
  }
  while (sockets.heard.length < 3) yield* sleep(0.01);
  for (const m of [...sockets.heard].sort()) console.log(`listener got: ${m}`);
  console.log(`listeners running: ${sockets.pool.len()}`);
  yield* sockets.shutdown();
  console.log(`after shutdown: ${sockets.pool.len()}`);
  for (const c of clients) c.close();
  listener.close();
}).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
