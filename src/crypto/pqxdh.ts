/**
 * PQXDH (Signal, revision 3) adapted to hush (docs/PROTOCOL.md §9.3):
 *
 * - IK is the X25519 box key (boxPk/boxSk) of each identity; it is bound to the Ed25519
 *   signPk by the bundle signatures (which cover both keys), and prekeys are signed with
 *   Ed25519 by signPk instead of XEdDSA by IK.
 * - DH1 = X25519(IK_A, SPK_B), DH2 = X25519(EK_A, IK_B), DH3 = X25519(EK_A, SPK_B),
 *   DH4 = X25519(EK_A, OPK_B) when a one-time prekey was in the bundle;
 *   (CT, SS) = ML-KEM-768.Encaps(PQPK_B).
 * - SK = HKDF-SHA256(salt = 0^32, ikm = F || DH1 || DH2 || DH3 [|| DH4] || SS,
 *   info = D(pqxdh), 32), F = 32 bytes 0xFF.
 * - AD = D(sessionAd) || signPk_A || boxPk_A || signPk_B || boxPk_B (A initiates).
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { DataError } from '../errors.js';
import { concatBytes } from '../protocol/encoding.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import type { PrekeyBundle } from '../protocol/prekey-bundle.js';
import type { KemKind } from '../protocol/prekey-bundle.js';
import { encodeInitHeader, type InitHeader } from '../protocol/session-wire.js';
import { SESSION_ID_BYTES } from '../protocol/session-state.js';
import { hkdfSha256, sha256 } from './kdf.js';
import { type Random, wipe, x25519, x25519KeyPair } from './nacl.js';
import { kemSecretKey, type KemPrekey, type OneTimePrekey, type SignedPrekey, verifyPrekeyBundle } from './prekeys.js';

export const PQXDH_F = new Uint8Array(32).fill(0xff);
/**
 * How long a responder still accepts a signed prekey after a newer one replaced it (ms): 7
 * days. A device replaces its signed prekey only while it runs, so one that was offline past
 * the key's expiry still opens what was started with it (docs/PROTOCOL.md §9.10).
 */
export const DEFAULT_SPK_GRACE_MS = 7 * 24 * 3600 * 1000;

export interface BoxKeys {
  signPk: Uint8Array;
  boxPk: Uint8Array;
  boxSk: Uint8Array;
}
export interface PublicKeys {
  signPk: Uint8Array;
  boxPk: Uint8Array;
}

/** The associated data of a session: D(sessionAd) || initiator keys || responder keys. */
export function sessionAd(initiator: PublicKeys, responder: PublicKeys): Uint8Array {
  return concatBytes(domainBytes(DOMAIN.sessionAd), initiator.signPk, initiator.boxPk, responder.signPk, responder.boxPk);
}

/** First 16 bytes of SHA-256(D(sessionId) || AD || init header): the session's name on both sides. */
export function sessionIdOf(ad: Uint8Array, initBytes: Uint8Array): Uint8Array {
  return sha256(concatBytes(domainBytes(DOMAIN.sessionId), ad, initBytes)).slice(0, SESSION_ID_BYTES);
}

function kdf(parts: Uint8Array[]): Uint8Array {
  const ikm = concatBytes(PQXDH_F, ...parts);
  const sk = hkdfSha256(ikm, new Uint8Array(32), domainBytes(DOMAIN.pqxdh), 32);
  wipe(ikm, ...parts);
  return sk;
}

export interface PqxdhResult {
  sk: Uint8Array;
  ad: Uint8Array;
  sessionId: Uint8Array;
  initBytes: Uint8Array;
}

export interface InitiatorResult extends PqxdhResult {
  init: InitHeader;
  /** SPK_B, the responder's first ratchet public key. */
  spkPk: Uint8Array;
}

/**
 * Alice's side. Verifies the bundle against the pinned `peer` at `now` first.
 * Random: EK_A secret (32), then the ML-KEM encapsulation message m (32).
 */
export function pqxdhInitiate(me: BoxKeys, peer: PublicKeys, bundle: PrekeyBundle, now: number, random: Random): InitiatorResult {
  verifyPrekeyBundle(bundle, peer, now);
  const ek = x25519KeyPair(random);
  const m = random(32);
  const { cipherText: kemCt, sharedSecret: ss } = ml_kem768.encapsulate(bundle.kem.pk, m);
  wipe(m);
  const dhs = [x25519(me.boxSk, bundle.spk.pk), x25519(ek.secretKey, bundle.boxPk), x25519(ek.secretKey, bundle.spk.pk)];
  if (bundle.opk) dhs.push(x25519(ek.secretKey, bundle.opk.pk));
  wipe(ek.secretKey);
  const sk = kdf([...dhs, ss]);
  const init: InitHeader = { ekPk: ek.publicKey, spkId: bundle.spk.id, kemId: bundle.kem.id, kemCt };
  if (bundle.opk) init.opkId = bundle.opk.id;
  const initBytes = encodeInitHeader(init);
  const ad = sessionAd(me, peer);
  return { sk, ad, sessionId: sessionIdOf(ad, initBytes), initBytes, init, spkPk: new Uint8Array(bundle.spk.pk) };
}

