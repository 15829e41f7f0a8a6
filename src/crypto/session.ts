/**
 * Protocol v2 sessions end to end (docs/PROTOCOL.md §9): start a session from a prekey bundle,
 * seal payloads into inner v2 messages, open them (creating the responder session from a
 * prekey message), and pick one session when both sides started one at once.
 *
 * Pure: no clock, no store, no randomness of its own. The caller stores the state returned
 * on success (and deletes used one-time prekeys); on any throw it keeps what it had.
 */
import { DataError, InternalError } from '../errors.js';
import { bytesEqual } from '../protocol/encoding.js';
import type { PrekeyBundle } from '../protocol/prekey-bundle.js';
import type { SessionState } from '../protocol/session-state.js';
import { encodePayloadV2, parseInnerV2, parsePayloadV2, type PayloadV2 } from '../protocol/session-wire.js';
import { kdfRk, DEFAULT_RATCHET_LIMITS, innerLengthOf, ratchetDecrypt, ratchetEncrypt, ratchetEncryptInto, type RatchetLimits, wipeReplaced } from './ratchet.js';
import { sealEnvelopeV2Padded } from './envelope-v2.js';
import { type Random, SECRETBOX_ZERO_BYTES, secretboxPadded, wipe, wipeBytes, x25519, x25519KeyPair } from './nacl.js';
import { type BoxKeys, DEFAULT_SPK_GRACE_MS, type PrekeyLookup, pqxdhInitiate, pqxdhRespond, type PublicKeys, sessionAd, sessionIdOf, type UsedPrekeys } from './pqxdh.js';

export interface OpenLimits extends RatchetLimits {
  /** How long after expiry a signed prekey still completes a session (ms). */
  spkGraceMs: number;
}
export const DEFAULT_OPEN_LIMITS: OpenLimits = { ...DEFAULT_RATCHET_LIMITS, spkGraceMs: DEFAULT_SPK_GRACE_MS };

/**
 * Alice starts a session with `peer` from its verified prekey bundle.
 * Random: EK_A (32), ML-KEM message (32), first ratchet key (32).
 */
export function startSession(me: BoxKeys, peer: PublicKeys, bundle: PrekeyBundle, now: number, random: Random): SessionState {
  const x = pqxdhInitiate(me, peer, bundle, now, random);
  const dhs = x25519KeyPair(random);
  const dh = x25519(dhs.secretKey, x.spkPk);
  const [rk, cks] = kdfRk(x.sk, dh);
  wipe(dh, x.sk);
  return {
    role: 'initiator',
    sessionId: x.sessionId,
    initiatorSignPk: new Uint8Array(me.signPk),
    initiatorBoxPk: new Uint8Array(me.boxPk),
    responderSignPk: new Uint8Array(peer.signPk),
    responderBoxPk: new Uint8Array(peer.boxPk),
    created: now,
    rk,
    dhsSk: dhs.secretKey,
    dhsPk: dhs.publicKey,
    dhr: x.spkPk,
    cks,
    ns: 0,
    nr: 0,
    pn: 0,
    pendingInit: x.initBytes,
    retired: [],
    skipped: [],
  };
}

/**
 * Where sealMessage encodes the payload it seals, when it fits (a body up to ~4 KiB): no array
 * per message. Zeroed after each seal (the finally below), so it holds no plaintext between
 * calls; nothing else runs while a seal reads it (all of it is synchronous).
 */
const payloadScratch = new Uint8Array(4096);

/** Seals one payload in `state`: the new state and the inner v2 bytes (to be boxed by the outer layer). */
export function sealMessage(state: SessionState, payload: PayloadV2): { state: SessionState; inner: Uint8Array } {
  const p = encodePayloadV2(payload, payloadScratch);
  try {
    return ratchetEncrypt(state, p);
  } finally {
    wipeBytes(p);
  }
}

/**
 * sealMessage, then sealEnvelopeV2 of its inner to `recipientBoxPk`, with the inner written by
 * the ratchet straight into the outer box's padded input (no inner array, no copy of it): the
 * same bytes, the same draws (the ratchet draws nothing; the box ephSk, then its nonce) and the
 * same new state as the two calls. Random: ephSk (32), then the outer nonce (24).
 */
export function sealMessageEnvelope(state: SessionState, payload: PayloadV2, recipientBoxPk: Uint8Array, random: Random): { state: SessionState; envelope: Uint8Array } {
  const p = encodePayloadV2(payload, payloadScratch);
  try {
    const len = innerLengthOf(state, p.length);
    const m = secretboxPadded(len);
    let next: SessionState;
    try {
      next = ratchetEncryptInto(state, p, m, SECRETBOX_ZERO_BYTES);
    } catch (e) {
      m.fill(0, SECRETBOX_ZERO_BYTES, SECRETBOX_ZERO_BYTES + len);
      throw e;
    }
    return { state: next, envelope: sealEnvelopeV2Padded(recipientBoxPk, m, len, random) }; // which zeroes m's inner
  } finally {
    wipeBytes(p);
  }
}

export interface OpenedMessage {
  payload: PayloadV2;
  /** The state to store in place of sessions[index], or as a new session when index is -1. */
  state: SessionState;
  index: number;
  /** Set when a new responder session was made: delete the one-time prekeys it names. */
  used?: UsedPrekeys;
}

