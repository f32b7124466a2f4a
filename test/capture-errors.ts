/**
 * Captures what geventjs prints on `config.errorStream` (greenlet failures, dropped Ops,
 * hub reports) while `fn` runs, for tests that check those reports.
 */
import { config } from '../src/index.js';

export async function captureErrors(fn: () => Promise<unknown>): Promise<string> {
  const saved = config.errorStream;
  let text = '';
  config.errorStream = { write: (s: string) => (text += s) };
  try {
    await fn();
  } finally {
    config.errorStream = saved;
  }
  return text;
}
