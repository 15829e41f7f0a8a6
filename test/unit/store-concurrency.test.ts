/**
 * Two or more hush processes on one home (a `listen` running while a script runs `send`):
 * real processes running the compiled store (dist/) against one SQLite file, released together
 * through a stdin "go" line so their writes overlap. No SQLITE_BUSY, no lost rows, exactly one
 * process wins the first-use pin.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HushStore } from '../../src/store/db.js';
import { bundleToJson } from '../../src/protocol/bundle.js';
import { toHex } from '../../src/protocol/encoding.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { key, msgId, person, removeHome, tempHome } from './store-helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const distDb = path.join(root, 'dist/src/store/db.js');

/** Builds dist/ when the compiled store is missing or older than its sources. */
beforeAll(() => {
  // Every store file: HushStore is spread over db.ts and its db-*.ts tables.
  const dir = path.join(root, 'src/store');
  const srcs = fs
    .readdirSync(dir)
    .filter((f) => /^db.*\.ts$/.test(f))
    .map((f) => path.join(dir, f));
  const built = fs.existsSync(distDb) ? fs.statSync(distDb).mtimeMs : 0;
  if (srcs.some((s) => fs.statSync(s).mtimeMs > built)) {
    // tsc emits even when files owned by others have type errors; only the output matters here
    spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { cwd: root });
  }
  expect(fs.existsSync(distDb)).toBe(true);
}, 120_000);

const WORKER = `
import { HushStore } from ${JSON.stringify(distDb)};
import { randomBytes } from ${JSON.stringify(path.join(root, 'dist/src/crypto/nacl.js'))};
import { parseBundle } from ${JSON.stringify(path.join(root, 'dist/src/protocol/bundle.js'))};
import { createInterface } from 'node:readline';
import * as fs from 'node:fs';

const [home, keyHex, bundleFile, rounds, tag] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const lines = createInterface({ input: process.stdin });
const next = () => new Promise((resolve) => lines.once('line', resolve));
try {
  out({ ready: true });
  await next(); // "go": every process opens and pins at the same moment
  const s = HushStore.open(home, Buffer.from(keyHex, 'hex'));
  const pin = s.pinContact(parseBundle(JSON.parse(fs.readFileSync(bundleFile, 'utf8'))));
  const cid = pin.contact.id;
  let inserted = 0, queued = 0;
  for (let i = 0; i < Number(rounds); i++) {
    if (i % 10 === 0) {
      const r = s.addMessages(Array.from({ length: 20 }, (_, j) => ({ msgId: randomBytes(16), contactId: cid, direction: 'in', time: i * 100 + j, body: tag + '-in-' + i + '-' + j })));
      inserted += r.filter(Boolean).length;
    } else {
      s.transaction(() => {
        const id = randomBytes(16);
        if (s.addMessage({ msgId: id, contactId: cid, direction: 'out', time: i, body: tag + '-out-' + i, status: 'queued' })) inserted++;
        if (s.enqueueOutbox({ eid: tag + '-' + i, contactId: cid, envelope: randomBytes(64), msgId: id })) queued++;
      });
    }
    if (i % 7 === 0) { s.listContacts(); s.history({ contactId: cid, limit: 5 }); s.listOutbox(); }
  }
  s.close();
  out({ done: true, pin: pin.status, inserted, queued });
} catch (e) {
  out({ error: e.code ?? 'UNKNOWN', message: String(e.message) });
}
lines.close();
`;

interface WorkerResult {
  done?: boolean;
  pin?: string;
  inserted?: number;
  queued?: number;
  error?: string;
  message?: string;
}

function startWorker(script: string, args: string[]): { ready: Promise<void>; go: () => void; result: Promise<WorkerResult> } {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const rl = createInterface({ input: child.stdout });
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let last: WorkerResult = {};
  rl.on('line', (l) => {
    const o = JSON.parse(l) as WorkerResult & { ready?: boolean };
    if (o.ready) readyResolve();
    else last = o;
  });
  const result = new Promise<WorkerResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`worker exited ${code}: ${stderr}`));
      else resolve(last);
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), result };
}

let home: string;

beforeEach(() => {
  home = tempHome();
});

afterEach(() => {
  removeHome(home);
});

