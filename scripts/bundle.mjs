// The second half of `npm run build`: tsc has written dist/src and dist/relay, one ES module per
// source file (~110 for a `hush pull`); esbuild joins them into a few files in dist/bundle/hush,
// which bin/hush.js and bin/hush-relay.js load. Node 20 resolves, reads, compiles and links each
// ES module on every start; one file per command instead of ~110 takes ~40 ms off every `hush`
// command (docs/PERFORMANCE.md, "One file per command"). Nothing else changes: the bundle is
// made from tsc's output, so it runs the same JavaScript; the packages in node_modules stay
// outside it (loaded as before, with require or import).
//
// Layout: every file of the bundle sits in one directory three levels below the package root,
// as dist/src/cli/*.js does, so the paths the code builds from import.meta.url still hold:
// ../../../package.json (hush --version) and the worker entries beside the code that starts
// them (./outer-open-worker.js, ./keychain-worker.js).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle/hush`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'dist/src/cli/main.js',
    'relay-main': 'dist/relay/main.js',
    'outer-open-worker': 'dist/src/client/outer-open-worker.js',
    'keychain-worker': 'dist/src/store/keychain-worker.js',
  },
  outdir,
  bundle: true,
  // The commands are loaded on demand (src/cli/commands/index.ts): each stays a file of its own.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Packages stay outside, loaded from node_modules as before, but for the two pure-ESM ones
  // every command reaches: @noble/post-quantum (with @noble/hashes: ~15 modules, ~30 ms to
  // load apart) and env-paths. Native and CommonJS packages are required at run time.
  external: ['better-sqlite3', 'argon2', 'keytar', 'ws', 'commander', 'tweetnacl', 'tweetnacl-util', 'ioredis', 'chalk', '@inquirer/prompts'],
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  // The CommonJS files of src (*.cts: the daemon's fast path shares them) require Node's
  // built-ins; inside an ES module esbuild needs a require to hand those calls to.
  banner: { js: "import { createRequire as __hushRequire } from 'node:module'; const require = __hushRequire(import.meta.url);" },
  // Linked source maps, chained through tsc's: a stack trace (HUSH_DEBUG=1, with node
  // --enable-source-maps) names src/ and relay/ lines, not the bundle's.
  sourcemap: 'linked',
  logLevel: 'warning',
});
