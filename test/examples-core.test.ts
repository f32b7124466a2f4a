/**
 * The issue-2 examples (the gevent tutorial's core part), run as real Node processes from
 * dist/examples after the build, with their output checked.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplesDir as dist, lines, runExample } from './run-example.js';

describe('examples (core)', () => {
  it('generator-basics: the generator hands out 0, 1, 2 and resumes where it stopped', () => {
    const r = runExample('generator-basics');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      '0',
      'main: 现在控制权在我手上，啦啦啦',
      'main:hello baby!',
      'foo: 控制权又回到我手上了，叫我大笨蛋',
      '1',
      'main: 老大我又来了',
      'foo: 控制权又回到我手上了，叫我大笨蛋',
      '2',
    ]);
  });

  it('context-switch: foo and bar alternate at each sleep(0)', () => {
    const r = runExample('context-switch');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'Running in foo',
      'Explicit context to bar',
      'Explicit context switch to foo again',
      'Implicit context switch back to bar',
    ]);
  });

  it('sync-async: the synchronous tasks finish in order, all 10 asynchronous tasks finish', () => {
    const r = runExample('sync-async');
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('Synchronous:');
    expect(out.slice(1, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `Task ${i} done`));
    expect(out[10]).toBe('Asynchronous:');
    const asyncTasks = out.slice(11);
    expect(asyncTasks).toHaveLength(10);
    expect([...asyncTasks].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `Task ${i} done`));
  });

  it('my-greenlet: the subclass *_run prints its message and the join returns after its sleep', () => {
    const r = runExample('my-greenlet');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['Hi there!', 'joined; dead: true']);
  });

  it('greenlet-states: prints the tutorial states; the failure stays stored, not thrown (joinall observed it: no report)', () => {
    const r = runExample('greenlet-states');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'true',
      'true',
      'You win!',
      'undefined',
      'true',
      'true',
      'true',
      'false',
      'Error: You fail at failing.',
    ]);
    // [greenlet helper] one report per failure: joinall handed the loser back, so nothing is printed.
    expect(r.stderr).toBe('');
  });

  it('timeout-custom: the Timeout throws the custom TooLong instead of sleeping 10 s', () => {
    const r = runExample('timeout-custom');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual(['caught TooLong; is a TooLong: true']);
  });

  it('run-all: runs every example in its folder one after another, each under a header, not itself', () => {
    // A private copy of run-all with only our examples next to it (in dist/, so their
    // '../src/index.js' still resolves): other areas' examples are checked by their own tests.
    const dir = mkdtempSync(join(dist, '..', 'examples-core-run-all-'));
    try {
      const ours = ['context-switch', 'generator-basics', 'my-greenlet', 'timeout-custom'];
      for (const f of ['run-all', ...ours]) copyFileSync(join(dist, `${f}.js`), join(dir, `${f}.js`));
      const r = spawnSync(process.execPath, [join(dir, 'run-all.js')], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
      const headers = lines(r.stdout).filter((l) => l.startsWith('=== '));
      expect(headers).toEqual(ours.map((n) => `=== examples/${n}.ts ===`));
      const out = r.stdout;
      expect(out.indexOf('Running in foo')).toBeGreaterThan(out.indexOf('=== examples/context-switch.ts ==='));
      expect(out.indexOf('Hi there!')).toBeGreaterThan(out.indexOf('=== examples/my-greenlet.ts ==='));
      expect(out).toContain('caught TooLong; is a TooLong: true');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('run-all: an example waiting for a signal gets it and ends, so the whole run exits 0', () => {
    const dir = mkdtempSync(join(dist, '..', 'examples-core-run-all-signal-'));
    try {
      for (const f of ['run-all', 'signal-shutdown']) copyFileSync(join(dist, `${f}.js`), join(dir, `${f}.js`));
      const r = spawnSync(process.execPath, [join(dir, 'run-all.js')], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('joined: the program ends cleanly');
      expect(r.stdout).not.toContain('exited with');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
