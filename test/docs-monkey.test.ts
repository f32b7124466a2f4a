/**
 * docs/monkey.md's HTTP program runs as printed: extracted from the page, run as a real
 * program (inside the repository, so `require('geventjs')` resolves to this package), and its
 * output compared with the comment that ends the block.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, runNode } from './monkey-child.js';

function block(after: string): string {
  const doc = readFileSync(join(root, 'docs/monkey.md'), 'utf8');
  const from = doc.indexOf(after);
  const start = doc.indexOf('```js\n', from) + '```js\n'.length;
  return doc.slice(start, doc.indexOf('```', start));
}

describe('docs/monkey.md', () => {
  it('the HTTP in blocking style program prints what its last comment says, and ends', async () => {
    const code = block('## HTTP in blocking style');
    const expected = JSON.parse(code.trim().split('\n').at(-1)!.replace(/^\/\/ /, ''));
    const file = join(root, 'dist', 'docs-monkey-http.js');
    writeFileSync(file, code);
    try {
      const r = await runNode([file], { timeout: 20_000 });
      expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 0, signal: null });
      expect(JSON.parse(r.stdout)).toEqual(expected);
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);
});
