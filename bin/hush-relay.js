#!/usr/bin/env node
// Thin launcher for the bundled relay; `hush relay` runs the same code. CommonJS, as every
// file of bin/ (bin/package.json; bin/hush.js says why): the relay itself is ESM.
'use strict';

// The bundle (scripts/bundle.mjs); tsc's output when there is none.
import('../dist/bundle/hush/relay-main.js')
  .catch((e) => {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/bundle/hush/relay-main.js')) throw e;
    return import('../dist/relay/main.js');
  })
  .then(({ relayMain }) => relayMain(process.argv.slice(2)));
