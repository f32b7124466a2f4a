/**
 * `npm run bench [-- B3 ...]`: every workload for geventjs and each peer, one table per
 * workload. Each (system, workload) pair runs in a fresh process (measure.js, or gevent's
 * own script) so that one system's heap and RSS never weigh on another's figures.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { renderChart, type ChartPoint } from './chart.js';
import { stats } from './measure.js';
import { WORKLOADS, type WorkloadId } from './spec.js';

/** The folder of gevent's scripts and B7's neutral client and raw server (kept outside the repository). */
const SHARED = process.env.GEVENTJS_SHARED_BENCH ?? path.resolve(__dirname, '../../../shared/bench');
/** Debian's python3 with python3-gevent, not whatever python3 is first on the PATH. */
const PYTHON = '/usr/bin/python3';
const GEVENT_MISSING = 'gevent: skipped (install: apt-get install -y python3-gevent)';
const MEASURE = path.join(__dirname, 'measure.js');
const ECHO_SERVER = path.join(__dirname, 'echo-server.js');
const B7_REPS = 5;
/** A child that runs longer than this is stopped and reported, so a hang cannot stall the bench. */
const CHILD_TIMEOUT_MS = 15 * 60_000;

interface Row {
  system: string;
  median: number;
  min: number;
  max: number;
  unit: string;
  /** Timed runs behind the median: 5, or 1 when a run takes minutes (see measure.ts). */
  runs: number;
  /** Extra columns some workloads report (B6's bytes, B7's ratio to raw Node). */
  extra?: Record<string, string>;
}
type Outcome = Row | { skipped: string };

const SYSTEMS_BY_WORKLOAD: Record<Exclude<WorkloadId, 'B7'>, string[]> = {
  B1: ['geventjs', 'geventjs-plain', 'floor', 'native', 'effection', 'gevent'],
  B1i: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B2: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B3: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B4: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B5: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B6: ['geventjs', 'floor', 'native', 'effection', 'gevent'],
  B8: ['geventjs', 'native', 'gevent'],
};

/** The last line of a child's stdout that parses as a JSON object (the result line). */
function lastJson(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object') return v as Record<string, unknown>;
    } catch { /* not the result line */ }
  }
  return null;
}

function fmt(v: number): string {
  return v.toLocaleString('en-US', { maximumFractionDigits: v < 100 ? 2 : 0 });
}

type Stats3 = { median: number; min: number; max: number };

function bytesColumns(b: Stats3, cold?: number): Record<string, string> {
  return {
    'bytes/parked greenlet: median (min-max)': `${fmt(b.median)} (${fmt(b.min)}-${fmt(b.max)})`,
    'cold (first run)': cold === undefined ? '' : fmt(cold),
  };
}

function repsOf(out: Record<string, unknown>): number {
  return Array.isArray(out.reps) ? out.reps.length : 0;
}

function runNode(system: string, id: WorkloadId): Outcome {
  const p = spawnSync(process.execPath, ['--expose-gc', MEASURE, system, id], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24, timeout: CHILD_TIMEOUT_MS,
  });
  const out = lastJson(p.stdout ?? '');
  if (p.status !== 0 || !out) return { skipped: `${system}: failed (${p.error?.message ?? `exit ${p.status ?? p.signal}`}); see stderr above` };
  if (typeof out.skipped === 'string') return { skipped: out.skipped };
  const row: Row = { system, ...(out as unknown as Stats3), unit: String(out.unit), runs: repsOf(out) };
  if (out.bytesPerGreenlet) row.extra = bytesColumns(out.bytesPerGreenlet as Stats3, out.bytesPerGreenletCold as number);
  return row;
}

let geventVersion: string | null | undefined;
/** "gevent X, greenlet Y, Python Z", or null when Debian's python3 cannot import gevent. */
function gevent(): string | null {
  if (geventVersion === undefined) {
    const code = 'import sys, gevent, greenlet; print("gevent", gevent.__version__, "greenlet", greenlet.__version__, "Python", sys.version.split()[0])';
    const p = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
    geventVersion = p.status === 0 ? p.stdout.trim() : null;
  }
  return geventVersion;
}

