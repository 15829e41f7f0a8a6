/**
 * Derivation of delivery tokens (docs/PROTOCOL.md §5.8): one per contact, relay, epoch and
 * generation, from a per-home random token key, so the issuer stores the key and small records
 * instead of the tokens themselves.
 *
 *   token = HMAC-SHA256(tokenKey, D(deliveryToken) || lp(utf8(relayUrl)) || contactSignPk[32]
 *                                 || u64be(epoch) || u32be(gen))
 */
import { DataError } from '../errors.js';
import { concatBytes, lp, u32be, u64be, utf8 } from '../protocol/encoding.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import { hmacSha256 } from './kdf.js';

export const TOKEN_KEY_BYTES = 32;

export function deriveDeliveryToken(tokenKey: Uint8Array, relayUrl: string, contactSignPk: Uint8Array, epoch: number, gen: number): Uint8Array {
  if (tokenKey.length !== TOKEN_KEY_BYTES) throw new DataError('BAD_TOKEN_KEY', `the token key must be ${TOKEN_KEY_BYTES} bytes`);
  if (contactSignPk.length !== 32) throw new DataError('BAD_KEY', 'a contact key is 32 bytes');
  return hmacSha256(tokenKey, concatBytes(domainBytes(DOMAIN.deliveryToken), lp(utf8(relayUrl)), contactSignPk, u64be(epoch), u32be(gen)));
}
