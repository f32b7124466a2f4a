/**
 * The package as users install it: every entry point of package.json's `exports` loads by
 * name from CommonJS and ESM (named imports included), and ships its .d.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function runFixture(file: string): any {
  const out = execFileSync(process.execPath, [join(root, 'test/fixtures', file)], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('package', () => {
  it('every exports entry has its JavaScript and its type declarations in dist', () => {
    const missing: string[] = [];
    for (const [entry, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (typeof target === 'string') continue; // ./package.json
      const t = target as { types: string; default: string };
      for (const f of [t.types, t.default]) if (!existsSync(join(root, f))) missing.push(`${entry}: ${f}`);
    }
    expect(missing).toEqual([]);
    expect(existsSync(join(root, pkg.bin.geventjs))).toBe(true);
  });

  it('an ESM program imports every entry point by name, with named imports, and runs greenlets', () => {
    const r = runFixture('package-esm.mjs');
    expect(r).toEqual({ kinds: ['function'], got: 'via esm', monkey: 'function' });
  });

  it('a CommonJS program requires every entry point by name and runs greenlets', () => {
    const r = runFixture('package-cjs.js');
    expect(r).toEqual({ loaded: Array(14).fill(true), flag: true, doubled: [2, 4, 6] });
  });
});
