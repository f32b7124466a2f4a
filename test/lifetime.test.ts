/**
 * Program lifetime, Ctrl-C and the failure-report policy, tested as programs: each scenario of
 * test/fixtures/lifetime-program.js runs in a real Node process, with a kill-timer so a
 * program that never ends fails the test instead of hanging the run.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = path.join(__dirname, 'fixtures', 'lifetime-program.js');
const dist = path.join(__dirname, '..', 'dist');

/** How the user starts the program: `node app.js`, `node -r geventjs/patch app.js`, the bin. */
type Via = 'node' | 'preload' | 'bin' | 'bin-child';
function argvFor(via: Via, scenario: string): string[] {
  switch (via) {
    case 'node':
      return [fixture, scenario];
    case 'preload':
      return ['-r', path.join(dist, 'src', 'patch.js'), fixture, scenario];
    case 'bin':
      return [path.join(dist, 'bin', 'geventjs.js'), fixture, scenario];
    case 'bin-child': // a Node option makes the bin run the script in a child it passes signals to
      return [path.join(dist, 'bin', 'geventjs.js'), '--enable-source-maps', fixture, scenario];
  }
}

interface Outcome {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True if the kill-timer had to end it. */
  hung: boolean;
}

/**
 * Runs a scenario. `signals` are sent one by one, the first after "ready" is printed, each
 * next one after the text in `after` appears on stdout.
 */
function runScenario(
  scenario: string,
  opts: { signals?: NodeJS.Signals[]; after?: string[]; env?: Record<string, string>; interruptOnStderr?: string; via?: Via } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argvFor(opts.via ?? 'node', scenario), {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const signals = [...(opts.signals ?? [])];
    const waitFor = ['ready', ...(opts.after ?? [])];
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      while (signals.length !== 0 && stdout.includes(waitFor[0]!)) {
        waitFor.shift();
        child.kill(signals.shift()!);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.interruptOnStderr !== undefined && stderr.includes(opts.interruptOnStderr)) child.kill('SIGINT');
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal, hung });
    });
  });
}

/** The exit of a process ended by SIGINT: killed by the signal (130 in a shell), or 130. */
function endedBySigint(o: Outcome): boolean {
  return o.signal === 'SIGINT' || o.code === 130;
}

describe('program lifetime', () => {
  it('once every run() root settled, a leftover ticker no longer keeps the process alive (gevent main)', async () => {
    const o = await runScenario('leftoverTicker');
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('main done\nrun settled\n');
    expect(o.stderr).toBe(''); // abandoned greenlets are not "stuck": nothing is said
    expect(o.code).toBe(0);
  });

  it('without run(), Node\'s rule: a pending greenlet keeps the process alive', async () => {
    const o = await runScenario('noRunKeepsAlive');
    expect(o.stdout).toBe('late greenlet ran\n');
    expect(o.code).toBe(0);
  });

  it('after run() settled, an awaited Op of top-level code still holds the process while it waits', async () => {
    const o = await runScenario('awaitAfterRun');
    expect(o.stdout).toBe('awaited sleep done\n');
    expect(o.code).toBe(0);
  });

  it('after run() settled, a greenlet top-level code awaits holds the process until it ends', async () => {
    const o = await runScenario('awaitGreenletAfterRun');
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('awaited greenlet gave 5\n');
    expect(o.code).toBe(0);
  });

  it('after run() settled, await ar on an AsyncResult a leftover greenlet sets holds the process until it is set', async () => {
    const o = await runScenario('awaitAsyncResultAfterRun');
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('awaited result\n');
    expect(o.code).toBe(0);
  });

  it('a new run() after the first settled holds the process again', async () => {
    const o = await runScenario('secondRun');
    expect(o.stdout).toBe('second run done\n');
    expect(o.code).toBe(0);
  });

  it('await run() settles when the root ends in a hub turn over its time budget, before or after then() linked to it', async () => {
    for (const scenario of ['rootEndsInFirstBusyTurn', 'rootEndsInLaterBusyTurn']) {
      const o = await runScenario(scenario);
      expect(o.hung).toBe(false);
      expect(o.stdout).toBe(scenario === 'rootEndsInFirstBusyTurn' ? 'after run\nawaited item\n' : 'after run\n');
      expect(o.code).toBe(0);
    }
  });

  it('spawnLater(Infinity) never starts and never holds the process', async () => {
    const o = await runScenario('spawnLaterInfinity');
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('spawned\n');
    expect(o.code).toBe(0);
  });
});