function runGevent(id: WorkloadId): Outcome {
  if (!gevent()) return { skipped: GEVENT_MISSING };
  // gevent has no per-closure cost to show: its B1i is B1, the same work.
  const p = spawnSync(PYTHON, [path.join(SHARED, 'gevent_bench.py'), id === 'B1i' ? 'B1' : id], {
    encoding: 'utf8', maxBuffer: 1 << 24, timeout: CHILD_TIMEOUT_MS,
  });
  const out = lastJson(p.stdout ?? '');
  if (p.status !== 0 || !out) return { skipped: `gevent: failed (${p.error?.message ?? `exit ${p.status}`}): ${(p.stderr ?? '').trim().split('\n').pop()}` };
  const row: Row = { system: 'gevent', ...(out as unknown as Stats3), unit: WORKLOADS[id].unit, runs: repsOf(out) };
  if (id === 'B6') {
    // gevent's script measures its peak (VmHWM) over RSS before; its warm-up keeps no RSS figure.
    const b = { median: out.bytes_per_task_median, min: out.bytes_per_task_min, max: out.bytes_per_task_max };
    row.extra = bytesColumns(b as Stats3);
  }
  return row;
}

// ---------------------------------------------------------------- B7: TCP echo

interface EchoServer { system: string; cmd: string; args: string[]; missing?: string }

function echoServers(): EchoServer[] {
  return [
    { system: 'geventjs', cmd: process.execPath, args: [ECHO_SERVER],
      missing: existsSync(ECHO_SERVER) ? undefined : 'geventjs: skipped (bench/echo-server.ts not written yet)' },
    { system: 'raw node', cmd: process.execPath, args: [path.join(SHARED, 'raw-echo-server.mjs')] },
    { system: 'gevent', cmd: PYTHON, args: [path.join(SHARED, 'gevent_echo_server.py')],
      missing: gevent() ? undefined : GEVENT_MISSING },
  ];
}

/** A port nobody listens on right now: bind port 0, read it, let it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Resolves once the server accepts a connection; rejects if it dies or takes over 10 s. */
async function waitListening(child: ChildProcess, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited (${child.exitCode ?? child.signalCode})`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('server did not listen within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One run of the neutral client: round trips per second. */
function echoClient(port: number): number {
  const p = spawnSync(process.execPath, [path.join(SHARED, 'echo-client.mjs'), '127.0.0.1', String(port)], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out = lastJson(p.stdout ?? '');
  if (p.status !== 0 || !out) throw new Error(`echo client failed (exit ${p.status})`);
  return Number(out.roundtrips_per_sec);
}

/** A started echo server: its child process and port, or why it is skipped. */
type Started = { s: EchoServer; child: ChildProcess; port: number } | { skipped: string };

async function startEcho(s: EchoServer): Promise<Started> {
  if (s.missing) return { skipped: s.missing };
  const port = await freePort();
  const child = spawn(s.cmd, [...s.args, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitListening(child, port);
    echoClient(port); // warm-up
    return { s, child, port };
  } catch (e) {
    child.kill();
    return { skipped: `${s.system}: failed (${(e as Error).message})` };
  }
}

/**
 * B7 always runs the raw Node server: every other row is reported against it. All servers run
 * at once and the client's runs alternate between them, round by round, so a swing in the
 * machine's speed (the raw server's own throughput moves by up to 2x from minute to minute
 * here) weighs on every row alike instead of on whichever server ran during it.
 */
async function b7(wanted: (system: string) => boolean): Promise<Outcome[]> {
  const started: Started[] = [];
  for (const s of echoServers()) if (s.system === 'raw node' || wanted(s.system)) started.push(await startEcho(s));
  const live = started.filter((x): x is Extract<Started, { s: EchoServer }> => 'child' in x);
  const runs = new Map<EchoServer, number[]>(live.map((x) => [x.s, []]));
  try {
    for (let r = 0; r < B7_REPS; r++) for (const x of live) runs.get(x.s)!.push(echoClient(x.port));
  } finally {
    for (const x of live) x.child.kill();
  }
  const out: Outcome[] = started.map((x) =>
    'child' in x
      ? { system: x.s.system, ...stats(runs.get(x.s)!), unit: WORKLOADS.B7.unit, runs: B7_REPS }
      : x,
  );
  const raw = out.find((o): o is Row => 'system' in o && o.system === 'raw node');
  for (const o of out) if ('system' in o && raw) o.extra = { '× raw node': `${(o.median / raw.median).toFixed(2)}×` };
  return out;
}

// ---------------------------------------------------------------- tables

function label(system: string): string {
  return system === 'geventjs-plain' ? 'geventjs (plain fn)' : system;
}

/** One markdown table; ratios are each system's median over geventjs's (or, lacking it, floor's). */
function printTable(id: WorkloadId, outcomes: Outcome[]): void {
  const rows = outcomes.filter((o): o is Row => 'system' in o);
  const ref = rows.find((r) => r.system === 'geventjs') ?? rows.find((r) => r.system === 'floor') ?? rows[0];
  const ratioHead = `× ${ref ? ref.system : 'geventjs'}`;
  // B7 without geventjs falls back to raw node, whose own column would then say the same.
  const extras = [...new Set(rows.flatMap((r) => Object.keys(r.extra ?? {})))].filter((k) => k !== ratioHead);
  const head = ['system', 'median', 'min', 'max', 'unit', 'runs', ratioHead, ...extras];
  console.log(`\n### ${id}: ${WORKLOADS[id].title}\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`| ${head.map(() => '---').join(' | ')} |`);
  for (const r of rows) {
    const ratio = ref ? `${(r.median / ref.median).toFixed(2)}×` : '';
    const cells = [label(r.system), fmt(r.median), fmt(r.min), fmt(r.max), r.unit, String(r.runs), ratio, ...extras.map((k) => r.extra?.[k] ?? '')];
    console.log(`| ${cells.join(' | ')} |`);
  }
  for (const o of outcomes) if ('skipped' in o) console.log(`\n${o.skipped}`);
}

