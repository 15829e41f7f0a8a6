/**
 * Integration helpers: the real relay (`node bin/hush-relay.js`, built code) as a child
 * process on port 0 with its own data directory, raw `ws` connections for protocol-level
 * tests, and real identities, bundles and envelopes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { makeBundle } from '../../src/crypto/bundle.js';
import { generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { randomBytes, signDetached } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { RelayClient, type RelayClientOptions } from '../../src/client/relay-client.js';
import type { Bundle } from '../../src/protocol/bundle.js';
import { tokenHash } from '../../src/protocol/delivery-token.js';
import { toB64, utf8 } from '../../src/protocol/encoding.js';
import { authSignedBytes } from '../../src/protocol/frames.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/hush-relay.js');
const HUSH = join(ROOT, 'bin/hush.js');

export interface RelayProc {
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Everything the relay wrote to stderr so far. */
  log(): string;
  /** Resolves with the first stderr line matching `re` (past or future). */
  waitForLog(re: RegExp): Promise<string>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const tmpDirs: string[] = [];
export function tmpDir(prefix = 'hush-relay-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
export function cleanupTmp(): void {
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * Starts `node bin/hush-relay.js --port 0 --data DIR ...args` (or `node bin/hush.js relay ...`
 * with viaCli; `--store STORE` instead of `--data` with `store`); with `umask`, under that umask (through /bin/sh, which then execs node).
 */
export async function startRelayProcess(
  opts: { dataDir?: string; store?: string; args?: string[]; viaCli?: boolean; env?: Record<string, string>; umask?: number; fileSizeLimit?: number } = {},
): Promise<RelayProc> {
  const dataDir = opts.dataDir ?? tmpDir();
  const cmd = opts.viaCli ? [HUSH, 'relay'] : [BIN];
  const argv = [...cmd, '--port', '0', ...(opts.store === undefined ? ['--data', dataDir] : ['--store', opts.store]), ...(opts.args ?? [])];
  const spawnOpts = { stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[], env: { ...process.env, ...opts.env } };
  // fileSizeLimit: RLIMIT_FSIZE in bytes (util-linux prlimit): a write past it fails with EFBIG, as on a full disk.
  const proc =
    opts.fileSizeLimit !== undefined
      ? spawn('prlimit', [`--fsize=${opts.fileSizeLimit}`, process.execPath, ...argv], spawnOpts)
      : opts.umask === undefined
        ? spawn(process.execPath, argv, spawnOpts)
        : spawn('/bin/sh', ['-c', `umask ${opts.umask.toString(8).padStart(3, '0')} && exec "$0" "$@"`, process.execPath, ...argv], spawnOpts);
  let stderr = '';
  const watchers: { re: RegExp; resolve: (l: string) => void }[] = [];
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    for (const w of [...watchers]) {
      const line = stderr.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl >= 0) res(out.slice(0, nl));
    });
    void exited.then((code) => rej(new Error(`relay exited (${code}) before printing its url:\n${stderr}`)));
  });
  return {
    url,
    dataDir,
    proc,
    exited,
    log: () => stderr,
    waitForLog: (re) =>
      new Promise((res) => {
        const line = stderr.split('\n').find((l) => re.test(l));
        if (line !== undefined) res(line);
        else watchers.push({ re, resolve: res });
      }),
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface User {
  id: Identity;
  name: string;
  bundle: Bundle;
  opts: RelayClientOptions;
  connect(url: string, extra?: Partial<RelayClientOptions>): Promise<RelayClient>;
}

let userCounter = 0;
export function makeUser(name = `user${++userCounter}`): User {
  const id = generateIdentity(randomBytes);
  const bundle = makeBundle(id, name, Date.now());
  const opts: RelayClientOptions = { signPk: id.signPk, sign: (m) => signDetached(m, id.signSk) };
  return { id, name, bundle, opts, connect: (url, extra = {}) => RelayClient.connect(url, { ...opts, ...extra }) };
}

export function seal(from: User, to: User, text: string, kind: 'msg' | 'receipt' | 'typing' = 'msg'): Uint8Array {
  return sealEnvelope(from.id, { signPk: to.id.signPk, boxPk: to.id.boxPk }, { kind, id: randomBytes(16), time: Date.now(), body: utf8(text) }, randomBytes);
}

/**
 * Registers a fresh delivery token for `owner`'s mailbox on `url` (valid an hour) and returns
 * it: what a contact holds to send typing (ephemerals need a token) or sealed mail.
 */
export async function giveToken(url: string, owner: User): Promise<Uint8Array> {
  const token = randomBytes(32);
  const c = await owner.connect(url);
  try {
    await c.tokens([{ h: tokenHash(token), exp: Date.now() + 3600_000 }], []);
  } finally {
    await c.close();
  }
  return token;
}

/** A connection that never authenticates (token sends: sealed sender). */
export function anonymous(url: string): Promise<RelayClient> {
  return RelayClient.connect(url, {});
}

/** A raw protocol-level connection: frames as parsed JSON, in order (a binary message as `{ binary: Buffer }`). */
export interface Raw {
  ws: WebSocket;
  hello: Record<string, unknown>;
  next(): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
  /** Sends a request and resolves with the next frame (requests are answered in order). */
  req(frame: Record<string, unknown>): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function raw(url: string): Promise<Raw> {
  const ws = new WebSocket(url);
  const queue: Record<string, unknown>[] = [];
  const waiting: ((f: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data, isBinary) => {
    const f = isBinary ? { binary: data as Buffer } : (JSON.parse(String(data)) as Record<string, unknown>);
    const w = waiting.shift();
    if (w) w(f);
    else queue.push(f);
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
  const next = (): Promise<Record<string, unknown>> => {
    const f = queue.shift();
    if (f) return Promise.resolve(f);
    return new Promise((res) => waiting.push(res));
  };
  const send = (frame: unknown): void => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  const hello = await next();
  return { ws, hello, next, send, req: (frame) => (send(frame), next()), closed };
}

/** Authenticates a raw connection as `u`. */
export async function rawAuth(r: Raw, u: User, over: { url?: string; time?: number; signUrl?: string } = {}): Promise<Record<string, unknown>> {
  const url = over.url ?? String(r.hello.relay);
  const time = over.time ?? Date.now();
  const challenge = Buffer.from(String(r.hello.challenge), 'base64');
  const sig = signDetached(authSignedBytes(challenge, over.signUrl ?? url, time), u.id.signSk);
  return r.req({ v: 1, t: 'auth', id: 'a1', signPk: toB64(u.id.signPk), url, time, sig: toB64(sig) });
}

/** Proof that the relay still serves: a fresh identity connects, authenticates and pings. */
export async function stillServes(url: string): Promise<void> {
  const u = makeUser();
  const c = await u.connect(url);
  await c.ping();
  const { items } = await c.pull();
  if (items.length !== 0) throw new Error('a fresh mailbox is not empty');
  await c.close();
}

/** Registers each user's bundle on the relay (each from its own connection): a relay refuses mail to unregistered keys (UNKNOWN_RECIPIENT). */
export async function registerUsers(url: string, ...users: User[]): Promise<void> {
  for (const u of users) {
    const c = await u.connect(url);
    await c.register(u.bundle);
    await c.close();
  }
}

/**
 * A TCP port of 127.0.0.1 nothing listens on, for the "connection refused" cases. It is taken
 * below the kernel's ephemeral range: a port freed after listen(0) may be handed at once to a
 * relay or server another test file starts on port 0, which then answers in its place.
 */
export async function closedPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual range
  }
  const from = low > 11000 ? 10000 : 1025;
  for (let i = 0; i < 100; i++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const srv = createServer();
    const free = await new Promise<boolean>((res) => {
      srv.once('error', () => res(false));
      srv.listen(port, '127.0.0.1', () => res(true));
    });
    if (free) {
      await new Promise((r) => srv.close(r));
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}
