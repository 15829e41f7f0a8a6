#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/src/cli/main.js (built by `npm run build`).
import module from 'node:module';

// Node >= 22.1 keeps compiled code on disk between runs (a faster start for every command).
// Node 20 has no such API: the call is skipped there.
module.enableCompileCache?.();

// A command a running `hush daemon` of this home serves goes to it before commander and the
// CLI's modules are loaded (src/cli/fast-path.ts); anything else, or a refusal, runs the CLI.
const { fastPath } = await import('../dist/src/cli/fast-path.js');
const code = await fastPath(process.argv);
if (code !== undefined) process.exitCode = code;
else {
  const { main } = await import('../dist/src/cli/main.js');
  main(process.argv);
}
