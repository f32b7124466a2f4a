/**
 * The workloads (bench/README.md), as data: their sizes, what a run is divided by,
 * and the unit it is reported in. Every system's file reads its sizes from here so that no
 * system quietly runs a smaller workload than the others.
 */

export type WorkloadId = 'B1' | 'B1i' | 'B2' | 'B3' | 'B4' | 'B5' | 'B6' | 'B7' | 'B8';

export interface WorkloadSpec {
  title: string;
  /** The timed nanoseconds are divided by this; 0 means report milliseconds. */
  per: number;
  unit: string;
}

export const SIZES = {
  B1: 100_000, // greenlets spawned and joined
  B2: 500_000, // sleep(0) loops per greenlet; two greenlets
  B3: 200_000, // queue round trips
  B4: 10_000, // waiters on one event
  B5: 100_000, // items mapped by a pool of B5_POOL
  B6: 100_000, // greenlets parked in sleep(B6_SLEEP)
  B8: 200, // runs of `true`, at most B8_CONCURRENCY at once
} as const;

export const B5_POOL = 100;
export const B6_SLEEP = 0.5; // seconds
export const B8_CONCURRENCY = 20;

export const WORKLOADS: Record<WorkloadId, WorkloadSpec> = {
  B1: { title: 'spawn 100,000 greenlets returning their index; join all', per: SIZES.B1, unit: 'ns/greenlet' },
  B1i: { title: 'B1 as users write it: a fresh inline closure per spawn', per: SIZES.B1, unit: 'ns/greenlet' },
  B2: { title: '2 greenlets x 500,000 sleep(0)', per: 2 * SIZES.B2, unit: 'ns/switch' },
  B3: { title: 'queue ping-pong, 200,000 round trips', per: SIZES.B3, unit: 'ns/round trip' },
  B4: { title: '10,000 inline waiters parked on one Event; set; join all', per: SIZES.B4, unit: 'ns/waiter' },
  B5: { title: 'Pool(100).map(f, 100,000 items), f = sleep(0) then x*2', per: SIZES.B5, unit: 'ns/item' },
  B6: { title: '100,000 greenlets sleep(0.5); join all', per: 0, unit: 'ms wall' },
  B7: { title: 'TCP echo, 50 connections x 2,000 round trips of 64 bytes', per: 0, unit: 'round trips/s' },
  B8: { title: 'run `true` 200 times, at most 20 at once', per: 0, unit: 'ms total' },
};

/** What one timed run of a workload hands back to measure.ts. */
export interface Sample {
  /** Monotonic nanoseconds from just before the first spawn to after the last join. */
  ns: number;
  /** B6 only: RSS after gc() before spawning, and RSS once all greenlets are parked. */
  rssBefore?: number;
  rssParked?: number;
}

/** One system's implementation of the workloads it can run; a string says why one is skipped. */
export type Suite = Partial<Record<WorkloadId, (() => Promise<Sample>) | string>>;

/** A system module's entry: its suite, or a one-line reason it cannot run here. */
export type LoadSuite = () => Promise<Suite | string>;

/** process.hrtime.bigint as a number of nanoseconds: monotonic, and exact below 2^53 ns. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Throws when a workload computed the wrong answer: a fast wrong benchmark is worthless. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark self-check failed: ${what}`);
}
