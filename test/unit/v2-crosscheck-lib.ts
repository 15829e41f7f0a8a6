/**
 * A second, independent implementation of protocol v2 (docs/PROTOCOL.md §9), written from the
 * document alone for the cross-check tests (v2-crosscheck*.test.ts). It imports nothing from
 * src/: X25519, Ed25519, ChaCha20-Poly1305 (IETF) and crypto_box from libsodium
 * (libsodium-wrappers), HMAC-SHA256 and SHA-256 from node:crypto, HKDF written here (RFC 5869),
 * ML-KEM-768 from @noble/post-quantum (the only ML-KEM at hand; the project uses it too, so the
 * KEM itself is not independently checked, only how §9.3 uses it).
 *
 * Section numbers in the comments say which text each piece follows. Refusals throw Refused
 * with the §9.8 code and a reason (which check refused), so the tests can show why. The
 * sessions (§9.4 Double Ratchet, §9.7 state bytes, opening an inner): v2-crosscheck-session.ts.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

export interface Sodium {
  ready: Promise<void>;
  crypto_scalarmult(sk: Uint8Array, pk: Uint8Array): Uint8Array;
  crypto_scalarmult_base(sk: Uint8Array): Uint8Array;
  crypto_sign_seed_keypair(seed: Uint8Array): { publicKey: Uint8Array; privateKey: Uint8Array };
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  crypto_aead_chacha20poly1305_ietf_decrypt(nsec: null, c: Uint8Array, ad: Uint8Array, npub: Uint8Array, k: Uint8Array): Uint8Array;
  crypto_aead_chacha20poly1305_ietf_encrypt(m: Uint8Array, ad: Uint8Array, nsec: null, npub: Uint8Array, k: Uint8Array): Uint8Array;
  crypto_box_easy(m: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_box_open_easy(c: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_box_beforenm(pk: Uint8Array, sk: Uint8Array): Uint8Array;
  crypto_secretbox_open_easy(c: Uint8Array, n: Uint8Array, k: Uint8Array): Uint8Array;
}
export const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const loadVectors = (name: 'pqxdh' | 'ratchet'): any => JSON.parse(readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8'));
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const cat = (...a: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(a));
export const D = (s: string): Uint8Array => cat(new TextEncoder().encode(s), Uint8Array.of(0)); // §1
export const u32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
export const u64 = (n: number): Uint8Array => cat(u32(Math.floor(n / 2 ** 32)), u32(n >>> 0));
export const rd32 = (b: Uint8Array, o: number): number => Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(o);
export const rd64 = (b: Uint8Array, o: number): number => rd32(b, o) * 2 ** 32 + rd32(b, o + 4);
export const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
export const hmac = (k: Uint8Array, m: Uint8Array): Uint8Array => new Uint8Array(createHmac('sha256', k).update(m).digest());
export const Z32 = new Uint8Array(32);
export const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => a !== undefined && b !== undefined && hex(a) === hex(b);

export class Refused extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}
export function refusal(f: () => unknown): Refused | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof Refused) return e;
    throw e;
  }
}

/** Replays recorded draws; `left()` says how many were not asked for. */
export function tape(draws: string[]): ((n: number) => Uint8Array) & { left: () => number } {
  let i = 0;
  const r = (n: number): Uint8Array => {
    const d = unhex(draws[i++] ?? '');
    if (d.length !== n) throw new Error(`tape: wanted ${n} bytes, recorded ${d.length}`);
    return d;
  };
  return Object.assign(r, { left: () => draws.length - i });
}

/** RFC 5869 from HMAC-SHA256 (§9.1 HKDF). */
export function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  const prk = hmac(salt, ikm);
  let t: Uint8Array = new Uint8Array(0);
  let okm: Uint8Array = new Uint8Array(0);
  for (let i = 1; okm.length < len; i++) okm = cat(okm, (t = hmac(prk, cat(t, info, Uint8Array.of(i)))));
  return okm.slice(0, len);
}

/** §9.1: X25519 with an all-zero result refused (libsodium throws on it). */
export function x25519(sk: Uint8Array, pk: Uint8Array): Uint8Array {
  try {
    return sodium.crypto_scalarmult(sk, pk);
  } catch {
    throw new Refused('TAMPERED', 'X25519 with a low-order key');
  }
}

/** §2: signSeed[32] || boxSk[32] || historyKey[32]. */
export function identity(secretsHex: string): { signPk: Uint8Array; boxSk: Uint8Array; boxPk: Uint8Array } {
  const s = unhex(secretsHex);
  const boxSk = s.slice(32, 64);
  return { signPk: sodium.crypto_sign_seed_keypair(s.slice(0, 32)).publicKey, boxSk, boxPk: sodium.crypto_scalarmult_base(boxSk) };
}
export type Pub = { signPk: Uint8Array; boxPk: Uint8Array };

