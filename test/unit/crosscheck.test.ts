/**
 * A second implementation opens what we make, and we open what it makes: libsodium
 * (libsodium-wrappers, the C library compiled to WebAssembly) against our tweetnacl +
 * node:crypto code. tweetnacl's box and secretbox outputs already use the _easy layout
 * (16-byte MAC, then ciphertext, without NaCl's 16/32 zero-byte prefixes), so the bytes of
 * our envelopes go to crypto_box_open_easy / crypto_secretbox_open_easy unchanged.
 *
 * Not cross-checked here: Argon2id (this libsodium build has no crypto_pwhash); the keyring
 * test starts from the wrapping key in the vector, which the argon2 package (the reference C
 * implementation) produced.
 */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, identityFromSecrets } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { openEnvelope, sealEnvelope } from '../../src/crypto/seal.js';
import { DOMAIN, domainBytes } from '../../src/protocol/domains.js';
import { bytesEqual, concatBytes, readU32be, readU64be, u32be, u64be } from '../../src/protocol/encoding.js';
import { KIND, PAYLOAD_HEADER_BYTES, paddedLength } from '../../src/protocol/envelope.js';
import { hex, unhex, vectors } from './helpers.js';

interface Sodium {
  ready: Promise<void>;
  crypto_box_open_easy(c: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_box_easy(m: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_box_beforenm(pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_secretbox_open_easy(c: Uint8Array, n: Uint8Array, k: Uint8Array): Uint8Array;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  crypto_sign_seed_keypair(seed: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array };
  crypto_scalarmult(sk: Uint8Array, pk: Uint8Array): Uint8Array;
  crypto_scalarmult_base(sk: Uint8Array): Uint8Array;
  crypto_hash(m: Uint8Array): Uint8Array;
}
const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;
beforeAll(async () => {
  await sodium.ready;
});

const ev = vectors('envelope');
const secretsOf = (n: string) => unhex(ev.identities[n].secrets);

describe('libsodium opens our envelopes', () => {
  it('identity keys: crypto_sign_seed_keypair and crypto_scalarmult_base agree', () => {
    for (const n of Object.keys(ev.identities)) {
      const s = secretsOf(n);
      expect(hex(sodium.crypto_sign_seed_keypair(s.subarray(0, 32)).publicKey)).toBe(ev.identities[n].signPk);
      expect(hex(sodium.crypto_scalarmult_base(s.subarray(32, 64)))).toBe(ev.identities[n].boxPk);
    }
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(ev.seal.map((c: any) => [c.name, c]) as [string, any][])('%s: both layers open with crypto_box_open_easy and every field is as PROTOCOL.md §5 says', (_n, c) => {
    const env = unhex(c.envelope);
    const recipientSk = secretsOf(c.to).subarray(32, 64);
    const senderPk = unhex(ev.identities[c.from].boxPk);
    expect(env[0]).toBe(1);
    const ephPk = env.subarray(1, 33);
    const inner = sodium.crypto_box_open_easy(env.subarray(57), env.subarray(33, 57), ephPk, recipientSk);
    expect(inner[0]).toBe(1);
    expect(hex(inner.subarray(1, 33))).toBe(ev.identities[c.from].signPk);
    const p = sodium.crypto_box_open_easy(inner.subarray(57), inner.subarray(33, 57), senderPk, recipientSk);
    expect(p.length).toBe(c.payloadLength);
    expect(p[0]).toBe(1);
    expect(p[1]).toBe(KIND[c.kind as keyof typeof KIND]);
    expect(hex(p.subarray(2, 34))).toBe(ev.identities[c.from].signPk);
    expect(hex(p.subarray(34, 66))).toBe(ev.identities[c.to].signPk);
    expect(hex(p.subarray(66, 98))).toBe(hex(ephPk));
    expect(hex(p.subarray(98, 114))).toBe(c.id);
    expect(readU64be(p, 114)).toBe(c.time);
    const len = readU32be(p, 122);
    expect(hex(p.subarray(126, 126 + len))).toBe(c.body);
    expect(p.subarray(126 + len).every((b) => b === 0)).toBe(true);
    // The relay id: SHA-512(D(envelope-id) || envelope)[0..16].
    expect(hex(sodium.crypto_hash(concatBytes(domainBytes(DOMAIN.envelopeId), env)).subarray(0, 16))).toBe(c.envelopeId);
  });

  it('a fresh random envelope opens too', () => {
    const a = generateIdentity(randomBytes);
    const b = generateIdentity(randomBytes);
    const body = randomBytes(3000);
    const env = sealEnvelope(a, b, { kind: 'msg', id: randomBytes(16), time: 5, body }, randomBytes);
    const inner = sodium.crypto_box_open_easy(env.subarray(57), env.subarray(33, 57), env.subarray(1, 33), b.boxSk);
    const p = sodium.crypto_box_open_easy(inner.subarray(57), inner.subarray(33, 57), a.boxPk, b.boxSk);
    expect(p.subarray(126, 126 + body.length)).toEqual(body);
  });

  it('libsodium refuses every low-order point of the vectors as well (all-zero shared secret)', () => {
    const sk = secretsOf('bob').subarray(32, 64);
    expect(ev.lowOrderPoints.length).toBeGreaterThanOrEqual(10);
    for (const pt of ev.lowOrderPoints as string[]) {
      expect(() => sodium.crypto_scalarmult(sk, unhex(pt)), pt).toThrow();
      expect(() => sodium.crypto_box_beforenm(unhex(pt), sk), pt).toThrow();
    }
  });
});

describe('we open envelopes that libsodium made', () => {
  it.each([0, 5, 130, 131, 2000])('a %i-byte body sealed with crypto_box_easy opens with openEnvelope', (n) => {
    const a = identityFromSecrets(secretsOf('alice'));
    const b = identityFromSecrets(secretsOf('bob'));
    const eph = { sk: randomBytes(32) } as { sk: Uint8Array; pk?: Uint8Array };
    eph.pk = sodium.crypto_scalarmult_base(eph.sk);
    const body = randomBytes(n);
    const id = randomBytes(16);
    const payload = new Uint8Array(paddedLength(PAYLOAD_HEADER_BYTES + n));
    payload.set(concatBytes(Uint8Array.of(1, KIND.receipt), a.signPk, b.signPk, eph.pk, id, u64be(1234), u32be(n), body));
    const innerNonce = randomBytes(24);
    const inner = concatBytes(Uint8Array.of(1), a.signPk, innerNonce, sodium.crypto_box_easy(payload, innerNonce, b.boxPk, a.boxSk));
    const outerNonce = randomBytes(24);
    const env = concatBytes(Uint8Array.of(1), eph.pk, outerNonce, sodium.crypto_box_easy(inner, outerNonce, b.boxPk, eph.sk));
    const o = openEnvelope(b, env, (pk) => (bytesEqual(pk, a.signPk) ? a : undefined));
    expect(o.kind).toBe('receipt');
    expect(o.body).toEqual(body);
    expect(o.id).toEqual(id);
    expect(o.time).toBe(1234);
  });
});

describe('bundles, fingerprints and keyrings against libsodium', () => {
  const bv = vectors('bundle');
  it('crypto_sign_verify_detached accepts every valid bundle signature', () => {
    for (const c of bv.valid) {
      expect(sodium.crypto_sign_verify_detached(unhex(c.sig), unhex(c.signedBytes), unhex(ev.identities[c.identity].signPk))).toBe(true);
    }
  });
  it('and refuses the malleated (S + L) signature, as we do', () => {
    const bad = bv.invalid.find((c: { name: string }) => c.name === 'sig-S-plus-L');
    const good = bv.valid[0];
    const pk = unhex(ev.identities[good.identity].signPk);
    expect(sodium.crypto_sign_verify_detached(Buffer.from(good.json.sig, 'base64'), unhex(good.signedBytes), pk)).toBe(true);
    expect(sodium.crypto_sign_verify_detached(Buffer.from(bad.json.sig, 'base64'), unhex(good.signedBytes), pk)).toBe(false);
  });
  it('libsodium refuses the small-order key forgery too', () => {
    const c = bv.invalid.find((x: { name: string }) => x.name === 'small-order-key-forgery');
    const b = bv.valid[0];
    expect(sodium.crypto_sign_verify_detached(Buffer.from(c.json.sig, 'base64'), unhex(b.signedBytes), Buffer.from(c.json.signPk, 'base64'))).toBe(false);
  });
  it('fingerprint hashes equal crypto_hash (SHA-512) of D(fingerprint) || signPk', () => {
    for (const c of vectors('fingerprint').fingerprints) {
      expect(hex(sodium.crypto_hash(concatBytes(domainBytes(DOMAIN.fingerprint), unhex(c.signPk))))).toBe(c.hash);
    }
  });
  it('keyring: crypto_secretbox_open_easy opens the wrap and the secrets, header hash included', () => {
    const kv = vectors('keyring');
    for (const [file, wk] of [
      [kv.seal.file, kv.seal.wrappingKey],
      [kv.rewrap.file, kv.rewrap.wrappingKey],
    ] as [string, string][]) {
      const f = JSON.parse(file);
      const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
      const wrapped = sodium.crypto_secretbox_open_easy(b64(f.wrap.ct), b64(f.wrap.nonce), unhex(wk));
      expect(wrapped.length).toBe(64);
      expect(hex(wrapped.subarray(0, 32))).toBe(kv.seal.dataKey);
      expect(hex(wrapped.subarray(32))).toBe(hex(sodium.crypto_hash(concatBytes(domainBytes(DOMAIN.keyringHeader), headerBytesOf(f))).subarray(0, 32)));
      const secrets = sodium.crypto_secretbox_open_easy(b64(f.secrets.ct), b64(f.secrets.nonce), wrapped.subarray(0, 32));
      expect(secrets[0]).toBe(1);
      expect(hex(secrets.subarray(1))).toBe(kv.identity.secrets);
    }
  });
});

/** The canonical header bytes of PROTOCOL.md §6, rebuilt here from the JSON, independently. */
function headerBytesOf(f: {
  type: string;
  v: number;
  name: string;
  created: number;
  signPk: string;
  boxPk: string;
  kdf: { alg: string; m: number; t: number; p: number; salt: string };
}): Uint8Array {
  const te = new TextEncoder();
  const lpx = (b: Uint8Array) => concatBytes(u32be(b.length), b);
  const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  return concatBytes(
    lpx(te.encode(f.type)),
    Uint8Array.of(f.v),
    lpx(te.encode(f.name)),
    u64be(f.created),
    b64(f.signPk),
    b64(f.boxPk),
    lpx(te.encode(f.kdf.alg)),
    u32be(f.kdf.m),
    u32be(f.kdf.t),
    u32be(f.kdf.p),
    b64(f.kdf.salt),
  );
}
