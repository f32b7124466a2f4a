/**
 * The package as users install it: every entry point of package.json's `exports` loads by
 * name from CommonJS and ESM (named imports included), and ships its .d.ts; and the tarball
 * `npm pack` makes installs into a scratch project and runs from CommonJS, ESM, `-r`,
 * `--import` and the bin, with types under moduleResolution node10 and node16.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

  it('typesVersions maps every subpath to the same declarations as exports (for moduleResolution node10)', () => {
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json');
    const mapped = pkg.typesVersions['*'] as Record<string, string[]>;
    expect(Object.keys(mapped).sort()).toEqual(subpaths.map((k) => k.slice(2)).sort());
    for (const k of subpaths) expect('./' + mapped[k.slice(2)]![0]).toBe(pkg.exports[k].types);
  });

  it('has a LICENSE matching its license field, and a prepare script that builds what it ships', () => {
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
    expect(pkg.scripts.prepare).toBe('node scripts/prepare.js');
    const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
    expect(build.include).toEqual(['src', 'patches', 'bin']);
  });

  it('an ESM program imports every entry point by name, with named imports, and runs greenlets', () => {
    const r = runFixture('package-esm.mjs');
    expect(r).toEqual({ kinds: ['function'], got: 'via esm', monkey: 'function' });
  });

  it('a CommonJS program requires every entry point by name and runs greenlets', () => {
    const r = runFixture('package-cjs.js');
    expect(r).toEqual({ loaded: Array(15).fill(true), flag: true, doubled: [2, 4, 6] });
  });

  it('loading geventjs without patching hooks nothing: no require hook, no module replaced', () => {
    // Before: require-in-the-middle was loaded and wrapped Module.prototype.require at load.
    expect(runFixture('package-no-hook.js')).toEqual({
      requireUntouched: true, timersUntouched: true, hookModulesLoaded: [], monkeyLoaded: 'function',
    });
  });
});

describe('the packed tarball, installed into a scratch project', () => {
  let scratch = '';
  let files: string[] = [];

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'geventjs-pack-'));
    // dist/ is built by `npm test` before vitest runs: pack it as is, without `prepare`.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: root, encoding: 'utf8', timeout: 60_000 }),
    )[0];
    files = packed.files.map((f: { path: string }) => f.path);
    const app = join(scratch, 'app');
    cpSync(join(root, 'test/fixtures'), app, { recursive: true, filter: (src) => !src.includes('node_modules') });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true }));
    // The registry may be out of reach: the dependencies come from this repository's
    // node_modules, so `npm install --offline` finds them satisfied and fetches nothing.
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      cpSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep), { recursive: true });
    }
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(scratch, packed.filename)], {
      cwd: app, encoding: 'utf8', timeout: 60_000,
    });
  }, 120_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const inApp = (args: string[], cmd = process.execPath) =>
    JSON.parse(execFileSync(cmd, args, { cwd: join(scratch, 'app'), encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1)!);

  it('ships dist, the LICENSE and the README, and neither tests nor TypeScript sources', () => {
    expect(files).toContain('LICENSE');
    expect(files).toContain('README.md');
    expect(files).toContain('dist/bin/geventjs.js');
    expect(files).toContain('dist/src/http.d.ts');
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('dist/test/') || /(^|\/)[^/]+(?<!\.d)\.ts$/.test(f))).toEqual([]);
  });

  it('every shipped source map carries its sources (none points at a file that is not shipped)', () => {
    const installed = join(scratch, 'app/node_modules/geventjs');
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(20);
    const dangling: string[] = [];
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(installed, m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      map.sources.forEach((s, i) => {
        if (typeof map.sourcesContent?.[i] !== 'string' && !existsSync(resolve(dirname(join(installed, m)), s))) dangling.push(`${m}: ${s}`);
      });
    }
    expect(dangling).toEqual([]);
  });

  it('runs from CommonJS and ESM by name', () => {
    expect(inApp(['package-cjs.js'])).toEqual({ loaded: Array(15).fill(true), flag: true, doubled: [2, 4, 6] });
    expect(inApp(['package-esm.mjs'])).toEqual({ kinds: ['function'], got: 'via esm', monkey: 'function' });
  }, 60_000);

  it('runs patched under -r geventjs/patch, --import geventjs/patch and the installed bin', () => {
    const expected = { patched: true, out: 'patched\n', readBody: 'function', argv: ['a'] };
    expect(inApp(['-r', 'geventjs/patch', 'package-patched.js', 'a'])).toEqual(expected);
    expect(inApp(['--import', 'geventjs/patch', 'package-patched.mjs'])).toEqual({ patched: true, out: 'esm\n' });
    const bin = join(scratch, 'app/node_modules/.bin/geventjs');
    expect(inApp(['package-patched.js', 'a'], bin)).toEqual(expected);
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
  }, 60_000);

  it('its types check under moduleResolution node10 and node16', () => {
    const app = join(scratch, 'app');
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const common = ['--noEmit', '--strict', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), '--target', 'ES2022'];
    for (const [module, resolution] of [['commonjs', 'node10'], ['node16', 'node16']]) {
      const r = (() => {
        try {
          execFileSync(process.execPath, [tsc, ...common, '--module', module!, '--moduleResolution', resolution!, 'package-types.ts'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
          return 'ok';
        } catch (e) {
          return `${resolution}: ${(e as { stdout?: string }).stdout}`;
        }
      })();
      expect(r).toBe('ok');
    }
  }, 120_000);
});

describe('npm install <folder>', () => {
  it('builds a clone that has no dist/ (npm runs prepare in a linked folder), and the program runs from it by name', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'geventjs-link-'));
    try {
      // A fresh clone: the package's sources, no dist/. Its dependencies are linked from this
      // repository (offline); a clone without them gets them from `prepare` (npm install).
      const clone = join(tmp, 'geventjs');
      for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'scripts', 'src', 'patches', 'bin']) {
        cpSync(join(root, f), join(clone, f), { recursive: true });
      }
      mkdirSync(join(clone, 'node_modules'));
      for (const dep of ['typescript', '@types', ...Object.keys(pkg.dependencies ?? {})]) {
        symlinkSync(join(root, 'node_modules', dep), join(clone, 'node_modules', dep));
      }
      const app = join(tmp, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-link', private: true }));
      cpSync(join(root, 'test/fixtures/package-cjs.js'), join(app, 'main.js'));
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', clone], { cwd: app, encoding: 'utf8', timeout: 120_000 });
      expect(existsSync(join(clone, 'dist/src/index.js'))).toBe(true);
      const out = execFileSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ loaded: Array(15).fill(true), flag: true, doubled: [2, 4, 6] });
      expect(execFileSync(join(app, 'node_modules/.bin/geventjs'), ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
