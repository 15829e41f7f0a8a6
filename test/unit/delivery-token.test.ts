/**
 * Delivery tokens in process (docs/PROTOCOL.md §5.8): the derivation and the hash recomputed
 * from the bytes written in PROTOCOL.md with node:crypto, the token body layout and its
 * refusals, and the relay store's migration from schema 1 (before tokens) to 2.
 */
import Database from 'better-sqlite3';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveDeliveryToken } from '../../src/crypto/delivery-token.js';
import { decodeTokenBody, encodeTokenBody, tokenHash } from '../../src/protocol/delivery-token.js';
import { RelayStore, SCHEMA_VERSION } from '../../relay/store.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const D = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]);

describe('delivery token derivation and hash', () => {
  const key = Uint8Array.from({ length: 32 }, (_v, i) => i);
  const contact = Uint8Array.from({ length: 32 }, (_v, i) => 0xa0 + (i % 16));
  const relay = 'ws://127.0.0.1:7070';

  it('is HMAC-SHA256(tokenKey, D(deliveryToken) || lp(url) || contactSignPk || u64be(epoch) || u32be(gen)), byte for byte', () => {
    const url = Buffer.from(relay, 'utf8');
    const lp = Buffer.alloc(4);
    lp.writeUInt32BE(url.length);
    const epoch = Buffer.alloc(8);
    epoch.writeBigUInt64BE(2923n);
    const gen = Buffer.alloc(4);
    gen.writeUInt32BE(3);
    const want = createHmac('sha256', key)
      .update(Buffer.concat([D('hush/v1/delivery-token'), lp, url, contact, epoch, gen]))
      .digest();
    const t = deriveDeliveryToken(key, relay, contact, 2923, 3);
    expect(hex(t)).toBe(want.toString('hex'));
    expect(hex(tokenHash(t))).toBe(
      createHash('sha256')
        .update(Buffer.concat([D('hush/v1/delivery-token-hash'), t]))
        .digest('hex'),
    );
  });

  it('differs for another epoch, generation, contact or relay', () => {
    const base = hex(deriveDeliveryToken(key, relay, contact, 1, 0));
    const other = Uint8Array.from(contact);
    other[0]! ^= 1;
    for (const t of [
      deriveDeliveryToken(key, relay, contact, 2, 0),
      deriveDeliveryToken(key, relay, contact, 1, 1),
      deriveDeliveryToken(key, relay, other, 1, 0),
      deriveDeliveryToken(key, 'ws://127.0.0.1:7071', contact, 1, 0),
    ]) {
      expect(hex(t)).not.toBe(base);
    }
  });
});

describe('token body', () => {
  const token = Uint8Array.from({ length: 32 }, (_v, i) => 255 - i);

  it('is 0x01 || token[32] || u64be(exp) || utf8(relayUrl), and decodes back', () => {
    const b = encodeTokenBody({ token, exp: 1_796_000_000_000, relay: 'ws://localhost:7070' });
    const exp = Buffer.alloc(8);
    exp.writeBigUInt64BE(1_796_000_000_000n);
    expect(hex(b)).toBe(hex(Buffer.concat([Buffer.of(1), token, exp, Buffer.from('ws://localhost:7070')])));
    expect(decodeTokenBody(b)).toEqual({ token, exp: 1_796_000_000_000, relay: 'ws://localhost:7070' });
  });

  it('refuses another version, a short body and a URL that is not printable ASCII (BAD_TOKEN)', () => {
    const good = encodeTokenBody({ token, exp: 5, relay: 'ws://h' });
    const v2 = Uint8Array.from(good);
    v2[0] = 2;
    const spaced = Buffer.concat([good.subarray(0, 41), Buffer.from('ws://a b')]);
    const utf = Buffer.concat([good.subarray(0, 41), Buffer.from('ws://é')]);
    for (const bad of [v2, good.subarray(0, 41), spaced, utf]) expect(() => decodeTokenBody(bad)).toThrow(expect.objectContaining({ code: 'BAD_TOKEN' }));
    expect(() => encodeTokenBody({ token: token.subarray(1), exp: 5, relay: 'ws://h' })).toThrow(expect.objectContaining({ code: 'BAD_TOKEN' }));
  });
});

describe('relay store schema 1 -> 3', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('migrates a schema-1 store (a relay before tokens), keeping its mail and directory', () => {
    dir = mkdtempSync(join(tmpdir(), 'hush-relay-migrate-'));
    const db = new Database(join(dir, 'relay.sqlite'));
    db.exec(`CREATE TABLE directory (name TEXT PRIMARY KEY, sign_pk BLOB NOT NULL UNIQUE, bundle TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE mailbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, recipient BLOB NOT NULL, eid TEXT NOT NULL, env BLOB NOT NULL, size INTEGER NOT NULL, time INTEGER NOT NULL, UNIQUE (recipient, eid));`);
    db.prepare('INSERT INTO mailbox (recipient, eid, env, size, time) VALUES (?, ?, ?, ?, ?)').run(Buffer.alloc(32, 7), 'ab'.repeat(16), Buffer.alloc(400, 1), 400, Date.now());
    db.pragma('user_version = 1');
    db.close();
    const store = new RelayStore(dir);
    try {
      expect(SCHEMA_VERSION).toBe(3);
      expect(store.stats(new Uint8Array(32).fill(7))).toEqual({ count: 1, bytes: 400 });
      const h = new Uint8Array(32).fill(9);
      expect(store.putTokens(new Uint8Array(32).fill(7), [{ h, exp: Date.now() + 1000 }], [], Date.now())).toBe(1);
      expect(store.token(h)?.recipient).toEqual(new Uint8Array(32).fill(7));
    } finally {
      store.close();
    }
    const again = new Database(join(dir, 'relay.sqlite'));
    expect(again.pragma('user_version', { simple: true })).toBe(3);
    again.close();
  });
});
