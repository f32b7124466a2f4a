/**
 * The hub: fairness with Node's I/O and timers, async context per greenlet, the "would block
 * forever" report (LoopExit), and config.maxBlockingTime.
 */
import { spawnSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config, getcurrent, Greenlet, joinall, run, sleep, spawn } from '../src/index.js';

const distIndex = join(__dirname, '..', 'dist', 'src', 'index.js');

function nodeScript(script: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

describe('fairness', () => {
  it('a greenlet spinning on sleep(0) forever starves neither a TCP echo server nor setTimeout', async () => {
    let spins = 0;
    const spinner = spawn(function* () {
      for (;;) {
        spins++;
        yield* sleep(0);
      }
    });
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const timerFired = new Promise<string>((r) => setTimeout(() => r('timer'), 10));
      const echo = await new Promise<string>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('ping'));
        c.setEncoding('utf8');
        c.on('data', (d) => {
          c.end();
          resolve(String(d));
        });
        c.on('error', reject);
      });
      expect(echo).toBe('ping');
      expect(await timerFired).toBe('timer');
      expect(spins).toBeGreaterThan(0);
      expect(spinner.dead).toBe(false);
    } finally {
      await run(function* () {
        yield* spinner.kill();
      });
      await new Promise((r) => server.close(r));
    }
  });
});

describe('async context', () => {
  it('greenlets spawned in two als.run scopes each see their own store after many sleeps', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: Record<string, Set<string | undefined>> = { a: new Set(), b: new Set() };
    function* worker(label: string) {
      for (let i = 0; i < 200; i++) {
        seen[label]!.add(als.getStore());
        yield* sleep(i % 50 === 0 ? 0.001 : 0);
      }
    }
    const ga = als.run('a', () => spawn(worker, 'a'));
    const gb = als.run('b', () => spawn(worker, 'b'));
    await run(function* () {
      yield* joinall([ga, gb]);
    });
    expect([...seen.a!]).toEqual(['a']);
    expect([...seen.b!]).toEqual(['b']);
  });

  it('two stores at once stay with the greenlet that was spawned under them', async () => {
    const user = new AsyncLocalStorage<string>();
    const request = new AsyncLocalStorage<number>();
    const out: string[] = [];
    const gs = [1, 2, 3].map((n) =>
      user.run(`u${n}`, () =>
        request.run(n, () =>
          spawn(function* () {
            for (let i = 0; i < 100; i++) yield* sleep(0);
            out.push(`${user.getStore()}:${request.getStore()}`);
          }),
        ),
      ),
    );
    await run(function* () {
      yield* joinall(gs);
    });
    expect(out.sort()).toEqual(['u1:1', 'u2:2', 'u3:3']);
  });

  it('enterWith in one greenlet does not leak into another', async () => {
    const als = new AsyncLocalStorage<string>();
    const seenByOther: (string | undefined)[] = [];
    const setter = spawn(function* () {
      als.enterWith('mine');
      for (let i = 0; i < 50; i++) yield* sleep(0);
      return als.getStore();
    });
    const other = spawn(function* () {
      for (let i = 0; i < 50; i++) {
        seenByOther.push(als.getStore());
        yield* sleep(0);
      }
    });
    await run(function* () {
      yield* joinall([setter, other]);
    });
    expect(setter.value).toBe('mine');
    expect(new Set(seenByOther)).toEqual(new Set([undefined]));
  });
});

