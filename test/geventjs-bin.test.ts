import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

// The bin as a user runs it: a child process on dist/bin/geventjs.js (built by `npm test`).
// Every run has a kill timer: a program that does not end fails the test instead of hanging it.
const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'dist/bin/geventjs.js');

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeout = 20_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as { code?: unknown; signal?: string | null } | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

const runBin = (args: string[], timeout?: number) => run([bin, ...args], timeout);

describe('geventjs bin', () => {
  it('runs the script patched, with its own argv', async () => {
    const r = await runBin(['test/fixtures/monkey-preload.js', 'x', 'y']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ patched: true, out: 'preload\n', argv: ['x', 'y'] });
  }, 60_000);

  it("exits with the script's status", async () => {
    expect((await runBin(['test/fixtures/monkey-cli-exit.js', '7'])).code).toBe(7);
    expect((await runBin(['test/fixtures/monkey-cli-exit.js', '0'])).code).toBe(0);
  }, 60_000);

  it('a script that throws while loading ends the process with status 1 and Node\'s report', async () => {
    const r = await runBin(['test/fixtures/monkey-cli-throw.js']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: script broke on purpose');
    expect(r.stderr).toContain('monkey-cli-throw.js:2');
  }, 60_000);

  it('a server started before the script throws does not keep the process serving', async () => {
    // Before: the bin printed the error, set exitCode = 1 and returned, and the server went on
    // serving (the kill timer then ended the run with SIGKILL).
    const r = await runBin(['test/fixtures/cli-throw-server.js'], 15_000);
    expect(r.signal).toBe(null);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('AUTH_SECRET is not set; refusing to start');
    const esm = await runBin(['test/fixtures/cli-throw-server.mjs'], 15_000);
    expect({ signal: esm.signal, code: esm.code }).toEqual({ signal: null, code: 1 });
    expect(esm.stderr).toContain('refusing to start (esm)');
    const child = await runBin(['--enable-source-maps', 'test/fixtures/cli-throw-server.js'], 15_000);
    expect({ signal: child.signal, code: child.code }).toEqual({ signal: null, code: 1 });
  }, 60_000);

  it("a script's own uncaughtException handler gets the error, exactly as under node", async () => {
    const [viaNode, viaBin] = await Promise.all([
      run(['test/fixtures/cli-throw-handled.js']),
      runBin(['test/fixtures/cli-throw-handled.js']),
    ]);
    expect(viaNode).toMatchObject({ code: 4, stdout: 'handled: thrown at load\nwent on\n' });
    expect(viaBin).toEqual(viaNode);
  }, 60_000);

  it('a script it cannot find exits 2 naming the path and the usage', async () => {
    const r = await runBin(['no-such-script.js']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("geventjs: cannot find script 'no-such-script.js'");
    expect(r.stderr).toContain('usage: geventjs [node options] <script> [script args...]');
  }, 60_000);

  it('--help prints the usage on stdout, --version the package version; no script is a usage error', async () => {
    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: geventjs [node options] <script> [script args...]');
    const version = await runBin(['-v']);
    expect(version).toMatchObject({ code: 0, stdout: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version + '\n' });
    const none = await runBin([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('geventjs: no script given');
  }, 60_000);

  it("passes every argument after the script to it, options included, and Node options before it to node", async () => {
    const plain = await runBin(['test/fixtures/cli-options.js', '--help', '-v', '--', 'x']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toEqual({ sourceMaps: false, argv: ['--help', '-v', '--', 'x'], main: true, patched: true, preloaded: false });
    const withNode = await runBin(['--enable-source-maps', '-r', './test/fixtures/cli-preload.js', 'test/fixtures/cli-options.js', '--inspect', 'y']);
    expect(withNode.code, withNode.stderr).toBe(0);
    expect(JSON.parse(withNode.stdout)).toEqual({ sourceMaps: true, argv: ['--inspect', 'y'], main: true, patched: true, preloaded: true });
    const failing = await runBin(['--enable-source-maps', 'test/fixtures/monkey-cli-exit.js', '9']);
    expect(failing.code).toBe(9);
  }, 60_000);

  it('a worker started by cluster.fork() runs patched, as the primary does', async () => {
    // Before: the primary was patched and its workers (plain `node script.js`) were not.
    const r = await runBin(['test/fixtures/cli-cluster.js', 'a'], 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ primary: true, worker: true, workerArgv: ['a'] });
  }, 60_000);

  it('with Node options the script runs in a child node: a SIGTERM sent to the bin reaches it, and the bin ends as it ends', async () => {
    const sigterm = (scriptArg: string) =>
      new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
        const p = spawn(process.execPath, [bin, '--enable-source-maps', 'test/fixtures/cli-signal.js', scriptArg], { cwd: root });
        const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
        let stdout = '';
        p.stdout.on('data', (d: Buffer) => {
          stdout += d;
          if (stdout.includes('ready\n')) p.kill('SIGTERM');
        });
        p.on('exit', (code, signal) => {
          clearTimeout(kill);
          resolve({ code, signal, stdout });
        });
      });
    expect(await sigterm('handle')).toEqual({ code: 3, signal: null, stdout: 'ready\ngot SIGTERM\n' });
    expect(await sigterm('default')).toEqual({ code: null, signal: 'SIGTERM', stdout: 'ready\n' });
  }, 60_000);
});

describe('geventjs bin: every way a program can fail while it loads ends it, as node does', () => {
  // Each program first starts a server (which alone would keep the process running), then
  // fails in one way. Under node, the -r preload, the bin and the bin with Node options (a
  // child node), each must end with status 1, never be ended by the kill timer.
  const server = "require('node:net').createServer().listen(0, '127.0.0.1');\n";
  const programs: Record<string, string> = {
    'throw.js': `${server}throw new Error('refusing to start');\n`,
    'throw-string.js': `${server}throw 'a string, not an Error';\n`,
    'reject.js': `${server}Promise.reject(new Error('rejected while loading'));\n`,
    'async-main.js': `${server}(async () => { await null; throw new Error('async main failed'); })();\n`,
    'syntax.js': `${server}require('./bad-syntax.cjs');\n`,
    'bad-syntax.cjs': 'let x = ;\n',
    'missing.js': `${server}require('./no-such-module');\n`,
    'run-root.js': `${server}require(${JSON.stringify(path.join(root, 'dist/src/index.js'))}).run(function* () { throw new Error('run() root failed'); });\n`,
    'later.js': `${server}setTimeout(() => { throw new Error('failed after loading'); }, 20);\n`,
    'tla.mjs': `import net from 'node:net';\nnet.createServer().listen(0, '127.0.0.1');\nawait new Promise((r) => setTimeout(r, 20));\nthrow new Error('top-level await failed');\n`,
    'missing-import.mjs': `import net from 'node:net';\nimport { nope } from './no-such-module.mjs';\nnet.createServer().listen(0, '127.0.0.1');\n`,
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'geventjs-load-fail-'));
  for (const [name, code] of Object.entries(programs)) writeFileSync(path.join(dir, name), code);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const preload = path.join(root, 'dist/src/patch.js');
  for (const name of Object.keys(programs).filter((n) => n !== 'bad-syntax.cjs')) {
    it(name, async () => {
      const file = path.join(dir, name);
      const ways: Record<string, string[]> = {
        node: [file],
        preload: ['-r', preload, file],
        bin: [bin, file],
        'bin with node options': [bin, '--enable-source-maps', file],
      };
      const got = await Promise.all(Object.values(ways).map((args) => run(args, 20_000)));
      const outcomes = Object.fromEntries(Object.keys(ways).map((k, i) => [k, { code: got[i]!.code, signal: got[i]!.signal }]));
      const ended = { code: 1, signal: null };
      expect(outcomes).toEqual({ node: ended, preload: ended, bin: ended, 'bin with node options': ended });
    }, 90_000);
  }
});
