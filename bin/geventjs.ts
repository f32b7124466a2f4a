#!/usr/bin/env node
/**
 * `geventjs [node options] app.js [args...]`: runs a script with everything patched, like
 * gevent's `python -m gevent.monkey app.py`. The script sees its own path in process.argv[1]
 * and its arguments after it; everything after the script's name is the script's, untouched.
 * The process ends as `node app.js` would: with the script's status, and, when the script
 * throws while loading, with Node's own report and status 1 (or the script's
 * `uncaughtException` handler, if it installed one first).
 *
 * Node options before the script (`--inspect`, `--enable-source-maps`, `--max-old-space-size=`)
 * need a Node process started with them: the CLI then runs `node <options> -r <patch> app.js`
 * as a child and passes signals and the exit status through. Without them the script runs in
 * this process.
 *
 * @example
 * // geventjs examples/demo.js
 * // geventjs --enable-source-maps app.js --port 8080
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Module from 'node:module';
import { spawn } from 'node:child_process';
import { patchAll } from '../src/monkey.js';

const PATCH_MODULE = path.join(__dirname, '..', 'src', 'patch.js');

const USAGE = `usage: geventjs [node options] <script> [script args...]
       geventjs --help | --version

Runs <script> with geventjs.monkey.patchAll() applied, as 'node -r geventjs/patch <script>'
would, and exits with its status. Everything after <script> is passed to the script.
Node options go before the script (geventjs --inspect app.js, geventjs --enable-source-maps
app.js); write options that take a value as --opt=value, except -r/--require, --import,
--loader, -C/--conditions, --title, --inspect-port and --env-file, which may also take it as
the next argument. NODE_OPTIONS works as with node. Node processes the script starts with
cluster.fork() or child_process.fork() are patched too.

  -h, --help      show this help
  -v, --version   print the geventjs version`;

/** Node options whose value may come as the next argument (`-r ./setup.js`). */
const TAKES_VALUE = new Set([
  '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions',
  '--title', '--inspect-port', '--env-file',
]);

interface Command {
  kind: 'help' | 'version' | 'run' | 'usage-error';
  nodeOptions: string[];
  script?: string;
  scriptArgs: string[];
  error?: string;
}

/** Splits `[node options] script [args]`; the first non-option argument is the script. */
function parseArgs(argv: string[]): Command {
  const nodeOptions: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { kind: 'help', nodeOptions, scriptArgs: [] };
    if (a === '-v' || a === '--version') return { kind: 'version', nodeOptions, scriptArgs: [] };
    if (a === '--') {
      const script = argv[i + 1];
      if (script === undefined) break;
      return { kind: 'run', nodeOptions, script, scriptArgs: argv.slice(i + 2) };
    }
    if (a.startsWith('-') && a !== '-') {
      nodeOptions.push(a);
      if (TAKES_VALUE.has(a)) {
        const value = argv[++i];
        if (value === undefined) {
          return { kind: 'usage-error', nodeOptions, scriptArgs: [], error: `node option ${a} needs a value` };
        }
        nodeOptions.push(value);
      }
      continue;
    }
    return { kind: 'run', nodeOptions, script: a, scriptArgs: argv.slice(i + 1) };
  }
  return { kind: 'usage-error', nodeOptions, scriptArgs: [], error: 'no script given' };
}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the script in this process, patched, as its main module. */
function runHere(file: string, scriptArgs: string[]): void {
  patchAll();
  // Node processes the script forks (cluster.fork, child_process.fork) inherit execArgv:
  // with the preload in it they are patched as this one is.
  process.execArgv.push('-r', PATCH_MODULE);
  // Make the script the main module, as `node script.js` would: argv, require.main, exit status.
  process.argv = [process.argv[0]!, file, ...scriptArgs];
  // Not caught: an error thrown while the script loads is an uncaught exception of this
  // process, so Node reports it and exits 1, or calls the script's uncaughtException handler
  // if it installed one (a server started before the throw must not keep serving).
  (Module as unknown as { runMain(file?: string): void }).runMain(file);
}

/** Runs `node <options> -r <patch> script args` as a child and ends as it ends. */
function runInChild(nodeOptions: string[], file: string, scriptArgs: string[]): void {
  const child = spawn(process.execPath, [...nodeOptions, '-r', PATCH_MODULE, file, ...scriptArgs], { stdio: 'inherit' });
  // A signal sent to this process is passed on. At a terminal, Ctrl-C and Ctrl-\\ reach the
  // child by themselves (same process group): passing them on would deliver them twice.
  const atTerminal = process.stdin.isTTY === true;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = signals.map((sig) => {
    const fromTerminal = atTerminal && (sig === 'SIGINT' || sig === 'SIGQUIT');
    const h = fromTerminal ? () => {} : () => void child.kill(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  child.on('error', (err) => {
    process.stderr.write(`geventjs: cannot start ${process.execPath}: ${err.message}\n`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    for (const [sig, h] of handlers) process.off(sig, h);
    if (signal !== null) {
      // Die of the same signal, so our parent sees what the script's parent would have seen;
      // for a signal that does not end a Node process (SIGUSR1), the shell's 128 + number.
      process.exitCode = 128 + (os.constants.signals[signal] ?? 0);
      process.kill(process.pid, signal);
      return;
    }
    process.exitCode = code ?? 1;
  });
}

function main(argv: string[]): void {
  const cmd = parseArgs(argv);
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(version() + '\n');
    return;
  }
  if (cmd.kind === 'usage-error') {
    process.stderr.write(`geventjs: ${cmd.error}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const script = cmd.script!;
  const file = path.resolve(script);
  if (!fs.existsSync(file)) {
    process.stderr.write(`geventjs: cannot find script '${script}' (looked for ${file})\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (cmd.nodeOptions.length > 0) runInChild(cmd.nodeOptions, file, cmd.scriptArgs);
  else runHere(file, cmd.scriptArgs);
}

main(process.argv.slice(2));
