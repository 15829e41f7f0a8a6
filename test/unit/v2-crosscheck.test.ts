/**
 * Protocol v2 recomputed by a second implementation from the vectors alone, as an outside
 * implementer of docs/PROTOCOL.md §9 would (test/unit/v2-crosscheck-lib.ts: libsodium, node's
 * HMAC/SHA-256, a hand-written HKDF, @noble ML-KEM; nothing from src/). This file: PQXDH
 * (pqxdh.json). Both sides of both handshakes (Alice's from her draws, Bob's from his prekeys),
 * the initiator and responder state bytes (§9.7), the first message byte for byte, its v2 outer
 * envelope opened with crypto_box_open_easy, all 11 bundle failures (signatures checked over
 * bytes built from the §9.2 layout, not taken from the vector) and all 13 first-message cases.
 * The conversation of ratchet.json: v2-crosscheck-ratchet.test.ts.
 *
 * What this cannot check independently: ML-KEM-768 itself (noble is the only ML-KEM at hand,
 * and hush uses it too: a bug in noble would be in both; the vectors' known answers pin its
 * current output). Bob's prekey bookkeeping in the first-message cases (`usedPrekeys`,
 * `spkRetiredAt`, `spkDeleted`) is state the vector states rather than bytes: we model it as
 * §9.3 describes and check the outcome, which is all an outside implementation can do.
 * The replay of a first message made without an OPK after its session is gone (the store's
 * `sessionStarted` record, §9.3 "Fallback") has no vector case.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BobPrekeys,
  cat,
  D,
  encodePayload,
  hex,
  hkdf,
  hmac,
  identity,
  kemSignedBytes,
  loadVectors,
  openEnvelope,
  parseBundle,
  parsePayload,
  pqxdhInitiate,
  refusal,
  sessionAd,
  sessionIdOf,
  sha256,
  sodium,
  spkSignedBytes,
  tape,
  unhex,
  verifyBundle,
} from './v2-crosscheck-lib.js';
import { encodeState, encrypt, openInner, type Session, kdfRk } from './v2-crosscheck-session.js';

beforeAll(async () => {
  await sodium.ready;
});

const pv = loadVectors('pqxdh');
const P = pv.prekeys;
const who = (n: string) => identity(pv.identities[n].secrets);
const KIND: Record<string, number> = { 'one-time': 1, 'last-resort': 2 };
/** Bob's prekeys as the vector gives them, with a case's bookkeeping (§9.3). */
function bobPrekeys(c: { usedPrekeys?: string[]; spkRetiredAt?: number; spkDeleted?: boolean } = {}): BobPrekeys {
  const used = c.usedPrekeys ?? [];
  return {
    spk: { id: P.spk.id, sk: unhex(P.spk.sk), pk: unhex(P.spk.pk), ...(c.spkRetiredAt !== undefined ? { retiredAt: c.spkRetiredAt } : {}), deleted: c.spkDeleted === true },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    kem: P.kem.filter((k: any) => !used.includes(`kem${k.id}`)).map((k: any) => ({ id: k.id, kind: k.kind, seed: unhex(k.seed) })),
    opk: used.includes('opk') ? [] : [{ id: P.opk.id, sk: unhex(P.opk.sk) }],
  };
}
// Which check refuses each case here (the reason of our Refused), to show it fails for the right cause.
const WHY: Record<string, string> = {
  'spk-sig-flipped': 'spkSig',
  'spk-pk-flipped': 'spkSig',
  'spk-expires-changed': 'spkSig',
  'kem-pk-flipped': 'kemSig',
  'kem-kind-changed': 'kemSig',
  'kem-sig-flipped': 'kemSig',
  'spk-expired': 'now > spkExpires',
  'other-identity': 'not the pinned keys',
  'version-2': 'bundle version',
  truncated: 'length',
  'kem-kind-3': 'kemKind',
  'kem-ciphertext-flipped': 'the AEAD does not open', // ML-KEM's implicit rejection: another SS, another SK
  'ekPk-flipped': 'the AEAD does not open',
  'unknown-spk-id': 'spkId',
  'unknown-kem-id': 'kemId',
  'opk-dropped': 'init header', // opkFlag 0 with opkId 300 (without that check: another SK and AD, and the AEAD refuses)
  'opk-already-used': 'opkId',
  'spk-replaced-past-grace': 'SPK replaced more than spkGrace ago',
  'spk-deleted': 'SPK made and deleted',
  'sender-changed': 'senderSignPk is not the contact',
  'inner-version-3': 'inner version',
  'type-3': 'type',
};
const cases = (list: { name: string; expect?: string }[]) => list.map((c) => [c.name, c.expect, c] as [string, string | undefined, never]);

