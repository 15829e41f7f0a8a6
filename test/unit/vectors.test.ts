/**
 * Known-answer and failure vectors (test/vectors/*.json, made by scripts/make-vectors.mjs):
 * the code must reproduce every expected output byte for byte and fail every bad case with
 * the expected error code.
 */
import { describe, expect, it } from 'vitest';
import { makeBundle, verifyBundle } from '../../src/crypto/bundle.js';
import { fingerprint, safetyNumber } from '../../src/crypto/fingerprint.js';
import { type Identity, identityFromSecrets } from '../../src/crypto/identity.js';
import { deriveWrappingKey, openKeyring, rewrapKeyring, sealKeyring } from '../../src/crypto/keyring.js';
import { sha512 } from '../../src/crypto/nacl.js';
import { openEnvelope, sealEnvelope } from '../../src/crypto/seal.js';
import { bundleSignedBytes, bundleToJson, parseBundle } from '../../src/protocol/bundle.js';
import { DOMAIN, domainBytes } from '../../src/protocol/domains.js';
import { bytesEqual, concatBytes } from '../../src/protocol/encoding.js';
import { envelopeId, paddedLength, PAYLOAD_HEADER_BYTES } from '../../src/protocol/envelope.js';
import { type KeyringHeader, keyringHeaderBytes, keyringToJson, parseKeyring } from '../../src/protocol/keyring-file.js';
import { argon2Kdf, codeOf, codeOfSync, hex, tape, unhex, utf8, vectors } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Case = any;
/** Rows for it.each: the named fields of each case, then the case itself. */
const rows = (arr: Case[], ...keys: string[]): Case[][] => arr.map((c) => [...keys.map((k) => c[k]), c]);

const ev = vectors('envelope');
const ids: Record<string, Identity> = Object.fromEntries(
  Object.entries(ev.identities as Record<string, { secrets: string }>).map(([n, v]) => [n, identityFromSecrets(unhex(v.secrets))]),
);

describe('identities', () => {
  it('derive the published public keys from the 96 secret bytes', () => {
    for (const [n, v] of Object.entries(ev.identities as Record<string, { signPk: string; boxPk: string }>)) {
      expect(hex(ids[n]!.signPk), n).toBe(v.signPk);
      expect(hex(ids[n]!.boxPk), n).toBe(v.boxPk);
    }
  });
});

describe('envelope vectors', () => {
  it.each(rows(ev.seal, 'name'))('seal %s reproduces the envelope and opens', (_n, c) => {
    const r = tape(c.random);
    const env = sealEnvelope(ids[c.from]!, ids[c.to]!, { kind: c.kind, id: unhex(c.id), time: c.time, body: unhex(c.body) }, r);
    expect(r.left()).toBe(0);
    expect(hex(env)).toBe(c.envelope);
    expect(envelopeId(env)).toBe(c.envelopeId);
    expect(paddedLength(PAYLOAD_HEADER_BYTES + unhex(c.body).length)).toBe(c.payloadLength);
    const from = ids[c.from]!;
    const opened = openEnvelope(ids[c.to]!, env, (pk) => (bytesEqual(pk, from.signPk) ? from : undefined));
    expect(opened.kind).toBe(c.kind);
    expect(hex(opened.id)).toBe(c.id);
    expect(opened.time).toBe(c.time);
    expect(hex(opened.body)).toBe(c.body);
    expect(hex(opened.senderSignPk)).toBe(hex(from.signPk));
    if (c.text !== undefined) expect(new TextDecoder().decode(opened.body)).toBe(c.text);
  });

  it.each(rows(ev.open, 'name', 'expect'))('open %s -> %s', (_n, expected, c) => {
    const contacts = (c.contacts as string[]).map((n) => ids[n]!);
    const got = codeOfSync(() => openEnvelope(ids[c.to]!, unhex(c.envelope), (pk) => contacts.find((p) => bytesEqual(p.signPk, pk))));
    expect(got).toBe(expected);
  });

  it('covers every failure the brief names', () => {
    const names = new Set(ev.open.map((c: { name: string }) => c.name));
    for (const n of [
      'version-2',
      'flip-ephPk',
      'flip-outer-nonce',
      'flip-outer-mac',
      'flip-inner-version',
      'flip-inner-sender',
      'flip-inner-nonce',
      'flip-inner-ct',
      'wrong-recipient',
      'swapped-outer-headers',
      'truncated-1',
      'extended-1',
      'low-order-ephPk-0',
      'bind-recipient',
      'bind-payload-sender',
      'bind-ephPk',
      'padding-nonzero',
      'padding-too-long',
    ]) {
      expect(names.has(n), n).toBe(true);
    }
  });
});

