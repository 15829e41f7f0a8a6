/**
 * The v2 prekey upload codec (src/protocol/prekey-upload.ts, docs/PROTOCOL.md §9.2 "Upload") and
 * the relay's SQLite prekey store (relay/prekeys-store.ts), in process. The relay process side is
 * in test/integration/relay-prekeys.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RelayStore } from '../../relay/store.js';
import { KEM_PK_BYTES } from '../../src/protocol/prekey-bundle.js';
import {
  encodePrekeyUpload,
  isEmptyUpload,
  MAX_PREKEY_UPLOAD_BYTES,
  MAX_UPLOAD_KEMS,
  MAX_UPLOAD_OPKS,
  parsePrekeyUpload,
  type PrekeyUpload,
  prekeyStatusFields,
  prekeyStatusJson,
} from '../../src/protocol/prekey-upload.js';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const spk = { id: 7, expires: 1_900_000_000_000, pk: bytes(32, 1), sig: bytes(64, 2) };
const lastResort = { id: 9, pk: bytes(KEM_PK_BYTES, 3), sig: bytes(64, 4) };
const opk = (id: number) => ({ id, pk: bytes(32, id & 0xff) });
const kem = (id: number) => ({ id, pk: bytes(KEM_PK_BYTES, id & 0xff), sig: bytes(64, 5) });
const full: PrekeyUpload = { spk, lastResort, opks: [opk(1), opk(2)], kems: [kem(3)] };

const refused = (b: Uint8Array, code = 'BAD_PREKEY_UPLOAD') => expect(() => parsePrekeyUpload(b)).toThrow(expect.objectContaining({ code }));

describe('prekey upload codec', () => {
  it('round-trips every combination of parts, byte for byte at the documented offsets', () => {
    const enc = encodePrekeyUpload(full);
    expect(enc.length).toBe(2 + 108 + 1252 + 2 + 2 * 36 + 2 + 1252);
    expect([...enc.subarray(0, 6)]).toEqual([1, 3, 0, 0, 0, 7]);
    expect(parsePrekeyUpload(enc)).toEqual(full);
    for (const u of [{}, { spk }, { lastResort }, { opks: [opk(4)] }, { kems: [kem(5), kem(6)] }, { spk, kems: [kem(1)] }] as PrekeyUpload[]) {
      expect(parsePrekeyUpload(encodePrekeyUpload(u))).toEqual({ opks: [], kems: [], ...u });
    }
    expect([...encodePrekeyUpload({})]).toEqual([1, 0, 0, 0, 0, 0]);
    expect(isEmptyUpload(parsePrekeyUpload(encodePrekeyUpload({})))).toBe(true);
    expect(isEmptyUpload(full)).toBe(false);
    const max = encodePrekeyUpload({
      spk,
      lastResort,
      opks: Array.from({ length: MAX_UPLOAD_OPKS }, (_, i) => opk(i)),
      kems: Array.from({ length: MAX_UPLOAD_KEMS }, (_, i) => kem(i)),
    });
    expect(max.length).toBe(MAX_PREKEY_UPLOAD_BYTES);
    expect(parsePrekeyUpload(max).kems).toHaveLength(MAX_UPLOAD_KEMS);
  });

  it('refuses every malformed field', () => {
    const enc = encodePrekeyUpload(full);
    refused(new Uint8Array(0));
    refused(Uint8Array.of(2, ...enc.subarray(1)), 'UNSUPPORTED_VERSION');
    refused(Uint8Array.of(1)); // no flags
    refused(Uint8Array.of(1, 4, 0, 0, 0, 0)); // unknown flag bit
    refused(Uint8Array.of(1, 1, 0, 0, 0, 0)); // spk flag without the spk
    refused(Uint8Array.of(1, 2, 0, 0, 0, 0)); // last-resort flag without the key
    refused(Uint8Array.of(1, 0, 0, 1, 0, 0)); // one OPK announced, none there
    refused(Uint8Array.of(1, 0, 0, 0, 0, 1)); // one KEM prekey announced, none there
    refused(Uint8Array.of(1, 0, 0, 0)); // no KEM count
    refused(enc.subarray(0, enc.length - 1)); // truncated
    refused(Uint8Array.of(...enc, 0)); // trailing byte
    const over = Uint8Array.of(1, 0, (MAX_UPLOAD_OPKS + 1) >> 8, (MAX_UPLOAD_OPKS + 1) & 0xff);
    refused(over);
    refused(Uint8Array.of(1, 0, 0, 0, 0, MAX_UPLOAD_KEMS + 1));
    const twice = encodePrekeyUpload({ opks: [opk(1), opk(2)] });
    twice.set([0, 0, 0, 1], 2 + 2 + 36); // second OPK's id := 1
    refused(twice);
    const kemTwice = encodePrekeyUpload({ kems: [kem(1), kem(2)] });
    kemTwice.set([0, 0, 0, 1], 2 + 2 + 2 + 1252);
    refused(kemTwice);
    const farExpiry = encodePrekeyUpload({ spk });
    farExpiry.set([0xff, 0xff, 0xff, 0xff], 2 + 4); // expiry beyond 2^53
    refused(farExpiry);
    refused(new Uint8Array(MAX_PREKEY_UPLOAD_BYTES + 1).fill(0).map((_, i) => (i === 0 ? 1 : 0)));
  });

  it('refuses to encode what it would not parse', () => {
    const bad: PrekeyUpload[] = [
      { spk: { ...spk, pk: bytes(31, 1) } },
      { spk: { ...spk, sig: bytes(63, 1) } },
      { spk: { ...spk, id: -1 } },
      { spk: { ...spk, expires: 2 ** 53 } },
      { lastResort: { ...lastResort, pk: bytes(32, 1) } },
      { lastResort: { ...lastResort, id: 2 ** 32 } },
      { opks: [opk(1), opk(1)] },
      { opks: [{ id: 1, pk: bytes(33, 0) }] },
      { kems: [kem(1), kem(1)] },
      { kems: [{ ...kem(1), sig: bytes(1, 0) }] },
      { opks: Array.from({ length: MAX_UPLOAD_OPKS + 1 }, (_, i) => opk(i)) },
      { kems: Array.from({ length: MAX_UPLOAD_KEMS + 1 }, (_, i) => kem(i)) },
    ];
    for (const u of bad) expect(() => encodePrekeyUpload(u)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^BAD_/) as string }));
  });

  it('writes and reads the status fields of a prekey-status frame', () => {
    const s = { opks: 3, kems: 0, spk: { id: 1, expires: 5 }, lastResort: { id: 2 } };
    expect(prekeyStatusJson(s)).toEqual({ opks: 3, kems: 0, spkId: 1, spkExpires: 5, lastResortId: 2 });
    expect(prekeyStatusFields(prekeyStatusJson(s), 'f')).toEqual(s);
    expect(prekeyStatusFields({ opks: 0, kems: 0 }, 'f')).toEqual({ opks: 0, kems: 0 });
    expect(() => prekeyStatusFields({ opks: -1, kems: 0 }, 'f')).toThrow();
    expect(() => prekeyStatusFields({ opks: 0, kems: 0, spkId: 1 }, 'f')).toThrow(); // spkId without spkExpires
  });
});

describe('relay prekey store (SQLite)', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const alice = bytes(32, 0xa1);
  const box = bytes(32, 0xb1);

  it('takes nothing while the signed prekey is expired, drops prekeys signed over an old boxPk, and purges expired signed prekeys', () => {
    dir = mkdtempSync(join(tmpdir(), 'hush-relay-prekeys-'));
    const store = new RelayStore(dir);
    try {
      const p = store.prekeys;
      expect(p.putPrekeys(alice, box, { ...full, spk: { ...spk, expires: 1000 } }, 10)).toMatchObject({ opks: 2, kems: 1 });
      expect(p.takeBundle(alice, box, 1001, true)).toBeUndefined();
      expect(p.prekeyStatus(alice)).toMatchObject({ opks: 2, kems: 1 }); // nothing consumed
      expect(p.takeBundle(alice, bytes(32, 0xb2), 999, true)).toBeUndefined(); // another boxPk than the one signed over
      const t = p.takeBundle(alice, box, 1000, false)!; // no one-time keys wanted: last resort, no OPK
      expect(t.kem).toMatchObject({ kind: 'last-resort', id: 9 });
      expect(t.opk).toBeUndefined();
      expect(p.purgeExpiredPrekeys(1001)).toBe(1);
      expect(p.prekeyStatus(alice)).toEqual({ opks: 2, kems: 1, lastResort: { id: 9 } });
      // The identity re-registered with a new boxPk: what was signed over the old one goes.
      expect(p.putPrekeys(alice, bytes(32, 0xb2), { opks: [opk(50)] }, 10)).toEqual({ opks: 1, kems: 0 });
      expect(p.putPrekeys(alice, bytes(32, 0xb2), { opks: [opk(51), opk(52)] }, 2)).toBe('too-many');
      expect(p.prekeyStatus(alice)).toEqual({ opks: 1, kems: 0 });
      p.dropPrekeys(alice);
      expect(p.prekeyStatus(alice)).toEqual({ opks: 0, kems: 0 });
    } finally {
      store.close();
    }
  });

  it('migrates a schema-2 store (a relay before prekeys) to 3, keeping its directory', () => {
    dir = mkdtempSync(join(tmpdir(), 'hush-relay-migrate3-'));
    const first = new RelayStore(dir);
    first.putBundle('alice', alice, '{}', 1);
    first.close();
    const db = new Database(join(dir, 'relay.sqlite'));
    db.exec('DROP TABLE prekey_signed; DROP TABLE prekey_opk; DROP TABLE prekey_kem;');
    db.pragma('user_version = 2');
    db.close();
    const store = new RelayStore(dir);
    try {
      expect(store.lookupKey(alice)?.name).toBe('alice');
      expect(store.prekeys.putPrekeys(alice, box, { opks: [opk(1)] }, 10)).toEqual({ opks: 1, kems: 0 });
    } finally {
      store.close();
    }
    const again = new Database(join(dir, 'relay.sqlite'));
    expect(again.pragma('user_version', { simple: true })).toBe(3);
    again.close();
  });
});