describe('one home, several processes', () => {
  it('three processes open a fresh store, pin, and write concurrently without BUSY errors or lost rows', async () => {
    const hk = key();
    const bob = person('bob');
    const bundleFile = path.join(home, 'bob.bundle.json');
    fs.writeFileSync(bundleFile, JSON.stringify(bundleToJson(bob.bundle)));
    const script = path.join(home, 'worker.mjs');
    fs.writeFileSync(script, WORKER);
    const dbHome = path.join(home, 'h');
    const rounds = 60;
    const workers = ['p1', 'p2', 'p3'].map((tag) => startWorker(script, [dbHome, toHex(hk), bundleFile, String(rounds), tag]));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const results = await Promise.all(workers.map((w) => w.result));

    for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ done: true });
    expect(results.filter((r) => r.pin === 'new')).toHaveLength(1);
    expect(results.filter((r) => r.pin === 'known')).toHaveLength(2);

    const perWorker = Math.ceil(rounds / 10) * 20 + (rounds - Math.ceil(rounds / 10));
    const queuedPerWorker = rounds - Math.ceil(rounds / 10);
    for (const r of results) {
      expect(r.inserted).toBe(perWorker);
      expect(r.queued).toBe(queuedPerWorker);
    }
    const s = HushStore.open(dbHome, hk);
    try {
      expect(s.listContacts()).toHaveLength(1);
      expect(s.countMessages()).toBe(3 * perWorker);
      expect(s.listOutbox()).toHaveLength(3 * queuedPerWorker);
      const bodies = new Set(s.history().map((m) => m.body));
      expect(bodies.size).toBe(3 * perWorker);
      expect(bodies.has('p2-in-50-19')).toBe(true);
    } finally {
      s.close();
    }
  }, 60_000);

  it('a long-running reader sees what another process wrote (contacts and messages)', async () => {
    const hk = key();
    const listener = HushStore.open(home, hk);
    try {
      const bob = person('bob');
      const bundleFile = path.join(home, 'bob.bundle.json');
      fs.writeFileSync(bundleFile, JSON.stringify(bundleToJson(bob.bundle)));
      const script = path.join(home, 'worker.mjs');
      fs.writeFileSync(script, WORKER);
      expect(listener.findContactBySignPk(bob.id.signPk)).toBeUndefined(); // primes the cache
      const w = startWorker(script, [home, toHex(hk), bundleFile, '3', 'send']);
      await w.ready;
      w.go();
      // the listener keeps writing while the other process runs
      const own = listener.pinContact(person('carol').bundle).contact;
      listener.addMessages(Array.from({ length: 50 }, (_, i) => ({ msgId: msgId(), contactId: own.id, direction: 'in' as const, time: i, body: `carol ${i}` })));
      const r = await w.result;
      expect(r).toMatchObject({ done: true, pin: 'new' });
      expect(listener.findContactBySignPk(bob.id.signPk)?.name).toBe('bob');
      expect(listener.countMessages()).toBe(50 + r.inserted!);
      expect(listener.listOutbox().map((o) => o.eid)).toEqual(['send-1', 'send-2']);
    } finally {
      listener.close();
    }
  }, 60_000);

  it('loads better-sqlite3 only when a store is opened', () => {
    const probe = `
      import { createRequire } from 'node:module';
      const { HushStore } = await import(${JSON.stringify(distDb)});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('better-sqlite3'));
      const before = loaded();
      HushStore.open(process.argv[1], new Uint8Array(32)).close();
      process.stdout.write(JSON.stringify({ before, after: loaded() }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe, home], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true });
  });

  it('two in-process stores interleave transactions on one file', () => {
    const hk = key();
    const a = HushStore.open(home, hk);
    const b = HushStore.open(home, hk);
    try {
      const c = a.pinContact(person('bob').bundle).contact;
      expect(b.pinContact(b.getContact(c.id)!.bundle).status).toBe('known');
      for (let i = 0; i < 50; i++) {
        const s = i % 2 ? a : b;
        s.transaction(() => {
          const id = msgId();
          s.addMessage({ msgId: id, contactId: c.id, direction: 'out', time: i, body: `m${i}`, status: 'queued' });
          s.enqueueOutbox({ eid: `e${i}`, contactId: c.id, envelope: randomBytes(32), msgId: id });
        });
      }
      expect(a.countMessages()).toBe(50);
      expect(b.history().map((m) => m.body)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
      expect(a.listOutbox()).toHaveLength(50);
    } finally {
      a.close();
      b.close();
    }
  });
});
