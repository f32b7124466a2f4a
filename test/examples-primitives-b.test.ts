/**
 * The issue-3 part B examples (Group, BoundedSemaphore with Pool.map, a handler Pool), run as
 * real Node processes from dist/examples after the build, with their output checked.
 */
import { describe, expect, it } from 'vitest';
import { lines, runExample as run } from './run-example.js';

function runExample(name: string): { lines: string[]; status: number | null; stderr: string } {
  const r = run(name);
  return { lines: lines(r.stdout), status: r.status, stderr: r.stderr };
}

describe('examples (locks and pools)', () => {
  it('group: bar, foo, fizz each talk three times in spawn order, and the group ends empty', () => {
    const r = runExample('group');
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      ...Array(3).fill('bar'),
      ...Array(3).fill('foo'),
      ...Array(3).fill('fizz'),
      'group empty: true',
    ]);
  });

  it('bounded-semaphore: two workers hold it at once; worker 5 gets the slot worker 3 frees', () => {
    const r = runExample('bounded-semaphore');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.lines).toEqual([
      'Worker 0 acquired semaphore',
      'Worker 1 acquired semaphore',
      'Worker 0 released semaphore',
      'Worker 1 released semaphore',
      'Worker 3 acquired semaphore',
      'Worker 4 acquired semaphore',
      'Worker 3 released semaphore',
      'Worker 4 released semaphore',
      'Worker 5 acquired semaphore',
      'Worker 5 released semaphore',
    ]);
  });

  it('handler-pool: a full pool refuses a third handler and shutdown kills both', () => {
    const r = runExample('handler-pool');
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      'a added (1 free)',
      'b added (0 free)',
      'c refused: At maximum pool size',
      'a stopped',
      'b stopped',
      'shut down, 0 running',
    ]);
  });
});
