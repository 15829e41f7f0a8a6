/**
 * Prekeys of protocol v2: generation, bundle signing and verification (layout in
 * src/protocol/prekey-bundle.ts, docs/PROTOCOL.md §9.2). Every random draw comes from the
 * injected `Random`, in the order documented on each function.
 */
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { DataError, TrustError } from '../errors.js';
import { bytesEqual } from '../protocol/encoding.js';
import { KEM_SEED_BYTES, type KemKind, kemSignedBytes, type PrekeyBundle, spkSignedBytes } from '../protocol/prekey-bundle.js';
import { type Random, signDetached, verifyDetached, wipe, x25519KeyPair } from './nacl.js';

/** The public halves and signing key of an identity (src/crypto/identity.ts). */
export interface SigningIdentity {
  signPk: Uint8Array;
  signSk: Uint8Array;
  boxPk: Uint8Array;
}

export interface SignedPrekey {
  id: number;
  expires: number;
  pk: Uint8Array;
  sk: Uint8Array;
  sig: Uint8Array;
}

export interface KemPrekey {
  kind: KemKind;
  id: number;
  /** The 64-byte ML-KEM key generation seed: the secret key is re-derived from it. */
  seed: Uint8Array;
  pk: Uint8Array;
  sig: Uint8Array;
}

export interface OneTimePrekey {
  id: number;
  pk: Uint8Array;
  sk: Uint8Array;
}

function checkId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0 || id > 0xffffffff) throw new DataError('BAD_INTEGER', 'prekey id must be a u32');
}

/** A signed X25519 prekey. Random: sk (32). `expires` is ms since the epoch. */
export function generateSignedPrekey(me: SigningIdentity, id: number, expires: number, random: Random): SignedPrekey {
  checkId(id);
  const { publicKey: pk, secretKey: sk } = x25519KeyPair(random);
  const sig = signDetached(spkSignedBytes(me.signPk, me.boxPk, id, expires, pk), me.signSk);
  return { id, expires, pk, sk, sig };
}

/** An ML-KEM-768 prekey. Random: seed (64) = d || z of FIPS 203 ML-KEM.KeyGen_internal. */
export function generateKemPrekey(me: SigningIdentity, id: number, kind: KemKind, random: Random): KemPrekey {
  checkId(id);
  const seed = random(KEM_SEED_BYTES);
  const { publicKey: pk, secretKey } = ml_kem768.keygen(seed);
  wipe(secretKey);
  const sig = signDetached(kemSignedBytes(me.signPk, me.boxPk, kind, id, pk), me.signSk);
  return { kind, id, seed, pk, sig };
}

/** ML-KEM-768 decapsulation key of a prekey (2400 bytes; the caller wipes it). */
export function kemSecretKey(k: KemPrekey): Uint8Array {
  return ml_kem768.keygen(k.seed).secretKey;
}

/** A one-time X25519 prekey (unsigned). Random: sk (32). */
export function generateOneTimePrekey(id: number, random: Random): OneTimePrekey {
  checkId(id);
  const { publicKey: pk, secretKey: sk } = x25519KeyPair(random);
  return { id, pk, sk };
}

export function makePrekeyBundle(me: SigningIdentity, spk: SignedPrekey, kem: KemPrekey, opk?: OneTimePrekey): PrekeyBundle {
  const b: PrekeyBundle = {
    signPk: me.signPk,
    boxPk: me.boxPk,
    spk: { id: spk.id, expires: spk.expires, pk: spk.pk, sig: spk.sig },
    kem: { kind: kem.kind, id: kem.id, pk: kem.pk, sig: kem.sig },
  };
  if (opk) b.opk = { id: opk.id, pk: opk.pk };
  return b;
}

/**
 * Checks a fetched bundle before any use: it belongs to the pinned contact (`expected`), both
 * signatures verify under its signPk, and the signed prekey has not expired at `now`.
 * TrustError PREKEY_IDENTITY_MISMATCH / BAD_PREKEY_SIGNATURE, DataError PREKEY_EXPIRED.
 */
export function verifyPrekeyBundle(b: PrekeyBundle, expected: { signPk: Uint8Array; boxPk: Uint8Array }, now: number): PrekeyBundle {
  if (!bytesEqual(b.signPk, expected.signPk) || !bytesEqual(b.boxPk, expected.boxPk)) {
    throw new TrustError('PREKEY_IDENTITY_MISMATCH', 'the prekey bundle is for other keys than the contact you pinned', {
      hint: 'the relay may be misbehaving; compare fingerprints with hush verify',
    });
  }
  const badSig = (what: string): TrustError =>
    new TrustError('BAD_PREKEY_SIGNATURE', `the ${what} in the prekey bundle is not validly signed`, { hint: 'the relay may be misbehaving; do not use this bundle' });
  if (!verifyDetached(spkSignedBytes(b.signPk, b.boxPk, b.spk.id, b.spk.expires, b.spk.pk), b.spk.sig, b.signPk)) throw badSig('signed prekey');
  if (!verifyDetached(kemSignedBytes(b.signPk, b.boxPk, b.kem.kind, b.kem.id, b.kem.pk), b.kem.sig, b.signPk)) throw badSig('KEM prekey');
  if (!(now <= b.spk.expires)) {
    throw new DataError('PREKEY_EXPIRED', 'the signed prekey in the bundle has expired', { hint: 'ask the contact to come online so their hush publishes fresh prekeys' });
  }
  return b;
}
