/**
 * async-context.ts in real programs (the level of AsyncLocalStorage use is per process, so
 * each case is a fresh child process running the built dist/): greenlets made before the
 * first use of AsyncLocalStorage never see a store set by another, and tracers that wrap
 * AsyncLocalStorage's methods before or after geventjs keep working.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

function runFixture(name: string, ...args: string[]): unknown {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', name), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${name} exited with ${r.status} (${r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('AsyncLocalStorage and greenlets', () => {
  it('greenlets made before the first use (unstarted, spawnLater, parked, same batch) never see the store another sets', () => {
    const secret = { user: 'alice', authToken: 'secret' };
    // Sorted by name: which of 'parked' (0.01 s after run starts) and 'spawnLater' (0.02 s
    // after load) looks first depends on the load of the machine, not on what is checked.
    const seen = (runFixture('ctx-unstarted.js') as [string, unknown][]).sort((a, b) => a[0].localeCompare(b[0]));
    expect(seen).toEqual([
      ['child of request', secret],
      ['parked', null],
      ['request', secret],
      ['same batch', null],
      ['spawnLater', null],
      ['unstarted', null],
    ]);
  }, 60_000);

  for (const when of ['before', 'after']) {
    it(`a tracer wrapping run/enterWith ${when} geventjs is imported stays installed and sees every call`, () => {
      expect(runFixture('ctx-tracer.js', when)).toEqual({
        counts: { run: 2, enterWith: 2 },
        tracerStillThere: true,
        seen: [['a', 'a'], ['b', 'b'], ['spawned in run', 'r'], ['early', null]],
      });
    }, 60_000);
  }
});
