/**
 * Runs a real node program for a test, with a kill timer: a program that does not end fails
 * the test (signal SIGKILL) instead of hanging the run.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

export const root = path.resolve(__dirname, '..');

export interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export function runNode(args: string[], options: { timeout?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: options.cwd ?? root, env: options.env ?? process.env, timeout: options.timeout ?? 30_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as { code?: unknown; signal?: string | null } | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

/** The last line of stdout, parsed; fails with stderr when the program did not exit 0. */
export async function runJson(args: string[], options?: { timeout?: number; env?: NodeJS.ProcessEnv }): Promise<any> {
  const r = await runNode(args, options);
  if (r.code !== 0) throw new Error(`node ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
