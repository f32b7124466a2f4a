/**
 * Run info, gevent's `gevent.util.format_run_info`: every live greenlet with its state, what it
 * waits on and who spawned it, as a tree (gevent's `GreenletTree`), and its spawn site when
 * `config.debug` is on. A running program can be asked for it without code changes: start it
 * with `GEVENTJS_RUN_INFO_SIGNAL=SIGUSR2` and send that signal (`kill -USR2 <pid>`).
 */
import { constants } from 'node:os';
import { sep } from 'node:path';
import { type Greenlet, scheduledGreenlets } from './greenlet.js';
import { config, getcurrent, liveGreenlets } from './hub.js';
import { mainIsAlive } from './lifetime.js';

/**
 * Lines describing every live greenlet (and every one a spawnLater scheduled that has not
 * started yet), as a tree of who spawned whom. A greenlet whose
 * spawner has died hangs under "top-level code" with the spawner's number.
 *
 * @example
 * console.log(formatRunInfo().join('\n'));
 * // Greenlets: 2 live (run() root alive: yes)
 * // top-level code
 * // └─ <Greenlet "Greenlet-1": main> #1 waiting on Greenlet-2.join()
 * //    └─ <Greenlet "Greenlet-2": worker> #2 waiting on sleep(5)
 */
export function formatRunInfo(): string[] {
  // Greenlets a spawnLater scheduled are shown too: they will run, and shutdown() kills them.
  const scheduled = scheduledGreenlets();
  const live = [...liveGreenlets(), ...scheduled];
  const byId = new Map<number, Greenlet<any>>();
  for (const g of live) byId.set(g._id, g);
  const children = new Map<number, Greenlet<any>[]>();
  for (const g of live) {
    const parent = byId.has(g._parentId) ? g._parentId : 0;
    let list = children.get(parent);
    if (list === undefined) children.set(parent, (list = []));
    list.push(g);
  }
  const later = scheduled.length === 0 ? '' : `, ${scheduled.length} scheduled to start later`;
  const out = [`Greenlets: ${live.length - scheduled.length} live${later} (run() root alive: ${mainIsAlive() ? 'yes' : 'no'})`, 'top-level code'];
  const current = getcurrent();
  const walk = (id: number, indent: string): void => {
    const list = children.get(id) ?? [];
    list.forEach((g, i) => {
      const last = i === list.length - 1;
      out.push(`${indent}${last ? '└─ ' : '├─ '}${describe(g, current, id === 0)}`);
      const inner = indent + (last ? '   ' : '│  ');
      const site = g._spawnSite;
      if (site !== undefined) {
        for (const f of userFrames(site)) out.push(`${inner}  spawned ${f}`);
      }
      walk(g._id, inner);
    });
  };
  walk(0, '');
  return out;
}

/** The first frames of a stack that are the user's, not geventjs's own (this directory). */
function userFrames(stack: string): string[] {
  const own = `${__dirname}${sep}`;
  const frames = stack.split('\n').slice(1).map((l) => l.trim());
  const user = frames.filter((f) => !f.includes(own) && !f.includes('node:internal'));
  return (user.length !== 0 ? user : frames).slice(0, 3);
}

function describe(g: Greenlet<any>, current: Greenlet | null, underTop: boolean): string {
  let state: string;
  try {
    state = g.describeState();
  } catch {
    state = 'in a state that cannot be shown';
  }
  // Its spawner is dead (a live one would be its parent in the tree).
  const orphan = underTop && g._parentId !== 0 ? ` (spawned by #${g._parentId}, now dead)` : '';
  return `${g} #${g._id} ${state}${g === current ? ' (current)' : ''}${orphan}`;
}

/**
 * Writes `formatRunInfo()` to `config.errorStream` (stderr by default).
 *
 * @example
 * printRunInfo(); // from a debugger, a signal handler, a test that hangs
 */
export function printRunInfo(): void {
  const text = formatRunInfo().join('\n') + '\n';
  try {
    config.errorStream.write(text);
  } catch {
    process.stderr.write(text);
  }
}

/** `GEVENTJS_RUN_INFO_SIGNAL=SIGUSR2`: that signal prints run info (Node's listeners never hold the process). */
function installFromEnv(): void {
  const name = process.env.GEVENTJS_RUN_INFO_SIGNAL;
  if (name === undefined || name === '') return;
  const usable = Object.prototype.hasOwnProperty.call(constants.signals, name) && !['SIGKILL', 'SIGSTOP', 'SIGINT'].includes(name);
  if (!usable) {
    process.stderr.write(`geventjs: ignoring GEVENTJS_RUN_INFO_SIGNAL=${name}; set it to a signal name such as SIGUSR2\n`);
    return;
  }
  process.on(name as NodeJS.Signals, printRunInfo);
}
installFromEnv();
