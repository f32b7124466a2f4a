/**
 * Runs a compiled example (dist/examples/<name>.js) as a real Node process, for the
 * examples-*.test.ts files: the build comes first (`npm test` runs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const examplesDir = join(__dirname, '..', 'dist', 'examples');

/** The compiled example's path; throws if the build has not made it. */
export function examplePath(name: string): string {
  const file = join(examplesDir, `${name}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  return file;
}

/** Runs `dist/examples/<name>.js` to its end; its output, exit status and stderr. */
export function runExample(name: string, timeoutMs = 30_000): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [examplePath(name)], { encoding: 'utf8', timeout: timeoutMs });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** The stdout of an example that must exit 0 (its stderr is in the error otherwise). */
export function exampleOutput(name: string, timeoutMs = 60_000): string {
  const r = runExample(name, timeoutMs);
  if (r.status !== 0) throw new Error(`examples/${name} exited with ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** The non-empty lines of an output. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}
