#!/usr/bin/env node
/**
 * npm's `prepare` step: builds dist/ (src, patches, bin) for an install from git or from a
 * folder, and before `npm pack`. For git, npm has installed the dependencies first. For a folder
 * (`npm install ../geventjs`), npm links it and runs `prepare` there but installs none of its
 * dependencies, so a fresh clone has neither TypeScript to build with nor `shimmer` to run
 * with: install them here first, as npm would for a git dependency, then build.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function resolvable(id) {
  try {
    require.resolve(id, { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

function npm(args) {
  // Inside an npm script, npm_execpath is the npm that runs us; otherwise the one on PATH.
  const cli = process.env.npm_execpath;
  if (cli && cli.endsWith('.js')) execFileSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
  else execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
}

const pkg = require(path.join(root, 'package.json'));
const needed = ['typescript/package.json', '@types/node/package.json', ...Object.keys(pkg.dependencies || {}).map((d) => `${d}/package.json`)];
const missing = needed.filter((id) => !resolvable(id));
if (missing.length > 0) {
  process.stderr.write(`geventjs: installing what building and running it need (${missing.map((m) => m.replace('/package.json', '')).join(', ')} missing in ${root})\n`);
  // --ignore-scripts: this install must not run `prepare` (this script) again.
  npm(['install', '--ignore-scripts', '--no-audit', '--no-fund']);
}
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
