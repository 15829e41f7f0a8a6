/**
 * A second, independent implementation of protocol v2 (docs/PROTOCOL.md §9), written from the
 * document alone for the cross-check tests (v2-crosscheck*.test.ts). It imports nothing from
 * src/: X25519, Ed25519, ChaCha20-Poly1305 (IETF) and crypto_box from libsodium
 * (libsodium-wrappers), HMAC-SHA256 and SHA-256 from node:crypto, HKDF written here (RFC 5869),
 * ML-KEM-768 from @noble/post-quantum (the only ML-KEM at hand; the project uses it too, so the
 * KEM itself is not independently checked, only how §9.3 uses it).
 *
 * Section numbers in the comments say which text each piece follows. Refusals throw Refused
 * with the §9.8 code and a reason (which check refused), so the tests can show why.
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
const rd32 = (b: Uint8Array, o: number): number => Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(o);
const rd64 = (b: Uint8Array, o: number): number => rd32(b, o) * 2 ** 32 + rd32(b, o + 4);
export const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
export const hmac = (k: Uint8Array, m: Uint8Array): Uint8Array => new Uint8Array(createHmac('sha256', k).update(m).digest());
const Z32 = new Uint8Array(32);
const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => a !== undefined && b !== undefined && hex(a) === hex(b);

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

// --- §9.4 Double Ratchet ----------------------------------------------------------------
export const kdfRk = (rk: Uint8Array, dh: Uint8Array): [Uint8Array, Uint8Array] => {
  const o = hkdf(rk, dh, D('hush/v2/ratchet-root'), 64);
  return [o.slice(0, 32), o.slice(32)];
};
export const kdfCk = (ck: Uint8Array): [Uint8Array, Uint8Array] => [hmac(ck, Uint8Array.of(2)), hmac(ck, Uint8Array.of(1))];
export const messageKeys = (mk: Uint8Array): { key: Uint8Array; nonce: Uint8Array } => {
  const o = hkdf(Z32, mk, D('hush/v2/message-keys'), 44);
  return { key: o.slice(0, 32), nonce: o.slice(32) };
};

export interface Session {
  role: 1 | 2;
  sessionId: Uint8Array;
  initiator: Pub;
  responder: Pub;
  created: number;
  rk: Uint8Array;
  dhsSk: Uint8Array;
  dhsPk: Uint8Array;
  dhr?: Uint8Array;
  cks?: Uint8Array;
  ckr?: Uint8Array;
  ns: number;
  nr: number;
  pn: number;
  pendingInit?: Uint8Array;
  retired: Uint8Array[];
  skipped: { dhPk: Uint8Array; n: number; at: number; mk: Uint8Array }[];
}
export const LIMITS = { maxSkip: 1000, maxStoredSkipped: 2000, skippedMaxAge: 30 * 86_400_000 }; // §9.8

/** §9.7. */
export function encodeState(s: Session): Uint8Array {
  const flags = (s.dhr ? 1 : 0) | (s.cks ? 2 : 0) | (s.ckr ? 4 : 0) | (s.pendingInit ? 8 : 0);
  const parts = [Uint8Array.of(1, s.role), s.sessionId, s.initiator.signPk, s.initiator.boxPk, s.responder.signPk, s.responder.boxPk, u64(s.created)];
  parts.push(s.rk, s.dhsSk, s.dhsPk, Uint8Array.of(flags), s.dhr ?? Z32, s.cks ?? Z32, s.ckr ?? Z32, u32(s.ns), u32(s.nr), u32(s.pn));
  if (s.pendingInit) parts.push(s.pendingInit);
  parts.push(Uint8Array.of(s.retired.length), ...s.retired, u32(s.skipped.length));
  for (const k of s.skipped) parts.push(k.dhPk, u32(k.n), u64(k.at), k.mk);
  return cat(...parts);
}

/** Encrypt (§9.4) of an encoded payload: the inner bytes (§9.5) and the new state. */
export function encrypt(state: Session, payload: Uint8Array): { state: Session; inner: Uint8Array } {
  const s = structuredClone(state);
  const [ck, mk] = kdfCk(s.cks!);
  s.cks = ck;
  const me = s.role === 1 ? s.initiator : s.responder;
  const prefix = cat(Uint8Array.of(2), me.signPk, Uint8Array.of(s.pendingInit ? 1 : 2), s.pendingInit ?? new Uint8Array(0), Uint8Array.of(1), s.dhsPk, u32(s.pn), u32(s.ns));
  s.ns += 1;
  const { key, nonce } = messageKeys(mk);
  const ct = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(payload, cat(sessionAd(s.initiator, s.responder), prefix), null, nonce, key);
  return { state: s, inner: cat(prefix, ct) };
}

function skip(s: Session, until: number, now: number): void {
  if (!s.ckr) return;
  if (until > s.nr && until - s.nr > LIMITS.maxSkip) throw new Refused('TOO_MANY_SKIPPED', `gap ${until - s.nr}`);
  while (s.nr < until) {
    const [ck, mk] = kdfCk(s.ckr);
    s.ckr = ck;
    s.skipped.push({ dhPk: s.dhr!, n: s.nr, at: now, mk });
    s.nr += 1;
  }
}
function open(s: Session, m: Inner, mk: Uint8Array, how: string): Uint8Array {
  const { key, nonce } = messageKeys(mk);
  try {
    return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, m.ct, cat(sessionAd(s.initiator, s.responder), m.prefix), nonce, key);
  } catch {
    throw new Refused('TAMPERED', `the AEAD does not open (${how})`);
  }
}

