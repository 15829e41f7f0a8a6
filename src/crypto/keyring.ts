/**
 * The password-wrapped keyring (file layout: src/protocol/keyring-file.ts, docs/PROTOCOL.md
 * §6).
 *
 *   wrappingKey = Argon2id(passphrase, salt, m, t, p, 32 bytes)         (the KDF is passed in)
 *   wrap        = crypto_secretbox(dataKey[32] || headerHash[32], wrapNonce, wrappingKey)
 *   secrets     = crypto_secretbox(0x01 || identitySecrets[96], secretsNonce, dataKey)
 *   headerHash  = SHA-512("hush/v1/keyring-header" 0x00 || keyringHeaderBytes(header))[0..32]
 *
 * The header (name, public keys, created, KDF parameters and salt) is in clear so `whoami`
 * needs no passphrase; it is bound into the wrap, so a tampered header fails to unwrap.
 * A passphrase change draws a new salt and re-wraps only the data key.
 *
 * Random consumption order (for vectors): sealKeyring takes dataKey[32], secretsNonce[24],
 * wrapNonce[24]; rewrapKeyring takes wrapNonce[24]. The salt is the caller's (header.kdf.salt).
 */
import { DataError, PassphraseError } from '../errors.js';
import { bytesEqual, concatBytes } from '../protocol/encoding.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import { KDF_CEILING, KDF_FLOOR, type KdfParams, type KeyringFile, type KeyringHeader, keyringHeaderBytes, KEYRING_SECRETS_VERSION } from '../protocol/keyring-file.js';
import { type Identity, identityFromSecrets, identitySecrets, SECRETS_BYTES, wipeIdentity } from './identity.js';
import { NONCE_BYTES, type Random, secretbox, secretboxOpen, sha512, wipe } from './nacl.js';

/** Argon2id, provided by the caller (src/store/kdf.ts) so this module does no I/O. */
export type Kdf = (passphrase: Uint8Array, params: KdfParams) => Promise<Uint8Array>;

/** Refuses KDF parameters outside [floor, ceiling] before any work is done (cf. age's cap). */
export function checkKdfParams(p: KdfParams): void {
  const int = (n: number): boolean => Number.isSafeInteger(n);
  const bad =
    p.alg !== 'argon2id' ||
    !int(p.m) ||
    !int(p.t) ||
    !int(p.p) ||
    !(p.salt instanceof Uint8Array) ||
    p.m < KDF_FLOOR.m ||
    p.m > KDF_CEILING.m ||
    p.t < KDF_FLOOR.t ||
    p.t > KDF_CEILING.t ||
    p.p < KDF_FLOOR.p ||
    p.p > KDF_CEILING.p ||
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
  if (!(k instanceof Uint8Array) || k.length !== 32) throw new DataError('KDF_OUTPUT', 'key derivation returned the wrong length');
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

const corrupt = (): DataError => new DataError('KEYRING_CORRUPT', 'the keyring file is corrupted or was tampered with', { hint: 'restore the keyring from a backup' });

/**
 * Seals a new keyring for `id` under `wrappingKey` (derived with header.kdf). `random`
 * supplies, in this order, the data key (32), the secrets nonce (24) and the wrap nonce (24).
 */
export function sealKeyring(header: KeyringHeader, id: Identity, wrappingKey: Uint8Array, random: Random): KeyringFile {
  checkKdfParams(header.kdf);
  if (!bytesEqual(header.signPk, id.signPk) || !bytesEqual(header.boxPk, id.boxPk)) {
    throw new DataError('BAD_KEYRING', 'keyring header does not match the identity');
  }
  const dataKey = random(32);
  const nonce = random(NONCE_BYTES);
  const secrets = identitySecrets(id);
  const pt = concatBytes(Uint8Array.of(KEYRING_SECRETS_VERSION), secrets);
  const ct = secretbox(pt, nonce, dataKey);
  const wrap = wrapDataKey(header, dataKey, wrappingKey, random);
  wipe(secrets, pt, dataKey);
  return { ...header, wrap, secrets: { nonce, ct } };
}

export interface OpenedKeyring {
  identity: Identity;
  /** The data key, kept only for rewrapKeyring (passwd); wipe it when done. */
  dataKey: Uint8Array;
}

function openSecrets(file: KeyringFile, dataKey: Uint8Array): Identity {
  const pt = secretboxOpen(file.secrets.ct, file.secrets.nonce, dataKey);
  if (!pt) throw corrupt();
  try {
    if (pt.length !== 1 + SECRETS_BYTES || pt[0] !== KEYRING_SECRETS_VERSION) throw corrupt();
    const identity = identityFromSecrets(pt.subarray(1));
    if (!bytesEqual(identity.signPk, file.signPk) || !bytesEqual(identity.boxPk, file.boxPk)) throw corrupt();
    return identity;
  } finally {
    wipe(pt);
  }
}

/**
 * Opens a keyring with a wrapping key (docs/PROTOCOL.md §6.4).
 * - KDF parameters outside [floor, ceiling]: DataError KDF_PARAMS_REFUSED.
 * - the wrap box does not open (wrong passphrase, or a changed salt or KDF parameter, which
 *   changes the derived key): PassphraseError WRONG_PASSPHRASE.
 * - the wrap opens but the header hash inside differs (a changed name, created time, public
 *   key or version), or the secrets box is damaged: DataError KEYRING_CORRUPT.
 */
export function openKeyring(file: KeyringFile, wrappingKey: Uint8Array): OpenedKeyring {
  checkKdfParams(file.kdf);
  const wrapped = secretboxOpen(file.wrap.ct, file.wrap.nonce, wrappingKey);
  if (!wrapped) {
    throw new PassphraseError('WRONG_PASSPHRASE', 'wrong passphrase, or the keyring file was modified', {
      hint: 'check the passphrase source (--passphrase-file, --passphrase-fd, HUSH_PASSPHRASE, keychain)',
    });
  }
  const ok = wrapped.length === 64 && bytesEqual(wrapped.subarray(32), headerHash(file));
  const dataKey = wrapped.slice(0, 32);
  wipe(wrapped);
  if (!ok) {
    wipe(dataKey);
    throw corrupt();
  }
  try {
    return { identity: openSecrets(file, dataKey), dataKey };
  } catch (e) {
    wipe(dataKey);
    throw e;
  }
}

/**
 * passwd: the same secrets box, the data key re-wrapped under new KDF parameters (a fresh
 * salt) and the new wrapping key. Checks first that `dataKey` really opens the secrets, so a
 * bug upstream can never write a keyring nobody can open. `random` supplies the wrap nonce.
 */
export function rewrapKeyring(file: KeyringFile, dataKey: Uint8Array, kdf: KdfParams, wrappingKey: Uint8Array, random: Random): KeyringFile {
  checkKdfParams(kdf);
  wipeIdentity(openSecrets(file, dataKey));
  const header: KeyringHeader = { type: file.type, v: file.v, name: file.name, created: file.created, signPk: file.signPk, boxPk: file.boxPk, kdf };
  return { ...header, wrap: wrapDataKey(header, dataKey, wrappingKey, random), secrets: file.secrets };
}
