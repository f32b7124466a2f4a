/**
 * Patch for Node's `http` client. It wraps no function; it adds:
 *   - http.ClientRequest.prototype `toOp`: `yield http.get(...)` / `yield http.request(...)`
 *     inside a greenlet sends the request (calling `req.end()` if the caller has not and no
 *     stream is piped into it: write a body first, then yield) and waits for the response: it gives the `IncomingMessage`, or
 *     throws the request's error. A kill or Timeout of the greenlet while it waits destroys
 *     the request, so the connection closes. `https.get` / `https.request` return the same
 *     class, so patching either module makes both yieldable.
 * http.get and http.request keep returning the ClientRequest, so callback and event use
 * (inside greenlets too) is unchanged. Read a body in blocking style with
 * `yield* readBody(res)` from `geventjs/http`.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { PatchedCall } from '../src/patched-call.js';
import { toOp } from '../src/op.js';
import type { AddFn, PatchSpec, WrapFn } from '../src/patch-spec.js';

/** What `yield req` waits on: the response or the request's error. */
class ResponseCall extends PatchedCall<IncomingMessage> {
  constructor(private readonly req: ClientRequest) {
    super(`${req.protocol === 'https:' ? 'https' : 'http'}.request(${JSON.stringify(`${req.method} ${req.protocol}//${req.host}${req.path}`)})`, (out) => awaitResponse(req, out));
  }

  /** The greenlet was interrupted after the response came but before it ran: nobody will read it. */
  override undo(): void {
    this.req.destroy();
  }
}

function awaitResponse(req: ClientRequest, out: { ok(v: IncomingMessage): void; fail(e: unknown): void }) {
  const early = (req as { res?: IncomingMessage | null }).res;
  if (early) {
    // The response came before the yield (the caller switched in between).
    out.ok(early);
    return;
  }
  const onResponse = (res: IncomingMessage) => {
    detach();
    // From here the caller holds only the response: a socket error Node reports on the request
    // (a reset mid-body) goes to the response, where readBody sees it, instead of crashing the
    // process as an 'error' nobody can listen for. (Node emits it on the response only to
    // listeners.)
    req.on('error', (err) => res.destroy(err));
    out.ok(res);
  };
  const onError = (err: unknown) => {
    detach();
    out.fail(err);
  };
  const closedError = () => Object.assign(new Error(`${req.method} ${req.path}: the request closed before a response came`), { code: 'ECONNRESET' });
  if (req.destroyed) {
    // It failed before the yield (ECONNREFUSED went to its own 'error' listener): its 'close'
    // has been emitted and will not come again.
    out.fail(closedError());
    return;
  }
  const onClose = () => {
    detach();
    out.fail(closedError());
  };
  const detach = () => {
    req.off('response', onResponse);
    req.off('error', onError);
    req.off('close', onClose);
  };
  req.once('response', onResponse);
  req.once('error', onError);
  req.once('close', onClose);
  // Yielding sends the request: Node sends a ClientRequest at end(). Not when a stream is
  // piped into it (pipe() listens for 'unpipe'): that stream ends it when it is done.
  if (!req.writableEnded && req.listenerCount('unpipe') === 0) req.end();
  return () => {
    detach();
    // Interrupted: nobody waits for this response any more. The error destroy() may emit has
    // no listener left, so keep one that ignores it rather than crash the process.
    req.on('error', ignore);
    req.destroy();
  };
}

function ignore(): void {}

function requestResponse(this: ClientRequest) {
  return new ResponseCall(this);
}

/** Adds `toOp` to ClientRequest; shared by the http and https patches. */
export function addRequestToOp(http: typeof import('node:http'), add: AddFn): void {
  add(http.ClientRequest.prototype, toOp, requestResponse);
}

/**
 * The http patch, applied by monkey.patchHttp().
 *
 * @example
 * monkey.patchHttp();
 * spawn(function* () { const res = yield http.get('http://127.0.0.1:8080/'); });
 */
export const httpPatch: PatchSpec = {
  module: 'http',
  apply(http: typeof import('node:http'), _wrap: WrapFn, add: AddFn) {
    addRequestToOp(http, add);
  },
};
