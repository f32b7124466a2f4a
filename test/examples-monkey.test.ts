import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { exampleOutput } from './run-example.js';

// The main demo as `npm start` runs it: the geventjs bin on a plain JavaScript script.
const root = path.resolve(__dirname, '..');

describe('examples/demo.js', () => {
  it('fetches every page, looks up localhost and runs the subprocess while the ticker ticks', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['dist/bin/geventjs.js', 'examples/demo.js'], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }),
      );
    });
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 7)).toEqual([
      "GET /alpha: HTTP/1.1 200 OK, body 'page /alpha'",
      "GET /beta: HTTP/1.1 200 OK, body 'page /beta'",
      "GET /gamma: HTTP/1.1 200 OK, body 'page /gamma'",
      "GET /delta: HTTP/1.1 200 OK, body 'page /delta'",
      'lookup localhost: 127.0.0.1',
      "execSync('sleep 0.3; echo hi'): hi",
      'ticker kept ticking meanwhile: yes',
    ]);
    // The timings themselves depend on the machine's load: only the line's shape is checked.
    expect(lines[7]).toMatch(/^total \d+ ms against \d+ ms for the parts one after another: (concurrent|sequential)$/);
    expect(lines).toHaveLength(8);
  }, 60_000);
});

describe('examples/monkey-patch.ts', () => {
  it('shows dns.lookup and setTimeout replaced in place by the patch and restored by unpatchAll', () => {
    const stdout = exampleOutput('monkey-patch', 30_000);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 7)).toEqual([
      "dns.lookup is Node's own: true",
      'After monkey patch',
      "dns.lookup is Node's own: false",
      "getOriginal gives Node's own: true",
      "setTimeout is Node's own: true",
      'After monkey patch',
      "setTimeout is Node's own: false",
    ]);
    expect(lines.slice(7, -1).map((l) => l.split(':')[0]).sort()).toEqual(['dns', 'timers']);
    expect(lines.at(-1)).toBe("After unpatchAll, both are Node's own again: true");
  }, 30_000);
});
