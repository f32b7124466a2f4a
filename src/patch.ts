/**
 * Importing this module patches everything (monkey.patchAll()): the preload entry point.
 *
 * @example
 * // node -r geventjs/patch app.js
 * // node --import geventjs/patch app.mjs
 * // NODE_OPTIONS='-r geventjs/patch' node app.js
 */
import { patchAll } from './monkey.js';

patchAll();
