#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli/main.js (built by `npm run build`), and runs from
// its bundle, dist/bundle/hush/main.js (scripts/bundle.mjs: a faster start; the same code).
//
// CommonJS (bin/package.json), not ESM: a command a running `hush daemon` of this home serves
// goes to it through dist/src/cli/fast-path.cjs, which loads no ESM module, so such a command
// never starts Node's ESM loader (~10-15 ms of CPU on Node 20). Anything else, or a refusal,
// imports the CLI (ESM) as before.
'use strict';

// Node >= 22.1 keeps compiled code on disk between runs (a faster start for every command).
// Node 20 has no such API, and loading node:module only to find that out costs ~0.7 ms.
if (Number(process.versions.node.split('.')[0]) >= 22) require('node:module').enableCompileCache?.();

require('../dist/src/cli/fast-path.cjs')
  .fastPath(process.argv)
  .then(async (code) => {
    if (code !== undefined) process.exitCode = code;
    else (await cli()).main(process.argv);
  });

/** The bundle; tsc's output when there is none (a build that stopped after tsc). */
async function cli() {
  try {
    return await import('../dist/bundle/hush/main.js');
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/bundle/hush/main.js')) throw e;
    return import('../dist/src/cli/main.js');
  }
}
