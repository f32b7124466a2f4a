/**
 * B9: the cost of patching for a program that never uses greenlets, and of `yield execSync`.
 *
 * Part 1 runs, in fresh child processes alternating unpatched and patched (monkey.patchAll()),
 * 1,000,000 setImmediate(cb), 100,000 setTimeout(cb, 0) and 10,000 dns.lookup('localhost', cb),
 * and compares the medians. Part 2 runs `true` N times one after another: `yield execSync`
 * in a greenlet against Node's async execFile.
 *
 * @example
 * // npx tsc -p tsconfig.json && node dist/bench/b9.js [rounds]
 * // node dist/bench/b9.js inprocess [rounds]   (part 1 only, in one warm process)
 */
import { exec, execFileSync, execFile } from 'node:child_process';
import * as os from 'node:os';

const ROUNDS = Number(process.argv[2] ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function immediates(n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const cb = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < n; i++) setImmediate(cb);
  });
}

function timeouts(n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const cb = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < n; i++) setTimeout(cb, 0);
  });
}

function lookups(n: number): Promise<void> {
  const dns = require('node:dns') as typeof import('node:dns');
  return new Promise((resolve, reject) => {
    let left = n;
    const cb = (err: Error | null) => {
      if (err) reject(err);
      else if (--left === 0) resolve();
    };
    for (let i = 0; i < n; i++) dns.lookup('localhost', cb);
  });
}

/** One child run: prints the ms for the whole workload. */
async function child(patched: boolean): Promise<void> {
  if (patched) require('../src/monkey.js').patchAll();
  const t0 = performance.now();
  await immediates(1_000_000);
  await timeouts(100_000);
  await lookups(10_000);
  process.stdout.write(String(performance.now() - t0));
}

function runChild(mode: string): number {
  return Number(execFileSync(process.execPath, [__filename, mode], { encoding: 'utf8' }));
}

function execFileOnce(): Promise<void> {
  return new Promise((resolve, reject) => execFile('true', (err) => (err ? reject(err) : resolve())));
}

function execOnce(): Promise<void> {
  return new Promise((resolve, reject) => exec('true', (err) => (err ? reject(err) : resolve())));
}

async function timeAsync(n: number, once: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await once();
  return performance.now() - t0;
}

/** ms for n runs of `true`: async execFile, yield execFileSync, async exec, yield execSync. */
async function execPart(n: number): Promise<number[]> {
  const monkey = require('../src/monkey.js') as typeof import('../src/monkey.js');
  const { run } = require('../src/greenlet.js') as typeof import('../src/greenlet.js');
  monkey.patchChildProcess();
  const cp = require('node:child_process') as { execSync: (c: string) => unknown; execFileSync: (f: string) => unknown };
  const timeGreen = async (call: () => unknown) => {
    const t0 = performance.now();
    await run(function* () {
      for (let i = 0; i < n; i++) yield call();
    });
    return performance.now() - t0;
  };
  return [
    await timeAsync(n, execFileOnce),
    await timeGreen(() => cp.execFileSync('true')),
    await timeAsync(n, execOnce),
    await timeGreen(() => cp.execSync('true')),
  ];
}

/**
 * The same workload in one process, patching and unpatching between rounds: both sides have
 * geventjs loaded and warm, so the difference is the wrappers alone.
 */
async function inProcess(rounds: number): Promise<void> {
  const monkey = require('../src/monkey.js') as typeof import('../src/monkey.js');
  const plain: number[] = [];
  const patched: number[] = [];
  const once = async () => {
    const t0 = performance.now();
    await immediates(1_000_000);
    await timeouts(100_000);
    await lookups(10_000);
    return performance.now() - t0;
  };
  await once(); // warm-up
  for (let i = 0; i < rounds; i++) {
    plain.push(await once());
    monkey.patchAll();
    patched.push(await once());
    monkey.unpatchAll();
  }
  const p = median(plain);
  const q = median(patched);
  console.log(`B9 same process, alternating: unpatched ${p.toFixed(0)} ms, patched ${q.toFixed(0)} ms, ratio ${(q / p).toFixed(3)}`);
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === 'plain' || mode === 'patched') return child(mode === 'patched');
  if (mode === 'inprocess') return inProcess(Number(process.argv[3] ?? 7));
  console.log(`node dist/bench/b9.js ${ROUNDS}  (load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  const plain: number[] = [];
  const patched: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    plain.push(runChild('plain'));
    patched.push(runChild('patched'));
  }
  const p = median(plain);
  const q = median(patched);
  console.log(`B9 no greenlets (1e6 setImmediate, 1e5 setTimeout 0, 1e4 dns.lookup): unpatched ${p.toFixed(0)} ms, patched ${q.toFixed(0)} ms, ratio ${(q / p).toFixed(3)}`);
  const runs: number[][] = [[], [], [], []];
  for (let i = 0; i < ROUNDS; i++) (await execPart(100)).forEach((ms, k) => runs[k].push(ms));
  const [ef, efs, ex, exs] = runs.map(median);
  console.log(`B9 100 x 'true': async execFile ${ef.toFixed(0)} ms, yield execFileSync ${efs.toFixed(0)} ms, ratio ${(efs / ef).toFixed(3)}`);
  console.log(`B9 100 x 'true' via /bin/sh: async exec ${ex.toFixed(0)} ms, yield execSync ${exs.toFixed(0)} ms, ratio ${(exs / ex).toFixed(3)}; yield execSync against async execFile ${(exs / ef).toFixed(3)}`);
}

void main();
