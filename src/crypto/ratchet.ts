/**
 * The Double Ratchet (Signal's specification, with X25519, HKDF-SHA256 and HMAC-SHA256) over
 * the session state of src/protocol/session-state.ts (docs/PROTOCOL.md §9.4).
 *
 *   KDF_RK(rk, dh)  = HKDF-SHA256(salt = rk, ikm = dh, info = D(ratchetRoot), 64) -> rk' || ck
 *   KDF_CK(ck)      = ck' = HMAC-SHA256(ck, 0x02), mk = HMAC-SHA256(ck, 0x01)
 *   key || nonce    = HKDF-SHA256(salt = 0^32, ikm = mk, info = D(messageKeys), 44)
 *   ciphertext      = ChaCha20-Poly1305(key, nonce, payload, ad = AD || inner prefix)
 *
 * Every function is pure over its inputs: encrypt and decrypt never write into the state they
 * are given and return a new one, so a failed decryption changes nothing (the caller keeps the
 * old state) and a successful one is committed only when the caller stores what we return.
 * The new state is copy-on-write: it shares with its input every array the step did not
 * replace (rk, dhsSk, the chain it did not advance, the key lists when unchanged), so a caller
 * that wipes a state it replaced must use wipeReplaced(old, next), which spares what the
 * successor still holds.
 */
import { DataError } from '../errors.js';
import { bytesEqual, concatBytes } from '../protocol/encoding.js';
import { MAX_RETIRED_CHAINS, type SessionState, type SkippedKey } from '../protocol/session-state.js';
import { innerPrefixLength, type InnerV2, MAX_COUNTER, PLAIN_PREFIX_BYTES, writeInnerPrefix } from '../protocol/session-wire.js';
import { AEAD_TAG_BYTES, aeadOpen, aeadSealInto } from './kdf.js';
import { kdfCk, kdfRk, messageKeys } from './ratchet-kdf.js';
import { type Random, wipe, wipeBytes, x25519, x25519KeyPair, x25519Uncached } from './nacl.js';
import { sessionAd } from './pqxdh.js';
import { cloneSession, copy, OWN_CKR, OWN_CKS, OWN_DHS, OWN_RETIRED, OWN_RK, ownSkipped, replaceSecret, type Step, stepOf } from './ratchet-state.js';

export { cloneSession, wipeReplaced } from './ratchet-state.js';

export interface RatchetLimits {
  /** Most message keys one incoming header may make us skip (and store). */
  maxSkip: number;
  /** Most skipped keys a session keeps; the oldest go first. */
  maxStoredSkipped: number;
  /** Skipped keys older than this (ms) are deleted. */
  skippedMaxAgeMs: number;
  /** Most skipped keys one device keeps over all its sessions; the oldest go first (capSkippedTotal). */
  maxSkippedTotal: number;
}

/** Skipped keys one device keeps over all its sessions (the store applies it after each commit). */
export const DEFAULT_MAX_SKIPPED_TOTAL = 20_000;

export const DEFAULT_RATCHET_LIMITS: RatchetLimits = {
  maxSkip: 1000,
  maxStoredSkipped: 2000,
  skippedMaxAgeMs: 30 * 24 * 3600 * 1000,
  maxSkippedTotal: DEFAULT_MAX_SKIPPED_TOTAL,
};

export { kdfCk, kdfRk, messageKeys } from './ratchet-kdf.js';

const tampered = (): DataError =>
  new DataError('TAMPERED', 'message may be corrupted or tampered with', {
    hint: 'ask the sender to send it again; if this repeats, compare fingerprints with hush verify',
  });
const duplicate = (): DataError =>
  new DataError('DUPLICATE_MESSAGE', 'this message was already received (or its key has expired)', { hint: 'nothing to do: it was not shown twice' });