describe('LoopExit: would block forever', () => {
  it('a child whose greenlets wait forever names them and what they wait on; run() rejects with LoopExit', () => {
    const script = `
      const { run, spawn, Greenlet, Wait } = require(${JSON.stringify(distIndex)});
      class Never extends Wait { park() {} describe() { return 'Never.wait()'; } }
      const stuck = spawn(function* stuckWorker() { yield* new Never(); });
      stuck.name = 'worker-1';
      run(function* mainLoop() { yield* stuck.join(); }).then(
        () => console.log('resolved?'),
        (e) => console.log('rejected with ' + e.name),
      );
    `;
    const r = nodeScript(script);
    expect(r.stdout).toContain('rejected with LoopExit');
    expect(r.stderr).toContain('would block forever');
    expect(r.stderr).toMatch(/<Greenlet "worker-1": stuckWorker> waits on Never\.wait\(\)/);
    expect(r.stderr).toMatch(/<Greenlet "Greenlet-\d+": mainLoop> waits on <Greenlet "worker-1": stuckWorker>\.join\(\)/);
    expect(r.status).toBe(0);
  });

  it('a process whose greenlets all finish prints no report', () => {
    const r = nodeScript(`
      const { run, sleep } = require(${JSON.stringify(distIndex)});
      run(function* () { yield* sleep(0.001); }).then(() => console.log('ok'));
    `);
    expect(r.stdout.trim()).toBe('ok');
    expect(r.stderr).not.toContain('would block forever');
  });
});

describe('config.maxBlockingTime', () => {
  function* busy(ms: number) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      /* hold the loop */
    }
    yield* sleep(0);
  }

  it('reports a step that holds the loop past it, naming the greenlet, the time held and the spawn site', async () => {
    const saved = config.errorStream;
    let text = '';
    config.errorStream = { write: (s: string) => (text += s) };
    config.maxBlockingTime = 0.01;
    try {
      const g = spawn(busy, 60);
      g.name = 'hog';
      await g;
    } finally {
      config.maxBlockingTime = null;
      config.errorStream = saved;
    }
    expect(text).toMatch(/<Greenlet "hog": busy> held the event loop for [\d.]+ ms \(config\.maxBlockingTime is 10 ms\)/);
    expect(text).toContain('spawned');
    expect(text).toContain('hub.test.ts');
  });

  it('is off by default and null turns it off', () => {
    config.maxBlockingTime = 0.5;
    expect(config.maxBlockingTime).toBe(0.5);
    config.maxBlockingTime = null;
    expect(config.maxBlockingTime).toBeNull();
  });

  it('GEVENTJS_MAX_BLOCKING_TIME in the environment turns it on', () => {
    const r = nodeScript(
      `
      const { run, sleep, config } = require(${JSON.stringify(distIndex)});
      console.log('configured', config.maxBlockingTime);
      run(function* spinner() {
        const until = Date.now() + 60; while (Date.now() < until) {}
        yield* sleep(0);
      });
    `,
      { GEVENTJS_MAX_BLOCKING_TIME: '0.01' },
    );
    expect(r.stdout.trim()).toBe('configured 0.01');
    expect(r.stderr).toMatch(/<Greenlet "Greenlet-\d+": spinner> held the event loop for [\d.]+ ms/);
  });

  it('a bad environment value is ignored with a message naming the fix', () => {
    const r = nodeScript(
      `const { config } = require(${JSON.stringify(distIndex)}); console.log(String(config.maxBlockingTime));`,
      { GEVENTJS_MAX_BLOCKING_TIME: 'soon' },
    );
    expect(r.stdout.trim()).toBe('null');
    expect(r.stderr).toContain('ignoring GEVENTJS_MAX_BLOCKING_TIME=soon; set it to a number of seconds');
  });

  it('bad values are a TypeError or RangeError naming the setting', () => {
    expect(() => (config.maxBlockingTime = -1)).toThrow(RangeError);
    expect(() => (config.maxBlockingTime = -1)).toThrow(/config\.maxBlockingTime/);
    expect(() => (config.maxBlockingTime = NaN)).toThrow(RangeError);
    expect(() => (config.maxBlockingTime = '1' as never)).toThrow(TypeError);
    expect(config.maxBlockingTime).toBeNull();
  });
});

describe('getcurrent', () => {
  it('is null outside greenlets and the running greenlet inside', async () => {
    expect(getcurrent()).toBeNull();
    let inside: Greenlet | null = null;
    const g = spawn(function* () {
      inside = getcurrent();
    });
    await g;
    expect(inside).toBe(g);
    expect(getcurrent()).toBeNull();
  });
});

