/**
 * The output types of subprocess are checked by `tsc -p test/tsconfig.json` (part of `npm test`):
 * text or an encoding asked for gives `string`, neither gives `Buffer`, and a flag known only at
 * run time gives either. The bodies are never run (only type-checked), except for one sanity run.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { run } from '../src/index.js';
import {
  CompletedProcess, PIPE, Popen, checkOutput, run as runCmd, type Output, type OutputFor, type PipeReader,
} from '../src/subprocess.js';

function* typed(flag: boolean) {
  const v1 = yield* checkOutput(['uname'], { text: true });
  expectTypeOf(v1).toEqualTypeOf<string>();
  const v2 = yield* checkOutput(['uname'], { encoding: 'latin1' });
  expectTypeOf(v2).toEqualTypeOf<string>();
  const v3 = yield* checkOutput(['uname']);
  expectTypeOf(v3).toEqualTypeOf<Buffer>();
  const v4 = yield* checkOutput(['uname'], { cwd: '/' });
  expectTypeOf(v4).toEqualTypeOf<Buffer>();
  const v5 = yield* checkOutput(['uname'], { text: false });
  expectTypeOf(v5).toEqualTypeOf<Buffer>();
  const v6 = yield* checkOutput(['uname'], { text: flag });
  expectTypeOf(v6).toEqualTypeOf<Output>();

  const text = new Popen(['cat'], { stdin: PIPE, stdout: PIPE, text: true });
  const v7 = yield* text.communicate('x');
  expectTypeOf(v7).toEqualTypeOf<[string | null, string | null]>();
  expectTypeOf(text.stdout).toEqualTypeOf<PipeReader<string> | null>();
  const v8 = yield* text.stdout!.readline();
  expectTypeOf(v8).toEqualTypeOf<string>();

  const raw = new Popen(['cat'], { stdout: PIPE });
  const v9 = yield* raw.communicate();
  expectTypeOf(v9).toEqualTypeOf<[Buffer | null, Buffer | null]>();
  const v10 = yield* raw.stdout!.read(10);
  expectTypeOf(v10).toEqualTypeOf<Buffer>();
  const v11 = yield* new Popen(['true']).communicate();
  expectTypeOf(v11).toEqualTypeOf<[Buffer | null, Buffer | null]>();
  const anyPopen: Popen = text; // the bare type takes a Popen of any options
  const anyRaw: Popen = raw;
  expectTypeOf(anyPopen.stdout).toEqualTypeOf<PipeReader<Output> | null>();
  expectTypeOf(text).toEqualTypeOf<Popen<string>>();
  void anyRaw;

  const r = yield* runCmd(['echo'], { captureOutput: true, encoding: 'utf8' });
  expectTypeOf(r).toEqualTypeOf<CompletedProcess<string>>();
  expectTypeOf(r.stdout).toEqualTypeOf<string | null>();
  expectTypeOf((yield* runCmd(['echo'], { captureOutput: true })).stdout).toEqualTypeOf<Buffer | null>();

  expectTypeOf<OutputFor<{ text: true }>>().toEqualTypeOf<string>();
  expectTypeOf<OutputFor<{}>>().toEqualTypeOf<Buffer>();
}

describe('subprocess output types', () => {
  it('strings with text/encoding and Buffers without, at run time as in the types', async () => {
    void typed;
    const [s, b] = await run(function* () {
      return [yield* checkOutput(['echo', 'x'], { text: true }), yield* checkOutput(['echo', 'x'])] as const;
    });
    expect(s).toBe('x\n');
    expect(Buffer.isBuffer(b)).toBe(true);
  });
});

// Shapes of options known only by their declared type.
declare const popenOptions: import('../src/subprocess.js').PopenOptions;
expectTypeOf<OutputFor<typeof popenOptions>>().toEqualTypeOf<Output>();
expectTypeOf<OutputFor<{ encoding: 'utf8'; text: false }>>().toEqualTypeOf<string>();
