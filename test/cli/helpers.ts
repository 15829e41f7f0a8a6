/**
 * Shared helpers for CLI tests: run the real built binary (`node bin/hush.js`) with execa in
 * throwaway homes. Assumes `npm run build` ran (`npm test` does it in pretest).
 *
 *   const home = await makeHome();                       // removed after the test file
 *   const r = await hush(['init', '--name', 'alice'], { home, env: { HUSH_PASSPHRASE: 'pw' } });
 *   expect(r.exitCode).toBe(0); expect(r.stderr).toBe('');
 *
 * The child gets a clean environment: no inherited HUSH_* variables, NO_COLOR=1, Argon2 at
 * the floor (HUSH_KDF_PARAMS=m=8192,t=1,p=1, fast) and HUSH_NO_KEYCHAIN=1 (tests never touch
 * a real keychain unless they set HUSH_NO_KEYCHAIN: undefined). It runs in its own session
 * (detached), so it has no controlling terminal: a command that would prompt fails instead.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'hush.js');
export const KDF_FAST = 'm=8192,t=1,p=1';

if (!existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
  throw new Error('dist/ is missing: run `npm run build` before the cli tests (npm test does it)');
}

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

/** A fresh empty directory (mode 0700), removed after the test file. */
export async function makeHome(prefix = 'hush-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  await fsp.chmod(dir, 0o700);
  made.push(dir);
  return dir;
}

export type Env = Record<string, string | undefined>;

/** The environment a test child gets (see the file comment); `extra` wins, undefined removes. */
export function testEnv(extra: Env = {}): Record<string, string> {
  const env: Env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('HUSH_') || k === 'NO_COLOR' || k === 'FORCE_COLOR' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  Object.assign(env, { NO_COLOR: '1', HUSH_KDF_PARAMS: KDF_FAST, HUSH_NO_KEYCHAIN: '1' }, extra);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export interface HushOptions {
  /** Sets HUSH_HOME. */
  home?: string;
  env?: Env;
  /** Written to stdin (else stdin is empty). */
  input?: string;
  /** Extra readable descriptors: { 3: 'secret\n' } gives the child fd 3 with that content. */
  fds?: Record<number, string>;
  /** Arguments for node itself, before bin/hush.js (e.g. ['--import', hook]). */
  nodeArgs?: string[];
  /** A command that runs node (e.g. ['prlimit', '--fsize=1048576']): `WRAP... node ... bin/hush.js ...args`. */
  wrap?: string[];
  cwd?: string;
}

export interface HushResult {
  exitCode: number;
  /** The signal that killed it (e.g. 'SIGKILL'), undefined when it exited by itself. */
  signal?: string;
  stdout: string;
  stderr: string;
}

// execa's option types cannot express a computed stdio array; the call itself is plain.
const run = execa as unknown as (
  file: string,
  args: string[],
  opts: Record<string, unknown>,
) => Promise<{ exitCode?: number; signal?: string; stdout?: unknown; stderr?: unknown }>;

/** Runs `node bin/hush.js ...args`; never throws on a non-zero exit. */
export async function hush(args: string[], opts: HushOptions = {}): Promise<HushResult> {
  const env = testEnv({ ...(opts.home !== undefined ? { HUSH_HOME: opts.home } : {}), ...opts.env });
  const fdNumbers = Object.keys(opts.fds ?? {}).map(Number);
  const maxFd = Math.max(2, ...fdNumbers);
  const enc = new TextEncoder();
  const stdio: unknown[] = [opts.input !== undefined ? enc.encode(opts.input) : 'ignore', 'pipe', 'pipe'];
  for (let fd = 3; fd <= maxFd; fd++) {
    const content = opts.fds?.[fd];
    stdio.push(content === undefined ? 'ignore' : enc.encode(content));
  }
  const argv = ['node', ...(opts.nodeArgs ?? []), BIN, ...args];
  const cmd = [...(opts.wrap ?? []), ...argv];
  const r = await run(cmd[0]!, cmd.slice(1), {
    env,
    extendEnv: false,
    cwd: opts.cwd ?? ROOT,
    stdio,
    reject: false,
    detached: true,
    stripFinalNewline: false,
    // A safety net against a hung child, not an assertion.
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Parses NDJSON stdout (one object per line). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
