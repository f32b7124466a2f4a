/**
 * Patch for Node's `net` module. It adds, and wraps only what it must:
 *   - net.Socket.prototype `toOp`: `yield net.connect(...)` / `yield net.createConnection(...)`
 *     inside a greenlet waits until the socket is connected and gives it as a geventjs
 *     GSocket (recv, recvExactly, sendall, makefile().readline() Ops), or throws the
 *     connection error. Interrupted (kill or Timeout), it destroys the socket, and an error
 *     that comes later (ECONNREFUSED, ENOTFOUND) is dropped rather than crashing the process.
 *   - net.Server.prototype `toOp`: `yield server.listen(...)` waits until the server listens
 *     and gives the server itself, or throws the listen error (EADDRINUSE). Interrupted, it
 *     closes the server.
 *   - net.Server.prototype `accept()` (an Op of `[GSocket, [host, port]]`) and
 *     `getsockname()`, for a server made without a 'connection' listener: gevent's listener.
 *   - net.Server.prototype `close` is wrapped so that greenlets waiting in `accept()` get an
 *     EBADF error and connections not yet accepted are closed.
 * net.connect, createConnection and listen keep returning what they return, so callback and
 * event use is unchanged.
 */
import type { Server, Socket } from 'node:net';
import { describeValue } from '../src/arg-checks.js';
import { type Outcome, PatchedCall } from '../src/patched-call.js';
import { type Op, toOp } from '../src/op.js';
import { type Address, GListener, GSocket, serverAddress } from '../src/socket.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/patch-spec.js';

function ignoreError(): void {}

/**
 * A PatchedCall for a socket or server: interrupted after it was ready but before the
 * greenlet ran (a kill landing in between), nobody will get the socket or server, so it is
 * abandoned as an interrupted wait abandons it (otherwise a listening server kept the program
 * alive forever).
 */
class ReadyCall<T extends Socket | Server, R> extends PatchedCall<R> {
  constructor(label: string, private readonly emitter: T, private readonly abandon: (e: T) => void, start: (out: Outcome<R>) => void | (() => void)) {
    super(label, start);
  }

  override undo(): void {
    this.abandon(this.emitter);
  }
}

/**
 * Waits for `ready` or `error` on `emitter`, unless `isReady()` already holds. `abandon`
 * undoes the Node call when the greenlet is interrupted first.
 */
function whenReady<T extends Socket | Server, R>(
  label: string, emitter: T, ready: string, isReady: () => boolean, give: (e: T) => R, abandon: (e: T) => void,
  failedAlready: () => unknown = () => undefined,
) {
  return new ReadyCall<T, R>(label, emitter, abandon, (out) => {
    if (isReady()) {
      out.ok(give(emitter));
      return;
    }
    // Yielded after the outcome: its event has been emitted already and will not come again.
    const failed = failedAlready();
    if (failed !== undefined) {
      out.fail(failed);
      return;
    }
    const onReady = () => {
      emitter.off('error', onError);
      out.ok(give(emitter));
    };
    const onError = (err: unknown) => {
      emitter.off(ready, onReady);
      out.fail(err);
    };
    emitter.once(ready, onReady);
    emitter.once('error', onError);
    return () => {
      emitter.off(ready, onReady);
      emitter.off('error', onError);
      abandon(emitter);
    };
  });
}

function socketConnected(this: Socket) {
  const sock = this;
  // `pending` (no handle yet, or still connecting) covers every form Node accepts: a unix
  // socket path or a pipe has no remoteAddress once connected.
  return whenReady('net.connect(...)', sock, 'connect', () => !sock.pending && !sock.destroyed, GSocket.wrap, abandonConnect, () => connectFailure(sock));
}

/** The error of a socket destroyed before it was yielded (its 'error' was emitted already). */
function connectFailure(sock: Socket): unknown {
  if (!sock.destroyed) return undefined;
  const errored = (sock as Socket & { errored?: unknown }).errored;
  if (errored !== null && errored !== undefined) return errored;
  return Object.assign(new Error('net.connect(...): the socket was closed before it connected; yield a socket that is connecting or connected'), { code: 'ERR_SOCKET_CLOSED' });
}

/** An interrupted connect: the socket goes, and what Node still reports about it goes nowhere. */
function abandonConnect(sock: Socket): void {
  sock.on('error', ignoreError);
  sock.destroy();
}

function serverListening(this: Server) {
  const server = this;
  return whenReady('server.listen(...)', server, 'listening', () => server.listening, readyToAccept, abandonListen);
}

/**
 * An interrupted listen: the server is closed. Node then drops the pending listen (a lookup
 * still running, a bind error not yet reported): nothing comes later to crash the process.
 */
function abandonListen(server: Server): void {
  server.close();
}

/** The server itself; one with no 'connection' listener queues connections for accept(). */
function readyToAccept(server: Server): Server {
  const l = GListener.existing(server);
  if (l !== undefined) l._reopen(); // listening again after a close()
  else if (server.listenerCount('connection') === 0) GListener.wrap(server);
  return server;
}

/** The GListener behind `server.accept()`; refused for a server that hands out its own. */
function listenerOf(server: Server, what: string): GListener {
  if (typeof server !== 'object' || server === null || typeof server.listen !== 'function') {
    throw new TypeError(`${what} is called on a net.Server, got ${describeValue(server)}`);
  }
  const l = GListener.existing(server);
  if (l !== undefined) return l;
  if (server.listenerCount('connection') > 0) {
    throw new TypeError(
      `${what}: this server hands its connections to its own 'connection' listener; make it with net.createServer() and no listener to accept() from it`,
    );
  }
  return GListener.wrap(server);
}

function serverAccept(this: Server): Op<[GSocket, Address]> {
  return listenerOf(this, 'server.accept()').accept();
}

function serverGetsockname(this: Server): Address {
  return serverAddress(this);
}

/**
 * The net patch, applied by monkey.patchNet().
 *
 * @example
 * monkey.patchNet();
 * spawn(function* () { const sock = yield net.connect(port, '127.0.0.1'); });
 */
export const netPatch: PatchSpec = {
  module: 'net',
  apply(net: typeof import('node:net'), wrap: WrapFn, add: AddFn) {
    add(net.Socket.prototype, toOp, socketConnected);
    add(net.Server.prototype, toOp, serverListening);
    add(net.Server.prototype, 'accept', serverAccept);
    add(net.Server.prototype, 'getsockname', serverGetsockname);
    wrap(net.Server.prototype, 'close', (close) =>
      function (this: Server, ...args: unknown[]) {
        const r = close.apply(this, args);
        GListener.existing(this)?._markClosed();
        return r;
      },
    );
  },
};