/** The sender named inside an inner v2 (unauthenticated until it opens; a view of `inner`, copy it to keep it): to find the contact. */
export function innerSender(inner: Uint8Array): Uint8Array {
  return parseInnerV2(inner).senderSignPk;
}

/** The payload of a decrypted message (its plaintext wiped once parsed) and the state to store. */
function finish(r: { state: SessionState; plaintext: Uint8Array }, index: number, used?: UsedPrekeys): OpenedMessage {
  let payload: PayloadV2;
  try {
    payload = parsePayloadV2(r.plaintext);
  } finally {
    wipeBytes(r.plaintext);
  }
  const out: OpenedMessage = { payload, state: r.state, index };
  if (used) out.used = used;
  return out;
}

const tampered = (): DataError =>
  new DataError('TAMPERED', 'message may be corrupted or tampered with', {
    hint: 'ask the sender to send it again; if this repeats, compare fingerprints with hush verify',
  });

/**
 * Opens an inner v2 from `peer` (already looked up by its senderSignPk) with the sessions we
 * hold with that peer. A prekey message (type 1) goes to the session it names, or makes a new
 * responder session with our prekeys; a plain message (type 2) is tried on each session in turn.
 * Random: a new ratchet key (32) when the message starts a new chain.
 */
export function openMessage(
  me: BoxKeys,
  peer: PublicKeys,
  innerBytes: Uint8Array,
  sessions: readonly SessionState[],
  prekeys: PrekeyLookup,
  now: number,
  random: Random,
  limits: OpenLimits = DEFAULT_OPEN_LIMITS,
): OpenedMessage {
  const inner = parseInnerV2(innerBytes);
  if (!bytesEqual(inner.senderSignPk, peer.signPk)) throw tampered();
  if (inner.type === 'prekey') {
    const id = sessionIdOf(sessionAd(peer, me), inner.initBytes!);
    const index = sessions.findIndex((s) => s.role === 'responder' && bytesEqual(s.sessionId, id));
    if (index >= 0) return finish(ratchetDecrypt(sessions[index]!, inner, now, random, limits), index);
    if (prekeys.sessionStarted?.(inner.init!.spkId, id)) {
      throw new DataError('DUPLICATE_MESSAGE', 'the message starts a session this device already started (a replay)', { hint: 'nothing to do: it was shown before' });
    }
    const x = pqxdhRespond(me, peer, inner.init!, inner.initBytes!, prekeys, now, limits.spkGraceMs);
    const fresh: SessionState = {
      role: 'responder',
      sessionId: x.sessionId,
      initiatorSignPk: new Uint8Array(peer.signPk),
      initiatorBoxPk: new Uint8Array(peer.boxPk),
      responderSignPk: new Uint8Array(me.signPk),
      responderBoxPk: new Uint8Array(me.boxPk),
      created: now,
      rk: x.sk,
      dhsSk: new Uint8Array(x.spk.sk),
      dhsPk: new Uint8Array(x.spk.pk),
      ns: 0,
      nr: 0,
      pn: 0,
      retired: [],
      skipped: [],
    };
    let r: { state: SessionState; plaintext: Uint8Array } | undefined;
    try {
      r = ratchetDecrypt(fresh, inner, now, random, limits);
      return finish(r, -1, x.used);
    } finally {
      wipeReplaced(fresh, r?.state); // the new state shares the arrays it did not replace
    }
  }
  let first: unknown;
  for (let i = 0; i < sessions.length; i++) {
    try {
      return finish(ratchetDecrypt(sessions[i]!, inner, now, random, limits), i);
    } catch (e) {
      // A duplicate or a too-long gap names the session it belongs to: report that over TAMPERED.
      if (first === undefined || (e instanceof DataError && e.code !== 'TAMPERED')) first = e;
    }
  }
  throw first ?? tampered();
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Has the peer sent in this session (it started it, or answered ours)? */
function heard(s: SessionState): boolean {
  return s.role === 'responder' || s.pendingInit === undefined;
}

/**
 * The simultaneous-start rule (docs/PROTOCOL.md §9.6): when we hold several sessions with one
 * peer, we send on one the peer has sent in (it started it, or answered ours) over one it
 * never answered; among those alike, on the session whose initiator has the bytewise smaller
 * signPk (ties, i.e. sessions started by the same side: the smaller sessionId). The others
 * are kept only to decrypt what was already sent in them.
 *
 * Both starting at once: each side first answers in the other's session, which makes both
 * sessions heard on both sides; from then on both compute the same answer from values they
 * share. A session of ours the peer could never open (its signed prekey gone while our first
 * message waited) loses to the session the peer starts instead, so the two sides meet there.
 */
export function converge(sessions: readonly SessionState[]): { active: SessionState; receiveOnly: SessionState[] } {
  if (sessions.length === 0) throw new InternalError('NO_SESSION', 'converge needs at least one session');
  let best = sessions[0]!;
  for (const s of sessions.slice(1)) {
    const c = Number(heard(best)) - Number(heard(s)) || compareBytes(s.initiatorSignPk, best.initiatorSignPk) || compareBytes(s.sessionId, best.sessionId);
    if (c < 0) best = s;
  }
  return { active: best, receiveOnly: sessions.filter((s) => s !== best) };
}