// --- §9.2 prekey bundle ------------------------------------------------------------------
export interface Bundle {
  signPk: Uint8Array;
  boxPk: Uint8Array;
  spkId: number;
  spkExpires: number;
  spkPk: Uint8Array;
  spkSig: Uint8Array;
  kemKind: number;
  kemId: number;
  kemPk: Uint8Array;
  kemSig: Uint8Array;
  opk?: { id: number; pk: Uint8Array };
}
export function parseBundle(b: Uint8Array): Bundle {
  if (b[0] !== 1) throw new Refused('UNSUPPORTED_VERSION', 'bundle version');
  if (b.length !== 1427 && b.length !== 1463) throw new Refused('BAD_PREKEY_BUNDLE', 'length');
  if (b[173] !== 1 && b[173] !== 2) throw new Refused('BAD_PREKEY_BUNDLE', 'kemKind');
  if (b[1426] !== (b.length === 1463 ? 1 : 0)) throw new Refused('BAD_PREKEY_BUNDLE', 'opkFlag');
  const out: Bundle = {
    signPk: b.slice(1, 33),
    boxPk: b.slice(33, 65),
    spkId: rd32(b, 65),
    spkExpires: rd64(b, 69),
    spkPk: b.slice(77, 109),
    spkSig: b.slice(109, 173),
    kemKind: b[173]!,
    kemId: rd32(b, 174),
    kemPk: b.slice(178, 1362),
    kemSig: b.slice(1362, 1426),
  };
  if (b[1426] === 1) out.opk = { id: rd32(b, 1427), pk: b.slice(1431, 1463) };
  return out;
}
export const spkSignedBytes = (signPk: Uint8Array, boxPk: Uint8Array, id: number, expires: number, pk: Uint8Array): Uint8Array =>
  cat(D('hush/v2/signed-prekey'), Uint8Array.of(1), signPk, boxPk, u32(id), u64(expires), pk);
export const kemSignedBytes = (signPk: Uint8Array, boxPk: Uint8Array, kind: number, id: number, pk: Uint8Array): Uint8Array =>
  cat(D('hush/v2/kem-prekey'), Uint8Array.of(1), signPk, boxPk, Uint8Array.of(kind), u32(id), pk);
/** §9.2, the initiator's checks in order: pinned keys, both signatures, expiry. */
export function verifyBundle(b: Bundle, pinned: Pub, now: number): void {
  if (!eq(b.signPk, pinned.signPk) || !eq(b.boxPk, pinned.boxPk)) throw new Refused('PREKEY_IDENTITY_MISMATCH', 'not the pinned keys');
  if (!sodium.crypto_sign_verify_detached(b.spkSig, spkSignedBytes(b.signPk, b.boxPk, b.spkId, b.spkExpires, b.spkPk), b.signPk)) {
    throw new Refused('BAD_PREKEY_SIGNATURE', 'spkSig');
  }
  if (!sodium.crypto_sign_verify_detached(b.kemSig, kemSignedBytes(b.signPk, b.boxPk, b.kemKind, b.kemId, b.kemPk), b.signPk)) {
    throw new Refused('BAD_PREKEY_SIGNATURE', 'kemSig');
  }
  if (!(now <= b.spkExpires)) throw new Refused('PREKEY_EXPIRED', 'now > spkExpires');
}

// --- §9.3 PQXDH --------------------------------------------------------------------------
export const sessionAd = (initiator: Pub, responder: Pub): Uint8Array => cat(D('hush/v2/session-ad'), initiator.signPk, initiator.boxPk, responder.signPk, responder.boxPk);
export const sessionIdOf = (ad: Uint8Array, init: Uint8Array): Uint8Array => sha256(cat(D('hush/v2/session-id'), ad, init)).slice(0, 16);
export const pqxdhSk = (dhs: Uint8Array[], ss: Uint8Array): Uint8Array => hkdf(Z32, cat(new Uint8Array(32).fill(0xff), ...dhs, ss), D('hush/v2/pqxdh/x25519-sha256-mlkem768'), 32);