describe('bundle vectors', () => {
  const bv = vectors('bundle');
  it.each(rows(bv.valid, 'name'))('bundle of %s: signed bytes, signature and json', (_n, c) => {
    const b = makeBundle(ids[c.identity]!, c.name, c.created);
    expect(hex(bundleSignedBytes(b))).toBe(c.signedBytes);
    expect(hex(b.sig)).toBe(c.sig);
    expect(bundleToJson(b)).toEqual(c.json);
    expect(verifyBundle(parseBundle(c.json)).name).toBe(c.name);
  });
  it('signed bytes are D(bundle) || v || lp(name) || signPk || boxPk || u64be(created)', () => {
    const c = bv.valid[0];
    const sb = unhex(c.signedBytes);
    const d = domainBytes(DOMAIN.bundle);
    expect(hex(sb.subarray(0, d.length))).toBe(hex(d));
    expect(sb.length).toBe(d.length + 1 + 4 + c.name.length + 32 + 32 + 8);
  });
  it.each(rows(bv.invalid, 'name', 'expect'))('bundle %s -> %s', (_n, expected, c) => {
    expect(codeOfSync(() => verifyBundle(parseBundle(c.json)))).toBe(expected);
  });
});

describe('fingerprint vectors', () => {
  const fv = vectors('fingerprint');
  it.each(rows(fv.fingerprints, 'label'))('fingerprint of %s', (_n, c) => {
    const pk = unhex(c.signPk);
    expect(hex(sha512(concatBytes(domainBytes(DOMAIN.fingerprint), pk)))).toBe(c.hash);
    expect(fingerprint(pk)).toBe(c.fingerprint);
    expect(c.fingerprint).toMatch(/^\d{5}( \d{5}){5}$/);
  });
  it.each(rows(fv.safetyNumbers, 'a', 'b'))('safety number of %s and %s', (a, b, c) => {
    expect(safetyNumber(ids[a]!.signPk, ids[b]!.signPk)).toBe(c.safetyNumber);
    expect(c.safetyNumber).toMatch(/^\d{5}( \d{5}){11}$/);
  });
});

describe('keyring vectors', () => {
  const kv = vectors('keyring');
  const alice = identityFromSecrets(unhex(kv.identity.secrets));
  const kdfOf = (k: { m: number; t: number; p: number; salt: string }) => ({ alg: 'argon2id' as const, m: k.m, t: k.t, p: k.p, salt: unhex(k.salt) });

  it('seal: Argon2id wrapping key, header bytes, header hash and the exact file', async () => {
    const s = kv.seal;
    const kdf = kdfOf(s.kdf);
    const wk = await deriveWrappingKey(argon2Kdf, utf8(s.passphrase), kdf);
    expect(hex(wk)).toBe(s.wrappingKey);
    const header: KeyringHeader = { type: 'hush-keyring', v: 1, name: kv.identity.name, created: s.created, signPk: alice.signPk, boxPk: alice.boxPk, kdf };
    expect(hex(keyringHeaderBytes(header))).toBe(s.headerBytes);
    expect(hex(sha512(concatBytes(domainBytes(DOMAIN.keyringHeader), keyringHeaderBytes(header))).subarray(0, 32))).toBe(s.headerHash);
    const r = tape(s.random);
    const file = sealKeyring(header, alice, wk, r);
    expect(r.left()).toBe(0);
    expect(keyringToJson(file)).toBe(s.file);
    const opened = openKeyring(parseKeyring(s.file), wk);
    expect(hex(opened.dataKey)).toBe(s.dataKey);
    expect(hex(opened.identity.boxSk)).toBe(hex(alice.boxSk));
  });

  it('rewrap: new passphrase and KDF, same secrets box, exact file; the old passphrase no longer opens it', async () => {
    const old = parseKeyring(kv.seal.file);
    const { dataKey } = openKeyring(old, unhex(kv.seal.wrappingKey));
    const kdf2 = kdfOf(kv.rewrap.kdf);
    const wk2 = await deriveWrappingKey(argon2Kdf, utf8(kv.rewrap.passphrase), kdf2);
    expect(hex(wk2)).toBe(kv.rewrap.wrappingKey);
    const file2 = rewrapKeyring(old, dataKey, kdf2, wk2, tape(kv.rewrap.random));
    expect(keyringToJson(file2)).toBe(kv.rewrap.file);
    expect(JSON.parse(kv.rewrap.file).secrets).toEqual(JSON.parse(kv.seal.file).secrets);
    expect(codeOfSync(() => openKeyring(parseKeyring(kv.rewrap.file), unhex(kv.seal.wrappingKey)))).toBe('WRONG_PASSPHRASE');
    expect(hex(openKeyring(parseKeyring(kv.rewrap.file), wk2).identity.signPk)).toBe(kv.identity.signPk);
  });

  it.each(rows(kv.open, 'name', 'expect'))('open %s -> %s', async (_n, expected, c) => {
    let kdfCalls = 0;
    const got = await codeOf(async () => {
      const f = parseKeyring(c.file);
      const k = await deriveWrappingKey((pw, p) => (kdfCalls++, argon2Kdf(pw, p)), utf8(c.passphrase), f.kdf);
      openKeyring(f, k);
    });
    expect(got).toBe(expected);
    if (expected === 'KDF_PARAMS_REFUSED') expect(kdfCalls).toBe(0);
  });
});