describe('Ctrl-C', () => {
  it('throws KeyboardInterrupt into the run() root: finally runs, then the process ends as by SIGINT', async () => {
    const o = await runScenario('sigintFinally', { signals: ['SIGINT'] });
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('ready\nfinally ran\n');
    expect(endedBySigint(o)).toBe(true);
  });

  it('can be caught: the program goes on and ends normally', async () => {
    const o = await runScenario('sigintCaught', { signals: ['SIGINT'] });
    expect(o.stdout).toBe('ready\ncaught KeyboardInterrupt true GEVENTJS_KEYBOARD_INTERRUPT\nmain done\n');
    expect(o.code).toBe(0);
  });

  it('a second Ctrl-C while the first unwinds ends the program at once', async () => {
    const o = await runScenario('sigintTwice', { signals: ['SIGINT', 'SIGINT'], after: ['unwinding'] });
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('ready\nunwinding\n');
    expect(endedBySigint(o)).toBe(true);
  });

  it("a program's own SIGINT listener decides; geventjs stays out", async () => {
    const o = await runScenario('sigintUserListener', { signals: ['SIGINT'] });
    expect(o.stdout).toBe('ready\nuser listener\n');
    expect(o.code).toBe(3);
  });

  it("with no run() root alive, Node's default: the process dies of SIGINT", async () => {
    const o = await runScenario('sigintNoRoot', { signals: ['SIGINT'] });
    expect(o.stdout).toBe('ready\n');
    expect(o.signal).toBe('SIGINT');
  });
});

describe('Ctrl-C after main', () => {
  it("once the last run() root settled, Node's default SIGINT is back", async () => {
    const o = await runScenario('sigintAfterRoot', { signals: ['SIGINT'] });
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('ready\n');
    expect(o.signal).toBe('SIGINT');
  });
});

describe('one report per failure', () => {
  it('a failure nobody observed is printed once, and the exit status is 1', async () => {
    const o = await runScenario('unobservedFailure');
    expect(o.stdout).toBe('main done\n');
    expect(o.stderr.match(/TypeError: nobody looks/g)).toHaveLength(1);
    expect(o.stderr).toMatch(/<Greenlet "Greenlet-\d+": child> failed with TypeError/);
    expect(o.code).toBe(1);
  });

  it('a failure observed and handled is not printed; the exit status stays 0', async () => {
    const o = await runScenario('observedFailure');
    expect(o.stdout).toBe('caught handled\n');
    expect(o.stderr).toBe('');
    expect(o.code).toBe(0);
  });

  it('a failure passing from a child to the parent that get()s it is printed once, for the parent', async () => {
    const o = await runScenario('chainedFailure');
    expect(o.stderr.match(/TypeError: passes through/g)).toHaveLength(1);
    expect(o.stderr).toMatch(/<Greenlet "the-parent": parent> failed with TypeError/);
    expect(o.stderr).not.toMatch(/: child> failed/);
    expect(o.code).toBe(1);
  });

  it("a run() root's exception goes to its caller only", async () => {
    const o = await runScenario('rootFailure');
    expect(o.stdout).toBe('caller got for the caller\n');
    expect(o.stderr).toBe('');
    expect(o.code).toBe(0);
  });

  it('config.reportAllFailures prints every failure at death, as gevent does (exit status untouched when observed)', async () => {
    const o = await runScenario('reportAll');
    expect(o.stdout).toBe('caught\n');
    expect(o.stderr.match(/TypeError: printed anyway/g)).toHaveLength(1);
    expect(o.code).toBe(0);
  });
});

describe('the same rules under -r geventjs/patch and the geventjs bin', () => {
  const vias: Via[] = ['preload', 'bin', 'bin-child'];
  it.each(vias)('%s: an unobserved failure is printed once and the exit status is 1', async (via) => {
    const o = await runScenario('unobservedFailure', { via });
    expect(o.stdout).toBe('main done\n');
    expect(o.stderr.match(/TypeError: nobody looks/g)).toHaveLength(1);
    expect(o.code).toBe(1);
  });

  it.each(vias)('%s: an observed failure is not printed and the exit status is 0', async (via) => {
    const o = await runScenario('observedFailure', { via });
    expect(o.stdout).toBe('caught handled\n');
    expect(o.stderr).toBe('');
    expect(o.code).toBe(0);
  });

  it.each(vias)('%s: Ctrl-C throws KeyboardInterrupt into the root, finally runs, the process ends as by SIGINT', async (via) => {
    const o = await runScenario('sigintFinally', { signals: ['SIGINT'], via });
    expect(o.hung).toBe(false);
    expect(o.stdout).toBe('ready\nfinally ran\n');
    expect(endedBySigint(o)).toBe(true);
  });
});

