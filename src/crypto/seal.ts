/**
 * Sealing and opening messages: the two-layer box of docs/PROTOCOL.md §5, byte layout in
 * src/protocol/envelope.ts.
 *
 * Opening is two steps so the caller can look the sender up in between:
 *   openOuter(me, envelope)            -> who claims to have sent it (senderSignPk)
 *   openInner(me, outer, senderBoxPk)  -> the checked payload
 * Every failure after the version byte is the one DataError TAMPERED ("may be corrupted or
 * tampered with"), never which check failed.
 */
import { DataError } from '../errors.js';
import { bytesEqual, concatBytes, readU32be, readU64be, u32be, u64be } from '../protocol/encoding.js';
import {
  BOX_MAC_BYTES,
  ENVELOPE_VERSION,
  INNER_HEADER_BYTES,
  INNER_VERSION,
  KIND,
  KIND_BY_CODE,
  type Kind,
  MAX_BODY_BYTES,
  isValidEnvelopeLength,
  MSG_ID_BYTES,
  OUTER_HEADER_BYTES,
  PAYLOAD_HEADER_BYTES,
  PAYLOAD_VERSION,
  paddedLength,
} from '../protocol/envelope.js';
import { boxBefore, NONCE_BYTES, type Random, secretbox, secretboxOpen, wipe, x25519KeyPair } from './nacl.js';

export interface BoxIdentity {
  signPk: Uint8Array;
  boxPk: Uint8Array;
  boxSk: Uint8Array;
}

export interface Peer {
  signPk: Uint8Array;
  boxPk: Uint8Array;
}

export interface SealInput {
  kind: Kind;
  id: Uint8Array; // 16 random bytes
  time: number; // ms since epoch
  body: Uint8Array;
}

export interface Opened extends SealInput {
  senderSignPk: Uint8Array;
}

export interface OuterOpened {
  ephPk: Uint8Array;
  senderSignPk: Uint8Array;
  innerNonce: Uint8Array;
  innerBox: Uint8Array;
}

const tampered = (): DataError =>
  new DataError('TAMPERED', 'message may be corrupted or tampered with', {
    hint: 'ask the sender to send it again; if this repeats, compare fingerprints with hush verify',
  });

/**
 * A cache of crypto_box_beforenm keys for long-term pairs (sender box key x recipient box
 * key). Optional; the key is the same with or without it. Callers own its lifetime.
 */
export type SharedKeyCache = Map<string, Uint8Array>;

function longTermKey(theirPk: Uint8Array, mySk: Uint8Array, myPk: Uint8Array, cache?: SharedKeyCache): Uint8Array {
  if (!cache) return boxBefore(theirPk, mySk);
  const id = Buffer.from(myPk).toString('base64') + Buffer.from(theirPk).toString('base64');
  let k = cache.get(id);
  if (!k) {
    k = boxBefore(theirPk, mySk);
    cache.set(id, k);
  }
  return k;
}

function needBytes(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_KEY', `${what} must be ${n} bytes`);
}

/**
 * Seals `msg` from `me` to `to` (docs/PROTOCOL.md §5). `random` supplies, in this order, the
 * ephemeral secret key (32), the inner nonce (24) and the outer nonce (24).
 */
export function sealEnvelope(me: BoxIdentity, to: Peer, msg: SealInput, random: Random, cache?: SharedKeyCache): Uint8Array {
  needBytes(me.signPk, 32, 'sender signing key');
  needBytes(me.boxPk, 32, 'sender box key');
  needBytes(me.boxSk, 32, 'sender box secret key');
  needBytes(to.signPk, 32, 'recipient signing key');
  needBytes(to.boxPk, 32, 'recipient box key');
  if (!Object.hasOwn(KIND, msg.kind)) throw new DataError('BAD_KIND', `unknown message kind ${String(msg.kind)}`);
  if (!(msg.id instanceof Uint8Array) || msg.id.length !== MSG_ID_BYTES) throw new DataError('BAD_ID', `message id must be ${MSG_ID_BYTES} bytes`);
  if (!(msg.body instanceof Uint8Array)) throw new DataError('BAD_BODY', 'message body must be bytes');
  if (msg.body.length > MAX_BODY_BYTES) {
    throw new DataError('MESSAGE_TOO_LARGE', `message is ${msg.body.length} bytes, the limit is ${MAX_BODY_BYTES}`, {
      hint: 'split it into smaller messages',
    });
  }
  const time = u64be(msg.time); // throws BAD_INTEGER unless a safe non-negative integer

  // random(32) then x25519Base, or the same natively when `random` is the real randomBytes.
  const { secretKey: ephSk, publicKey: ephPk } = x25519KeyPair(random);

  const plen = paddedLength(PAYLOAD_HEADER_BYTES + msg.body.length);
  const payload = new Uint8Array(plen); // zero padding
  let o = 0;
  payload[o++] = PAYLOAD_VERSION;
  payload[o++] = KIND[msg.kind];
  payload.set(me.signPk, o);
  o += 32;
  payload.set(to.signPk, o);
  o += 32;
  payload.set(ephPk, o);
  o += 32;
  payload.set(msg.id, o);
  o += MSG_ID_BYTES;
  payload.set(time, o);
  o += 8;
  payload.set(u32be(msg.body.length), o);
  o += 4;
  payload.set(msg.body, o);

  const innerNonce = random(NONCE_BYTES);
  const kInner = longTermKey(to.boxPk, me.boxSk, me.boxPk, cache);
  const innerBox = secretbox(payload, innerNonce, kInner);
  if (!cache) wipe(kInner);
  const inner = concatBytes(Uint8Array.of(INNER_VERSION), me.signPk, innerNonce, innerBox);

  const outerNonce = random(NONCE_BYTES);
  const kOuter = boxBefore(to.boxPk, ephSk);
  const outerBox = secretbox(inner, outerNonce, kOuter);
  wipe(ephSk, kOuter, payload);
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION), ephPk, outerNonce, outerBox);
}

