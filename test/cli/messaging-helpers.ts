/**
 * Helpers for the messaging CLI tests: users in throwaway homes registered on a real relay,
 * long-running children (listen, send --lines) whose output lines can be awaited, and a look
 * into a home's store (unlocked in-process with the test passphrase).
 */
import { execa } from 'execa';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { HushStore } from '../../src/store/db.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { BIN, type Env, hush, type HushResult, makeHome, ROOT, testEnv } from './helpers.js';

export const PASS = 'correct horse battery staple';
export const ENV: Env = { HUSH_PASSPHRASE: PASS };

export interface TestUser {
  name: string;
  home: string;
  /** Runs hush in this user's home with the passphrase in the environment. */
  run(args: string[], opts?: { input?: string; env?: Env }): Promise<HushResult>;
}

export function userIn(name: string, home: string): TestUser {
  return { name, home, run: (args, opts = {}) => hush(args, { home, env: { ...ENV, ...opts.env }, ...(opts.input === undefined ? {} : { input: opts.input }) }) };
}

/**
 * init + register on `relayUrl` (which register remembers in config.json). The home's
 * config.json also gets `"receiptDelay": "0"`: receipts leave as soon as they are queued, as
 * the tests of statuses expect; the random delay itself is tested in receipts-privacy.test.ts
 * (with --receipt-delay, which wins over the config).
 */
export async function newUser(name: string, relayUrl: string): Promise<TestUser> {
  const u = userIn(name, await makeHome(`hush-msg-${name}-`));
  const i = await u.run(['init', '--name', name]);
  if (i.exitCode !== 0) throw new Error(`init ${name} failed: ${i.stderr}`);
  const r = await u.run(['register', '--relay', relayUrl]);
  if (r.exitCode !== 0) throw new Error(`register ${name} failed: ${r.stderr}`);
  const file = path.join(u.home, 'config.json');
  const cfg = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  await fsp.writeFile(file, JSON.stringify({ ...cfg, receiptDelay: '0' }), { mode: 0o600 });
  return u;
}

/** Collects a stream's lines; waitFor() resolves with the first line (past or future) matching. */
export class Lines {
  readonly lines: string[] = [];
  private buf = '';
  private waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  private ended = false;
  private endWaiters: (() => void)[] = [];

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.pred(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
    stream.on('end', () => {
      this.ended = true;
      for (const w of this.endWaiters.splice(0)) w();
    });
  }

  waitFor(pred: RegExp | ((l: string) => boolean), seen = 0): Promise<string> {
    const p = typeof pred === 'function' ? pred : (l: string) => pred.test(l);
    const hit = this.lines.slice(seen).find(p);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred: p, resolve });
      const onEnd = (): void => reject(new Error(`stream ended before a line matched ${String(pred)}; got:\n${this.lines.join('\n')}`));
      if (this.ended) onEnd();
      else this.endWaiters.push(onEnd);
    });
  }

  /** The n-th (0-based) JSON line, once it is there. */
  async json(n: number): Promise<Record<string, unknown>> {
    let count = 0;
    const line = await this.waitFor(() => count++ === n);
    return JSON.parse(line) as Record<string, unknown>;
  }

  text(): string {
    return this.lines.map((l) => `${l}\n`).join('') + this.buf;
  }
}

export interface Child {
  stdout: Lines;
  stderr: Lines;
  write(data: string | Uint8Array): void;
  end(): void;
  kill(signal?: NodeJS.Signals): void;
  done: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
}

/** Starts `node bin/hush.js ...args` in `home` with piped stdin; output awaited line by line. */
export function spawnHush(home: string, args: string[], env: Env = {}): Child {
  const p = execa('node', [BIN, ...args], {
    env: testEnv({ HUSH_HOME: home, ...ENV, ...env }),
    extendEnv: false,
    cwd: ROOT,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    detached: true,
    timeout: 60_000,
  });
  const stdout = new Lines(p.stdout);
  const stderr = new Lines(p.stderr);
  return {
    stdout,
    stderr,
    write: (d) => p.stdin.write(d),
    end: () => p.stdin.end(),
    kill: (s = 'SIGTERM') => p.kill(s),
    done: p.then((r) => ({ exitCode: r.exitCode, signal: r.signal })),
  };
}

/** The home's store, unlocked in-process (for checks the CLI has no command for here). */
export async function openStore(home: string): Promise<HushStore> {
  const u = await unlock(hushPaths(home), { env: { HUSH_PASSPHRASE: PASS } });
  return HushStore.open(home, u.identity.historyKey);
}

/** Message bodies in the home's history, oldest first, with direction and status. */
export async function historyOf(home: string): Promise<{ direction: string; status: string; body: string }[]> {
  const s = await openStore(home);
  try {
    return s.history().map((m) => ({ direction: m.direction, status: m.status, body: typeof m.body === 'string' ? m.body : '<bytes>' }));
  } finally {
    s.close();
  }
}

export async function outboxSize(home: string): Promise<number> {
  const s = await openStore(home);
  try {
    return s.listOutbox().length;
  } finally {
    s.close();
  }
}

export function jsonOf(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