describe('reportAllFailures and the exit status', () => {
  it('an unobserved failure under reportAllFailures is printed once and still makes the exit status 1', async () => {
    const o = await runScenario('reportAllUnobserved');
    expect(o.stderr.match(/TypeError: nobody looks/g)).toHaveLength(1);
    expect(o.code).toBe(1);
  });

  it("a program that set process.exitCode keeps it (gevent's exit status 0 after a failure)", async () => {
    const o = await runScenario('exitCodeKept');
    expect(o.stderr.match(/TypeError: nobody looks/g)).toHaveLength(1);
    expect(o.code).toBe(0);
  });
});

/**
 * Runs test/fixtures/lifetime-cluster-sigint.js; once the worker handles the connection, sends
 * SIGINT `times` times (the second 0.5 s after the first) to the primary or to the whole
 * process group (Ctrl-C in a terminal). A kill-timer makes a hang fail the test.
 */
function runClusterSigint(work: number, stopTimeout: number, to: 'primary' | 'group', times: number): Promise<Outcome> {
  const script = path.join(__dirname, 'fixtures', 'lifetime-cluster-sigint.js');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, String(work)], {
      env: { ...process.env, STOP_TIMEOUT: String(stopTimeout) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so the group signal reaches only the program
    });
    const send = (): void => {
      try {
        if (to === 'group') process.kill(-child.pid!, 'SIGINT');
        else child.kill('SIGINT');
      } catch {
        // already gone
      }
    };
    let stdout = '';
    let stderr = '';
    let hung = false;
    let sent = false;
    const timer = setTimeout(() => {
      hung = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!sent && stdout.includes('worker handling')) {
        sent = true;
        send();
        if (times > 1) setTimeout(send, 500);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal, hung });
    });
  });
}

describe('Ctrl-C with a StreamServer({ workers }) primary in a run() root', () => {
  it.each(['primary', 'group'] as const)(
    'SIGINT to the %s: the server stops gracefully (the handler finishes), the roots unwind, the process ends as by SIGINT',
    async (to) => {
      const o = await runClusterSigint(1, 10, to, 1);
      expect(o.hung).toBe(false);
      expect(o.stdout).toContain('worker handler finally');
      expect(o.stdout).toContain('primary client got done');
      expect(o.stdout).toContain('primary root finally');
      expect(o.stderr.match(/SIGINT: stopping gracefully/g)?.length).toBeGreaterThanOrEqual(1);
      expect(endedBySigint(o)).toBe(true);
    },
    30_000,
  );

  it.each(['primary', 'group'] as const)(
    'a second SIGINT to the %s while the server stops ends the program at once (not after the 60 s stop timeout)',
    async (to) => {
      const o = await runClusterSigint(60, 60, to, 2);
      expect(o.hung).toBe(false);
      expect(o.stdout).not.toContain('client got done');
      expect(o.stdout).toContain('primary root finally');
      expect(endedBySigint(o)).toBe(true);
    },
    30_000,
  );
});

describe('run info on a signal', () => {
  it('GEVENTJS_RUN_INFO_SIGNAL=SIGUSR2 prints the greenlet tree when the signal comes', async () => {
    const o = await runScenario('runInfoSignal', {
      signals: ['SIGUSR2'],
      env: { GEVENTJS_RUN_INFO_SIGNAL: 'SIGUSR2' },
      interruptOnStderr: 'sleep(60)',
    });
    expect(o.hung).toBe(false);
    expect(endedBySigint(o)).toBe(true); // the program went on after the dump
    expect(o.stderr).toMatch(/Greenlets: 2 live \(run\(\) root alive: yes\)/);
    expect(o.stderr).toMatch(/└─ <Greenlet "Greenlet-\d+": main> #\d+ waiting on <Greenlet "worker-1": worker>\.join\(\)/);
    expect(o.stderr).toMatch(/ {3}└─ <Greenlet "worker-1": worker> #\d+ waiting on sleep\(60\)/);
  });
});
