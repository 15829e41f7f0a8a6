#!/usr/bin/env node
// Thin launcher for the bundled relay; `hush relay` runs the same code. CommonJS, as every
// file of bin/ (bin/package.json; bin/hush.js says why): the relay itself is ESM.
'use strict';

import('../dist/relay/main.js').then(({ relayMain }) => relayMain(process.argv.slice(2)));