/** Decrypt (§9.4 steps 1-6) on a copy: the new state and the payload bytes; the input never changes. */
export function decrypt(state: Session, m: Inner, now: number, random: (n: number) => Uint8Array): { state: Session; payload: Uint8Array } {
  const s = structuredClone(state);
  s.skipped = s.skipped.filter((k) => !(now - k.at > LIMITS.skippedMaxAge)); // 1
  const h = m.header;
  const i = s.skipped.findIndex((k) => k.n === h.n && eq(k.dhPk, h.dhPk));
  let payload: Uint8Array;
  if (i >= 0) {
    payload = open(s, m, s.skipped[i]!.mk, 'skipped key'); // 2
    s.skipped.splice(i, 1);
  } else {
    if (eq(h.dhPk, s.dhr) && h.n < s.nr) throw new Refused('DUPLICATE_MESSAGE', `n ${h.n} < nr ${s.nr}: its key was used`); // 3
    if (s.retired.some((r) => eq(r, h.dhPk))) throw new Refused('DUPLICATE_MESSAGE', 'a retired receiving key');
    if (!eq(h.dhPk, s.dhr)) {
      skip(s, h.pn, now); // 4
      if (s.dhr) s.retired = [...s.retired, s.dhr].slice(-8);
      s.pn = s.ns;
      s.ns = s.nr = 0;
      s.dhr = h.dhPk;
      [s.rk, s.ckr] = kdfRk(s.rk, x25519(s.dhsSk, s.dhr));
      s.dhsSk = random(32);
      s.dhsPk = sodium.crypto_scalarmult_base(s.dhsSk);
      [s.rk, s.cks] = kdfRk(s.rk, x25519(s.dhsSk, s.dhr));
    }
    if (!s.ckr) throw new Refused('TAMPERED', 'no receiving chain'); // an initiator's dhr = spkPk_B before any reply
    skip(s, h.n, now); // 5
    const [ck, mk] = kdfCk(s.ckr);
    s.ckr = ck;
    s.nr += 1;
    payload = open(s, m, mk, 'chain key');
    while (s.skipped.length > LIMITS.maxStoredSkipped) s.skipped.shift(); // 6
  }
  if (s.role === 1) delete s.pendingInit;
  return { state: s, payload };
}

/**
 * Opening an inner (§9.5 "Opening", §9.3 responder): the sender must be `peer`; a type 1 goes
 * to the responder session its sessionId names or starts one from Bob's prekeys; a type 2 is
 * tried on each session. `index` -1: a new session.
 */
export function openInner(
  me: Pub & { boxSk: Uint8Array },
  peer: Pub,
  bytes: Uint8Array,
  sessions: Session[],
  prekeys: BobPrekeys,
  now: number,
  random: (n: number) => Uint8Array,
): { state: Session; index: number; payload: Uint8Array; used?: Record<string, unknown> } {
  const m = parseInner(bytes);
  if (!eq(m.sender, peer.signPk)) throw new Refused('TAMPERED', 'senderSignPk is not the contact');
  if (m.type === 2) {
    let first: Refused | undefined;
    for (const [index, s] of sessions.entries()) {
      try {
        return { ...decrypt(s, m, now, random), index };
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        if (!first || e.code !== 'TAMPERED') first = e;
      }
    }
    throw first ?? new Refused('TAMPERED', 'no session');
  }
  const init = m.init!;
  const ad = sessionAd(peer, me);
  const sessionId = sessionIdOf(ad, init);
  const index = sessions.findIndex((s) => s.role === 2 && eq(s.sessionId, sessionId));
  if (index >= 0) return { ...decrypt(sessions[index]!, m, now, random), index };
  const [spkId, kemId, opkFlag, opkId] = [rd32(init, 33), rd32(init, 37), init[41], rd32(init, 42)];
  const spk = prekeys.spk;
  if (spk.id !== spkId) throw new Refused('PREKEY_NOT_FOUND', 'spkId');
  if (spk.deleted) throw new Refused('PREKEY_EXPIRED', 'SPK made and deleted');
  if (spk.retiredAt !== undefined && now > spk.retiredAt + SPK_GRACE) throw new Refused('PREKEY_EXPIRED', 'SPK replaced more than spkGrace ago');
  const kem = prekeys.kem.find((k) => k.id === kemId);
  if (!kem) throw new Refused('PREKEY_NOT_FOUND', 'kemId');
  const opk = opkFlag === 1 ? prekeys.opk.find((k) => k.id === opkId) : undefined;
  if (opkFlag === 1 && !opk) throw new Refused('PREKEY_NOT_FOUND', 'opkId');
  const ekPk = init.subarray(1, 33);
  const dhs = [x25519(spk.sk, peer.boxPk), x25519(me.boxSk, ekPk), x25519(spk.sk, ekPk)];
  if (opk) dhs.push(x25519(opk.sk, ekPk));
  const ss = ml_kem768.decapsulate(init.subarray(46), ml_kem768.keygen(kem.seed).secretKey);
  const responder = { signPk: me.signPk, boxPk: me.boxPk };
  const fresh: Session = {
    role: 2,
    sessionId,
    initiator: peer,
    responder,
    created: now,
    rk: pqxdhSk(dhs, ss),
    dhsSk: spk.sk,
    dhsPk: spk.pk,
    ns: 0,
    nr: 0,
    pn: 0,
    retired: [],
    skipped: [],
  };
  const used = { spkId, kemId, kemKind: kem.kind, ...(opk ? { opkId } : {}) }; // what Bob deletes once this opened (the one-time ones)
  return { ...decrypt(fresh, m, now, random), index: -1, used };
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
