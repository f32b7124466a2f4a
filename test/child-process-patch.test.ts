/**
 * patches/child_process.ts as users run it: real programs in child processes against dist/
 * (built by `npm test`), each with a kill timer so a hang fails instead of hanging the run.
 *  - a table-driven differential test: every argument form of every patched function, run
 *    with Node's own call and yielded patched in a greenlet, must give the same result;
 *  - options planted on Object.prototype are never read;
 *  - maxBuffer and timeout stop the call at once (memory and time stay bounded);
 *  - sync calls made by code under node_modules keep Node's behaviour, under -r, --import and
 *    the CLI; markCooperative / GEVENTJS_COOPERATIVE and markBlocking change the rule.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const fixture = (name: string) => path.join(root, 'test/fixtures', name);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: opts.cwd ?? root, env: opts.env ?? process.env, timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

function jsonLines(r: Ran): any[] {
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

describe('patched child_process against Node', () => {
  it('every argument form of spawnSync, execFileSync, execSync, spawn, exec and execFile gives what Node gives', async () => {
    const lines = jsonLines(await node([fixture('cp-diff.js')]));
    const { uid } = lines.pop();
    expect(lines.length).toBe(93);
    for (const { name, sync, green } of lines) expect({ name, green }).toEqual({ name, green: sync });
    const byName = (prefix: string) => lines.filter((l) => l.name.startsWith(prefix));
    // The options after a null or undefined args list are kept: uid, env, cwd, input.
    expect(uid).toBe('0'); // the tests run as root here, so uid: 65534 is a real change
    for (const l of byName('spawnSync(["id",null')) expect(l.green.stdout).toMatch(/^uid=65534\(nobody\)/);
    for (const l of byName('execFileSync(["id",null')) expect(l.green).toMatch(/^uid=65534\(nobody\)/);
    expect(byName('execFileSync(["env",null')[0].green).toBe('ONLY=1\n');
    expect(byName('execSync(["echo \\"[$DB_PASSWORD]')[0].green).toBe('[]\n');
    expect(byName('execFileSync(["sh",null,{"input"')[0].green).toBe('from-input\n');
    // A timeout gives up at the timeout, even with a grandchild holding the pipes.
    for (const l of lines.filter((x) => /sleep [45]/.test(x.name) && x.name.includes('timeout'))) {
      const err = l.green.pick?.error?.pick ?? l.green.error?.pick ?? l.green.pick;
      expect(err.code, l.name).toBe('ETIMEDOUT');
      expect(l.ms, l.name).toBeLessThan(3000);
    }
    // Errors are compared too, not only successes.
    expect(byName('spawn(["/nonexistent')[0].green).toMatchObject({ thrown: true, pick: { code: 'ENOENT', path: '/nonexistent/geventjs-missing' } });
    expect(byName('exec(["true",{"shell"')[0].green.pick.code).toBe('ENOENT');
    expect(byName('execFile(["/nonexistent')[0].green.message).toBe('spawn /nonexistent/geventjs-missing ENOENT');
  }, 120_000);

  it('options planted on Object.prototype are never read (shell, env, input, cwd, encoding, timeout, maxBuffer, uid)', async () => {
    const lines = jsonLines(await node([fixture('cp-pollution.js')]));
    expect(lines.map((l) => l.green)).toEqual([
      'x; echo INJECTED\n',
      '||sh\n',
      { status: 0, signal: null, stdout: `|${root}\n` },
      '\n',
    ]);
    // Node's own spawnSync ignores them too, except `input` (it reads stdio entries through the
    // prototype, so the fixture leaves `input` out of its reference call): the emulation does
    // not copy that.
    expect(lines.map((l) => (typeof l.sync === 'string' ? l.sync : l.sync.stdout))).toEqual([
      'x; echo INJECTED\n', '||sh\n', `|${root}\n`, '\n',
    ]);
  }, 60_000);

  it('maxBuffer and timeout stop at once: a child that ignores SIGTERM, a pipeline, a grandchild holding the pipes', async () => {
    const [r] = jsonLines(await node([fixture('cp-stop.js')]));
    for (const name of ['ignoresTerm', 'pipeline', 'spawnSyncZero']) {
      expect(r[name].code, name).toBe('ENOBUFS');
      expect(r[name].stdoutBytes, name).toBeGreaterThan(1024 * 1024);
      expect(r[name].stdoutBytes, name).toBeLessThan(8 * 1024 * 1024);
      expect(r[name].grewMiB, name).toBeLessThan(200);
    }
    for (const name of ['grandchildTimeout', 'lateEcho']) {
      expect(r[name]).toMatchObject({ code: 'ETIMEDOUT', signal: 'SIGTERM', stdoutBytes: 0 });
      expect(r[name].ms, name).toBeLessThan(3000); // the sleeps take 4 and 5 s
    }
  }, 60_000);
});

describe('sync calls from packages keep Node behaviour inside greenlets', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'geventjs-pkg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const dist = path.join(root, 'dist/src');
  const pkg = (name: string, body: string) => {
    mkdirSync(path.join(dir, 'node_modules', name), { recursive: true });
    writeFileSync(path.join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, main: 'index.js' }));
    writeFileSync(path.join(dir, 'node_modules', name, 'index.js'), body);
  };
  // A CLI helper of the usual kind, and a permission check that must fail closed.
  pkg('shell-helper', `
    const cp = require('child_process');
    exports.version = () => cp.execSync('echo pkg-out').toString().trim();
    exports.canRun = (file) => { try { cp.execFileSync(file, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } };
    exports.status = () => cp.spawnSync('sh', ['-c', 'exit 3']).status;
  `);
  pkg('@scope/coop', `exports.run = () => require('child_process').execSync('echo coop');`);
  pkg('late-coop', `exports.run = () => require('child_process').execSync('echo late');`);
  writeFileSync(path.join(dir, 'legacy.js'), `exports.run = () => require('child_process').execSync('echo legacy').toString();`);
  writeFileSync(path.join(dir, 'main.js'), `
    const { run } = require(${JSON.stringify(dist)} + '/index.js');
    const { markBlocking, markCooperative } = require(${JSON.stringify(dist)} + '/patched-call.js');
    const cp = require('child_process');
    const helper = require('shell-helper');
    markBlocking(require.resolve('./legacy.js'));
    markCooperative('late-coop');
    run(function* () {
      const own = cp.execSync('echo own');
      const out = {
        patched: typeof own.toString === 'function' && !Buffer.isBuffer(own),
        own: String(yield own).trim(),
        version: helper.version(),
        canRunMissing: helper.canRun('/nonexistent/geventjs-tool'),
        canRunNode: helper.canRun(process.execPath),
        status: helper.status(),
        legacy: require('./legacy.js').run().trim(),
        coopIsOp: null,
        coop: null,
        lateCoop: String(yield require('late-coop').run()).trim(),
      };
      const coop = require('@scope/coop').run(); // an Op: yielded right away
      out.coopIsOp = !Buffer.isBuffer(coop);
      out.coop = String(yield coop).trim();
      console.log(JSON.stringify(out));
    }).catch((e) => { console.error(e); process.exitCode = 1; });
  `);
  const expected = {
    patched: true,
    own: 'own',
    version: 'pkg-out',
    canRunMissing: false,
    canRunNode: true,
    status: 3,
    legacy: 'legacy',
    lateCoop: 'late',
    coopIsOp: true,
    coop: 'coop',
  };
  const env = { ...process.env, GEVENTJS_COOPERATIVE: '@scope/coop' };
  const patch = path.join(dist, 'patch.js');

  async function check(args: string[]) {
    const r = await node(args, { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(expected);
  }

  it('under -r geventjs/patch', () => check(['-r', patch, 'main.js']), 60_000);

  it('config.maxBlockingTime names the package whose sync call blocked the loop', async () => {
    pkg('slow-helper', `exports.wait = () => require('child_process').execSync('sleep 0.15; echo done').toString();`);
    writeFileSync(path.join(dir, 'blocker.js'), `
      const { run } = require(${JSON.stringify(dist)} + '/index.js');
      run(function* () { return require('slow-helper').wait(); }).then((v) => console.log(v.trim()));
    `);
    const r = await node(['-r', patch, 'blocker.js'], { cwd: dir, env: { ...env, GEVENTJS_MAX_BLOCKING_TIME: '0.05' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('done');
    expect(r.stderr).toMatch(/held the event loop for \d+\.\d ms/);
    expect(r.stderr).toMatch(/execSync\("sleep 0\.15; echo done"\) from package "slow-helper" blocked for \d+\.\d ms/);
  }, 60_000);
  it('under --import geventjs/patch', () => check(['--import', patch, 'main.js']), 60_000);
  it('under the geventjs CLI', () => check([path.join(root, 'dist/bin/geventjs.js'), 'main.js']), 60_000);

  it('ESM: a package of ES modules keeps Node behaviour, the main module gets Ops, markBlocking takes a file URL', async () => {
    mkdirSync(path.join(dir, 'node_modules', 'esm-helper'), { recursive: true });
    writeFileSync(
      path.join(dir, 'node_modules', 'esm-helper', 'package.json'),
      JSON.stringify({ name: 'esm-helper', type: 'module', exports: './index.js' }),
    );
    writeFileSync(
      path.join(dir, 'node_modules', 'esm-helper', 'index.js'),
      `import { execSync } from 'node:child_process';\nexport const version = () => execSync('echo esm-pkg').toString().trim();\n`,
    );
    writeFileSync(path.join(dir, 'legacy.mjs'), `import cp from 'node:child_process';\nexport const run = () => cp.execSync('echo legacy-esm').toString().trim();\n`);
    writeFileSync(path.join(dir, 'main.mjs'), `
      import { execSync } from 'node:child_process';
      import { version } from 'esm-helper';
      import { run as legacy } from './legacy.mjs';
      import geventjs from ${JSON.stringify(path.join(dist, 'index.js'))};
      import calls from ${JSON.stringify(path.join(dist, 'patched-call.js'))};
      calls.markBlocking(new URL('./legacy.mjs', import.meta.url).href);
      await geventjs.run(function* () {
        const own = String(yield execSync('echo own-esm')).trim();
        console.log(JSON.stringify({ own, pkg: version(), legacy: legacy() }));
      });
    `);
    const r = await node(['--import', patch, 'main.mjs'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ own: 'own-esm', pkg: 'esm-pkg', legacy: 'legacy-esm' });
  }, 60_000);
});

describe('children started for greenlets and the program lifetime', () => {
  it('once the registry lets go, a greenlet waiting on a child does not keep the program running', async () => {
    // The kill timer (10 s) is far below the children's 30 s: a held process fails the test.
    const pidFile = path.join(mkdtempSync(path.join(tmpdir(), 'geventjs-keepalive-')), 'pid');
    const r = await new Promise<Ran>((resolve) => {
      execFile(process.execPath, [fixture('cp-keepalive.js'), pidFile], { cwd: root, timeout: 10_000 }, (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      });
    });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const l of lines) if (l.popen) process.kill(l.popen, 'SIGKILL'); // end the orphans
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    rmSync(path.dirname(pidFile), { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(lines).toEqual([{ popen: expect.any(Number) }, { released: true }]);
  }, 30_000);
});
