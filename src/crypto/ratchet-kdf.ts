/**
 * The Double Ratchet's key derivations (docs/PROTOCOL.md §9.4): KDF_RK, KDF_CK and the message
 * keys. Their own module, importing only src/crypto/kdf.ts and nacl.ts, so that the pull's
 * second thread (src/client/ahead-chains.ts) can step receiving chains without loading the
 * PQXDH module and ML-KEM with src/crypto/ratchet.ts, which uses them too.
 */
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import { hkdfSha256, hkdfSha256TwoBlocks, hmacSha256 } from './kdf.js';
import { wipe } from './nacl.js';

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const ZERO32 = new Uint8Array(32);
const RATCHET_ROOT_INFO = domainBytes(DOMAIN.ratchetRoot);
const MESSAGE_KEYS_INFO = domainBytes(DOMAIN.messageKeys);

/** KDF_RK: rk' || ck = HKDF-SHA256(salt = rk, ikm = dh, info = D(ratchetRoot), 64). */
export function kdfRk(rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdfSha256(dhOut, rk, RATCHET_ROOT_INFO, 64);
  const r: [Uint8Array, Uint8Array] = [out.slice(0, 32), out.slice(32)];
  wipe(out);
  return r;
}

/** KDF_CK: ck' = HMAC-SHA256(ck, 0x02), mk = HMAC-SHA256(ck, 0x01). */
export function kdfCk(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return [hmacSha256(ck, TWO), hmacSha256(ck, ONE)];
}

/** key || nonce = HKDF-SHA256(salt = 0^32, ikm = mk, info = D(messageKeys), 44). */
export function messageKeys(mk: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  // The 44 bytes are T(1) || T(2)[0..12): the two HMAC blocks themselves, no concatenation.
  const [t1, t2] = hkdfSha256TwoBlocks(mk, ZERO32, MESSAGE_KEYS_INFO);
  t2.fill(0, 12);
  return { key: t1, nonce: t2.subarray(0, 12) };
}
