/**
 * One system, one workload, in a process of its own so that heaps, JIT state and B6's RSS
 * figures never leak from one system into another:
 *
 *   node --expose-gc dist/bench/measure.js <system> <workload>
 *
 * Prints one JSON line: { system, workload, unit, median, min, max, reps, ... } or
 * { system, workload, skipped } when the system cannot run that workload here.
 */
import { WORKLOADS, SIZES, type LoadSuite, type Sample, type WorkloadId } from './spec.js';

const WARMUP = 1;
const REPS = 5;
/** A warm-up longer than this is followed by one timed run, not five: a system that takes a
 * minute per run (effection on B2, B5, B6) would otherwise hold up the whole bench. */
const LONG_RUN_NS = 10e9;

/** Where each system's suite lives (relative to this file once compiled), and its loader. */
export const SYSTEMS: Record<string, [path: string, loader: string]> = {
  geventjs: ['./workloads.js', 'load'],
  'geventjs-plain': ['./workloads.js', 'loadPlain'], // B1 with plain functions, a side note
  floor: ['./floor.js', 'load'],
  native: ['./native.js', 'load'],
  effection: ['./effection.js', 'load'],
};

export interface Stats {
  median: number;
  min: number;
  max: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

/** gc() between runs, so one run's garbage is not collected on the next run's clock. */
function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/**
 * Before a B6 run: gc(), then give V8's background threads time to hand the freed pages back
 * to the OS. Without the pause the "before" RSS still holds the last run's greenlets and the
 * next run's bytes per greenlet come out small or even negative.
 */
async function settle(): Promise<void> {
  collect();
  await new Promise((r) => setTimeout(r, 300));
  collect();
}

function valueOf(id: WorkloadId, s: Sample): number {
  const per = WORKLOADS[id].per;
  return per ? s.ns / per : s.ns / 1e6;
}

function bytesPerGreenlet(s: Sample): number {
  return ((s.rssParked ?? 0) - (s.rssBefore ?? 0)) / SIZES.B6;
}

async function measure(system: string, id: WorkloadId, body: () => Promise<Sample>): Promise<object> {
  const samples: Sample[] = [];
  let reps = REPS;
  for (let i = 0; i < WARMUP + reps; i++) {
    if (id === 'B6') await settle();
    else collect();
    const s = await body();
    samples.push(s);
    if (i === 0 && s.ns > LONG_RUN_NS) reps = 1;
  }
  const timed = samples.slice(WARMUP);
  const values = timed.map((s) => valueOf(id, s));
  const out: Record<string, unknown> = {
    system, workload: id, unit: WORKLOADS[id].unit, ...stats(values),
    reps: values.map((v) => +v.toFixed(3)),
  };
  if (id === 'B6') {
    out.bytesPerGreenlet = stats(timed.map(bytesPerGreenlet));
    // The warm-up starts from a fresh heap: its figure is the cost with nothing to reuse.
    out.bytesPerGreenletCold = bytesPerGreenlet(samples[0]!);
  }
  return out;
}

async function main(): Promise<void> {
  const [system = '', id = ''] = process.argv.slice(2);
  const where = SYSTEMS[system];
  if (!where || !(id in WORKLOADS)) {
    console.error(`usage: node --expose-gc dist/bench/measure.js <${Object.keys(SYSTEMS).join('|')}> <B1..B8>`);
    process.exit(2);
  }
  const [path, loader] = where;
  const suite = await (require(path) as Record<string, LoadSuite>)[loader]!();
  const entry = typeof suite === 'string' ? suite : suite[id as WorkloadId] ?? `${system}: has no ${id} (not a peer there)`;
  const result = typeof entry === 'string'
    ? { system, workload: id, skipped: entry }
    : await measure(system, id as WorkloadId, entry);
  console.log(JSON.stringify(result));
  // Nothing the workload left behind (a server, a stray timer) may keep this process alive.
  process.exit(0);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
