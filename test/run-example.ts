/**
 * Runs a compiled example (dist/examples/<name>.js) as a real Node process, for the
 * examples-*.test.ts files: the build comes first (`npm test` runs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const examplesDir = join(__dirname, '..', 'dist', 'examples');

/** Runs `dist/examples/<name>.js` to its end; its output, exit status and stderr. */
export function runExample(name: string): { stdout: string; stderr: string; status: number | null } {
  const file = join(examplesDir, `${name}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** The non-empty lines of an output. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}