/**
 * The AD of a session, per its four identity-key arrays: every step shares them (nothing
 * writes into them), so every state of a conversation held in memory finds it here instead of
 * building it again for each message. Keyed by array identity, checked on all four. `scratch`
 * holds AD || room for a plain message's prefix, so AD || prefix (the AEAD's associated data)
 * is written in place rather than concatenated per message.
 */
interface AdEntry {
  ib: Uint8Array;
  rs: Uint8Array;
  rb: Uint8Array;
  ad: Uint8Array;
  scratch: Uint8Array;
}
const adCache = new WeakMap<Uint8Array, AdEntry>();

function adOf(s: SessionState): AdEntry {
  const c = adCache.get(s.initiatorSignPk);
  if (c && c.ib === s.initiatorBoxPk && c.rs === s.responderSignPk && c.rb === s.responderBoxPk) return c;
  const ad = sessionAd({ signPk: s.initiatorSignPk, boxPk: s.initiatorBoxPk }, { signPk: s.responderSignPk, boxPk: s.responderBoxPk });
  const scratch = new Uint8Array(ad.length + PLAIN_PREFIX_BYTES);
  scratch.set(ad);
  const e = { ib: s.initiatorBoxPk, rs: s.responderSignPk, rb: s.responderBoxPk, ad, scratch };
  adCache.set(s.initiatorSignPk, e);
  return e;
}

/** The AEAD's associated data AD || prefix: in the session's scratch array for a plain message (used before the next call), else a new array. */
function aeadAd(s: SessionState, prefix: Uint8Array): Uint8Array {
  const e = adOf(s);
  if (prefix.length !== PLAIN_PREFIX_BYTES) return concatBytes(e.ad, prefix);
  e.scratch.set(prefix, e.ad.length);
  return e.scratch;
}

export function localSignPk(s: SessionState): Uint8Array {
  return s.role === 'initiator' ? s.initiatorSignPk : s.responderSignPk;
}

/**
 * Encrypts one payload: returns the new state and the whole inner v2 (prefix || ciphertext).
 * Needs no randomness. NO_SENDING_CHAIN when a responder has not received yet (cannot happen
 * in hush: a responder state is made from a received message). The new state shares every
 * array but its sending chain key with `state` (see stepOf).
 */
export function ratchetEncrypt(state: SessionState, payload: Uint8Array): { state: SessionState; inner: Uint8Array } {
  const inner = new Uint8Array(innerLengthOf(state, payload.length));
  return { state: ratchetEncryptInto(state, payload, inner, 0), inner };
}

/** Bytes of the inner v2 that ratchetEncrypt makes of a `payloadLength`-byte payload in `state`. */
export function innerLengthOf(state: SessionState, payloadLength: number): number {
  return innerPrefixLength(state.pendingInit) + payloadLength + AEAD_TAG_BYTES;
}

/**
 * ratchetEncrypt writing the inner v2 (innerLengthOf bytes) at `offset` of `out` instead of
 * into an array of its own, for a sealer that boxes it in place (sealMessageEnvelope): the
 * same bytes, the same new state, returned. On a throw the input state is untouched, and what
 * was written into `out` is the caller's to clear.
 */
export function ratchetEncryptInto(state: SessionState, payload: Uint8Array, out: Uint8Array, offset: number): SessionState {
  if (!state.cks) throw new DataError('NO_SENDING_CHAIN', 'this session cannot send before it has received a message');
  if (state.ns >= MAX_COUNTER) throw new DataError('SESSION_EXHAUSTED', 'this session has sent 2^32 - 1 messages', { hint: 'start a new session' });
  const prefixLen = innerPrefixLength(state.pendingInit);
  if (!Number.isInteger(offset) || offset < 0 || out.length - offset < prefixLen + payload.length + AEAD_TAG_BYTES) {
    throw new DataError('BAD_LENGTH', 'no room for the inner message');
  }
  const { s } = stepOf(state);
  const [ck, mk] = kdfCk(state.cks);
  s.cks = ck; // the input's chain key stays the input's (the caller wipes it with wipeReplaced)
  // inner = prefix || ciphertext in one array: the prefix written in place, the AEAD after it.
  writeInnerPrefix(out, localSignPk(s), { dhPk: s.dhsPk, pn: s.pn, n: s.ns }, s.pendingInit, offset);
  s.ns += 1;
  const { key, nonce } = messageKeys(mk);
  try {
    aeadSealInto(out, offset + prefixLen, key, nonce, payload, aeadAd(s, out.subarray(offset, offset + prefixLen)));
  } finally {
    wipeBytes(mk);
    wipeBytes(key);
    wipeBytes(nonce);
  }
  return s;
}