/** Alice's side from her draws (ekSk, m); the init header bytes and SK. */
export function pqxdhInitiate(me: { boxSk: Uint8Array }, b: Bundle, random: (n: number) => Uint8Array): { init: Uint8Array; sk: Uint8Array } {
  const ekSk = random(32);
  const m = random(32);
  const { cipherText: kemCt, sharedSecret: ss } = ml_kem768.encapsulate(b.kemPk, m);
  const dhs = [x25519(me.boxSk, b.spkPk), x25519(ekSk, b.boxPk), x25519(ekSk, b.spkPk)];
  if (b.opk) dhs.push(x25519(ekSk, b.opk.pk));
  const init = cat(Uint8Array.of(1), sodium.crypto_scalarmult_base(ekSk), u32(b.spkId), u32(b.kemId), Uint8Array.of(b.opk ? 1 : 0), u32(b.opk?.id ?? 0), kemCt);
  return { init, sk: pqxdhSk(dhs, ss) };
}

/** Bob's prekeys as his store would answer (§9.3): `retiredAt` when a newer SPK replaced it; `spkDeleted`: made and deleted. */
export interface BobPrekeys {
  spk: { id: number; sk: Uint8Array; pk: Uint8Array; retiredAt?: number; deleted?: boolean };
  kem: { id: number; kind: string; seed: Uint8Array }[];
  opk: { id: number; sk: Uint8Array }[];
}
export const SPK_GRACE = 7 * 86_400_000; // §9.8

// --- §9.5 inner and payload --------------------------------------------------------------
export interface Inner {
  sender: Uint8Array;
  type: 1 | 2;
  init?: Uint8Array;
  header: { dhPk: Uint8Array; pn: number; n: number };
  prefix: Uint8Array;
  ct: Uint8Array;
}
export function parseInner(b: Uint8Array): Inner {
  if (b[0] !== 2) throw new Refused('UNSUPPORTED_VERSION', 'inner version');
  const type = b[33];
  if (type !== 1 && type !== 2) throw new Refused('TAMPERED', 'type');
  const h = type === 1 ? 1168 : 34;
  if (b.length < h + 41 + 16 + 256) throw new Refused('TAMPERED', 'short'); // the smallest payload is 256 bytes
  let init: Uint8Array | undefined;
  if (type === 1) {
    init = b.slice(34, 1168);
    if (init[0] !== 1 || init[41]! > 1 || (init[41] === 0 && rd32(init, 42) !== 0)) throw new Refused('TAMPERED', 'init header');
  }
  if (b[h] !== 1) throw new Refused('TAMPERED', 'header version');
  const header = { dhPk: b.slice(h + 1, h + 33), pn: rd32(b, h + 33), n: rd32(b, h + 37) };
  return { sender: b.slice(1, 33), type, ...(init ? { init } : {}), header, prefix: b.slice(0, h + 41), ct: b.slice(h + 41) };
}

/** §5.1 Padmé. */
export function padme(L: number): number {
  if (L <= 256) return 256;
  const E = Math.floor(Math.log2(L));
  const z = E - (Math.floor(Math.log2(E)) + 1);
  return Math.ceil(L / 2 ** z) * 2 ** z;
}
export const KINDS: Record<string, number> = { msg: 1, receipt: 2, typing: 3, token: 4, group: 8 }; // §5.1
export interface Payload {
  kind: string;
  id: string;
  time: number;
  seq: number;
  body: string;
}
export function encodePayload(p: Payload): Uint8Array {
  const body = unhex(p.body);
  const head = cat(Uint8Array.of(2, KINDS[p.kind]!), unhex(p.id), u64(p.time), u64(p.seq), u32(body.length), body);
  return cat(head, new Uint8Array(padme(38 + body.length) - head.length));
}
export function parsePayload(p: Uint8Array): Payload {
  const kind = Object.keys(KINDS).find((k) => KINDS[k] === p[1]);
  if (p.length < 38 || p[0] !== 2 || kind === undefined) throw new Refused('TAMPERED', 'payload');
  const seq = rd64(p, 26);
  const len = rd32(p, 34);
  if (seq === 0 || len > 65536 || padme(38 + len) !== p.length || p.subarray(38 + len).some((x) => x !== 0)) throw new Refused('TAMPERED', 'payload');
  return { kind, id: hex(p.subarray(2, 18)), time: rd64(p, 18), seq, body: hex(p.subarray(38, 38 + len)) };
}

// --- §9.5 outer layer --------------------------------------------------------------------
/** envelope = 0x02 || ephPk[32] || outerNonce[24] || crypto_box_easy(inner, outerNonce, boxPk, ephSk). */
export function openEnvelope(boxSk: Uint8Array, env: Uint8Array): Uint8Array {
  if (env[0] !== 2) throw new Refused('UNSUPPORTED_VERSION', 'envelope version');
  try {
    return sodium.crypto_box_open_easy(env.subarray(57), env.subarray(33, 57), env.subarray(1, 33), boxSk);
  } catch {
    throw new Refused('TAMPERED', 'the outer box does not open');
  }
}
