/**
 * The error a patched call's blocking form gives outside a greenlet. After patching, Node's own
 * function still answers a call with no callback outside greenlets (Node's error type, code
 * and text, unchanged); this adds to its message that the form needs a greenlet, so a user
 * who read "yield setTimeout(100)" in the docs learns why it failed here.
 */

/**
 * Calls `original` as Node would and, if it throws, adds to the error's message (and stack)
 * that `form` works only inside a greenlet. The error keeps its class and `code`.
 *
 * @example
 * return callNeedingGreenlet(original, this, arguments, 'setTimeout(ms)');
 */
export function callNeedingGreenlet(original: Function, self: unknown, args: ArrayLike<unknown>, form: string): unknown {
  try {
    return original.apply(self, args);
  } catch (err) {
    throw withGreenletHint(err, form);
  }
}

/**
 * Adds the hint to Node's "callback must be a function" error (anything else is returned as it is).
 *
 * @example
 * throw withGreenletHint(err, 'dns.lookup(host)');
 */
export function withGreenletHint(err: unknown, form: string): unknown {
  // Only the error about the missing callback: a bad hostname or delay is another matter.
  if (!(err instanceof Error) || !err.message.includes('"callback"')) return err;
  const before = err.message;
  const hint = `; ${form} with no callback works only inside a greenlet, as \`yield ${form}\` (spawn(function* () { ... })), or pass a callback`;
  err.message = before + hint;
  if (typeof err.stack === 'string') err.stack = err.stack.replace(before, err.message);
  return err;
}
