/**
 * A spawned generator function gets one shared `prototype` (src/generator-prototype.ts): the
 * visible side of the spawn fast path, and every kind of function that must still run.
 */
import { describe, expect, it } from 'vitest';
import { joinall, run, sleep, spawn } from '../src/index.js';

const GeneratorPrototype = Object.getPrototypeOf(function* () {}).prototype as object;

describe('the shared generator prototype', () => {
  it('inline closures spawned in a loop share one prototype, which is a plain generator prototype', async () => {
    const fns: (() => Generator<unknown, number, unknown>)[] = [];
    const values = await run(function* () {
      const gs = [];
      for (let i = 0; i < 3; i++) {
        const fn = function* () {
          yield* sleep(0);
          return i;
        };
        fns.push(fn);
        gs.push(spawn(fn));
      }
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(values).toEqual([0, 1, 2]);
    const shared = fns[0]!.prototype;
    expect(fns[1]!.prototype).toBe(shared);
    expect(fns[2]!.prototype).toBe(shared);
    expect(Object.getPrototypeOf(shared)).toBe(GeneratorPrototype);
    const gen = fns[0]!();
    expect(Object.prototype.toString.call(gen)).toBe('[object Generator]');
    expect(typeof gen.next).toBe('function');
    expect(gen.return(7)).toEqual({ value: 7, done: true });
  });

  it('a function spawned again keeps the same prototype object, and leaves no own key behind', async () => {
    function* body(n: number) {
      return n * 2;
    }
    const keys = Reflect.ownKeys(body);
    await run(function* () {
      yield* spawn(body, 1).join();
    });
    const first = body.prototype;
    await run(function* () {
      yield* spawn(body, 2).join();
    });
    expect(body.prototype).toBe(first);
    expect(Reflect.ownKeys(body)).toEqual(keys);
  });

  it('frozen, bound, plain, async functions and methods all still run, frozen ones untouched', async () => {
    const frozen = Object.freeze(function* (x: number) {
      yield* sleep(0);
      return x + 1;
    });
    const frozenProto = frozen.prototype;
    function* target(this: unknown, a: number, b: number) {
      return a + b;
    }
    const bound = target.bind(null, 40);
    const obj = {
      *method(x: number) {
        return x * 3;
      },
    };
    const out = await run(function* () {
      const gs = [
        spawn(frozen, 1),
        spawn(bound, 2),
        spawn((x: number) => x - 1, 10),
        spawn(async (x: number) => x * 10, 5),
        spawn(obj.method, 7),
      ];
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    expect(out).toEqual([2, 42, 9, 50, 21]);
    expect(frozen.prototype).toBe(frozenProto);
  });

  it('a killed inline greenlet still runs its finally and dies of GreenletExit', async () => {
    const seen: string[] = [];
    await run(function* () {
      const g = spawn(function* () {
        try {
          yield* sleep(10);
        } finally {
          seen.push('finally');
        }
      });
      yield* sleep(0);
      yield* g.kill();
      seen.push(g.successful() ? 'exit' : 'failed');
    });
    expect(seen).toEqual(['finally', 'exit']);
  });

  it('an error thrown into a spawned generator at its yield lands in its catch', async () => {
    const got = await run(function* () {
      const g = spawn(function* () {
        try {
          yield* sleep(10);
          return 'slept';
        } catch (e) {
          return `caught ${(e as Error).message}`;
        }
      });
      yield* sleep(0);
      g.kill({ exception: new Error('boom'), block: false });
      return yield* g.get();
    });
    expect(got).toBe('caught boom');
  });

  it('past many distinct generator functions (stepped by direct call), every kind of step still lands', async () => {
    const out = await run(function* () {
      const gs = [];
      for (let i = 0; i < 300; i++) {
        gs.push(
          spawn(function* () {
            let n = 0;
            try {
              for (let k = 0; k < 3; k++) {
                yield* sleep(0);
                n += (yield sleep(0)) === undefined ? 1 : 100; // a nested Op, without *
              }
              return i * 10 + n;
            } catch (e) {
              return `killed ${i} at ${n}: ${(e as Error).message}`;
            }
          }),
        );
      }
      yield* sleep(0);
      yield* sleep(0);
      for (let i = 0; i < 300; i += 50) gs[i]!.kill({ exception: new Error('stop'), block: false });
      yield* joinall(gs);
      return gs.map((g) => g.value);
    });
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) expect(out[i]).toMatch(new RegExp(`^killed ${i} at \\d: stop$`));
      else expect(out[i]).toBe(i * 10 + 3);
    }
  });
});