/**
 * Step 1: open the outer layer with our box key; learn who claims to be the sender
 * (docs/PROTOCOL.md §5.3, checks 1-5). An unknown version byte is UNSUPPORTED_VERSION; every
 * other failure is DataError TAMPERED.
 */
export function openOuter(me: BoxIdentity, envelope: Uint8Array): OuterOpened {
  needBytes(me.boxSk, 32, 'recipient box secret key');
  if (!(envelope instanceof Uint8Array) || envelope.length < 1) throw tampered();
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `envelope version ${envelope[0]} is not supported`, {
      hint: 'the sender may use a newer hush; upgrade hush',
    });
  }
  if (!isValidEnvelopeLength(envelope.length)) throw tampered(); // before any crypto
  const ephPk = envelope.subarray(1, 33);
  const outerNonce = envelope.subarray(33, OUTER_HEADER_BYTES);
  let kOuter: Uint8Array;
  try {
    kOuter = boxBefore(ephPk, me.boxSk);
  } catch {
    throw tampered(); // low-order ephemeral key
  }
  const inner = secretboxOpen(envelope.subarray(OUTER_HEADER_BYTES), outerNonce, kOuter);
  wipe(kOuter);
  if (!inner || inner.length < INNER_HEADER_BYTES + BOX_MAC_BYTES || inner[0] !== INNER_VERSION) throw tampered();
  return {
    ephPk: new Uint8Array(ephPk),
    senderSignPk: inner.subarray(1, 33),
    innerNonce: inner.subarray(33, INNER_HEADER_BYTES),
    innerBox: inner.subarray(INNER_HEADER_BYTES),
  };
}

/**
 * Step 2: open the inner layer with the pinned sender's box key and check every binding
 * (docs/PROTOCOL.md §5.3, checks 7-14). Any failure is DataError TAMPERED.
 */
export function openInner(me: BoxIdentity, outer: OuterOpened, sender: Peer, cache?: SharedKeyCache): Opened {
  if (!bytesEqual(sender.signPk, outer.senderSignPk)) throw tampered();
  let k: Uint8Array;
  try {
    k = longTermKey(sender.boxPk, me.boxSk, me.boxPk, cache);
  } catch {
    throw tampered(); // low-order or malformed contact box key
  }
  const p = secretboxOpen(outer.innerBox, outer.innerNonce, k);
  if (!cache) wipe(k);
  if (!p) throw tampered();
  try {
    if (p.length < PAYLOAD_HEADER_BYTES || p.length !== paddedLength(p.length)) throw tampered();
    let o = 0;
    const version = p[o++];
    const kind = KIND_BY_CODE[p[o++]!];
    const pSender = p.subarray(o, (o += 32));
    const pRecipient = p.subarray(o, (o += 32));
    const pEph = p.subarray(o, (o += 32));
    const id = p.slice(o, (o += MSG_ID_BYTES));
    const time = readU64be(p, o);
    o += 8; // throws above 2^53 - 1
    const bodyLen = readU32be(p, o);
    o += 4;
    const ok =
      version === PAYLOAD_VERSION &&
      kind !== undefined &&
      bytesEqual(pSender, outer.senderSignPk) && // the inner box's sender is the one named inside
      bytesEqual(pRecipient, me.signPk) && // addressed to us (no surreptitious forwarding)
      bytesEqual(pEph, outer.ephPk) && // bound to this outer layer (no re-wrapping)
      bodyLen <= MAX_BODY_BYTES &&
      paddedLength(PAYLOAD_HEADER_BYTES + bodyLen) === p.length && // canonical padding length
      p.subarray(o + bodyLen).every((b) => b === 0); // padding is zeros
    if (!ok) throw tampered();
    return { kind, id, time, body: p.slice(o, o + bodyLen), senderSignPk: new Uint8Array(outer.senderSignPk) };
  } catch {
    throw tampered();
  } finally {
    wipe(p);
  }
}

/** Both steps, for callers that already know every possible sender. */
export function openEnvelope(me: BoxIdentity, envelope: Uint8Array, lookup: (senderSignPk: Uint8Array) => Peer | undefined, cache?: SharedKeyCache): Opened {
  const outer = openOuter(me, envelope);
  const sender = lookup(outer.senderSignPk);
  if (!sender) throw new DataError('UNKNOWN_SENDER', 'message is from a key that is not among your contacts');
  return openInner(me, outer, sender, cache);
}
