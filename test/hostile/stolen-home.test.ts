/**
 * What a stolen home reveals (issue #13): a home built through the real CLI and a real relay
 * (messages of many lengths both ways, delivery tokens exchanged, a junk envelope quarantined),
 * then opened WITHOUT the passphrase, as a thief would: every file read raw, hush.db opened with
 * plain SQLite.
 *
 * Checked against the documents, parsed here, so that a change which leaks more fails:
 * - docs/PROTOCOL.md §8.1: every table and column of hush.db is in its tables; a column not
 *   marked clear (or a primary key) holds only sealed blobs (nonce + MAC at least) or 16-byte tags;
 * - docs/SECURITY.md "What a stolen home reveals": its clear and sealed columns per table are
 *   §8.1's, the keyring's fields and config.json's are the ones it lists, and the home holds no
 *   other file;
 * - every message record is `40 + padme(39 + length)` bytes, a Padmé bucket: lengths collapse
 *   into fewer sizes and no exact length is stored;
 * - no message text, no contact name, no contact key (raw, base64, hex) and no message id is
 *   in any byte of any file.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { fromB64, utf8 } from '../../src/protocol/encoding.js';
import { paddedLength } from '../../src/protocol/envelope.js';
import { ROOT } from '../cli/helpers.js';
import { jsonOf, newUser, type TestUser } from '../cli/messaging-helpers.js';
import { cleanupTmp, figure, makeUser, type RelayProc, startRelayProcess } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

/** Message lengths (UTF-8 bytes) around and across the Padmé buckets. */
const LENGTHS = [1, 9, 40, 100, 200, 217, 218, 300, 500, 999, 1000, 1500, 3000, 5000, 12_000];
const MARK = 'PLAINMARK';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
const sentIds: string[] = [];
const bodies: string[] = [];

const body = (i: number, len: number): string => {
  const head = `${MARK}${i}.`;
  return (head + 'q'.repeat(Math.max(0, len - head.length))).slice(0, Math.max(len, 1));
};

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice-stolen', relay.url), newUser('bob-stolen', relay.url)]);
  bodies.push(...LENGTHS.map((len, i) => body(i, len)));
  const sent = await alice.run(['send', 'bob-stolen', '--lines', '--json'], { input: bodies.join('\n') + '\n' }); // one message per line
  expect(sent.exitCode, sent.stderr).toBe(0);
  sentIds.push(...jsonOf(sent.stdout).map((e) => String(e.id)));
  expect(sentIds).toHaveLength(LENGTHS.length);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
  const reply = `${MARK} reply`;
  bodies.push(reply);
  const r = await bob.run(['send', 'alice-stolen', reply, '--json']);
  expect(r.exitCode).toBe(0);
  sentIds.push(...jsonOf(r.stdout).map((e) => String(e.id)));
  expect((await alice.run(['pull'])).exitCode).toBe(0); // alice gets bob's token, hands hers
  expect((await bob.run(['pull'])).exitCode).toBe(0);
  // a stranger's envelope: quarantined in bob's home
  const junk = makeUser('junk-stolen');
  const c = await junk.connect(relay.url);
  const b = await c.lookup({ name: 'bob-stolen' });
  await c.send(b.signPk, sealEnvelope(junk.id, b, { kind: 'msg', id: randomBytes(16), time: Date.now(), body: utf8(`${MARK} junk`) }, randomBytes));
  await c.close();
  expect((await bob.run(['pull'])).exitCode).toBe(0);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

interface DocColumn {
  table: string;
  column: string;
  clear: boolean;
  type: string;
}

