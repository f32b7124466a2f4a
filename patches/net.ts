/**
 * Patch for Node's `net` module. It wraps nothing that Node calls itself; it adds:
 *   - net.Socket.prototype `toOp`: `yield net.connect(...)` / `yield net.createConnection(...)`
 *     inside a greenlet waits until the socket is connected and gives it as a geventjs
 *     GSocket (recv, recvExactly, sendall, makefile().readline() Ops), or throws the
 *     connection error;
 *   - net.Server.prototype `toOp`: `yield server.listen(...)` waits until the server listens
 *     and gives a GListener (with `accept()`) for a server made without a connection
 *     listener, or the server itself for one that has its own (an http.Server); it throws the
 *     listen error, such as EADDRINUSE.
 * net.connect, createConnection and listen keep returning what they return, so callback and
 * event use is unchanged.
 */
import type { Server, Socket } from 'node:net';
import { PatchedCall } from '../src/patched-call.js';
import { toOp } from '../src/op.js';
import { GListener, GSocket } from '../src/socket.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/monkey.js';

/** Waits for `ready` or `error` on `emitter`, unless `isReady()` already holds. */
function whenReady<T extends Socket | Server, R>(
  label: string, emitter: T, ready: string, isReady: () => boolean, give: (e: T) => R,
) {
  return new PatchedCall<R>(label, (out) => {
    if (isReady()) {
      out.ok(give(emitter));
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
    };
  });
}

function socketConnected(this: Socket) {
  const sock = this;
  return whenReady('net.connect(...)', sock, 'connect', () => !sock.connecting && sock.remoteAddress !== undefined, GSocket.wrap);
}

function serverListening(this: Server) {
  const server = this;
  return whenReady('server.listen(...)', server, 'listening', () => server.listening, listenerFor);
}

/** A GListener to accept() from, unless the server hands out its connections itself. */
function listenerFor(server: Server): GListener | Server {
  return server.listenerCount('connection') > 0 ? server : GListener.wrap(server);
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
  apply(net: typeof import('node:net'), _wrap: WrapFn, add: AddFn) {
    add(net.Socket.prototype, toOp, socketConnected);
    add(net.Server.prototype, toOp, serverListening);
  },
};
