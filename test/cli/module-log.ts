// Which packages a hush process loads through `require`: a `--require` preload that appends
// every request passed to Module._load to a file. chalk (ESM) is loaded with createRequire
// by src/cli/output.ts, which the `--import` resolve hook of foundation.test.ts does not see.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeHome } from './helpers.js';

export interface RequireLog {
  /** Node arguments that install the preload (before bin/hush.js). */
  nodeArgs: string[];
  /** Absolute path of the preload, for a shell command line. */
  preload: string;
  /** The requests so far, one per element. */
  requests: () => Promise<string[]>;
}

export async function requireLogger(): Promise<RequireLog> {
  const dir = await makeHome('hush-reqlog-');
  const log = path.join(dir, 'required.txt');
  const preload = path.join(dir, 'log-require.cjs');
  await fsp.writeFile(
    preload,
    `const Module = require('node:module');
const { appendFileSync } = require('node:fs');
const load = Module._load;
Module._load = function (request, ...rest) {
  appendFileSync(${JSON.stringify(log)}, request + '\\n');
  return load.call(this, request, ...rest);
};
`,
  );
  await fsp.writeFile(log, '');
  return {
    nodeArgs: ['--require', preload],
    preload,
    requests: async () => (await fsp.readFile(log, 'utf8')).split('\n').filter((l) => l !== ''),
  };
}
