/**
 * Delivery tokens (docs/PROTOCOL.md §5.8, §7.2): what lets a contact send to our mailbox on an
 * unauthenticated connection (sealed sender). Three byte layouts live here:
 *
 *   token body (payload kind `token`, inside a sealed envelope, §5.8)
 *     = 0x01 || token[32] || u64be(exp) || utf8(relayUrl)
 *   token      = HMAC-SHA256(tokenKey, D(deliveryToken) || lp(utf8(relayUrl)) || contactSignPk[32]
 *                            || u64be(epoch) || u32be(gen))            (src/crypto/delivery-token.ts)
 *   token hash = SHA-256(D(deliveryTokenHash) || token)                (the only form the relay keeps)
 *
 * `exp` is ms since the epoch; `relayUrl` the canonical URL of the relay whose mailbox the token
 * opens (1 to MAX_URL_LENGTH bytes of printable ASCII).
 */
import * as nodeCrypto from 'node:crypto';
import { DataError } from '../errors.js';
import { concatBytes, readU64be, u64be, utf8 } from './encoding.js';
import { DOMAIN, domainBytes } from './domains.js';

export const DELIVERY_TOKEN_BYTES = 32;
export const TOKEN_HASH_BYTES = 32;
export const TOKEN_BODY_VERSION = 1;
/** Longest relay URL in a token body (as MAX_URL_LENGTH of the frames). */
export const TOKEN_URL_MAX = 2048;
/** Most entries in one `tokens` frame's add list, and in its remove list. */
export const MAX_TOKENS_PER_FRAME = 64;

export interface TokenBody {
  token: Uint8Array;
  /** Expiry, ms since the epoch. */
  exp: number;
  /** Canonical URL of the relay the token is registered on. */
  relay: string;
}

export function encodeTokenBody(b: TokenBody): Uint8Array {
  if (b.token.length !== DELIVERY_TOKEN_BYTES) throw new DataError('BAD_TOKEN', `a delivery token is ${DELIVERY_TOKEN_BYTES} bytes`);
  const url = utf8(b.relay);
  if (url.length === 0 || url.length > TOKEN_URL_MAX) throw new DataError('BAD_TOKEN', 'the relay url of a delivery token is empty or too long');
  return concatBytes(Uint8Array.of(TOKEN_BODY_VERSION), b.token, u64be(b.exp), url);
}

/** Parses a token body; DataError BAD_TOKEN for anything else (a newer version included). */
export function decodeTokenBody(body: Uint8Array): TokenBody {
  const bad = (why: string): never => {
    throw new DataError('BAD_TOKEN', `delivery token body ${why}`);
  };
  if (body.length < 1 + DELIVERY_TOKEN_BYTES + 8 + 1) bad('is too short');
  if (body[0] !== TOKEN_BODY_VERSION) bad(`has version ${body[0]}, this hush knows ${TOKEN_BODY_VERSION}`);
  const token = body.slice(1, 1 + DELIVERY_TOKEN_BYTES);
  const exp = readU64be(body, 1 + DELIVERY_TOKEN_BYTES);
  const urlBytes = body.subarray(1 + DELIVERY_TOKEN_BYTES + 8);
  if (urlBytes.length > TOKEN_URL_MAX || !urlBytes.every((c) => c >= 0x21 && c <= 0x7e)) bad('has a relay url that is not printable ASCII');
  return { token, exp, relay: Buffer.from(urlBytes).toString('latin1') };
}

const TOKEN_HASH_PREFIX = domainBytes(DOMAIN.deliveryTokenHash);
const tokenScratch = Buffer.alloc(TOKEN_HASH_PREFIX.length + DELIVERY_TOKEN_BYTES);
tokenScratch.set(TOKEN_HASH_PREFIX);

/** SHA-256(D(deliveryTokenHash) || token): what a mailbox owner registers and the relay compares. */
export function tokenHash(token: Uint8Array): Uint8Array {
  // The relay hashes one per token send: the one-shot crypto.hash (Node >= 20.12) over the
  // prefix and the token in a reused buffer, as envelopeId does, instead of a Hash object.
  if (token.length === DELIVERY_TOKEN_BYTES && typeof nodeCrypto.hash === 'function') {
    tokenScratch.set(token, TOKEN_HASH_PREFIX.length);
    const h = new Uint8Array(nodeCrypto.hash('sha256', tokenScratch, 'buffer'));
    tokenScratch.fill(0, TOKEN_HASH_PREFIX.length); // no copy of the token stays behind
    return h;
  }
  return new Uint8Array(nodeCrypto.createHash('sha256').update(TOKEN_HASH_PREFIX).update(token).digest());
}
