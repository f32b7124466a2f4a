/**
 * The recipes of docs/recipes.md, run as real Node processes from dist/examples after the
 * build, with their output checked.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { examplePath, lines, runExample } from './run-example.js';

describe('examples (recipes)', () => {
  it('recipe-fail-fast: the first failure reaches main and the slow part is stopped, its finally run', () => {
    const r = runExample('recipe-fail-fast');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'fast: done',
      'first failure: broken failed',
      'slow: stopped, cleaning up',
      'still running: 0',
    ]);
  });

  it('recipe-deadline: one Timeout stops a whole tree of tasks, leaving none running', () => {
    const r = runExample('recipe-deadline');
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(2);
    const m = /^deadline: (\d+) pages visited, stopping (\d+) tasks$/.exec(out[0]!);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(15); // 1 + 2 + 4 + 8 pages fetched before the leaves hang
    expect(Number(m![2])).toBe(8); // the 8 leaves still waiting
    expect(out[1]).toBe('tasks left: 0');
  });

  it('recipe-queue-worker: SIGTERM lets the job in hand finish, loses no job, and the program exits 0', async () => {
    const child = spawn(process.execPath, [examplePath('recipe-queue-worker')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let out = '';
    let sent = false;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      // Send SIGTERM once two jobs are done, so it lands while the worker is busy or idle.
      if (!sent && /job 2: done/.test(out)) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.on('close', (c, s) => res([c, s])));
    clearTimeout(killer);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    const done = lines(out).filter((l) => /^job \d+: done$/.test(l)).map((l) => Number(/\d+/.exec(l)![0]));
    expect(done).toEqual(done.map((_, i) => i + 1)); // in order, none skipped
    const left = Number(/stopped cleanly; (\d+) jobs left in the queue/.exec(out)![1]);
    expect(done.length + left).toBe(1000); // every job either done or still queued
  });
});
