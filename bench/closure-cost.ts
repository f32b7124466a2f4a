/**
 * What V8 itself charges for the ways a task can be written, with no geventjs at all: the
 * floor under B1i and B4. Each row makes 100,000 tasks in a loop and keeps them (as B1i keeps
 * its greenlets), calling and stepping each once:
 *
 *   async arrow          (async () => i)()
 *   hoisted function*    one generator function, called with i, stepped once
 *   fresh function*      a new `function* () { return i; }` per task, called, stepped once
 *   fresh, shared proto  the same, after `fn.prototype = SHARED` (what spawn() does)
 *   ... + mark           the same, plus the private-field mark spawn() sets on each function
 *
 * Prints the median ns per task of 6 timed runs (2 warm-ups) for each row.
 *
 * @example
 * // npm run build && node --expose-gc dist/bench/closure-cost.js
 */
import { execFileSync } from 'node:child_process';

const N = 100_000;
const GeneratorFunctionPrototype = Object.getPrototypeOf(function* () {}) as { prototype: object };
const SHARED = Object.create(GeneratorFunctionPrototype.prototype) as object;
const next = (GeneratorFunctionPrototype.prototype as Generator).next;

/** Returns what it is given: lets `Mark` stamp a private field onto a function. */
class ReturnsArgument {
  constructor(o: object) {
    return o;
  }
}
class Mark extends ReturnsArgument {
  #seen = true;
  static has(f: object): boolean {
    return #seen in f;
  }
}

type Row = () => unknown;

const rows: [string, Row][] = [
  ['async arrow', () => {
    const keep = new Array<Promise<number>>(N);
    for (let i = 0; i < N; i++) keep[i] = (async () => i)();
    return Promise.all(keep);
  }],
  ['hoisted function*', () => {
    const keep = new Array<Generator>(N);
    const body = function* (i: number) { return i; };
    for (let i = 0; i < N; i++) {
      const g = body(i);
      next.call(g);
      keep[i] = g;
    }
    return keep;
  }],
  ['fresh function*', () => {
    const keep = new Array<Generator>(N);
    for (let i = 0; i < N; i++) {
      const f = function* () { return i; };
      const g = f();
      next.call(g);
      keep[i] = g;
    }
    return keep;
  }],
  ['fresh function*, shared prototype', () => {
    const keep = new Array<Generator>(N);
    for (let i = 0; i < N; i++) {
      const f = function* () { return i; };
      (f as { prototype: object }).prototype = SHARED;
      const g = f();
      next.call(g);
      keep[i] = g;
    }
    return keep;
  }],
  ['fresh function*, shared prototype + mark', () => {
    const keep = new Array<Generator>(N);
    for (let i = 0; i < N; i++) {
      const f = function* () { return i; };
      if (!Mark.has(f)) {
        new Mark(f);
        (f as { prototype: object }).prototype = SHARED;
      }
      const g = f();
      next.call(g);
      keep[i] = g;
    }
    return keep;
  }],
];

/** Times one row in this process: the median ns per task of 6 runs after 2 warm-ups. */
async function timeRow(name: string, row: Row): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  {
    const xs: number[] = [];
    for (let r = 0; r < 8; r++) {
      gc();
      const t0 = process.hrtime.bigint();
      await row();
      const ns = Number(process.hrtime.bigint() - t0) / N;
      if (r >= 2) xs.push(ns);
    }
    xs.sort((a, b) => a - b);
    console.log(`${name.padEnd(42)} ${xs[xs.length >> 1]!.toFixed(0).padStart(6)} ns per task`);
  }
}

// Each row runs in a fresh process of its own: one row's JIT and heap state must not weigh
// on the next.
const which = process.argv[2];
if (which !== undefined) void timeRow(...rows[Number(which)]!);
else {
  for (let i = 0; i < rows.length; i++) {
    process.stdout.write(execFileSync(process.execPath, ['--expose-gc', __filename, String(i)], { encoding: 'utf8' }));
  }
}
