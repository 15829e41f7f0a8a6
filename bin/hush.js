#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli/main.js (built by `npm run build`).
import module from 'node:module';

// Node >= 22.1 keeps compiled code on disk between runs (a faster start for every command).
// Node 20 has no such API: the call is skipped there.
module.enableCompileCache?.();

const { main } = await import('../dist/src/cli/main.js');
main(process.argv);
