/**
 * signal.ts: handlers run in a new greenlet per delivery in a real child process (signals sent
 * with process.kill), cancel() restores Node's default action, shutdown() kills the other
 * greenlets, bad input.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GreenletExit, run, sleep, spawn, spawnLater } from '../src/index.js';
import { shutdown, signalHandler } from '../src/signal.js';

// The fixture runs on dist/ (built by `npm test` before vitest runs).
const fixture = path.join(__dirname, 'fixtures', 'signal-usr2.js');

describe('signalHandler', () => {
  it('runs fn with its args in a new greenlet per signal; cancel brings the default action back', () => {
    const r = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toBe(
      ['usr2 in a new greenlet; usr2 in a new greenlet', 'by number', 'cancelled: listeners 0, ref false', ''].join('\n'),
    );
    expect(r.signal).toBe('SIGUSR2');
  }, 60_000);

  it('refuses unknown, uncatchable or mistyped signals and a missing function', () => {
    expect(() => signalHandler('SIGNOPE' as never, () => {})).toThrow(RangeError);
    expect(() => signalHandler('SIGNOPE' as never, () => {})).toThrow(/unknown signal "SIGNOPE"/);
    expect(() => signalHandler(9999, () => {})).toThrow(/no signal has number 9999/);
    expect(() => signalHandler('SIGKILL', () => {})).toThrow(/cannot be caught/);
    expect(() => signalHandler({} as never, () => {})).toThrow(TypeError);
    expect(() => signalHandler('SIGUSR2', 'nope' as never)).toThrow(/needs a function/);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});

describe('shutdown', () => {
  it('kills every other live greenlet with GreenletExit, running their finally blocks, in spawn order', async () => {
    const cleaned: number[] = [];
    const sleepers = [1, 2, 3].map((i) => spawn(function* () {
      try { yield* sleep(1000); } finally { cleaned.push(i); }
    }));
    const r = await run(function* () {
      yield* sleep(0);
      yield* shutdown();
      return sleepers.map((g) => [g.dead, (g.value as unknown) instanceof GreenletExit]);
    });
    expect(r).toEqual([[true, true], [true, true], [true, true]]);
    expect(cleaned).toEqual([1, 2, 3]);
  });

  it('leaves the greenlets awaited by run() (the main greenlet analog) to finish', async () => {
    const sleeper = spawn(function* () { yield* sleep(1000); });
    const root = run(function* () {
      yield* sleeper.join();
      return 'the root joined the killed greenlet and finished';
    });
    await run(function* () { yield* sleep(0.01); yield* shutdown(); });
    expect(await root).toBe('the root joined the killed greenlet and finished');
    expect(sleeper.dead).toBe(true);
  });

  it('kills greenlets a spawnLater scheduled but not started yet: they never run', async () => {
    const ran: string[] = [];
    const later = spawnLater(0.05, function* () { ran.push('later ran'); });
    const r = await run(function* () {
      yield* shutdown();
      const seen = [later.dead, (later.value as unknown) instanceof GreenletExit];
      yield* sleep(0.15); // past its start time
      return seen;
    });
    expect(r).toEqual([true, true]);
    expect(ran).toEqual([]);
  });

  it('outside a greenlet it says where it must run', () => {
    expect(() => shutdown()).toThrow(/must run inside a greenlet/);
  });

  it('kills greenlets spawned while the others die, and a second shutdown never interrupts a cleanup', async () => {
    const log: string[] = [];
    let flusher: ReturnType<typeof spawn> | null = null;
    const worker = spawn(function* () {
      try {
        yield* sleep(1000);
      } finally {
        yield* sleep(0.05);
        log.push('cleanup finished');
        flusher = spawn(function* () { try { yield* sleep(1000); } finally { log.push('flusher killed'); } });
      }
    });
    await run(function* () {
      yield* sleep(0);
      const first = spawn(shutdown);
      const second = spawn(function* () { yield* sleep(0.01); yield* shutdown(); });
      yield* first.join();
      yield* second.join();
    });
    expect(log).toEqual(['cleanup finished', 'flusher killed']);
    expect([worker.dead, (flusher as unknown as { dead: boolean }).dead]).toEqual([true, true]);
  });

  it('timeout bounds the wait for a greenlet that swallows GreenletExit', async () => {
    let done = false;
    const stubborn = spawn(function* () {
      while (!done) {
        try { yield* sleep(0.01); } catch (e) { if (!(e instanceof GreenletExit)) throw e; /* GreenletExit swallowed */ }
      }
      return 'ended on its own';
    });
    const r = await run(function* () {
      yield* sleep(0);
      yield* shutdown({ timeout: 0.05 });
      return stubborn.dead;
    });
    expect(r).toBe(false);
    done = true;
    expect(await stubborn).toBe('ended on its own');
  });

  it('options: own properties only, validated before acting', async () => {
    const errs = await run(function* () {
      const out: string[] = [];
      for (const bad of [{ timeout: -1 }, { timeout: '1' }, 'soon']) {
        try { yield* shutdown(bad as never); } catch (e) { out.push((e as Error).name); }
      }
      return out;
    });
    expect(errs).toEqual(['RangeError', 'TypeError', 'TypeError']);
    const proto = Object.prototype as Record<string, unknown>;
    proto.timeout = -1; // planted on the prototype: never read as an option
    try {
      expect(await run(function* () { yield* shutdown(); return 'ok'; })).toBe('ok');
    } finally {
      delete proto.timeout;
    }
  });

  it('SIGQUIT twice in a real program: cleanup completes, the late greenlet is killed, the program ends', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'signal-shutdown-twice.js')], { encoding: 'utf8', timeout: 30_000 });
    expect([r.stdout, r.status, r.signal]).toEqual(['cleanup finished\nmain joined the worker\nflusher killed\n', 0, null]);
  }, 60_000);
});
