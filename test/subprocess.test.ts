/**
 * subprocess.ts with real child processes: Popen pipes, communicate with input and timeouts,
 * wait/poll/kill/terminate, run/call/checkCall/checkOutput, errors, and the guarantee that a
 * child whose waiting greenlet is killed or timed out is killed and reaped (a fast-check
 * fan-out with random kills and timeouts leaves no child behind).
 */
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GreenletExit, Timeout, joinall, run, sleep, spawn } from '../src/index.js';
import {
  CalledProcessError, CompletedProcess, DEVNULL, FileNotFoundError, PIPE, Popen, STDOUT, TimeoutExpired,
  PIPE_BUFFER_LIMIT, call, checkCall, checkOutput, run as runCmd,
} from '../src/subprocess.js';

/** True while a process with this pid exists (a zombie counts: it is not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe('ESRCH');
    return false;
  }
}

describe('Popen', () => {
  it('communicate gives stdout and stderr as Buffers, or strings with text', async () => {
    const [raw, text] = await run(function* () {
      const a = new Popen(['sh', '-c', 'echo out; echo err >&2'], { stdout: PIPE, stderr: PIPE });
      const b = new Popen(['sh', '-c', 'echo out; echo err >&2'], { stdout: PIPE, stderr: PIPE, text: true });
      return [yield* a.communicate(), yield* b.communicate()];
    });
    expect(Buffer.isBuffer(raw[0])).toBe(true);
    expect(raw.map(String)).toEqual(['out\n', 'err\n']);
    expect(text).toEqual(['out\n', 'err\n']);
  });

  it('communicate sends input on stdin and closes it', async () => {
    const out = await run(function* () {
      const p = new Popen(['cat'], { stdin: PIPE, stdout: PIPE, encoding: 'utf8' });
      return yield* p.communicate('hello through cat');
    });
    expect(out).toEqual(['hello through cat', null]);
  });

  it('stderr: STDOUT merges both into stdout; DEVNULL discards', async () => {
    const [merged, nothing] = await run(function* () {
      const a = new Popen(['sh', '-c', 'echo one; sleep 0.05; echo two >&2'], { stdout: PIPE, stderr: STDOUT, text: true });
      const b = new Popen(['sh', '-c', 'echo gone'], { stdout: DEVNULL });
      return [yield* a.communicate(), yield* b.communicate()];
    });
    expect(merged).toEqual(['one\ntwo\n', null]);
    expect(nothing).toEqual([null, null]);
  });

  it('shell: true runs a command line given as the only array item, like the seed', async () => {
    const r = await run(function* () {
      const p = new Popen(['echo a; echo b'], { stdout: PIPE, shell: true, text: true });
      return [yield* p.communicate(), p.returncode, p.args];
    });
    expect(r).toEqual([['a\nb\n', null], 0, ['echo a; echo b']]);
  });

  it('cwd and env reach the child', async () => {
    const [out] = await run(function* () {
      const p = new Popen(['sh', '-c', 'pwd; echo $GEVENTJS_T'], { stdout: PIPE, text: true, cwd: '/tmp', env: { GEVENTJS_T: 'x1', PATH: process.env.PATH } });
      return yield* p.communicate();
    });
    expect(out).toBe('/tmp\nx1\n');
  });

  it('poll is null while the child runs and the returncode after; wait gives it', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', 'sleep 0.1; exit 3']);
      const before = p.poll();
      const rc = yield* p.wait();
      return [before, rc, p.poll(), p.returncode, typeof p.pid];
    });
    expect(r).toEqual([null, 3, 3, 3, 'number']);
  });

  it('a signalled child has minus the signal number as returncode', async () => {
    const r = await run(function* () {
      const a = new Popen(['sleep', '30']);
      const b = new Popen(['sleep', '30']);
      a.kill();
      b.terminate();
      return [yield* a.wait(), yield* b.wait()];
    });
    expect(r).toEqual([-9, -15]);
  });

  it('sendSignal delivers a signal the child handles', async () => {
    const marker = join(tmpdir(), `geventjs-trap-${process.pid}`);
    rmSync(marker, { force: true });
    const r = await run(function* () {
      const script = `trap "echo got; exit 7" USR1; touch ${marker}; while true; do sleep 0.05; done`;
      const p = new Popen(['sh', '-c', script], { stdout: PIPE, text: true });
      while (!existsSync(marker)) yield* sleep(0.02); // the trap is installed
      p.sendSignal('SIGUSR1');
      return [yield* p.communicate(), p.returncode];
    });
    rmSync(marker, { force: true });
    expect(r).toEqual([['got\n', null], 7]);
  });

  it('wait({ timeout }) throws TimeoutExpired and leaves the child running', async () => {
    const r = await run(function* () {
      const p = new Popen(['sleep', '30']);
      let err: unknown;
      try { yield* p.wait({ timeout: 0.05 }); } catch (e) { err = e; }
      const stillAlive = alive(p.pid!);
      p.kill();
      return [err instanceof TimeoutExpired, (err as TimeoutExpired).timeout, stillAlive, yield* p.wait()];
    });
    expect(r).toEqual([true, 0.05, true, -9]);
  });

  it('communicate after a TimeoutExpired and a kill loses no output', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', 'echo early; exec sleep 30'], { stdout: PIPE, text: true });
      let err: TimeoutExpired | null = null;
      try { yield* p.communicate(null, { timeout: 0.3 }); } catch (e) { err = e as TimeoutExpired; }
      p.kill();
      const rest = yield* p.communicate();
      return [err instanceof TimeoutExpired, err?.output, rest, p.returncode];
    });
    expect(r).toEqual([true, 'early\n', ['early\n', null], -9]);
  });

  it('stdin.write and close feed the child; a write of a wrong type is a TypeError', async () => {
    const out = await run(function* () {
      const p = new Popen(['cat'], { stdin: PIPE, stdout: PIPE, text: true });
      expect(() => p.stdin!.write(42 as never)).toThrow(/needs a string or a Buffer/);
      p.stdin!.write('one ');
      p.stdin!.write(Buffer.from('two'));
      p.stdin!.close();
      return [yield* p.stdout!.read(), yield* p.wait()];
    });
    expect(out).toEqual(['one two', 0]);
  });

  it('stdout.read() gives everything once the pipe closes', async () => {
    const out = await run(function* () {
      const p = new Popen(['printf', 'a\\nb'], { stdout: PIPE, text: true });
      return yield* p.stdout!.read();
    });
    expect(out).toBe('a\nb');
  });
});

describe('killed or timed-out waiters never orphan the child', () => {
  it('a greenlet killed in wait() kills and reaps its child before it dies', async () => {
    const r = await run(function* () {
      let pid = 0;
      const g = spawn(function* () {
        const p = new Popen(['sleep', '30']);
        pid = p.pid!;
        yield* p.wait();
      });
      yield* sleep(0.05);
      const before = alive(pid);
      yield* g.kill();
      return [before, alive(pid), (g.value as unknown) instanceof GreenletExit];
    });
    expect(r).toEqual([true, false, true]);
  });

  it('a gevent Timeout firing in communicate() kills and reaps the child', async () => {
    const r = await run(function* () {
      const p = new Popen(['sleep', '30'], { stdout: PIPE });
      const t = Timeout.start(0.05);
      let caught: unknown;
      try { yield* p.communicate(); } catch (e) { caught = e; } finally { t.cancel(); }
      return [caught === t, alive(p.pid!), p.returncode];
    });
    expect(r).toEqual([true, false, -9]);
  });

  it('run({ timeout }) kills and reaps the child, then throws TimeoutExpired', async () => {
    const r = await run(function* () {
      let err: unknown;
      try { yield* runCmd(['sh', '-c', 'echo $$; exec sleep 30'], { captureOutput: true, text: true, timeout: 0.3 }); } catch (e) { err = e; }
      const pid = Number((err as TimeoutExpired).output);
      return [err instanceof TimeoutExpired, pid > 0, alive(pid)];
    });
    expect(r).toEqual([true, true, false]);
  });

  it('property: a fan-out of sleep children under random kills and timeouts leaves none behind', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({
          sleep: fc.integer({ min: 1, max: 30 }),
          action: fc.constantFrom('kill', 'timeout', 'waitTimeout', 'none'),
          at: fc.integer({ min: 0, max: 40 }),
          via: fc.constantFrom('wait', 'communicate'),
        }), { minLength: 1, maxLength: 8 }),
        async (plans) => {
          const pids: number[] = [];
          await run(function* () {
            const gs = plans.map((plan) => spawn(function* () {
              const p = new Popen(['sleep', String(plan.sleep / 100)], { stdout: PIPE });
              pids.push(p.pid!);
              // The wait under attack: Popen.wait or Popen.communicate, with or without its own timeout.
              const timeout = plan.action === 'waitTimeout' ? plan.at / 1000 : null;
              const waitOn = () => (plan.via === 'wait' ? p.wait({ timeout }) : p.communicate(null, { timeout }));
              if (plan.action === 'timeout') {
                const t = Timeout.start(plan.at / 1000);
                try { yield* waitOn(); } catch (e) { if (e !== t) throw e; } finally { t.cancel(); }
              } else if (plan.action === 'waitTimeout') {
                try { yield* waitOn(); } catch (e) {
                  if (!(e instanceof TimeoutExpired)) throw e;
                  p.kill(); // an own timeout leaves the child running: ours to end
                  yield* p.wait();
                }
              } else {
                yield* waitOn();
              }
            }));
            for (const [i, plan] of plans.entries()) {
              if (plan.action === 'kill') spawn(function* () { yield* sleep(plan.at / 1000); yield* gs[i].kill(); });
            }
            yield* joinall(gs);
            for (const g of gs) if (!g.successful()) throw g.exception;
          });
          expect(pids.filter(alive)).toEqual([]);
        },
      ),
      { numRuns: 5 },
    );
  }, 60_000);
});

describe('run, call, checkCall, checkOutput', () => {
  it('run gives a CompletedProcess with captured output', async () => {
    const r = await run(function* () {
      return yield* runCmd(['sh', '-c', 'cat; echo e >&2; exit 2'], { input: 'in', captureOutput: true, text: true });
    });
    expect(r).toBeInstanceOf(CompletedProcess);
    expect([r.args, r.returncode, r.stdout, r.stderr]).toEqual([['sh', '-c', 'cat; echo e >&2; exit 2'], 2, 'in', 'e\n']);
  });

  it('run with check throws CalledProcessError carrying the output', async () => {
    const err = await run(function* () {
      try { yield* runCmd(['sh', '-c', 'echo partial; exit 4'], { captureOutput: true, check: true, text: true }); } catch (e) { return e as CalledProcessError; }
      return null;
    });
    expect(err).toBeInstanceOf(CalledProcessError);
    expect([err!.returncode, err!.output, err!.stdout, err!.message]).toEqual([4, 'partial\n', 'partial\n', 'Command ["sh","-c","echo partial; exit 4"] returned non-zero exit status 4']);
  });

  it('call gives the returncode; checkCall gives 0 or throws; checkOutput gives stdout', async () => {
    const r = await run(function* () {
      const rc = [yield* call(['true']), yield* call(['false']), yield* call('true'), yield* call(['exit 5'], { shell: true })];
      const ok = yield* checkCall(['true']);
      let err: unknown;
      try { yield* checkCall(['false']); } catch (e) { err = e; }
      const out = yield* checkOutput(['echo', 'hi'], { text: true });
      return [rc, ok, (err as CalledProcessError).returncode, out];
    });
    expect(r).toEqual([[0, 1, 0, 5], 0, 1, 'hi\n']);
  });

  it('an op that is never run starts no child', async () => {
    const r = await run(function* () {
      const op = call(['sh', '-c', 'exit 9']);
      return yield* op;
    });
    expect(r).toBe(9);
  });
});

describe('bad input', () => {
  it('a command that does not exist throws FileNotFoundError with code ENOENT at the yield', async () => {
    const r = await run(function* () {
      const errs: unknown[] = [];
      try { yield* call(['no-such-program-geventjs']); } catch (e) { errs.push(e); }
      const p = new Popen(['no-such-program-geventjs'], { stdout: PIPE });
      try { yield* p.communicate(); } catch (e) { errs.push(e); }
      return [errs, p.pid];
    });
    const [errs, pid] = r as [FileNotFoundError[], unknown];
    expect(errs.map((e) => [e instanceof FileNotFoundError, e.code, e.path])).toEqual([
      [true, 'ENOENT', 'no-such-program-geventjs'], [true, 'ENOENT', 'no-such-program-geventjs'],
    ]);
    expect(errs[0].message).toMatch(/check the command name/);
    expect(pid).toBeUndefined();
  });

  it('bad args, stdio and options get TypeError or RangeError naming them', () => {
    expect(() => new Popen(42 as never)).toThrow(TypeError);
    expect(() => new Popen([])).toThrow(/argument list is empty/);
    expect(() => new Popen(['true'], { stdout: STDOUT })).toThrow(/STDOUT is only allowed for stderr/);
    expect(() => new Popen(['true'], { stdout: 'pipe' as never })).toThrow(TypeError);
    expect(() => new Popen(['true'], 'x' as never)).toThrow(/options object/);
    expect(() => runCmd(['true'], { captureOutput: true, stdout: PIPE })).toThrow(RangeError);
  });

  it('communicate(input) without a stdin pipe, bad signals and a bad timeout are refused', async () => {
    await run(function* () {
      const p = new Popen(['true']);
      expect(() => p.communicate('x')).toThrow(/stdin: PIPE/);
      expect(() => p.sendSignal('SIGNOPE' as never)).toThrow(RangeError);
      expect(() => p.sendSignal({} as never)).toThrow(TypeError);
      expect(() => p.wait({ timeout: -1 })).toThrow(RangeError);
      yield* p.wait();
    });
  });
});

describe('options are own properties only', () => {
  it('shell, env, timeout and text planted on Object.prototype are never read, and no inherited key reaches the environment', () => {
    // In a child process: a polluted prototype inside the test runner could disturb the runner.
    const r = execFileSync(process.execPath, [join(__dirname, 'fixtures', 'subprocess-pollution.js')], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(JSON.parse(r.trim().split('\n').pop()!)).toEqual({
      isBuffer: true,
      args: 'x; echo INJECTED\n',
      // Before: [][--require /nonexistent/evil.js][planted]: Node's spawn copied the inherited keys.
      env: '[][][]\n',
      ownEnv: '[own][][]\n',
      rc: 3,
      rc2: 1,
    });
  });
});

describe('pipes: backpressure and incremental reads', () => {
  it('an unread pipe is paused at PIPE_BUFFER_LIMIT: cat /dev/zero under wait({ timeout }) stays small', async () => {
    const before = process.memoryUsage().rss;
    const r = await run(function* () {
      const p = new Popen(['cat', '/dev/zero'], { stdout: PIPE });
      let err: unknown;
      try { yield* p.wait({ timeout: 0.5 }); } catch (e) { err = e; }
      const grew = process.memoryUsage().rss - before;
      const head = yield* p.stdout!.read(65536);
      p.kill();
      yield* p.wait();
      return { err, grew, head };
    });
    expect(r.err).toBeInstanceOf(TimeoutExpired);
    const partial = (r.err as TimeoutExpired).output as Buffer;
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(PIPE_BUFFER_LIMIT + 1024 * 1024);
    expect(r.grew).toBeLessThan(200 * 1024 * 1024); // unbounded, it was ~1 GB in 0.5 s
    expect(r.head).toEqual(Buffer.alloc(65536));
  });

  it('communicate reads both pipes at once: a child that fills stderr before it writes stdout finishes', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', 'head -c 3000000 /dev/zero >&2; echo done'], { stdout: PIPE, stderr: PIPE });
      const [out, err] = yield* p.communicate(null, { timeout: 20 });
      return [String(out), (err as Buffer).length, p.returncode];
    });
    expect(r).toEqual(['done\n', 3000000, 0]);
  }, 30_000);

  it('text mode: a TimeoutExpired past the limit carries a bounded string, not a V8 string error', async () => {
    const err = await run(function* () {
      // `yes` itself (not under sh, which would leave it running after the kill), and its
      // stderr discarded: a `yes` cut off mid-write says so there, into the test's output.
      const p = new Popen(['yes'], { stdout: PIPE, stderr: DEVNULL, text: true });
      try {
        yield* p.wait({ timeout: 0.3 });
      } catch (e) {
        return e;
      } finally {
        p.kill();
        yield* p.wait();
      }
    });
    expect(err).toBeInstanceOf(TimeoutExpired);
    expect(typeof (err as TimeoutExpired).output).toBe('string');
    const output = (err as TimeoutExpired).output as string;
    expect(output.startsWith('y\ny\n')).toBe(true);
    expect(output.length).toBeLessThanOrEqual(PIPE_BUFFER_LIMIT + 1024 * 1024);
  });

  it('readline and read(n) take what is asked; empty means the end; text mode never cuts a character', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', "printf 'a\\nbb\\nccc'"], { stdout: PIPE });
      const lines = [];
      for (let i = 0; i < 4; i++) lines.push(String(yield* p.stdout!.readline()));
      const q = new Popen(['sh', '-c', "printf '0123456789'"], { stdout: PIPE });
      const parts = [String(yield* q.stdout!.read(4)), String(yield* q.stdout!.read(0)), String(yield* q.stdout!.read(100)), String(yield* q.stdout!.read(1))];
      const t = new Popen(['sh', '-c', "printf '\\303\\251t\\303\\251\\n'"], { stdout: PIPE, text: true });
      const chars = [yield* t.stdout!.read(1), yield* t.stdout!.read(1), yield* t.stdout!.readline(), yield* t.stdout!.readline()];
      const l = new Popen(['sh', '-c', "printf 'abcdef\\n'"], { stdout: PIPE });
      const limited = [String(yield* l.stdout!.readline(4)), String(yield* l.stdout!.readline(4))];
      yield* p.wait();
      yield* q.wait();
      yield* t.wait();
      yield* l.wait();
      return { lines, parts, chars, limited };
    });
    expect(r.lines).toEqual(['a\n', 'bb\n', 'ccc', '']);
    expect(r.parts).toEqual(['0123', '', '456789', '']);
    expect(r.chars).toEqual(['é', 't', 'é\n', '']);
    expect(r.limited).toEqual(['abcd', 'ef\n']);
  });

  it('lines and reads that span many small arrivals come out whole and in order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.stringMatching(/^[a-c\n]{0,12}$/), { minLength: 1, maxLength: 12 }),
        fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 7 })), { minLength: 1, maxLength: 30 }),
        async (pieces, plan) => {
          // The child writes each piece separately, with a pause, so they arrive as separate chunks.
          const script = `const p = ${JSON.stringify(pieces)}; let i = 0;
            const next = () => { if (i === p.length) return; process.stdout.write(p[i++]); setTimeout(next, 2); }; next();`;
          const got = await run(function* () {
            const child = new Popen([process.execPath, '-e', script], { stdout: PIPE, text: true });
            const parts: string[] = [];
            for (const step of plan) parts.push(step < 0 ? yield* child.stdout!.readline() : yield* child.stdout!.read(step));
            const rest = yield* child.stdout!.read();
            yield* child.wait();
            return { parts, rest };
          });
          const all = pieces.join('');
          expect(got.parts.join('') + got.rest).toBe(all);
          let at = 0;
          plan.forEach((step, i) => {
            const part = got.parts[i];
            if (step < 0) {
              const nl = all.indexOf('\n', at);
              expect(part).toBe(nl < 0 ? all.slice(at) : all.slice(at, nl + 1));
            } else {
              expect(part).toBe(all.slice(at, at + step));
            }
            at += part.length;
          });
        },
      ),
      { numRuns: 15 },
    );
  }, 60_000);

  it('a readline interrupted by a Timeout consumes nothing: the next readline gets the line', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', 'echo early; sleep 0.3; echo late'], { stdout: PIPE, text: true });
      const first = yield* p.stdout!.readline();
      const t = Timeout.start(0.05);
      let timedOut = false;
      try {
        yield* p.stdout!.readline();
      } catch (e) {
        if (e !== t) throw e;
        timedOut = true;
      } finally {
        t.close();
      }
      return [first, timedOut, yield* p.stdout!.readline(), yield* p.stdout!.readline(), yield* p.wait()];
    });
    expect(r).toEqual(['early\n', true, 'late\n', '', 0]);
  });

  it('a reader that reads line by line gets all of a large output (the pipe resumes as it is read)', async () => {
    const n = await run(function* () {
      const p = new Popen(['sh', '-c', 'seq 1 300000'], { stdout: PIPE, text: true });
      let count = 0;
      let last = '';
      for (let line; (line = yield* p.stdout!.readline()).length > 0; ) {
        count++;
        last = line;
      }
      yield* p.wait();
      return [count, last];
    });
    expect(n).toEqual([300000, '300000\n']);
  });

  it('yield* stdin.write() waits while the child has not taken the data; unyielded it still sends', async () => {
    const r = await run(function* () {
      const p = new Popen(['sh', '-c', 'sleep 0.2; wc -c'], { stdin: PIPE, stdout: PIPE, text: true });
      yield* p.stdin!.write(Buffer.alloc(4 * 1024 * 1024));
      const queuedAfter = p.child.stdin!.writableLength;
      p.stdin!.write('tail'); // not yielded: queued anyway, and no dropped-op error
      const [out] = yield* p.communicate();
      return [queuedAfter, out];
    });
    expect(r[0]).toBeLessThanOrEqual(64 * 1024);
    expect(r[1]).toBe(`${4 * 1024 * 1024 + 4}\n`);
  });

  it('stderr: STDOUT with an inherited stdout writes to the parent\'s stdout, as Python does', () => {
    const script = `
      const { run } = require(${JSON.stringify(join(__dirname, '../dist/src/index.js'))});
      const { call, STDOUT } = require(${JSON.stringify(join(__dirname, '../dist/src/subprocess.js'))});
      run(function* () { yield* call(['sh', '-c', 'echo to-err >&2'], { stderr: STDOUT }); });
    `;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    expect(out).toBe('to-err\n');
  });
});
