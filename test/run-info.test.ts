/**
 * formatRunInfo / printRunInfo (gevent.util.format_run_info): every live greenlet, its state,
 * what it waits on, and the tree of who spawned whom. (The signal that dumps it from a running
 * program is tested in lifetime.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { config, formatRunInfo, getcurrent, printRunInfo, run, sleep, spawn, spawnLater } from '../src/index.js';
import { Event } from '../src/event.js';
import { captureErrors } from './capture-errors.js';

describe('formatRunInfo', () => {
  it('lists live greenlets as a spawn tree with their state and what they wait on', async () => {
    const gate = new Event();
    let lines: string[] = [];
    await run(function* main() {
      const parent = spawn(function* parent() {
        const child = spawn(function* child() {
          yield* gate.wait();
        });
        child.name = 'the-child';
        yield* child.join();
      });
      parent.name = 'the-parent';
      yield* sleep(0.005);
      lines = formatRunInfo();
      expect(getcurrent()).not.toBeNull();
      gate.set();
      yield* parent.join();
    });
    const text = lines.join('\n');
    expect(text).toMatch(/<Greenlet "Greenlet-\d+": main> #\d+ running \(current\)/);
    expect(text).toMatch(/\n {3}└─ <Greenlet "the-parent": parent> #\d+ waiting on <Greenlet "the-child": child>\.join\(\)/);
    expect(text).toMatch(/\n {6}└─ <Greenlet "the-child": child> #\d+ waiting on Event\.wait\(\)/);
  });

  it('a greenlet whose spawner died hangs under top-level code, naming the spawner', async () => {
    let orphan!: ReturnType<typeof spawn>;
    await run(function* () {
      orphan = spawn(function* orphaned() {
        yield* sleep(10);
      });
    });
    const text = formatRunInfo().join('\n');
    expect(text).toMatch(/\n[├└]─ <Greenlet "Greenlet-\d+": orphaned> #\d+ waiting on sleep\(10\) \(spawned by #\d+, now dead\)/);
    orphan.kill({ block: false });
  });

  it('lists a greenlet a spawnLater scheduled that has not started yet, and counts it apart', async () => {
    const later = spawnLater(60, function* delayed() {});
    later.name = 'delayed-1';
    const text = formatRunInfo().join('\n');
    later.kill({ block: false });
    expect(text).toMatch(/^Greenlets: \d+ live, 1 scheduled to start later \(run\(\) root alive: (yes|no)\)/);
    expect(text).toMatch(/[├└]─ <Greenlet "delayed-1": delayed> #\d+ scheduled to start later/);
    expect(formatRunInfo().join('\n')).not.toContain('delayed-1');
  });

  it('shows the spawn site when config.debug is on; printRunInfo writes to config.errorStream', async () => {
    config.debug = true;
    let g!: ReturnType<typeof spawn>;
    try {
      g = spawn(function* sited() {
        yield* sleep(10);
      });
    } finally {
      config.debug = false;
    }
    const text = await captureErrors(async () => {
      await run(function* () {
        yield* sleep(0);
      });
      printRunInfo();
    });
    expect(text).toMatch(/sited> #\d+ waiting on sleep\(10\)\n\s+spawned at .*run-info\.test\.ts/);
    g.kill({ block: false });
  });
});