function pruneSkipped(st: Step, now: number, limits: RatchetLimits): void {
  const old = st.s.skipped;
  if (old.length === 0) return; // the common case: nothing to expire, no new array
  let expired = 0;
  for (const k of old) if (k.at + limits.skippedMaxAgeMs < now) expired++;
  if (expired === 0 && old.length <= limits.maxStoredSkipped) return; // nothing to drop: still shared
  const keep: SkippedKey[] = [];
  for (const k of ownSkipped(st)) {
    if (k.at + limits.skippedMaxAgeMs >= now) keep.push(k);
    else wipe(k.mk);
  }
  while (keep.length > limits.maxStoredSkipped) wipe(keep.shift()!.mk);
  st.s.skipped = keep;
}

function skipUntil(st: Step, until: number, now: number, limits: RatchetLimits): void {
  const s = st.s;
  if (!s.ckr) return;
  if (until > s.nr && until - s.nr > limits.maxSkip) {
    throw new DataError('TOO_MANY_SKIPPED', `the message would skip ${until - s.nr} message keys, the limit is ${limits.maxSkip}`, {
      hint: 'messages were lost in between; ask the sender to start a new session',
    });
  }
  while (s.nr < until) {
    const [ck, mk] = kdfCk(s.ckr!);
    replaceSecret(st, 'ckr', OWN_CKR, ck);
    ownSkipped(st).push({ dhPk: copy(s.dhr!), n: s.nr, at: now, mk });
    s.nr += 1;
  }
}

function dhRatchet(st: Step, dhPk: Uint8Array, random: Random): void {
  const s = st.s;
  if (s.dhr) {
    if (!(st.own & OWN_RETIRED)) {
      s.retired = s.retired.slice(); // public keys: the array is copied, not the keys
      st.own |= OWN_RETIRED;
    }
    s.retired.push(s.dhr);
    while (s.retired.length > MAX_RETIRED_CHAINS) s.retired.shift();
  }
  s.pn = s.ns;
  s.ns = 0;
  s.nr = 0;
  s.dhr = copy(dhPk);
  // dhsSk is the input's (shared, not to be wiped here): no KeyObject of it is cached, as none
  // stayed cached when the step worked on a copy that it wiped.
  const dh1 = x25519Uncached(s.dhsSk, s.dhr);
  const [rk1, ckr] = kdfRk(s.rk, dh1);
  const next = x25519KeyPair(random);
  const dh2 = x25519(next.secretKey, s.dhr);
  const [rk2, cks] = kdfRk(rk1, dh2);
  wipe(dh1, dh2, rk1);
  replaceSecret(st, 'rk', OWN_RK, rk2);
  replaceSecret(st, 'ckr', OWN_CKR, ckr);
  replaceSecret(st, 'cks', OWN_CKS, cks);
  replaceSecret(st, 'dhsSk', OWN_DHS, next.secretKey);
  s.dhsPk = next.publicKey;
}

/**
 * Decrypts one parsed inner v2 with `state`. Returns the new state and the plaintext payload;
 * throws TAMPERED (authentication failed), DUPLICATE_MESSAGE (already decrypted, or its key
 * expired) or TOO_MANY_SKIPPED, and then the input state is untouched. Random: a new ratchet
 * key (32) when the header starts a new chain. The new state shares with `state` every array
 * the step did not replace (see stepOf).
 */