/** A signed prekey as the responder holds it: `retiredAt`, when a newer one replaced it (absent: it is the current one). */
export type HeldSignedPrekey = SignedPrekey & { retiredAt?: number };

/** Where the responder finds its prekey secrets by id (the store's job). */
export interface PrekeyLookup {
  spk(id: number): HeldSignedPrekey | undefined;
  /** Is `id` a signed prekey this device made and has since deleted (PREKEY_EXPIRED rather than PREKEY_NOT_FOUND)? */
  spkDeleted?(id: number): boolean;
  /**
   * Did this device already start the responder session `sessionId` from a prekey message on
   * signed prekey `spkId`? Then the message is a replay: DUPLICATE_MESSAGE, even when that
   * session is gone (a one-time prekey it used being gone proves nothing: it may be trimmed).
   */
  sessionStarted?(spkId: number, sessionId: Uint8Array): boolean;
  kem(id: number): KemPrekey | undefined;
  opk(id: number): OneTimePrekey | undefined;
}

/** Which prekeys a completed handshake used: the caller deletes the one-time ones. */
export interface UsedPrekeys {
  spkId: number;
  kemId: number;
  kemKind: KemKind;
  opkId?: number;
}

export interface ResponderResult extends PqxdhResult {
  spk: SignedPrekey;
  used: UsedPrekeys;
}

const notFound = (what: string): DataError =>
  new DataError('PREKEY_NOT_FOUND', `the message names a ${what} this device no longer has`, {
    hint: 'it may be a replay, or older than the prekey grace period; ask the sender to send it again',
  });

/**
 * Bob's side: recomputes SK from the initial header and his prekeys. A signed prekey replaced
 * more than `spkGraceMs` ago and past its own expiry (`now > max(retiredAt + spkGraceMs,
 * expires)`: a sender may accept it until `expires`) is refused (PREKEY_EXPIRED); the
 * current one is accepted whatever its `expires` (that bounds what the relay serves and what
 * senders accept, §9.2), and so is one the lookup says it deleted (`spkDeleted`); another
 * missing prekey is PREKEY_NOT_FOUND; a
 * low-order key is TAMPERED. A wrong KEM ciphertext gives another SK (ML-KEM's implicit
 * rejection), which the AEAD of the first message then refuses.
 */
export function pqxdhRespond(
  me: BoxKeys,
  peer: PublicKeys,
  init: InitHeader,
  initBytes: Uint8Array,
  prekeys: PrekeyLookup,
  now: number,
  spkGraceMs = DEFAULT_SPK_GRACE_MS,
): ResponderResult {
  const spk = prekeys.spk(init.spkId);
  const expired = (): DataError =>
    new DataError('PREKEY_EXPIRED', 'the message was started with a signed prekey replaced longer ago than its grace period', { hint: 'ask the sender to send it again' });
  if (!spk) throw prekeys.spkDeleted?.(init.spkId) ? expired() : notFound('signed prekey');
  if (spk.retiredAt !== undefined && !(now <= Math.max(spk.retiredAt + spkGraceMs, spk.expires))) throw expired();
  const kem = prekeys.kem(init.kemId);
  if (!kem) throw notFound('KEM prekey');
  let opk: OneTimePrekey | undefined;
  if (init.opkId !== undefined) {
    opk = prekeys.opk(init.opkId);
    if (!opk) throw notFound('one-time prekey');
  }
  const kemSk = kemSecretKey(kem);
  const ss = ml_kem768.decapsulate(init.kemCt, kemSk);
  wipe(kemSk);
  let dhs: Uint8Array[];
  try {
    dhs = [x25519(spk.sk, peer.boxPk), x25519(me.boxSk, init.ekPk), x25519(spk.sk, init.ekPk)];
    if (opk) dhs.push(x25519(opk.sk, init.ekPk));
  } catch {
    wipe(ss);
    throw new DataError('TAMPERED', 'message may be corrupted or tampered with', { hint: 'ask the sender to send it again' });
  }
  const sk = kdf([...dhs, ss]);
  const ad = sessionAd(peer, me);
  const used: UsedPrekeys = { spkId: spk.id, kemId: kem.id, kemKind: kem.kind };
  if (opk) used.opkId = opk.id;
  return { sk, ad, sessionId: sessionIdOf(ad, initBytes), initBytes, spk, used };
}
