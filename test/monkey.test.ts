import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

// Patching rewrites Node's shared builtins, so every case runs in its own node process against
// dist/ (built by `npm test` before vitest runs); the vitest worker's builtins stay untouched.
const root = path.resolve(__dirname, '..');
const fixture = (name: string) => path.join(root, 'test/fixtures', name);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

async function json(args: string[], env?: NodeJS.ProcessEnv): Promise<any> {
  const r = await node(args, env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('child_process patch', () => {
  it('yielded execSync, execFileSync and spawnSync return and throw exactly what the sync calls do, case by case', async () => {
    const r = await node([fixture('monkey-child-diff.js')]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(24);
    for (const { name, sync, green } of lines) expect({ name, green }).toEqual({ name, green: sync });
    // The comparison covers errors, not just successes.
    const timedOut = lines.find((l) => l.name.startsWith('execSync(["sleep 5",{"timeout":200,"stdio"'));
    expect(timedOut.green.pick.code).toBe('ETIMEDOUT');
    expect(timedOut.green.pick.signal).toBe('SIGTERM');
    expect(lines[lines.length - 1].green.code).toBe('ENOBUFS');
  }, 60_000);

  it('a ticker keeps going while a greenlet waits in yield execSync, a timed-out greenlet kills its child, yield child gives its exit', async () => {
    const r = await json([fixture('monkey-concurrency.js')]);
    expect(r.out).toBe('done\n');
    expect(r.ticksDuringSleep).toBeGreaterThan(3);
    expect(r.victim).toBe('timed out');
    expect(r.childAlive).toBe(false);
    expect(r.children).toEqual({
      exited: { code: 3, signal: null },
      signalled: { code: null, signal: 'SIGKILL' },
      fromExec: { code: 0, signal: null },
      done: { code: 0, signal: null },
    });
  }, 60_000);
});

describe('timers and dns patches', () => {
  it('blocking-style calls in a greenlet work, callback and promise use is unchanged, dropped calls fail with the fix', async () => {
    const r = await json([fixture('monkey-timers-dns.js')]);
    expect(r.promisifySetTimeout).toBe('v');
    expect(r.promisifyLookup).toEqual(r.promisifyLookupOrig);
    expect(r.cbOutside).toEqual(r.cbOutsideOrig);
    expect(r.cbOutside).toEqual(['127.0.0.1', 4]);
    expect(r.cbMissing).toBe(r.cbMissingOrig);
    expect(r.noCallbackOutside).toBe(r.noCallbackOutsideOrig);
    expect(r.sameGlobal).toBe(true);
    // Outside a greenlet the blocking forms throw Node's own error (class, code, text), and say why.
    for (const [name, [patched, node]] of Object.entries(r.outside as Record<string, any[]>)) {
      expect({ name, error: patched.name, code: patched.code }).toEqual({ name, error: node.name, code: node.code });
      expect(patched.message.startsWith(node.message + '; ')).toBe(true);
      expect(patched.message).toContain('with no callback works only inside a greenlet');
      expect(patched.stackHasHint).toBe(true);
    }
    expect(r.outsideOther[0]).toEqual({ ...r.outsideOther[1], stackHasHint: false });
    expect(r.outsideOther[0].code).toBe('ERR_INVALID_ARG_TYPE');
    expect(r.outside.setTimeout[0].message).toContain('`yield setTimeout(ms)`');
    expect(r.outside.lookup[0].message).toContain('`yield dns.lookup(...)`');
    expect(r.green).toEqual({
      lookup: { address: '127.0.0.1', family: 4 },
      lookupAll: true,
      lookupPromises: { address: '127.0.0.1', family: 4 },
      lookupError: 'ENOTFOUND',
      reverseOrError: expect.any(String),
      cbInside: ['127.0.0.1', 4],
      timerCbInside: 'cb',
      slept: true,
      // Node's rules in a greenlet too: a non-function, non-number first argument is Node's
      // ERR_INVALID_ARG_TYPE (before: setTimeout(undefined, 10) slept); a negative, NaN or
      // too-large delay is 1 ms (before: "seconds ... -0.005" for a millisecond argument).
      stringDelay: 'TypeError ERR_INVALID_ARG_TYPE',
      undefinedCallback: 'TypeError ERR_INVALID_ARG_TYPE',
      immediateWithValue: 'TypeError ERR_INVALID_ARG_TYPE',
      negative: 'negative slept 1 ms',
      nan: 'nan slept 1 ms',
      value: { v: 1 },
      overflow: 'overflow slept 1 ms',
      warnings: ['TimeoutOverflowWarning: 2147483648 does not fit into a 32-bit signed integer.\nTimeout duration was set to 1.'],
    });
    expect(r.dropped).toContain('execSync("true")');
    expect(r.dropped).toContain("monkey.getOriginal('child_process', 'execSync')");
    expect(r.droppedTimer).toContain('setTimeout(10)');
  }, 60_000);
});

describe('net patch', () => {
  it('yield net.connect gives a GSocket, yield server.listen the net.Server itself (with accept()), callback use unchanged', async () => {
    expect(await json([fixture('monkey-net.js')])).toEqual({
      listenerType: 'Server', // (sockets, issue 8: the server itself, as the contract table says)
      socketType: 'GSocket',
      reply: 'echo:hello\n',
      refused: 'ECONNREFUSED',
      callbackIsNetSocket: true,
      callbackData: 'plain',
      httpServerGiven: true,
      httpGet: 'web',
    });
  }, 60_000);
});

describe('monkey registry', () => {
  it('patchAll after a module required a patched builtin names exactly that module (the load hook saw it)', async () => {
    const r = await json([fixture('monkey-early.js')]);
    const late = r.warnings.filter((w: string) => w.includes('ran after'));
    expect(late).toHaveLength(1);
    expect(late[0]).toMatch(/monkey-early-user\.js \(child_process\)/);
    expect(late[0]).not.toContain('monkey-early-other.js');
  }, 30_000);

  it('unpatchAll restores every property exactly; repeats, different options and bad input behave as documented', async () => {
    const r = await json([fixture('monkey-registry.js')]);
    expect(r.patchedAll).toEqual([true, true, true, true, true, true, true]);
    expect(r.replaced.every(Boolean)).toBe(true);
    expect(r.originalIsNodes).toBe(true);
    expect(r.childToOp).toBe('function');
    expect(r.report).toMatch(/^timers: patched \(setTimeout, setImmediate\) from .*monkey-registry\.js/);
    expect(r.report).toMatch(/\nhttps: patched \(yield ClientRequest\) from /);
    expect(r.report).toContain('loaded before patching (may hold originals)');
    expect(r.warnings.filter((w: string) => w.includes('different options'))).toHaveLength(1);
    expect(r.warnings.filter((w: string) => w.includes('ran after'))).toHaveLength(1);
    expect(r.warnings[0]).toContain('monkey-registry.js (dns, child_process)');
    expect(r.badOptions).toEqual([
      "RangeError: patchAll: unknown option 'nett'; the options are timers, dns, child_process, net, http, https, fetch (each true or false)",
      'TypeError: patchAll(options) takes an object such as { net: false }, got string',
      "TypeError: patchAll: option 'dns' must be true or false, got string",
    ]);
    // gevent's get_original: an item never patched is the module's current one (before: a
    // RangeError); only an item the module lacks, or a module that is not a builtin, is an error.
    expect(r.getOriginalUnpatched).toEqual([true, true, true, true]);
    expect(r.getOriginalUnknownItem).toBe("RangeError: getOriginal('dns', 'resolveNothing'): node:dns has no 'resolveNothing'");
    expect(r.getOriginalUnknownModule).toMatch(/^RangeError: getOriginal\('no-such-module', 'x'\): 'no-such-module' is not a Node builtin module/);
    expect(r.restoredExactly.every(Boolean)).toBe(true);
    expect(r.toOpRemoved).toBe(true);
    expect(r.patchedAfterUnpatch).toEqual([false, false, false, false, false, false, false]);
    expect(r.getOriginalAfterUnpatch).toBe(true);
  }, 60_000);

  it('options are own properties only: a polluted Object.prototype turns no patch off and adds no lookup option', async () => {
    // Before: Object.prototype.net = false left net unpatched.
    expect(await json([fixture('monkey-polluted.js')])).toEqual({ netPatched: true, lookup: { address: '127.0.0.1', family: 4 } });
  }, 60_000);

  it('dns.setServers() keeps the patch: yield dns.resolve4 asks the new server; getOriginal and unpatchAll give the re-bound functions', async () => {
    // Before: Node re-bound dns.resolve* over the wrappers, so `yield dns.resolve4(h)` threw
    // ERR_INVALID_ARG_TYPE while isPatched('dns') said true, and unpatchAll restored
    // functions bound to the old servers.
    expect(await json([fixture('monkey-dns-servers.js')])).toEqual({
      isPatched: true,
      rewrapped: true,
      resolved: ['10.1.2.3'],
      any: ['10.1.2.3'],
      unpatchGivesCurrent: true,
      afterUnpatch: ['10.1.2.3'],
    });
  }, 60_000);
});

describe('preloads', () => {
  it('node --import geventjs/patch lets an ESM program use patched named imports', async () => {
    const r = await json(['--import', 'geventjs/patch', fixture('monkey-esm.mjs')]);
    expect(r).toEqual({ patched: true, result: { out: 'esm\n', addr: '127.0.0.1' } });
  }, 60_000);

  it('node -r geventjs/patch and NODE_OPTIONS patch before the program loads', async () => {
    expect(await json(['-r', 'geventjs/patch', fixture('monkey-preload.js'), 'a'])).toEqual({
      patched: true, out: 'preload\n', argv: ['a'],
    });
    const env = { ...process.env, NODE_OPTIONS: '-r geventjs/patch' };
    expect(await json([fixture('monkey-preload.js')], env)).toEqual({ patched: true, out: 'preload\n', argv: [] });
  }, 60_000);
});
