/**
 * The sessions of the independent v2 implementation (see v2-crosscheck-lib.ts; nothing from
 * src/): the Double Ratchet of docs/PROTOCOL.md §9.4 with the §9.8 default limits, the state
 * bytes of §9.7, and opening an inner v2 as §9.5 "Opening" and the responder side of §9.3 say.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import {
  type BobPrekeys,
  cat,
  D,
  eq,
  hkdf,
  hmac,
  type Inner,
  parseInner,
  pqxdhSk,
  type Pub,
  rd32,
  Refused,
  sessionAd,
  sessionIdOf,
  sodium,
  SPK_GRACE,
  u32,
  u64,
  x25519,
  Z32,
} from './v2-crosscheck-lib.js';

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
