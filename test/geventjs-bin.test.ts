import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

// The bin as a user runs it: a child process on dist/bin/geventjs.js (built by `npm test`).
const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'dist/bin/geventjs.js');

function runBin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
    });
  });
}

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

  it('a script that throws exits 1 with its error', async () => {
    const r = await runBin(['test/fixtures/monkey-cli-throw.js']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('geventjs: test/fixtures/monkey-cli-throw.js failed: Error: script broke on purpose');
  }, 60_000);

  it('a script it cannot find exits 2 naming the path and the usage', async () => {
    const r = await runBin(['no-such-script.js']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("geventjs: cannot find script 'no-such-script.js'");
    expect(r.stderr).toContain('usage: geventjs <script.js> [args...]');
  }, 60_000);
});
