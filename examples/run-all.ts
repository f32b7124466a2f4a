/**
 * `npm start`: runs every compiled example in this folder one after another, each in its own
 * Node process, printing a header and then its output.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const here = __dirname;
const self = basename(__filename);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== self)
  .sort();

let failed = 0;
for (const f of files) {
  console.log(`\n=== examples/${f.replace(/\.js$/, '.ts')} ===`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit', timeout: 60_000 });
  if (r.status !== 0) {
    failed++;
    console.log(`(exited with ${r.status ?? r.signal})`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
