/**
 * The docs stand alone: every relative link in README.md, SECURITY.md, docs/ and bench/
 * resolves to a file of the repository, none (nor an example's comment) cites a file outside
 * it, every JavaScript block parses on Node 20 (no `using`), every `using` has its try/finally
 * form beside it, and the README's code blocks type-check (TypeScript) or run (JavaScript)
 * against the built package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function docFiles(): string[] {
  const files = ['README.md', 'SECURITY.md', 'bench/README.md', 'bench/RESULTS.md'].filter((f) => existsSync(join(root, f)));
  for (const f of readdirSync(join(root, 'docs'))) if (f.endsWith('.md')) files.push(`docs/${f}`);
  return files;
}

/** `[text](target)` links whose target is not a URL or an anchor. */
function relativeLinks(md: string): string[] {
  const out: string[] = [];
  const noCode = md.replace(/```[\s\S]*?```/g, '');
  for (const m of noCode.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.replace(/#.*$/, ''));
  }
  return out;
}

function codeBlocks(md: string, lang: string): string[] {
  return [...md.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

describe('docs', () => {
  it('every relative link in the docs resolves to a file of the repository', () => {
    const broken: string[] = [];
    for (const f of docFiles()) {
      for (const target of relativeLinks(readFileSync(join(root, f), 'utf8'))) {
        const path = resolve(root, dirname(f), target);
        if (!path.startsWith(root + '/') || !existsSync(path)) broken.push(`${f} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every #anchor of a link names a heading of the file it points to (GitHub slugs)', () => {
    const slugs = (md: string): Set<string> => {
      const out = new Set<string>();
      const seen = new Map<string, number>();
      for (const m of md.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6}\s+(.+)$/gm)) {
        const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        out.add(n === 0 ? base : `${base}-${n}`);
      }
      return out;
    };
    const broken: string[] = [];
    for (const f of docFiles()) {
      const md = readFileSync(join(root, f), 'utf8');
      for (const m of md.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]*#[^)\s]+)\)/g)) {
        const [file, anchor] = m[1]!.split('#') as [string, string];
        if (/^[a-z]+:/i.test(file)) continue;
        const target = file === '' ? join(root, f) : resolve(root, dirname(f), file);
        if (!target.endsWith('.md') || !existsSync(target)) continue; // the file itself is checked above
        if (!slugs(readFileSync(target, 'utf8')).has(anchor)) broken.push(`${f} -> ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('no doc cites a file outside the repository or the project brief', () => {
    const cites: string[] = [];
    // The examples' comments are docs too: they speak of "the gevent tutorial".
    const examples = readdirSync(join(root, 'examples'))
      .filter((f) => /\.(ts|js)$/.test(f))
      .map((f) => `examples/${f}`);
    for (const f of [...docFiles(), ...examples]) {
      readFileSync(join(root, f), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\.\.\/shared|DESIGN\.md|BENCHMARKS\.md|\bthe seed\b/i.test(line)) cites.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(cites).toEqual([]);
  });

  it('every JavaScript block of the docs parses on this Node (no `using`, which Node 20 and 22 lack)', () => {
    const bad: string[] = [];
    for (const f of docFiles()) {
      codeBlocks(readFileSync(join(root, f), 'utf8'), 'js').forEach((b, i) => {
        if (/^\s*(await\s+)?using\s+[\w$]+\s*=/m.test(b)) bad.push(`${f} js block ${i}: a \`using\` declaration`);
        // Fragments may `yield` at top level: parse each inside a generator function (compiled, never run).
        const body = b.replace(/^\s*(import|export)\b.*$/gm, '');
        try {
          new Script(`(function* () {\n${body}\n})`, { filename: `${f} js block ${i}` });
        } catch (e) {
          bad.push(`${f} js block ${i}: ${(e as Error).message}`);
        }
      });
    }
    expect(bad).toEqual([]);
  });

  it('every `using` in the docs and examples has its plain-JavaScript form (try/finally) beside it', () => {
    const missing: string[] = [];
    for (const f of docFiles()) {
      const lines = readFileSync(join(root, f), 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (!/\busing\s+[\w$]+\s*=/.test(line)) return;
        const near = lines.slice(Math.max(0, i - 12), i + 30).join('\n');
        if (!/\bfinally\b/.test(near)) missing.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    for (const f of readdirSync(join(root, 'examples')).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(root, 'examples', f), 'utf8');
      const header = /^\/\*\*[\s\S]*?\*\//.exec(text)?.[0] ?? '';
      if (/^\s*using\s+[\w$]+\s*=/m.test(text) && !/\bfinally\b/.test(header)) missing.push(`examples/${f}: header comment`);
    }
    expect(missing).toEqual([]);
  });

  it("the README's TypeScript blocks type-check against the built package", () => {
    const blocks = codeBlocks(readFileSync(join(root, 'README.md'), 'utf8'), 'ts');
    expect(blocks.length).toBeGreaterThan(0);
    // Inside the repository, so `import ... from 'geventjs'` resolves to this package by name.
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    try {
      blocks.forEach((b, i) => writeFileSync(join(dir, `block${i}.mts`), b.includes('export') ? b : b + '\nexport {};\n'));
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2022', 'ESNext.Disposable'],
            module: 'node16',
            moduleResolution: 'node16',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            noUnusedLocals: false,
            types: ['node'],
          },
          include: ['*.mts'],
        }),
      );
      const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("the README's JavaScript blocks run on this Node and exit 0", () => {
    const blocks = codeBlocks(readFileSync(join(root, 'README.md'), 'utf8'), 'js');
    expect(blocks.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    try {
      blocks.forEach((b, i) => {
        const file = join(dir, `block${i}.js`);
        writeFileSync(file, b);
        const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
        expect({ block: i, status: r.status, stderr: r.stderr }).toEqual({ block: i, status: 0, stderr: '' });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
