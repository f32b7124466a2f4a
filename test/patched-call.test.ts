import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn, joinall, Timeout, DroppedOpError, sleep } from '../src/index.js';
import { captureErrors } from './capture-errors.js';
import {
  PatchedCall, callerFile, keepsNodeBehaviour, markBlocking, markCooperative, packageOf, showArg,
} from '../src/patched-call.js';

// A stand-in for a Node callback call: finishes after `ms` with `value`, counting cancels.
function fakeCall(ms: number, value: string, log: { started: number; stopped: number }) {
  return new PatchedCall<string>(`fake(${ms})`, (out) => {
    log.started++;
    const t = setTimeout(() => out.ok(value), ms);
    return () => {
      log.stopped++;
      clearTimeout(t);
    };
  }, ['fake', 'call']);
}

describe('PatchedCall', () => {
  it('gives the greenlet what the call delivered', async () => {
    const log = { started: 0, stopped: 0 };
    const g = spawn(function* () {
      return yield* fakeCall(5, 'done', log);
    });
    await joinall([g]);
    expect(g.value).toBe('done');
    expect(log).toEqual({ started: 1, stopped: 0 });
  });

  it('throws an error the call failed with, and one its start threw, at the yield', async () => {
    const failing = spawn(function* () {
      return yield* new PatchedCall<number>('f()', (out) => out.fail(new Error('nope')));
    });
    const throwing = spawn(function* () {
      return yield* new PatchedCall<number>('t()', () => {
        throw new TypeError('bad argument');
      });
    });
    await captureErrors(async () => joinall([failing, throwing])); // failing on purpose: keep the run's output clean
    expect((failing.exception as Error).message).toBe('nope');
    expect(throwing.exception).toBeInstanceOf(TypeError);
  });

  it('a call never yielded fails its greenlet at the next switch with the fix', async () => {
    const log = { started: 0, stopped: 0 };
    const g = spawn(function* () {
      fakeCall(1, 'x', log);
      yield* sleep(0);
    });
    await captureErrors(async () => joinall([g]));
    expect(g.exception).toBeInstanceOf(DroppedOpError);
    expect((g.exception as Error).message).toContain("fake(1)");
    expect((g.exception as Error).message).toContain("monkey.getOriginal('fake', 'call')");
    expect(log.started).toBe(0);
  });

  it('a kill or a Timeout stops the call and nothing is delivered afterwards (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        async (callMs, cutMs, useTimeout) => {
          const log = { started: 0, stopped: 0 };
          let got: string | null = null;
          const g = spawn(function* () {
            const t = useTimeout ? Timeout.start(cutMs / 1000) : null;
            try {
              got = yield* fakeCall(callMs, 'value', log);
            } catch (e) {
              if (e !== t) throw e;
            } finally {
              t?.close();
            }
          });
          if (!useTimeout) setTimeout(() => void g.kill({ block: false }), cutMs);
          await joinall([g]);
          await new Promise((r) => setTimeout(r, 25)); // past the call's own end
          expect(log.started).toBe(1);
          // Exactly one of: the value arrived, or the call was stopped.
          expect((got === 'value' ? 1 : 0) + log.stopped).toBe(1);
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});

describe('showArg', () => {
  it('quotes strings, cuts long ones, and stands in for objects', () => {
    expect(showArg('ls -l')).toBe('"ls -l"');
    expect(showArg('x'.repeat(50))).toBe(JSON.stringify('x'.repeat(37) + '...'));
    expect(showArg(3)).toBe('3');
    expect(showArg({ a: 1 })).toBe('{...}');
    expect(showArg([1])).toBe('[...]');
  });
});

describe('the node_modules rule', () => {
  it('packageOf names the innermost package, scoped or not, in paths and file URLs', () => {
    expect(packageOf('/app/node_modules/execa/index.js')).toBe('execa');
    expect(packageOf('/app/node_modules/@scope/pkg/lib/a.js')).toBe('@scope/pkg');
    expect(packageOf('/app/node_modules/a/node_modules/b/x.js')).toBe('b');
    expect(packageOf('file:///app/node_modules/esm-pkg/x.mjs')).toBe('esm-pkg');
    expect(packageOf('/app/src/node_modules_notes.js')).toBe(null);
    expect(packageOf('/app/src/main.js')).toBe(null);
  });

  it("callerFile gives the file of the patched function's caller, and this file's calls keep getting Ops", () => {
    function patched(): string | null {
      return callerFile(patched);
    }
    function keeps(): boolean {
      return keepsNodeBehaviour(keeps);
    }
    expect(patched()).toBe(__filename);
    expect(keeps()).toBe(false);
  });

  it('markCooperative and markBlocking refuse what is not a package name or an absolute path', () => {
    expect(() => markCooperative('')).toThrow(TypeError);
    expect(() => markCooperative('/x/node_modules/p')).toThrow(/package name such as 'my-pkg'/);
    expect(() => markBlocking('relative/file.js')).toThrow(/absolute file or directory path \(e\.g\. __filename\)/);
    expect(() => markBlocking(42 as unknown as string)).toThrow(TypeError);
  });
});