export function ratchetDecrypt(
  state: SessionState,
  inner: InnerV2,
  now: number,
  random: Random,
  limits: RatchetLimits = DEFAULT_RATCHET_LIMITS,
): { state: SessionState; plaintext: Uint8Array } {
  const st = stepOf(state);
  const s = st.s;
  const h = inner.header;
  pruneSkipped(st, now, limits);
  const i = s.skipped.length === 0 ? -1 : s.skipped.findIndex((k) => k.n === h.n && bytesEqual(k.dhPk, h.dhPk));
  let plaintext: Uint8Array;
  if (i >= 0) {
    // A skipped key: opened with a copy, then removed from (and wiped in) the step's own list.
    plaintext = openWith(s, inner, copy(s.skipped[i]!.mk));
    const own = ownSkipped(st);
    wipe(own[i]!.mk);
    own.splice(i, 1);
  } else {
    if (s.dhr && bytesEqual(h.dhPk, s.dhr)) {
      if (h.n < s.nr) throw duplicate();
    } else {
      if (s.retired.some((r) => bytesEqual(r, h.dhPk))) throw duplicate();
      skipUntil(st, h.pn, now, limits);
      try {
        dhRatchet(st, h.dhPk, random);
      } catch (e) {
        if (e instanceof DataError && e.code === 'LOW_ORDER_KEY') throw tampered();
        throw e;
      }
    }
    // The initiator has no receiving chain before the first reply: a header naming Bob's SPK
    // (its initial dhr) cannot be genuine.
    if (!s.ckr) throw tampered();
    skipUntil(st, h.n, now, limits);
    const [ck, mk] = kdfCk(s.ckr);
    replaceSecret(st, 'ckr', OWN_CKR, ck);
    s.nr += 1;
    plaintext = openWith(s, inner, mk);
    pruneSkipped(st, now, limits);
  }
  // A reply decrypted: the responder has the session, stop repeating the PQXDH header.
  if (s.role === 'initiator') delete s.pendingInit;
  return { state: s, plaintext };
}

/** Opens inner's ciphertext with message key `mk` (wiped here, as are the AEAD key and nonce); TAMPERED when it does not authenticate. */
function openWith(s: SessionState, inner: InnerV2, mk: Uint8Array): Uint8Array {
  const { key, nonce } = messageKeys(mk);
  const pt = aeadOpen(key, nonce, inner.ciphertext, aeadAd(s, inner.prefix));
  wipeBytes(key);
  wipeBytes(nonce);
  wipeBytes(mk);
  if (!pt) throw tampered();
  return pt;
}

/**
 * The cap over all sessions: returns copies of `states` in which the skipped keys stored
 * before `expiredBefore` (ms; default: none) are gone and, of the rest, only the `maxTotal` most
 * recently stored survive (by `at`; among equal times, the later stored). Inputs are not
 * changed; the caller stores the copies whose skipped count went down.
 */
export function capSkippedTotal(states: readonly SessionState[], maxTotal = DEFAULT_MAX_SKIPPED_TOTAL, expiredBefore = -Infinity): SessionState[] {
  const all: { s: number; i: number; at: number }[] = [];
  const out = states.map(cloneSession);
  for (const st of out) {
    st.skipped = st.skipped.filter((k) => {
      if (k.at >= expiredBefore) return true;
      wipe(k.mk);
      return false;
    });
  }
  out.forEach((st, s) => st.skipped.forEach((k, i) => all.push({ s, i, at: k.at })));
  if (all.length <= maxTotal) return out;
  all.sort((a, b) => a.at - b.at || a.i - b.i);
  const drop = new Set(all.slice(0, all.length - maxTotal).map((k) => `${k.s}/${k.i}`));
  for (const [s, st] of out.entries()) {
    st.skipped = st.skipped.filter((k, i) => {
      if (!drop.has(`${s}/${i}`)) return true;
      wipe(k.mk);
      return false;
    });
  }
  return out;
}
