/**
 * An identity: an Ed25519 signing key pair (the identity and mailbox address) and an X25519
 * box key pair, plus the random key that encrypts local history. Secrets are 96 bytes:
 * signSeed[32] || boxSk[32] || historyKey[32].
 */
import { DataError } from '../errors.js';
import { bytesEqual, concatBytes } from '../protocol/encoding.js';
import { type Random, signKeyPairFromSeed, wipe, x25519Base } from './nacl.js';

export interface Identity {
  signPk: Uint8Array; // 32
  signSk: Uint8Array; // 64, NaCl layout (seed || pk)
  boxPk: Uint8Array; // 32
  boxSk: Uint8Array; // 32
  historyKey: Uint8Array; // 32
}

export const SECRETS_BYTES = 96;

/** A new identity from 96 bytes of `random` (signSeed || boxSk || historyKey). */
export function generateIdentity(random: Random): Identity {
  const secrets = random(SECRETS_BYTES);
  try {
    return identityFromSecrets(secrets);
  } finally {
    wipe(secrets);
  }
}

export function identityFromSecrets(secrets: Uint8Array): Identity {
  if (!(secrets instanceof Uint8Array) || secrets.length !== SECRETS_BYTES) throw new DataError('BAD_KEYRING', 'keyring secrets have the wrong length');
  const seed = secrets.slice(0, 32);
  const sign = signKeyPairFromSeed(seed);
  const boxSk = secrets.slice(32, 64);
  wipe(seed);
  return {
    signPk: sign.publicKey,
    signSk: sign.secretKey,
    boxPk: x25519Base(boxSk),
    boxSk,
    historyKey: secrets.slice(64, 96),
  };
}

/** The 96 secret bytes of an identity (a fresh copy: the caller wipes it). */
export function identitySecrets(id: Identity): Uint8Array {
  return concatBytes(id.signSk.subarray(0, 32), id.boxSk, id.historyKey);
}

export function samePublicKeys(a: { signPk: Uint8Array; boxPk: Uint8Array }, b: { signPk: Uint8Array; boxPk: Uint8Array }): boolean {
  return bytesEqual(a.signPk, b.signPk) && bytesEqual(a.boxPk, b.boxPk);
}

export function wipeIdentity(id: Identity): void {
  wipe(id.signSk, id.boxSk, id.historyKey);
}
