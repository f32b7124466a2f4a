/**
 * The subprocess, signal and threadpool examples, run from dist/ (npm test builds first) as
 * child processes; their output is checked.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { examplePath as example, exampleOutput as runExample } from './run-example.js';


describe('process examples', () => {
  it('subprocess-cron: cron ticks several times while `sleep 1; uname` runs, then its output', () => {
    const lines = runExample('subprocess-cron').trimEnd().split('\n');
    const crons = lines.slice(0, -1);
    expect(crons.every((l) => l === 'cron')).toBe(true);
    expect(crons.length).toBeGreaterThanOrEqual(3);
    expect(lines.at(-1)).toBe(execFileSync('uname', { encoding: 'utf8' }).trimEnd());
  }, 60_000);

  it('signal-shutdown: SIGQUIT kills the sleeping greenlet and the program exits cleanly', async () => {
    const child = spawn(process.execPath, [example('signal-shutdown')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('waiting for SIGQUIT')) resolve();
    }));
    child.kill('SIGQUIT');
    const [code, signal] = await exited;
    expect([code, signal, err]).toEqual([0, null, '']);
    expect(out).toBe(
      [`waiting for SIGQUIT (pid ${child.pid})`, 'run_forever: killed, cleaning up', 'joined: the program ends cleanly', ''].join('\n'),
    );
  }, 60_000);

  it('threadpool-fib: Fibonacci numbers from worker threads and an error thrown at the yield', () => {
    expect(runExample('threadpool-fib')).toBe(
      [
        'fib(25) = 75025',
        'fib(26) = 121393',
        'fib(27) = 196418',
        'fib(28) = 317811',
        'error from the thread: RangeError: n must be >= 0, got -1',
        '',
      ].join('\n'),
    );
  }, 60_000);
});
