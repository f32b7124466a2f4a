/**
 * Reading an HTTP body in blocking style. An `IncomingMessage` (what `yield http.get(url)`
 * gives, or a server's request) is a stream; `yield* readBody(res)` waits in the greenlet
 * until the whole body has come and gives it as one Buffer, or a string when an encoding is
 * asked for.
 */
import type { Readable } from 'node:stream';
import { describeValue, ownOptions } from './arg-checks.js';
import { wake, wakeError } from './hub.js';
import { Wait } from './op.js';
import type { Greenlet } from './greenlet.js';

/** Options of readBody. */
export interface ReadBodyOptions {
  /** Give a string decoded this way instead of a Buffer. */
  encoding?: BufferEncoding;
  /** Refuse (and destroy the stream) once the body grows past this many bytes. Default: no limit. */
  maxBytes?: number;
}

/** Raised by readBody when a body is larger than `maxBytes`. */
export class BodyTooLargeError extends RangeError {
  /** Stable, documented error code (Node style). */
  declare code: 'GEVENTJS_BODY_TOO_LARGE';
  constructor(message: string) {
    super(message);
    this.name = 'BodyTooLargeError';
    this.code = 'GEVENTJS_BODY_TOO_LARGE';
  }
}

class BodyRead extends Wait<Buffer | string> {
  private chunks: Buffer[] = [];
  private size = 0;
  private detach: (() => void) | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly encoding: BufferEncoding | undefined,
    private readonly maxBytes: number,
  ) {
    super();
  }

  park(g: Greenlet): void {
    const s = this.stream;
    const onData = (chunk: Buffer | string) => {
      // A stream given an encoding (setEncoding) hands out strings: back to its bytes.
      const b = typeof chunk === 'string' ? Buffer.from(chunk, s.readableEncoding ?? 'utf8') : chunk;
      this.size += b.length;
      if (this.size > this.maxBytes) {
        this.stop();
        s.destroy();
        if (g._wait === this) {
          wakeError(g, new BodyTooLargeError(`readBody: the body is larger than maxBytes (${this.maxBytes}); raise { maxBytes } or read the stream in parts`));
        }
        return;
      }
      this.chunks.push(b);
    };
    const onEnd = () => {
      this.stop();
      const body = Buffer.concat(this.chunks, this.size);
      this.chunks = [];
      if (g._wait === this) wake(g, this.encoding === undefined ? body : body.toString(this.encoding));
    };
    const onError = (err: unknown) => {
      this.stop();
      if (g._wait === this) wakeError(g, err);
    };
    const onClose = () => {
      onError(Object.assign(new Error('readBody: the stream closed before its end (the peer went away or it was destroyed)'), { code: 'ECONNRESET' }));
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', onError);
    s.once('close', onClose);
    this.detach = () => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onError);
      s.off('close', onClose);
    };
    s.resume();
  }

  private stop(): void {
    this.detach?.();
    this.detach = null;
  }

  /** Interrupted: the body is abandoned half read, so the transfer is stopped for real. */
  override cancel(): void {
    this.stop();
    this.chunks = [];
    this.stream.destroy();
  }

  override describe(): string {
    return 'readBody()';
  }
}

/**
 * Reads a stream (an `IncomingMessage`, a child's stdout) to its end: `yield* readBody(res)`
 * gives a Buffer, `readBody(res, { encoding: 'utf8' })` a string. If the greenlet is killed or
 * timed out while it waits, the stream is destroyed (for a response, its connection closes).
 * A stream that fails, or closes before its end, throws its error.
 *
 * @example
 * const res = yield http.get('http://127.0.0.1:8080/data.json');
 * const data = JSON.parse(yield* readBody(res, { encoding: 'utf8', maxBytes: 1 << 20 }));
 */
export function readBody(stream: Readable, options: ReadBodyOptions & { encoding: BufferEncoding }): Wait<string>;
export function readBody(stream: Readable, options?: ReadBodyOptions): Wait<Buffer>;
export function readBody(stream: Readable, options?: ReadBodyOptions): Wait<Buffer | string> {
  if (stream === null || typeof stream !== 'object' || typeof (stream as Readable).on !== 'function' || typeof (stream as Readable).resume !== 'function') {
    throw new TypeError(`readBody(stream) needs a readable stream such as the IncomingMessage of yield http.get(url), got ${describeValue(stream)}`);
  }
  const o = ownOptions(options, 'readBody(stream, options)');
  const encoding = o.encoding;
  if (encoding !== undefined && !Buffer.isEncoding(encoding)) {
    throw new TypeError(`readBody: encoding must be a Buffer encoding such as 'utf8', got ${describeValue(encoding)}`);
  }
  const maxBytes = o.maxBytes ?? Infinity;
  if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes < 0) {
    throw new TypeError(`readBody: maxBytes must be a number of bytes >= 0, got ${describeValue(maxBytes)}; pass e.g. { maxBytes: 1048576 }`);
  }
  if (stream.readableEnded || stream.destroyed) {
    throw new Error('readBody: the stream was already read to its end or destroyed; call readBody once, before anything else reads it');
  }
  return new BodyRead(stream, encoding, maxBytes) as Wait<Buffer | string>;
}
