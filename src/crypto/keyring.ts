/**
 * The password-wrapped keyring (file layout: src/protocol/keyring-file.ts, docs/PROTOCOL.md
 * §Keyring).
 *
 *   wrappingKey = Argon2id(passphrase, salt, m, t, p, 32 bytes)         (the KDF is passed in)
 *   wrap        = crypto_secretbox(dataKey[32] || headerHash[32], wrapNonce, wrappingKey)
 *   secrets     = crypto_secretbox(0x01 || identitySecrets[96], secretsNonce, dataKey)
 *   headerHash  = SHA-512("hush/v1/keyring-header" 0x00 || keyringHeaderBytes(header))[0..32]
 *
 * The header (name, public keys, created, KDF parameters and salt) is in clear so `whoami`
 * needs no passphrase; it is bound into the wrap, so a tampered header fails to unwrap.
 * A passphrase change draws a new salt and re-wraps only the data key.
 */
import { DataError, PassphraseError } from '../errors.js';
import { bytesEqual, concatBytes } from '../protocol/encoding.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import {
  KDF_CEILING,
  KDF_FLOOR,
  type KdfParams,
  type KeyringFile,
  type KeyringHeader,
  keyringHeaderBytes,
  KEYRING_SECRETS_VERSION,
} from '../protocol/keyring-file.js';
import { type Identity, identityFromSecrets, identitySecrets, SECRETS_BYTES } from './identity.js';
import { NONCE_BYTES, type Random, secretbox, secretboxOpen, sha512, wipe } from './nacl.js';

/** Argon2id, provided by the caller (src/store/kdf.ts) so this module does no I/O. */
export type Kdf = (passphrase: Uint8Array, params: KdfParams) => Promise<Uint8Array>;

/** Refuses KDF parameters outside [floor, ceiling] before any work is done (cf. age's cap). */
export function checkKdfParams(p: KdfParams): void {
  const bad =
    p.alg !== 'argon2id' ||
    p.m < KDF_FLOOR.m || p.m > KDF_CEILING.m ||
    p.t < KDF_FLOOR.t || p.t > KDF_CEILING.t ||
    p.p < KDF_FLOOR.p || p.p > KDF_CEILING.p ||
    p.salt.length !== 16;
  if (bad) {
    throw new DataError('KDF_PARAMS_REFUSED', `keyring key-derivation parameters are outside the allowed range (m=${p.m} t=${p.t} p=${p.p})`, {
      hint: 'the keyring file may have been tampered with; restore it from a backup',
    });
  }
}

export async function deriveWrappingKey(kdf: Kdf, passphrase: Uint8Array, params: KdfParams): Promise<Uint8Array> {
  checkKdfParams(params);
  const k = await kdf(passphrase, params);
  if (k.length !== 32) throw new DataError('KDF_OUTPUT', 'key derivation returned the wrong length');
  return k;
}

function headerHash(h: KeyringHeader): Uint8Array {
  return sha512(concatBytes(domainBytes(DOMAIN.keyringHeader), keyringHeaderBytes(h))).subarray(0, 32);
}

function wrapDataKey(h: KeyringHeader, dataKey: Uint8Array, wrappingKey: Uint8Array, random: Random): KeyringFile['wrap'] {
  const nonce = random(NONCE_BYTES);
  const pt = concatBytes(dataKey, headerHash(h));
  const ct = secretbox(pt, nonce, wrappingKey);
  wipe(pt);
  return { nonce, ct };
}

/** Seals a new keyring for `id` under `wrappingKey` (derived with header.kdf). */
export function sealKeyring(header: KeyringHeader, id: Identity, wrappingKey: Uint8Array, random: Random): KeyringFile {
  if (!bytesEqual(header.signPk, id.signPk) || !bytesEqual(header.boxPk, id.boxPk)) {
    throw new DataError('BAD_KEYRING', 'keyring header does not match the identity');
  }
  const dataKey = random(32);
  const nonce = random(NONCE_BYTES);
  const pt = concatBytes(Uint8Array.of(KEYRING_SECRETS_VERSION), identitySecrets(id));
  const ct = secretbox(pt, nonce, dataKey);
  const wrap = wrapDataKey(header, dataKey, wrappingKey, random);
  wipe(pt, dataKey);
  return { ...header, wrap, secrets: { nonce, ct } };
}

export interface OpenedKeyring {
  identity: Identity;
  dataKey: Uint8Array;
}

/** Opens a keyring with a wrapping key. Wrong key or tampered header: PassphraseError. */
export function openKeyring(file: KeyringFile, wrappingKey: Uint8Array): OpenedKeyring {
  const wrapped = secretboxOpen(file.wrap.ct, file.wrap.nonce, wrappingKey);
  if (!wrapped || wrapped.length !== 64 || !bytesEqual(wrapped.subarray(32), headerHash(file))) {
    throw new PassphraseError('WRONG_PASSPHRASE', 'wrong passphrase, or the keyring file was modified', {
      hint: 'check the passphrase source (--passphrase-file, --passphrase-fd, HUSH_PASSPHRASE, keychain)',
    });
  }
  const dataKey = wrapped.slice(0, 32);
  wipe(wrapped);
  const pt = secretboxOpen(file.secrets.ct, file.secrets.nonce, dataKey);
  if (!pt || pt.length !== 1 + SECRETS_BYTES || pt[0] !== KEYRING_SECRETS_VERSION) {
    throw new DataError('KEYRING_CORRUPT', 'the keyring file is corrupted', { hint: 'restore the keyring from a backup' });
  }
  const identity = identityFromSecrets(pt.subarray(1));
  wipe(pt);
  if (!bytesEqual(identity.signPk, file.signPk) || !bytesEqual(identity.boxPk, file.boxPk)) {
    throw new DataError('KEYRING_CORRUPT', 'the keyring file is corrupted', { hint: 'restore the keyring from a backup' });
  }
  return { identity, dataKey };
}

/** passwd: the same secrets box, the data key re-wrapped under a new KDF salt/params/key. */
export function rewrapKeyring(file: KeyringFile, dataKey: Uint8Array, kdf: KdfParams, wrappingKey: Uint8Array, random: Random): KeyringFile {
  const header: KeyringHeader = { ...file, kdf };
  return { ...header, wrap: wrapDataKey(header, dataKey, wrappingKey, random), secrets: file.secrets };
}
