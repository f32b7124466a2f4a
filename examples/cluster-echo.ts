/**
 * A StreamServer served by two processes through Node's cluster (`workers: 2`): the primary
 * forks the workers, which each run the same server on the same port. Clients ask each
 * connection which process served it; stop() ends the workers.
 *
 * Run: node dist/examples/cluster-echo.js
 */
import cluster from 'node:cluster';
import { joinall, run, spawn } from '../src/index.js';
import { StreamServer } from '../src/server.js';
import { createConnection, type GSocket } from '../src/socket.js';

function* whoami(sock: GSocket): Generator<unknown, void, unknown> {
  const request = yield* sock.makefile().readline();
  yield* sock.sendall(`${request.toString().trim()} served by worker ${process.pid}\n`);
}

function* ask(port: number, n: number): Generator<unknown, string, unknown> {
  const sock = yield* createConnection(['127.0.0.1', port], { timeout: 10 });
  yield* sock.sendall(`request ${n}\n`);
  const reply = yield* sock.makefile().readline();
  sock.close();
  return reply.toString().trim();
}

const server = new StreamServer(['127.0.0.1', 0], whoami, { workers: 2 });

if (cluster.isPrimary) {
  run(function* () {
    yield* server.start();
    console.log('2 workers listening');
    const answers = [];
    // Sequential batches until both workers have served (the OS spreads connections).
    for (let round = 0; round < 50; round++) {
      const batch = [0, 1, 2, 3].map((i) => spawn(ask, server.serverPort, round * 4 + i));
      yield* joinall(batch);
      answers.push(...batch.map((g) => String(g.value)));
      if (new Set(answers.map((a) => a.split(' ').pop())).size === 2) break;
    }
    const pids = new Set(answers.map((a) => a.split(' ').pop()));
    console.log(`all requests answered: ${answers.every((a, i) => a.startsWith(`request ${i} served by worker`))}`);
    console.log(`served by ${pids.size} worker processes, none of them the primary: ${!pids.has(String(process.pid))}`);
    yield* server.stop();
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead()).length;
    console.log(`stopped; workers alive: ${alive}`);
  }).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
} else {
  run(function* () {
    yield* server.serveForever();
  }).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