describe('pqxdh.json, independently (§9.2, §9.3, §9.5)', () => {
  it('identities and prekeys: public keys from the secrets, signatures over the bytes of the §9.2 layout', () => {
    for (const n of Object.keys(pv.identities)) {
      const id = who(n);
      expect([hex(id.signPk), hex(id.boxPk)]).toEqual([pv.identities[n].signPk, pv.identities[n].boxPk]);
    }
    const B = who('bob');
    expect(hex(sodium.crypto_scalarmult_base(unhex(P.spk.sk)))).toBe(P.spk.pk);
    const spkBytes = spkSignedBytes(B.signPk, B.boxPk, P.spk.id, P.spk.expires, unhex(P.spk.pk));
    expect(hex(spkBytes)).toBe(P.spk.signedBytes);
    expect(sodium.crypto_sign_verify_detached(unhex(P.spk.sig), spkBytes, B.signPk)).toBe(true);
    for (const k of P.kem) {
      expect(hex(ml_kem768.keygen(unhex(k.seed)).publicKey)).toBe(k.pk); // §9.1: keys from the 64-byte seed d || z
      const bytes = kemSignedBytes(B.signPk, B.boxPk, KIND[k.kind]!, k.id, unhex(k.pk));
      expect(hex(sha256(bytes))).toBe(k.signedBytesSha256);
      expect(sodium.crypto_sign_verify_detached(unhex(k.sig), bytes, B.signPk)).toBe(true);
    }
    expect(hex(sodium.crypto_scalarmult_base(unhex(P.opk.sk)))).toBe(P.opk.pk);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(pv.handshake.map((c: any) => [c.name, c]) as [string, any][])('%s: both sides, both states, the first message and its envelope', (_n, c) => {
    const [A, B] = [who('alice'), who('bob')];
    const b = parseBundle(unhex(c.bundle));
    expect(refusal(() => verifyBundle(b, B, c.now))).toBeUndefined();
    expect(unhex(c.bundle).length).toBe(c.bundleBytes);
    expect([hex(b.spkPk), b.spkId, b.spkExpires, hex(b.opk?.pk ?? new Uint8Array(0))]).toEqual([P.spk.pk, P.spk.id, P.spk.expires, c.name === 'with-opk' ? P.opk.pk : '']);

    // Alice (§9.3, §9.4 "Initialisation"): draws ekSk, m, then her first ratchet key.
    const r = tape(c.random);
    const x = pqxdhInitiate(A, b, r);
    expect(hex(x.init)).toBe(c.initHeader);
    expect(hex(x.init.subarray(1, 33))).toBe(c.ekPk);
    expect(hex(x.init.subarray(46))).toBe(c.kemCt);
    expect(hex(x.sk)).toBe(c.sk);
    const ad = sessionAd(A, B);
    expect([hex(ad), ad.length]).toEqual([c.ad, 147]);
    expect(hex(sessionIdOf(ad, x.init))).toBe(c.sessionId);
    const dhsSk = r(32);
    expect(r.left()).toBe(0);
    const [rk, cks] = kdfRk(x.sk, sodium.crypto_scalarmult(dhsSk, b.spkPk));
    const pub = (p: typeof A) => ({ signPk: p.signPk, boxPk: p.boxPk });
    const alice: Session = {
      role: 1,
      sessionId: sessionIdOf(ad, x.init),
      initiator: pub(A),
      responder: pub(B),
      created: c.now,
      rk,
      dhsSk,
      dhsPk: sodium.crypto_scalarmult_base(dhsSk),
      dhr: b.spkPk,
      cks,
      ns: 0,
      nr: 0,
      pn: 0,
      pendingInit: x.init,
      retired: [],
      skipped: [],
    };
    expect(hex(encodeState(alice))).toBe(c.initiatorState);

    // Her first message (§9.5), and its outer envelope to Bob.
    const payload = encodePayload(c.first.payload);
    const sealed = encrypt(alice, payload);
    expect(hex(sealed.inner)).toBe(c.first.inner);
    expect(sealed.inner.length).toBe(c.first.innerBytes);
    const e = c.first.envelope;
    expect(e.to).toBe('bob');
    const env = unhex(e.bytes);
    const [ephSk, nonce] = e.random.map(unhex);
    expect([env[0], hex(env.subarray(1, 33)), hex(env.subarray(33, 57))]).toEqual([2, hex(sodium.crypto_scalarmult_base(ephSk)), hex(nonce)]);
    expect(hex(openEnvelope(B.boxSk, env))).toBe(c.first.inner);
    expect(hex(cat(env.subarray(0, 57), sodium.crypto_box_easy(sealed.inner, nonce, B.boxPk, ephSk)))).toBe(e.bytes);
    // §5.1: crypto_box_easy is secretbox under crypto_box_beforenm.
    expect(hex(sodium.crypto_secretbox_open_easy(env.subarray(57), nonce, sodium.crypto_box_beforenm(env.subarray(1, 33), B.boxSk)))).toBe(c.first.inner);
    expect(env.length).toBe(e.length);
    expect(env.length).toBe(73 + 34 + 41 + 16 + payload.length + 1134); // §9.5
    // A wrong recipient key does not open it.
    expect(refusal(() => openEnvelope(A.boxSk, env))?.code).toBe('TAMPERED');

    // Bob (§9.3 responder, §9.4): the first message makes his session.
    const rb = tape(c.open.random);
    const o = openInner(B, A, sealed.inner, [], bobPrekeys(), c.now, rb);
    expect(rb.left()).toBe(0);
    expect(o.index).toBe(-1);
    expect(o.used).toEqual(c.open.used);
    expect(hex(o.payload)).toBe(hex(payload));
    expect(parsePayload(o.payload)).toEqual(c.first.payload);
    expect(hex(encodeState(o.state))).toBe(c.open.responderState);
  });

  it('the first message key by hand (§9.3, §9.4), as a worked example', () => {
    const c = pv.handshake[0];
    const [A, B] = [who('alice'), who('bob')];
    const inner = unhex(c.first.inner);
    const init = inner.subarray(34, 34 + 1134);
    const ekPk = init.subarray(1, 33);
    const spkSk = unhex(P.spk.sk);
    const dh = [sodium.crypto_scalarmult(spkSk, A.boxPk), sodium.crypto_scalarmult(B.boxSk, ekPk), sodium.crypto_scalarmult(spkSk, ekPk)];
    dh.push(sodium.crypto_scalarmult(unhex(P.opk.sk), ekPk));
    const ss = ml_kem768.decapsulate(init.subarray(46), ml_kem768.keygen(unhex(P.kem[0].seed)).secretKey);
    const sk = hkdf(new Uint8Array(32), cat(new Uint8Array(32).fill(0xff), ...dh, ss), D('hush/v2/pqxdh/x25519-sha256-mlkem768'), 32);
    expect(hex(sk)).toBe(c.sk);
    const header = inner.subarray(1168, 1168 + 41);
    const ckr = hkdf(sk, sodium.crypto_scalarmult(spkSk, header.subarray(1, 33)), D('hush/v2/ratchet-root'), 64).subarray(32);
    const kn = hkdf(new Uint8Array(32), hmac(ckr, Uint8Array.of(1)), D('hush/v2/message-keys'), 44);
    const ad = cat(D('hush/v2/session-ad'), A.signPk, A.boxPk, B.signPk, B.boxPk, inner.subarray(0, 1168 + 41));
    const p = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, inner.subarray(1168 + 41), ad, kn.subarray(32), kn.subarray(0, 32));
    expect(hex(p)).toBe(hex(encodePayload(c.first.payload)));
  });

  it('every vector case is covered here', () => {
    expect([pv.bundleFail.length, pv.firstFail.length]).toEqual([11, 13]);
  });

  it.each(cases(pv.bundleFail))('bundle %s -> %s', (name, expected, c: { bundle: string; now: number; pinned?: string }) => {
    const r = refusal(() => verifyBundle(parseBundle(unhex(c.bundle)), who(c.pinned ?? 'bob'), c.now));
    expect(r?.code).toBe(expected);
    expect(r?.reason).toContain(WHY[name]);
  });

  it.each(cases(pv.firstFail))(
    'first message %s -> %s',
    (name, expected, c: { inner: string; now: number; usedPrekeys?: string[]; spkRetiredAt?: number; spkDeleted?: boolean }) => {
      const r = refusal(() => openInner(who('bob'), who('alice'), unhex(c.inner), [], bobPrekeys(c), c.now, () => new Uint8Array(32).fill(7)));
      expect(r?.code ?? 'OK').toBe(expected);
      if (r) expect(r.reason).toContain(WHY[name]);
    },
  );
});
