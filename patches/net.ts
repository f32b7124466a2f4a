/**
 * Patch for Node's `net` module. It wraps nothing that Node calls itself; it adds:
 *   - net.Socket.prototype `toOp`: `yield net.connect(...)` / `yield net.createConnection(...)`
 *     inside a greenlet waits until the socket is connected and gives it (or throws the
 *     connection error);
 *   - net.Server.prototype `toOp`: `yield server.listen(...)` waits until the server listens
 *     and gives it (or throws the listen error, such as EADDRINUSE).
 * net.connect, createConnection and listen keep returning what they return, so callback and
 * event use is unchanged. For recv/recvExactly/readline/sendall and accept Ops, use
 * geventjs/socket's GSocket and GListener.
 */
import type { Server, Socket } from 'node:net';
import { PatchedCall } from '../src/patched-call.js';
import { toOp } from '../src/op.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/monkey.js';

/** Waits for `ready` or `error` on `emitter`, unless `isReady()` already holds. */
function whenReady<T extends Socket | Server>(label: string, emitter: T, ready: string, isReady: () => boolean) {
  return new PatchedCall<T>(label, (out) => {
    if (isReady()) {
      out.ok(emitter);
      return;
    }
    const onReady = () => {
      emitter.off('error', onError);
      out.ok(emitter);
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
  return whenReady('net.connect(...)', sock, 'connect', () => !sock.connecting && sock.remoteAddress !== undefined);
}

function serverListening(this: Server) {
  const server = this;
  return whenReady('server.listen(...)', server, 'listening', () => server.listening);
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