/** The lines of the first markdown table after `heading`. */
function tableAfter(doc: string, heading: string): string[][] {
  const at = doc.indexOf(heading);
  expect(at, `${heading} is in the document`).toBeGreaterThanOrEqual(0);
  const lines = doc.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

const ticks = (cell: string): string[] => [...cell.replace(/\([^)]*\)/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** docs/PROTOCOL.md §8.1: every column of hush.db, clear or not. */
function protocolColumns(): DocColumn[] {
  const doc = readFileSync(path.join(ROOT, 'docs/PROTOCOL.md'), 'utf8');
  const out: DocColumn[] = [];
  let table = '';
  // §8.1 has one table per schema step (base, schema 3, schema 4): read every one up to §8.2.
  const section = doc.slice(doc.indexOf('### 8.1 Tables'), doc.indexOf('### 8.2'));
  for (let at = 0; (at = section.indexOf('| table | column |', at)) >= 0; at += 1) {
    for (const [t = '', cols = '', type = ''] of tableAfter(section.slice(at), '| table | column |')) {
      if (t !== '') table = ticks(t)[0]!;
      for (const column of ticks(cols)) out.push({ table, column, type, clear: /clear|primary key/.test(type) });
    }
  }
  return out;
}

/** docs/SECURITY.md "What a stolen home reveals": per file or table, what is clear and what sealed. */
function securityRows(): Map<string, { clear: string[]; sealed: string[] }> {
  const doc = readFileSync(path.join(ROOT, 'docs/SECURITY.md'), 'utf8');
  const out = new Map<string, { clear: string[]; sealed: string[] }>();
  for (const [what = '', clear = '', sealed = ''] of tableAfter(doc, '### What a stolen home reveals')) {
    out.set(ticks(what).join(' '), { clear: ticks(clear), sealed: ticks(sealed) });
  }
  return out;
}

/** Every spelling of a value a file could hold it in. */
function spellings(v: Uint8Array): Buffer[] {
  const b = Buffer.from(v);
  return [b, Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex')), Buffer.from(b.toString('hex').toUpperCase())];
}

async function keysOf(u: TestUser): Promise<Uint8Array[]> {
  const w = jsonOf((await u.run(['whoami', '--json'])).stdout)[0]!;
  return [fromB64(String(w.signPk)), fromB64(String(w.boxPk))];
}

describe('a stolen home, without the passphrase', () => {
  it('holds only the files and the clear fields the documents list', () => {
    const sec = securityRows();
    for (const home of [alice.home, bob.home]) {
      const files = readdirSync(home).sort();
      expect(files.filter((f) => !['keyring.json', 'config.json', 'hush.db', 'hush.db-wal', 'hush.db-shm'].includes(f))).toEqual([]);
      const keyring = JSON.parse(readFileSync(path.join(home, 'keyring.json'), 'utf8')) as Record<string, unknown>;
      const k = sec.get('keyring.json')!;
      expect(Object.keys(keyring).sort()).toEqual([...k.clear, ...k.sealed].sort());
      for (const f of k.sealed) expect(Object.keys(keyring[f] as object).sort()).toEqual(['ct', 'nonce']); // only ciphertext
      const config = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')) as Record<string, unknown>;
      for (const f of Object.keys(config)) expect(sec.get('config.json')!.clear).toContain(f);
    }
  });

  it("hush.db: every column is in PROTOCOL §8.1 and SECURITY's table; what is not clear is sealed or a tag", () => {
    const doc = protocolColumns();
    const sec = securityRows();
    const db = new Database(path.join(bob.home, 'hush.db'), { readonly: true, fileMustExist: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      const actual = tables.flatMap((t) => (db.pragma(`table_info(${t})`) as { name: string }[]).map((c) => `${t}.${c.name}`)).sort();
      expect(actual).toEqual(doc.map((c) => `${c.table}.${c.column}`).sort());
      for (const t of tables) {
        const row = sec.get(`hush.db ${t}`);
        expect(row, `SECURITY.md lists hush.db ${t}`).toBeDefined();
        expect([...row!.clear].sort(), `clear columns of ${t}`).toEqual(
          doc
            .filter((c) => c.table === t && c.clear)
            .map((c) => c.column)
            .sort(),
        );
        expect([...row!.sealed].sort(), `sealed columns of ${t}`).toEqual(
          doc
            .filter((c) => c.table === t && !c.clear)
            .map((c) => c.column)
            .sort(),
        );
      }
      let sealedValues = 0;
      for (const c of doc.filter((d) => !d.clear)) {
        for (const r of db.prepare(`SELECT ${c.column} AS v FROM ${c.table}`).all() as { v: unknown }[]) {
          if (r.v === null) continue;
          expect(Buffer.isBuffer(r.v), `${c.table}.${c.column} is a blob`).toBe(true);
          const n = (r.v as Buffer).length;
          if (/\[16\]/.test(c.type)) expect(n, `${c.table}.${c.column} is a 16-byte tag`).toBe(16);
          else expect(n, `${c.table}.${c.column} is sealed (nonce + MAC at least)`).toBeGreaterThanOrEqual(24 + 16 + 1);
          sealedValues++;
        }
      }
      figure('stolen home: sealed values checked in bob hush.db', sealedValues);
      const counts = Object.fromEntries(tables.map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
      figure('stolen home: bob hush.db rows per table', JSON.stringify(counts));
      expect(counts.quarantine).toBeGreaterThanOrEqual(1);
      // The v2 secrets were there to check, not an empty table passing vacuously: bob's prekeys
      // (from register) and his sessions (the messages were v2).
      expect(counts.prekeys).toBeGreaterThanOrEqual(100);
      expect(counts.sessions).toBeGreaterThanOrEqual(1);
      expect(counts.kv).toBeGreaterThanOrEqual(1);
    } finally {
      db.close();
    }
  });

  it('message records are Padmé buckets: 40 + padme(39 + length), never the exact length', () => {
    const db = new Database(path.join(bob.home, 'hush.db'), { readonly: true, fileMustExist: true });
    let stored: number[];
    try {
      stored = (db.prepare('SELECT length(body) AS n FROM messages').all() as { n: number }[]).map((r) => r.n).sort((a, b) => a - b);
    } finally {
      db.close();
    }
    const expected = bodies.map((b) => 40 + paddedLength(39 + Buffer.byteLength(b))).sort((a, b) => a - b);
    expect(stored).toEqual(expected);
    for (const n of stored) {
      expect(paddedLength(n - 40)).toBe(n - 40); // a bucket boundary
      expect(n - 40).toBeGreaterThanOrEqual(256);
    }
    const lengths = new Set(bodies.map((b) => Buffer.byteLength(b)));
    expect(new Set(stored).size).toBeLessThan(lengths.size); // lengths collapse into buckets
    figure('stolen home: message lengths -> stored record sizes', `${lengths.size} lengths -> ${new Set(stored).size} sizes (${[...new Set(stored)].join(', ')})`);
  });

  it('no message text, contact name, contact key or message id in any byte of either home', async () => {
    const [aliceKeys, bobKeys] = await Promise.all([keysOf(alice), keysOf(bob)]);
    const common: [string, Buffer][] = [
      ['marker', Buffer.from(MARK)],
      ['body filler', Buffer.from('q'.repeat(32))],
      ...sentIds.flatMap((id) => spellings(Buffer.from(id, 'hex')).map((s): [string, Buffer] => [`message id ${id}`, s])),
    ];
    const scans: [string, [string, Buffer][]][] = [
      [bob.home, [...common, ['contact name', Buffer.from('alice-stolen')], ...aliceKeys.flatMap((k) => spellings(k).map((s): [string, Buffer] => ['contact key', s]))]],
      [alice.home, [...common, ['contact name', Buffer.from('bob-stolen')], ...bobKeys.flatMap((k) => spellings(k).map((s): [string, Buffer] => ['contact key', s]))]],
    ];
    let bytes = 0;
    const found: string[] = [];
    for (const [home, needles] of scans) {
      for (const f of readdirSync(home)) {
        const data = readFileSync(path.join(home, f));
        bytes += data.length;
        for (const [what, n] of needles) if (data.includes(n)) found.push(`${what} in ${f}`);
      }
    }
    figure('stolen home: bytes scanned in two homes', bytes);
    expect(found).toEqual([]);
  });
});
