/**
 * `npm run examples`: runs every compiled example in this folder one after another, each in
 * its own Node process, printing a header and then its output. An example that says it is
 * "waiting for SIGxxx" (the tutorial's SIGQUIT example) is sent that signal, as a user would.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

const here = __dirname;
const self = basename(__filename);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== self)
  .sort();

function runOne(file: string): Promise<number | string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      const asked = /waiting for (SIG[A-Z0-9]+)/.exec(chunk.toString());
      if (asked) child.kill(asked[1] as NodeJS.Signals);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
}

async function main(): Promise<void> {
  let failed = 0;
  for (const f of files) {
    console.log(`\n=== examples/${f.replace(/\.js$/, '.ts')} ===`);
    const status = await runOne(f);
    if (status !== 0) {
      failed++;
      console.log(`(exited with ${status})`);
    }
  }
  process.exitCode = failed === 0 ? 0 : 1;
}

void main();
