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

export interface ModuleLog {
  /** Node arguments that install the hooks (before bin/hush.js). */
  nodeArgs: string[];
  /** The log so far, one line per module. */
  loaded: () => Promise<string>;
}

/**
 * Every module a hush process loads, in one log: ESM through an `--import` resolve hook,
 * CommonJS through a `--require` preload (ws, commander, argon2, better-sqlite3 and chalk are
 * loaded with createRequire, which the ESM hook does not see). `request`: lines
 * `specifier url` and `request require` (what was asked for); `file`: the resolved URL or path
 * of each (what was read).
 */
export async function moduleLogger(what: 'request' | 'file'): Promise<ModuleLog> {
  const dir = await makeHome('hush-hook-');
  const log = JSON.stringify(path.join(dir, 'loaded.txt'));
  const hooks = path.join(dir, 'hooks.mjs');
  const esmLine = what === 'request' ? `s + ' ' + r.url` : 'r.url';
  await fsp.writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) {\n  const r = await next(s, c);\n  appendFileSync(${log}, ${esmLine} + '\\n');\n  return r;\n}\n`,
  );
  const register = path.join(dir, 'register.mjs');
  await fsp.writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
  const cjs = path.join(dir, 'log-require.cjs');
  const hook =
    what === 'request'
      ? `const load = M._load;\nM._load = function (request, ...rest) {\n  appendFileSync(${log}, request + ' require\\n');\n  return load.call(this, request, ...rest);\n};\n`
      : `const r = M._resolveFilename;\nM._resolveFilename = function (...a) {\n  const f = r.apply(this, a);\n  appendFileSync(${log}, f + '\\n');\n  return f;\n};\n`;
  await fsp.writeFile(cjs, `const M = require('node:module');\nconst { appendFileSync } = require('node:fs');\n${hook}`);
  await fsp.writeFile(path.join(dir, 'loaded.txt'), '');
  return {
    nodeArgs: ['--require', cjs, '--import', new URL(`file://${register}`).href],
    loaded: () => fsp.readFile(path.join(dir, 'loaded.txt'), 'utf8'),
  };
}
