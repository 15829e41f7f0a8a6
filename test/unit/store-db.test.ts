import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type BetterSqlite3 from 'better-sqlite3';
import { HushStore, STORE_FILE, STORE_SCHEMA_VERSION } from '../../src/store/db.js';
import { toB64, toHex } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { makeBundle } from '../../src/crypto/bundle.js';
import { contains, key, msgId, person, removeHome, tempHome } from './store-helpers.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

let home: string;
let hk: Uint8Array;
let store: HushStore;

beforeEach(() => {
  home = tempHome();
  hk = key();
  store = HushStore.open(home, hk, { now: () => 1_000 });
});

afterEach(() => {
  store.close();
  removeHome(home);
});

function rawDb(): BetterSqlite3.Database {
  return new Database(path.join(home, STORE_FILE));
}

function expectCode(f: () => unknown, code: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
}

describe('file and schema', () => {
  it('creates <home>/hush.db, mode 0600, WAL, with the schema version recorded', () => {
    const file = path.join(home, STORE_FILE);
    expect(store.file).toBe(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    store.addMessage({ msgId: msgId(), contactId: store.pinContact(person('bob').bundle).contact.id, direction: 'in', time: 5, body: 'hi' });
    expect(fs.statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    expect(store.schemaVersion()).toBe(STORE_SCHEMA_VERSION);
    const db = rawDb();
    expect(db.pragma('user_version', { simple: true })).toBe(STORE_SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(['contacts', 'group_copies', 'group_posts', 'groups', 'kv', 'messages', 'meta', 'outbox', 'prekeys', 'quarantine', 'sessions']);
    db.close();
  });

  it("keeps SQLite's temporary files in memory: no statement journal of its pages under /var/tmp", () => {
    // A multi-row UPDATE of messages (CHECK and foreign-key constraints) journals the pages it
    // changes; with the default temp_store that journal is a file outside the home.
    const own = (store as unknown as { db: { pragma(s: string, o: { simple: true }): unknown } }).db;
    expect(own.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
  });

  it('creates a missing home directory as 0700', () => {
    const sub = path.join(home, 'nested', 'home');
    const s = HushStore.open(sub, hk);
    s.close();
    expect(fs.statSync(sub).mode & 0o777).toBe(0o700);
  });

  it('tightens an existing world-readable file to 0600', () => {
    store.close();
    fs.chmodSync(path.join(home, STORE_FILE), 0o644);
    store = HushStore.open(home, hk);
    expect(fs.statSync(path.join(home, STORE_FILE)).mode & 0o777).toBe(0o600);
  });

  it('reopens with the same key and keeps everything', () => {
    const { contact } = store.pinContact(person('bob').bundle);
    store.addMessage({ msgId: msgId(), contactId: contact.id, direction: 'out', time: 10, body: 'persisted' });
    store.close();
    store = HushStore.open(home, hk);
    expect(store.findContactByName('bob')?.id).toBe(contact.id);
    expect(store.history().map((m) => m.body)).toEqual(['persisted']);
  });

  it('refuses a schema newer than it knows', () => {
    store.close();
    const db = rawDb();
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`);
    db.close();
    expectCode(() => (store = HushStore.open(home, hk)), 'UNSUPPORTED_VERSION');
    store = HushStore.open(tempHome(), hk); // something for afterEach to close
  });

  it('rejects use after close with STORE_CLOSED', () => {
    store.close();
    expectCode(() => store.listContacts(), 'STORE_CLOSED');
  });

  it('reports a home that cannot hold the store as STORE_IO', () => {
    const notDir = path.join(home, 'plain-file');
    fs.writeFileSync(notDir, 'x');
    expectCode(() => HushStore.open(notDir, hk), 'STORE_IO');
  });

  it('rejects a history key of the wrong size', () => {
    expectCode(() => HushStore.open(home, new Uint8Array(31)), 'BAD_ARGUMENT');
  });
});

describe('wrong key and corruption', () => {
  it('detects a store made with another keyring up front', () => {
    store.pinContact(person('bob').bundle);
    store.close();
    expectCode(() => (store = HushStore.open(home, key())), 'STORE_KEY_MISMATCH');
    store = HushStore.open(home, hk);
    expect(store.listContacts()).toHaveLength(1);
  });

  it('reports a file that is not a database as STORE_CORRUPT', () => {
    store.close();
    const file = path.join(home, STORE_FILE);
    fs.rmSync(`${file}-wal`, { force: true });
    fs.rmSync(`${file}-shm`, { force: true });
    fs.writeFileSync(file, randomBytes(8192));
    expectCode(() => (store = HushStore.open(home, hk)), 'STORE_CORRUPT');
    store = HushStore.open(tempHome(), hk);
  });

  it('reports damaged pages as STORE_CORRUPT, never garbage', () => {
    const { contact } = store.pinContact(person('bob').bundle);
    store.addMessages(Array.from({ length: 400 }, (_, i) => ({ msgId: msgId(), contactId: contact.id, direction: 'in' as const, time: i, body: `message ${i} `.repeat(20) })));
    store.close();
    const file = path.join(home, STORE_FILE);
    const bytes = fs.readFileSync(file);
    const pageSize = bytes.readUInt16BE(16);
    expect(bytes.length).toBeGreaterThan(4 * pageSize);
    // Keep page 1 (header and schema), overwrite every other page with noise.
    bytes.set(randomBytes(bytes.length - pageSize), pageSize);
    fs.writeFileSync(file, bytes);
    expectCode(() => {
      const s = HushStore.open(home, hk);
      try {
        s.history();
        s.listContacts();
      } finally {
        s.close();
      }
    }, 'STORE_CORRUPT');
  });

  it('detects a message body moved to another row', () => {
    const { contact } = store.pinContact(person('bob').bundle);
    store.addMessage({ msgId: msgId(), contactId: contact.id, direction: 'in', time: 1, body: 'first' });
    store.addMessage({ msgId: msgId(), contactId: contact.id, direction: 'in', time: 2, body: 'second' });
    const db = rawDb();
    db.prepare('UPDATE messages SET body = (SELECT body FROM messages WHERE time = 1) WHERE time = 2').run();
    db.close();
    expectCode(() => store.history(), 'STORE_CORRUPT');
  });

  it('detects an edited clear column (time, contact)', () => {
    const bob = store.pinContact(person('bob').bundle).contact;
    const eve = store.pinContact(person('eve').bundle).contact;
    store.addMessage({ msgId: msgId(), contactId: bob.id, direction: 'in', time: 1, body: 'to bob' });
    const db = rawDb();
    db.prepare('UPDATE messages SET contact_id = ?').run(eve.id);
    db.close();
    expectCode(() => store.history(), 'STORE_CORRUPT');
  });

  it('detects contact records swapped between rows', () => {
    store.pinContact(person('bob').bundle);
    store.pinContact(person('eve').bundle);
    store.close();
    const db = rawDb();
    const rows = db.prepare('SELECT id, data FROM contacts ORDER BY id').all() as { id: number; data: Buffer }[];
    db.prepare('UPDATE contacts SET data = ? WHERE id = ?').run(rows[1]!.data, rows[0]!.id);
    db.prepare('UPDATE contacts SET data = ? WHERE id = ?').run(rows[0]!.data, rows[1]!.id);
    db.close();
    store = HushStore.open(home, hk);
    expectCode(() => store.listContacts(), 'STORE_CORRUPT');
  });

  it('detects a flipped byte in a sealed record', () => {
    store.setValue('cursor', 'abc');
    const db = rawDb();
    const v = (db.prepare("SELECT value FROM kv WHERE key = 'cursor'").get() as { value: Buffer }).value;
    v[v.length - 1]! ^= 1;
    db.prepare("UPDATE kv SET value = ? WHERE key = 'cursor'").run(v);
    db.close();
    expectCode(() => store.getValue('cursor'), 'STORE_CORRUPT');
  });
});

describe('contacts', () => {
  it('pins on first use, reports known and changed keys', () => {
    const bob = person('bob');
    const r1 = store.pinContact(bob.bundle, 77);
    expect(r1.status).toBe('new');
    expect(r1.contact).toMatchObject({ name: 'bob', pinnedAt: 77, verified: false, state: 'trusted' });
    expect(r1.contact.signPk).toEqual(bob.id.signPk);
    expect(r1.contact.boxPk).toEqual(bob.id.boxPk);
    expect(store.pinContact(bob.bundle).status).toBe('known');
    const bob2 = person('bob');
    const r3 = store.pinContact(bob2.bundle);
    expect(r3.status).toBe('changed');
    expect(r3.contact.signPk).toEqual(bob.id.signPk);
    expect(store.listContacts()).toHaveLength(1);
  });

  it('looks contacts up by name and by key, and survives a reopen', () => {
    const bob = person('bob');
    const alice = person('alice');
    const b = store.pinContact(bob.bundle).contact;
    const a = store.pinContact(alice.bundle).contact;
    expect(store.findContactByName('alice')?.id).toBe(a.id);
    expect(store.findContactBySignPk(bob.id.signPk)?.id).toBe(b.id);
    expect(store.findContactBySignPk(randomBytes(32))).toBeUndefined();
    expect(store.findContactByName('carol')).toBeUndefined();
    expect(store.getContact(b.id)?.name).toBe('bob');
    store.close();
    store = HushStore.open(home, hk);
    expect(store.listContacts().map((c) => c.name)).toEqual(['bob', 'alice']);
    expect(store.listContacts()[0]!.bundle).toEqual(bob.bundle);
  });

  it('refuses a bundle with a bad signature', () => {
    const bob = person('bob');
    const forged = { ...bob.bundle, boxPk: randomBytes(32) };
    expectCode(() => store.pinContact(forged), 'BAD_BUNDLE_SIGNATURE');
    expect(store.listContacts()).toHaveLength(0);
  });

  it('refuses one key under two names', () => {
    const bob = person('bob');
    store.pinContact(bob.bundle);
    expectCode(() => store.pinContact(makeBundle(bob.id, 'robert', 1)), 'KEY_ALREADY_PINNED');
  });

  it('marks verified, records a key change, accepts the new key', () => {
    const bob = person('bob');
    const c = store.pinContact(bob.bundle, 10).contact;
    expect(store.markVerified(c.id).verified).toBe(true);
    expect(store.recordKeyChange(c.id, bob.bundle).state).toBe('trusted'); // same key: no-op
    const bob2 = person('bob');
    const changed = store.recordKeyChange(c.id, bob2.bundle, 20);
    expect(changed).toMatchObject({ state: 'changed', verified: true, pendingSeenAt: 20 });
    expect(changed.pendingBundle).toEqual(bob2.bundle);
    // the old key still identifies bob until the user decides
    expect(store.findContactBySignPk(bob.id.signPk)?.id).toBe(c.id);
    expect(store.findContactBySignPk(bob2.id.signPk)).toBeUndefined();
    expect(store.findContactByPendingSignPk(bob2.id.signPk)?.id).toBe(c.id);
    store.close();
    store = HushStore.open(home, hk);
    const accepted = store.acceptNewKey(c.id, 30);
    expect(accepted).toMatchObject({ id: c.id, name: 'bob', state: 'trusted', verified: false, pinnedAt: 30 });
    expect(accepted.pendingBundle).toBeUndefined();
    expect(store.findContactBySignPk(bob2.id.signPk)?.id).toBe(c.id);
    expect(store.findContactBySignPk(bob.id.signPk)).toBeUndefined();
    expectCode(() => store.acceptNewKey(c.id), 'NO_PENDING_KEY');
    expectCode(() => store.markVerified(999), 'UNKNOWN_CONTACT_ID');
  });

  it('sees contacts pinned by another open store (cache refresh)', () => {
    const other = HushStore.open(home, hk);
    try {
      expect(store.listContacts()).toHaveLength(0);
      other.pinContact(person('bob').bundle);
      expect(store.findContactByName('bob')).toBeDefined();
      other.markVerified(other.findContactByName('bob')!.id);
      expect(store.findContactByName('bob')?.verified).toBe(true);
    } finally {
      other.close();
    }
  });
});

describe('messages', () => {
  it('round-trips text and bytes, drops duplicates by id and direction', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const id1 = msgId();
    const bin = Uint8Array.of(0, 255, 1, 2);
    expect(store.addMessage({ msgId: id1, contactId: c.id, direction: 'in', time: 100, body: 'héllo 🌍', receivedAt: 150 })).toBe(true);
    expect(store.addMessage({ msgId: id1, contactId: c.id, direction: 'in', time: 100, body: 'replayed' })).toBe(false);
    expect(store.addMessage({ msgId: id1, contactId: c.id, direction: 'out', time: 101, body: bin })).toBe(true);
    const h = store.history();
    expect(h).toHaveLength(2);
    expect(h[0]).toMatchObject({ contactId: c.id, direction: 'in', time: 100, receivedAt: 150, status: 'received', body: 'héllo 🌍' });
    expect(h[0]!.msgId).toEqual(id1);
    expect(h[1]).toMatchObject({ direction: 'out', status: 'sent', receivedAt: 1_000 });
    expect(h[1]!.body).toEqual(bin);
    expect(store.findMessage(id1, 'in')?.body).toBe('héllo 🌍');
    expect(store.findMessage(msgId(), 'in')).toBeUndefined();
  });

  it('bulk insert reports which were new', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const ids = [msgId(), msgId(), msgId()];
    store.addMessage({ msgId: ids[1]!, contactId: c.id, direction: 'in', time: 1, body: 'x' });
    const r = store.addMessages(ids.map((id, i) => ({ msgId: id, contactId: c.id, direction: 'in' as const, time: i, body: `m${i}` })));
    expect(r).toEqual([true, false, true]);
    expect(store.countMessages()).toBe(3);
  });

  it('a failing batch stores nothing', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    expectCode(
      () =>
        store.addMessages([
          { msgId: msgId(), contactId: c.id, direction: 'in', time: 1, body: 'a' },
          { msgId: msgId(), contactId: 999, direction: 'in', time: 2, body: 'b' },
        ]),
      'UNKNOWN_CONTACT_ID',
    );
    expect(store.countMessages()).toBe(0);
  });

  it('validates arguments', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    expectCode(() => store.addMessage({ msgId: new Uint8Array(15), contactId: c.id, direction: 'in', time: 1, body: 'a' }), 'BAD_ARGUMENT');
    expectCode(() => store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'in', time: 1, body: 'a', status: 'sent' }), 'BAD_ARGUMENT');
    expectCode(() => store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'out', time: -1, body: 'a' }), 'BAD_ARGUMENT');
    expectCode(() => store.setStatus([msgId()], 'delivered', 'in'), 'BAD_ARGUMENT');
  });

  it('moves status forward only', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const a = msgId();
    const b = msgId();
    const inId = msgId();
    store.addMessages([
      { msgId: a, contactId: c.id, direction: 'out', time: 1, body: 'a', status: 'queued' },
      { msgId: b, contactId: c.id, direction: 'out', time: 2, body: 'b' },
      { msgId: inId, contactId: c.id, direction: 'in', time: 3, body: 'c' },
    ]);
    expect(store.setStatus([a], 'sent')).toBe(1);
    expect(store.setStatus([a, b], 'read')).toBe(2);
    expect(store.setStatus([a, b], 'delivered')).toBe(0); // late receipt: no downgrade
    expect(store.setStatus([inId], 'read', 'in')).toBe(1);
    expect(store.setStatus([inId], 'read')).toBe(0); // no 'out' message with that id
    expect(store.history().map((m) => m.status)).toEqual(['read', 'read', 'read']);
  });

  it('history filters by contact, since, before and keeps the newest N, oldest first', () => {
    const bob = store.pinContact(person('bob').bundle).contact;
    const eve = store.pinContact(person('eve').bundle).contact;
    const rows = Array.from({ length: 20 }, (_, i) => ({ msgId: msgId(), contactId: i % 2 ? eve.id : bob.id, direction: 'in' as const, time: 1000 + i, body: `m${i}` }));
    store.addMessages([...rows].reverse()); // insertion order must not matter
    expect(store.history().map((m) => m.body)).toEqual(rows.map((r) => r.body));
    expect(store.history({ limit: 3 }).map((m) => m.body)).toEqual(['m17', 'm18', 'm19']);
    expect(store.history({ contactId: bob.id, limit: 2 }).map((m) => m.body)).toEqual(['m16', 'm18']);
    expect(store.history({ since: 1017 }).map((m) => m.body)).toEqual(['m17', 'm18', 'm19']);
    expect(store.history({ contactId: eve.id, since: 1010, before: 1015 }).map((m) => m.body)).toEqual(['m11', 'm13']);
    expect(store.history({ limit: 0 })).toEqual([]);
    expect(store.countMessages(eve.id)).toBe(10);
  });

  it('orders equal times by insertion', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    store.addMessages(['x', 'y', 'z'].map((body) => ({ msgId: msgId(), contactId: c.id, direction: 'out' as const, time: 5, body })));
    expect(store.history({ limit: 2 }).map((m) => m.body)).toEqual(['y', 'z']);
  });

  it('uses the (contact_id, time) index for a contact history', () => {
    const db = rawDb();
    const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM messages WHERE contact_id = 1 ORDER BY time DESC, id DESC LIMIT 50').all() as { detail: string }[];
    const all = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM messages ORDER BY time DESC, id DESC LIMIT 50').all() as { detail: string }[];
    db.close();
    expect(plan.map((p) => p.detail).join(' ')).toContain('messages_contact_time');
    expect(plan.map((p) => p.detail).join(' ')).not.toContain('TEMP B-TREE');
    expect(all.map((p) => p.detail).join(' ')).toContain('messages_time');
  });
});

describe('outbox', () => {
  it('queues, lists in order, bumps attempts, removes once', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const env1 = randomBytes(300);
    const env2 = randomBytes(400);
    const m1 = msgId();
    const e1 = envelopeId(env1);
    const e2 = envelopeId(env2);
    expect(store.enqueueOutbox({ eid: e1, contactId: c.id, envelope: env1, msgId: m1, createdAt: 5 })).toBe(true);
    expect(store.enqueueOutbox({ eid: e1, contactId: c.id, envelope: env1, msgId: m1 })).toBe(false);
    expect(store.enqueueOutbox({ eid: e2, contactId: c.id, envelope: env2, msgId: msgId() })).toBe(true);
    expect(store.bumpAttempts(e1)).toBe(1);
    expect(store.bumpAttempts(e1)).toBe(2);
    expect(store.bumpAttempts('nope')).toBeUndefined();
    const list = store.listOutbox();
    expect(list.map((o) => o.eid)).toEqual([e1, e2]);
    expect(list[0]).toMatchObject({ contactId: c.id, createdAt: 5, attempts: 2 });
    expect(list[0]!.envelope).toEqual(env1);
    expect(list[0]!.msgId).toEqual(m1);
    expect(store.removeOutbox(e1)).toBe(true);
    expect(store.removeOutbox(e1)).toBe(false);
    expect(store.listOutbox().map((o) => o.eid)).toEqual([e2]);
  });

  it('queues a message and its envelope atomically in one transaction', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const m = msgId();
    const env = randomBytes(256);
    expect(() =>
      store.transaction(() => {
        store.addMessage({ msgId: m, contactId: c.id, direction: 'out', time: 1, body: 'typed', status: 'queued' });
        store.enqueueOutbox({ eid: envelopeId(env), contactId: c.id, envelope: env, msgId: m });
        throw new Error('crash before commit');
      }),
    ).toThrow();
    expect(store.countMessages()).toBe(0);
    expect(store.listOutbox()).toHaveLength(0);
    const r = store.transaction(() => {
      store.addMessage({ msgId: m, contactId: c.id, direction: 'out', time: 1, body: 'typed', status: 'queued' });
      return store.enqueueOutbox({ eid: envelopeId(env), contactId: c.id, envelope: env, msgId: m });
    });
    expect(r).toBe(true);
    expect(store.findMessage(m, 'out')?.status).toBe('queued');
    expect(store.listOutbox()[0]!.msgId).toEqual(m);
  });

  it('completeOutbox removes the entry and marks its message sent, once', () => {
    const c = store.pinContact(person('bob').bundle).contact;
    const m = msgId();
    const env = randomBytes(256);
    const eid = envelopeId(env);
    store.transaction(() => {
      store.addMessage({ msgId: m, contactId: c.id, direction: 'out', time: 1, body: 'typed', status: 'queued' });
      store.enqueueOutbox({ eid, contactId: c.id, envelope: env, msgId: m });
    });
    expect(store.completeOutbox(eid)).toBe(true);
    expect(store.listOutbox()).toEqual([]);
    expect(store.findMessage(m, 'out')?.status).toBe('sent');
    store.setStatus([m], 'delivered');
    expect(store.completeOutbox(eid)).toBe(false);
    expect(store.findMessage(m, 'out')?.status).toBe('delivered');
  });
});

describe('quarantine and kv', () => {
  it('keeps failed envelopes with their reason and sender, once per eid', () => {
    const env = randomBytes(500);
    const pk = randomBytes(32);
    const a = store.quarantine({ eid: envelopeId(env), envelope: env, reason: 'KEY_CHANGED', senderSignPk: pk, receivedAt: 9 });
    expect(a.isNew).toBe(true);
    expect(store.quarantine({ eid: envelopeId(env), envelope: env, reason: 'KEY_CHANGED', senderSignPk: pk })).toEqual({ id: a.id, isNew: false, dropped: 0 });
    const env2 = randomBytes(200);
    store.quarantine({ eid: envelopeId(env2), envelope: env2, reason: 'TAMPERED' });
    const all = store.listQuarantine();
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({ id: a.id, eid: envelopeId(env), reason: 'KEY_CHANGED', receivedAt: 9 });
    expect(all[0]!.envelope).toEqual(env);
    expect(all[0]!.senderSignPk).toEqual(pk);
    expect(all[1]!.senderSignPk).toBeUndefined();
    expect(store.listQuarantine({ reason: 'TAMPERED' })).toHaveLength(1);
    expect(store.listQuarantine({ senderSignPk: pk }).map((q) => q.id)).toEqual([a.id]);
    expect(store.removeQuarantine(a.id)).toBe(true);
    expect(store.removeQuarantine(a.id)).toBe(false);
    expect(store.listQuarantine()).toHaveLength(1);
    expectCode(() => store.quarantine({ eid: 'x', envelope: env, reason: 'not upper' }), 'BAD_ARGUMENT');
  });

  it('stores encrypted key/value pairs', () => {
    expect(store.getValue('cursor')).toBeUndefined();
    store.setValue('cursor', '42');
    store.setValue('cursor', '43');
    expect(store.getValue('cursor')).toBe('43');
    expect(store.deleteValue('cursor')).toBe(true);
    expect(store.getValue('cursor')).toBeUndefined();
  });

  it('a kv value cannot be moved to another key', () => {
    store.setValue('a', 'secret-a');
    const db = rawDb();
    db.prepare("INSERT INTO kv (key, value) SELECT 'b', value FROM kv WHERE key = 'a'").run();
    db.close();
    expectCode(() => store.getValue('b'), 'STORE_CORRUPT');
  });
});

describe('at rest', () => {
  it('leaves no body text, contact name, public key or message id in the db or wal file', () => {
    const bob = person('zebulonquix');
    const c = store.pinContact(bob.bundle).contact;
    store.markVerified(c.id);
    const body = 'the eagle lands at midnight, vault code 8812';
    const ids = [msgId(), msgId()];
    store.addMessage({ msgId: ids[0]!, contactId: c.id, direction: 'out', time: 1, body });
    store.addMessage({ msgId: ids[1]!, contactId: c.id, direction: 'in', time: 2, body: new TextEncoder().encode(`${body} (bytes)`) });
    const env = randomBytes(300);
    store.enqueueOutbox({ eid: envelopeId(env), contactId: c.id, envelope: env, msgId: ids[0]! });
    store.quarantine({ eid: 'q1', envelope: randomBytes(300), reason: 'KEY_CHANGED', senderSignPk: bob.id.signPk });
    store.setValue('note', 'zebulonquix cursor');
    const file = path.join(home, STORE_FILE);
    const needles: (string | Uint8Array)[] = [
      body,
      'eagle',
      'zebulonquix',
      bob.id.signPk,
      bob.id.boxPk,
      toB64(bob.id.signPk),
      toB64(bob.id.boxPk),
      toHex(bob.id.signPk),
      ids[0]!,
      ids[1]!,
      hk,
    ];
    const scan = (label: string, bytes: Buffer) => {
      for (const n of needles) expect(contains(bytes, n), `${label} holds ${typeof n === 'string' ? n : toHex(n)}`).toBe(false);
    };
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
    scan('wal', fs.readFileSync(`${file}-wal`));
    scan('db', fs.readFileSync(file));
    // the scan would see clear text if it were there
    expect(contains(Buffer.concat([fs.readFileSync(file), fs.readFileSync(`${file}-wal`)]), env)).toBe(true);
    store.close(); // checkpoints the wal into the main file
    scan('db after checkpoint', fs.readFileSync(file));
    store = HushStore.open(home, hk);
    expect(store.history().map((m) => m.msgId)).toEqual(ids);
  });
});
