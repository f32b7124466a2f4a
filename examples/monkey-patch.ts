/**
 * The gevent tutorial's monkey-patching example: look at a standard function, patch, look again. gevent
 * prints `socket.socket` and `select.select` before and after `monkey.patch_socket()` /
 * `patch_select()`; geventjs patches Node's `dns` and `timers` in place, so the same function
 * property changes, and `monkey.getOriginal` still gives Node's own.
 */
import * as dns from 'node:dns';
import * as timers from 'node:timers';
import { monkey } from '../src/index.js';

const nodeLookup = dns.lookup;
const nodeSetTimeout = timers.setTimeout;

console.log('dns.lookup is Node\'s own:', dns.lookup === nodeLookup);
console.log('After monkey patch');
monkey.patchDns();
console.log('dns.lookup is Node\'s own:', dns.lookup === nodeLookup);
console.log('getOriginal gives Node\'s own:', monkey.getOriginal('dns', 'lookup') === nodeLookup);

console.log('setTimeout is Node\'s own:', globalThis.setTimeout === nodeSetTimeout);
console.log('After monkey patch');
monkey.patchTimers();
console.log('setTimeout is Node\'s own:', globalThis.setTimeout === nodeSetTimeout);
console.log(monkey.report().split('\n').filter((l) => /^(dns|timers):/.test(l)).map((l) => l.replace(/ from .*/, '')).join('\n'));

monkey.unpatchAll();
console.log('After unpatchAll, both are Node\'s own again:', dns.lookup === nodeLookup && globalThis.setTimeout === nodeSetTimeout);