interface Args { ids: WorkloadId[]; systems: string[] | null }

/** `B3 B5 ...` picks workloads (default: all); `--systems=geventjs,floor` picks systems. */
function parseArgs(argv: string[]): Args {
  const flag = argv.find((a) => a.startsWith('--systems='));
  const asked = argv.filter((a) => !a.startsWith('--')).map((a) => a.toUpperCase().replace(/I$/, 'i'));
  const bad = asked.filter((a) => !(a in WORKLOADS));
  if (bad.length) {
    console.error(`unknown workload ${bad.join(', ')}; choose from ${Object.keys(WORKLOADS).join(' ')}`);
    process.exit(2);
  }
  return {
    ids: (asked.length ? asked : Object.keys(WORKLOADS)) as WorkloadId[],
    systems: flag ? flag.slice('--systems='.length).split(',') : null,
  };
}

async function outcomes(id: WorkloadId, systems: string[] | null): Promise<Outcome[]> {
  const wanted = (s: string) => !systems || systems.includes(s) || (s === 'geventjs-plain' && systems.includes('geventjs'));
  if (id === 'B7') return b7(wanted);
  return SYSTEMS_BY_WORKLOAD[id].filter(wanted).map((s) => (s === 'gevent' ? runGevent(id) : runNode(s, id)));
}

async function main(): Promise<void> {
  const { ids, systems } = parseArgs(process.argv.slice(2));
  console.log(`# geventjs benchmarks, ${new Date().toISOString()}`);
  const args = process.argv.slice(2);
  console.log(`command: npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`);
  console.log(`node ${process.version}, ${os.availableParallelism()} cpus (${os.cpus()[0]?.model ?? '?'}), ${gevent() ?? 'gevent not installed'}`);
  // A shared machine: the load before the run says how much to trust its absolute times.
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
  console.log('median, min and max of 5 runs after 1 warm-up; lower is better except B7 (round trips/s)');
  const points: ChartPoint[] = [];
  for (const id of ids) {
    const out = await outcomes(id, systems);
    printTable(id, out);
    for (const o of out) {
      if ('system' in o) points.push({ workload: id, title: WORKLOADS[id].title, system: label(o.system), median: o.median, unit: o.unit });
    }
  }
  await writeChart(points);
}

/** bench/results.json and bench/chart.svg for this run (a chart of what ran, even if partial). */
async function writeChart(points: ChartPoint[]): Promise<void> {
  const dir = path.resolve(__dirname, '../../bench');
  writeFileSync(path.join(dir, 'results.json'), JSON.stringify(points, null, 1) + '\n');
  try {
    writeFileSync(path.join(dir, 'chart.svg'), await renderChart(points));
    console.log(`\nchart: bench/chart.svg (data: bench/results.json)`);
  } catch (e) {
    console.log(`\nchart: not drawn (${(e as Error).message}); install the devDependencies (npm install)`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
