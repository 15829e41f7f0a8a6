/**
 * The v2 envelope (docs/PROTOCOL.md §9.5): v1's outer layer, a crypto_box from a fresh
 * ephemeral key to the recipient's boxPk, with version byte 2, around an inner v2 message
 * (src/crypto/session.ts). It hides the sender and the ratchet header from the relay.
 *
 *   envelope = 0x02 || ephPk[32] || outerNonce[24] || crypto_box_easy(inner, outerNonce, recipient.boxPk, ephSk)
 */
import { DataError } from '../errors.js';
import { ENVELOPE_V2_VERSION, isValidEnvelopeV2Length } from '../protocol/session-wire.js';
import {
  boxBeforeOnce,
  ephemeralBoxBefore,
  MAC_BYTES,
  NONCE_BYTES,
  type Random,
  SECRETBOX_ZERO_BYTES,
  secretboxOpen,
  secretboxPadded,
  secretboxPaddedInto,
  wipeBytes,
} from './nacl.js';

/** version, ephPk, outerNonce: the bytes before the box. */
const HEADER_BYTES = 1 + 32 + NONCE_BYTES;

const tampered = (): DataError =>
  new DataError('TAMPERED', 'message may be corrupted or tampered with', {
    hint: 'ask the sender to send it again; if this repeats, compare fingerprints with hush verify',
  });

/** Boxes an inner v2 to `recipientBoxPk`. Random: ephSk (32), then the nonce (24). */
export function sealEnvelopeV2(recipientBoxPk: Uint8Array, inner: Uint8Array, random: Random): Uint8Array {
  const m = secretboxPadded(inner.length);
  m.set(inner, SECRETBOX_ZERO_BYTES);
  return sealEnvelopeV2Padded(recipientBoxPk, m, inner.length, random);
}

/**
 * sealEnvelopeV2 of the inner v2 already written at m[32 .. 32 + innerLength) of a padded
 * secretbox input (nacl.ts secretboxPadded; sealMessageEnvelope writes it there): the same
 * bytes and draws. Those innerLength bytes of m are zeroed here, also on a throw.
 */
export function sealEnvelopeV2Padded(recipientBoxPk: Uint8Array, m: Uint8Array, innerLength: number, random: Random): Uint8Array {
  try {
    const { publicKey: ephPk, k } = ephemeralBoxBefore(recipientBoxPk, random);
    const nonce = random(NONCE_BYTES);
    // The box is written in place behind the header (no box array made and then copied).
    const env = new Uint8Array(HEADER_BYTES + MAC_BYTES + innerLength);
    secretboxPaddedInto(env, HEADER_BYTES, m, innerLength, nonce, k);
    wipeBytes(k);
    env[0] = ENVELOPE_V2_VERSION;
    env.set(ephPk, 1);
    env.set(nonce, 33);
    if (!isValidEnvelopeV2Length(env.length)) throw new DataError('BAD_LENGTH', 'inner message has a length no v2 envelope may have');
    return env;
  } finally {
    m.fill(0, SECRETBOX_ZERO_BYTES, SECRETBOX_ZERO_BYTES + innerLength);
  }
}

/**
 * Opens the outer layer with our box secret key: the inner v2 bytes, still to be opened by
 * openMessage. Unknown version: UNSUPPORTED_VERSION; any other failure: TAMPERED.
 */
export function openEnvelopeV2(myBoxSk: Uint8Array, envelope: Uint8Array): Uint8Array {
  if (!(envelope instanceof Uint8Array) || envelope.length < 1) throw tampered();
  if (envelope[0] !== ENVELOPE_V2_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `envelope version ${envelope[0]} is not supported`, { hint: 'the sender may use a newer hush; upgrade hush' });
  }
  if (!isValidEnvelopeV2Length(envelope.length)) throw tampered();
  let k: Uint8Array;
  try {
    k = boxBeforeOnce(envelope.subarray(1, 33), myBoxSk);
  } catch {
    throw tampered(); // low-order ephemeral key
  }
  const inner = secretboxOpen(envelope.subarray(57), envelope.subarray(33, 57), k);
  wipeBytes(k);
  if (!inner) throw tampered();
  return inner;
}
