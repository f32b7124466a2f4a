#!/usr/bin/env node
/**
 * `geventjs app.js [args...]`: runs a script with everything patched, like gevent's
 * `python -m gevent.monkey app.py`. The script sees its own path in process.argv[1] and its
 * arguments after it; the process exits with the script's status.
 *
 * @example
 * // geventjs examples/demo.js
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Module from 'node:module';
import { patchAll } from '../src/monkey.js';

const USAGE = 'usage: geventjs <script.js> [args...]  (runs the script with geventjs.monkey.patchAll() applied)';

function main(argv: string[]): void {
  const script = argv[0];
  if (script === undefined || script === '-h' || script === '--help') {
    process.stderr.write(USAGE + '\n');
    process.exitCode = script === undefined ? 2 : 0;
    return;
  }
  const file = path.resolve(script);
  if (!fs.existsSync(file)) {
    process.stderr.write(`geventjs: cannot find script '${script}' (looked for ${file}); ${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  patchAll();
  // Make the script the main module, as `node script.js` would: argv, require.main, exit status.
  process.argv = [process.argv[0], file, ...argv.slice(1)];
  try {
    (Module as unknown as { runMain(file?: string): void }).runMain(file);
  } catch (err) {
    // Thrown while the script loads (a CommonJS script runs synchronously here). Later errors
    // are the script's own business: its handlers, or Node's usual report and exit status 1.
    process.stderr.write(`geventjs: ${script} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}

main(process.argv.slice(2));
