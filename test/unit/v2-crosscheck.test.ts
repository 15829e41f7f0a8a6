/**
 * Protocol v2 recomputed by a second implementation from the vectors alone, as an outside
 * implementer of docs/PROTOCOL.md §9 would: X25519 and ChaCha20-Poly1305 (IETF) from
 * libsodium (libsodium-wrappers), HKDF-SHA256 written here from HMAC (RFC 5869), ML-KEM-768
 * decapsulation from @noble/post-quantum (the only ML-KEM at hand). It derives PQXDH's SK,
 * Bob's first receiving chain and the first message key, and opens Alice's first message.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { hex, unhex } from './helpers.js';

interface Sodium {
  ready: Promise<void>;
  crypto_scalarmult(sk: Uint8Array, pk: Uint8Array): Uint8Array;
  crypto_scalarmult_base(sk: Uint8Array): Uint8Array;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  crypto_aead_chacha20poly1305_ietf_decrypt(nsec: null, c: Uint8Array, ad: Uint8Array, npub: Uint8Array, k: Uint8Array): Uint8Array;
  crypto_aead_chacha20poly1305_ietf_encrypt(m: Uint8Array, ad: Uint8Array, nsec: null, npub: Uint8Array, k: Uint8Array): Uint8Array;
}
const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;
beforeAll(async () => {
  await sodium.ready;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pv: any = JSON.parse(readFileSync(new URL('../vectors/pqxdh.json', import.meta.url), 'utf8'));
const cat = (...a: Uint8Array[]) => new Uint8Array(Buffer.concat(a));
const enc = (s: string) => new TextEncoder().encode(s);
const D = (s: string) => cat(enc(s), Uint8Array.of(0));
const hmac = (k: Uint8Array, m: Uint8Array) => new Uint8Array(createHmac('sha256', k).update(m).digest());

/** RFC 5869 from HMAC-SHA256, by hand. */
function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  const prk = hmac(salt.length ? salt : new Uint8Array(32), ikm);
  let t = new Uint8Array(0);
  let okm = new Uint8Array(0);
  for (let i = 1; okm.length < len; i++) {
    t = hmac(prk, cat(t, info, Uint8Array.of(i)));
    okm = cat(okm, t);
  }
  return okm.slice(0, len);
}

describe('protocol v2 from the vectors, with libsodium and a hand-written HKDF', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(pv.handshake.map((c: any) => [c.name, c]) as [string, any][])('%s: SK, the first message key, and the first message opens', (_n, c) => {
    const aliceBoxSk = unhex(pv.identities.alice.secrets).subarray(32, 64);
    const bobBoxSk = unhex(pv.identities.bob.secrets).subarray(32, 64);
    const A = { signPk: unhex(pv.identities.alice.signPk), boxPk: unhex(pv.identities.alice.boxPk) };
    const B = { signPk: unhex(pv.identities.bob.signPk), boxPk: unhex(pv.identities.bob.boxPk) };
    const spkSk = unhex(pv.prekeys.spk.sk);
    const spkPk = sodium.crypto_scalarmult_base(spkSk);
    expect(sodium.crypto_sign_verify_detached(unhex(pv.prekeys.spk.sig), unhex(pv.prekeys.spk.signedBytes), B.signPk)).toBe(true);

    // Bob parses Alice's first message per §9.5: inner = 0x02 || senderSignPk || 0x01 || init || header || ct.
    const inner = unhex(c.first.inner);
    expect(inner[0]).toBe(2);
    expect(hex(inner.subarray(1, 33))).toBe(hex(A.signPk));
    expect(inner[33]).toBe(1);
    const init = inner.subarray(34, 34 + 1134);
    const ekPk = init.subarray(1, 33);
    const kemId = Buffer.from(init).readUInt32BE(37);
    const opkFlag = init[41];
    const kemCt = init.subarray(46);
    const header = inner.subarray(34 + 1134, 34 + 1134 + 41);
    expect(header[0]).toBe(1);
    const aliceRatchetPk = header.subarray(1, 33);
    expect(Buffer.from(header).readUInt32BE(37)).toBe(0); // n
    const ct = inner.subarray(34 + 1134 + 41);

    // PQXDH, responder side (§9.3).
    const dh = [sodium.crypto_scalarmult(spkSk, A.boxPk), sodium.crypto_scalarmult(bobBoxSk, ekPk), sodium.crypto_scalarmult(spkSk, ekPk)];
    if (opkFlag === 1) dh.push(sodium.crypto_scalarmult(unhex(pv.prekeys.opk.sk), ekPk));
    const kem = pv.prekeys.kem.find((k: { id: number }) => k.id === kemId);
    const ss = ml_kem768.decapsulate(kemCt, ml_kem768.keygen(unhex(kem.seed)).secretKey);
    const F = new Uint8Array(32).fill(0xff);
    const sk = hkdf(cat(F, ...dh, ss), new Uint8Array(32), D('hush/v2/pqxdh/x25519-sha256-mlkem768'), 32);
    expect(hex(sk)).toBe(c.sk);
    // The initiator side agrees: DH1 from Alice's IK and SPK_B's public key.
    expect(hex(sodium.crypto_scalarmult(aliceBoxSk, spkPk))).toBe(hex(dh[0]!));

    // Double Ratchet, Bob's first receiving chain (§9.4): RK = SK, DHs = SPK_B.
    const rootOut = hkdf(sodium.crypto_scalarmult(spkSk, aliceRatchetPk), sk, D('hush/v2/ratchet-root'), 64);
    const ckr = rootOut.subarray(32);
    const mk = hmac(ckr, Uint8Array.of(1));
    const kn = hkdf(mk, new Uint8Array(32), D('hush/v2/message-keys'), 44);
    const ad = cat(D('hush/v2/session-ad'), A.signPk, A.boxPk, B.signPk, B.boxPk, inner.subarray(0, 34 + 1134 + 41));
    const payload = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, ct, ad, kn.subarray(32), kn.subarray(0, 32));
    // payload = 0x02 || kind || id[16] || u64 time || u64 seq || u32 len || body || zeros (§9.5)
    const p = Buffer.from(payload);
    expect(p[0]).toBe(2);
    expect(p[1]).toBe(1);
    expect(p.subarray(2, 18).toString('hex')).toBe(c.first.payload.id);
    expect(Number(p.readBigUInt64BE(18))).toBe(c.first.payload.time);
    expect(Number(p.readBigUInt64BE(26))).toBe(c.first.payload.seq);
    const len = p.readUInt32BE(34);
    expect(p.subarray(38, 38 + len).toString('hex')).toBe(c.first.payload.body);
    expect(p.length).toBe(256);
    expect(p.subarray(38 + len).every((x) => x === 0)).toBe(true);
    // And libsodium's encryption of the same payload is the vector's ciphertext.
    expect(hex(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(payload, ad, null, kn.subarray(32), kn.subarray(0, 32)))).toBe(hex(ct));
  });
});
