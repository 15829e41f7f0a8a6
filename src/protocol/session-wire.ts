/**
 * Byte layouts of a protocol v2 message inside the sealed outer layer (docs/PROTOCOL.md §9.5):
 *
 *   inner   = 0x02 || senderSignPk[32] || type u8 || (type 1: init) || header || aeadCt
 *   init    = 0x01 || ekPk[32] || spkId u32be || kemId u32be || opkFlag u8 || opkId u32be
 *             || kemCt[1088]                                            (1134 bytes)
 *   header  = 0x01 || dhPk[32] || u32be pn || u32be n                 (41 bytes)
 *   aeadCt  = ChaCha20-Poly1305(payload) || tag[16]
 *   payload = 0x02 || kind u8 || id[16] || u64be time || u64be seq || u32be bodyLen || body
 *             || 0x00 padding up to paddedLength(38 + bodyLen)
 *
 * type 1 ("prekey message") carries the PQXDH initial header; the initiator sends type 1 until
 * it has decrypted a reply. type 2 is a plain ratchet message. Layouts and checks only.
 */
import { DataError } from '../errors.js';
import { concatBytes, readU32be, readU64be, u32be, writeU32be, writeU64be } from './encoding.js';
import { KIND, KIND_BY_CODE, type Kind, MAX_BODY_BYTES, MSG_ID_BYTES, paddedLength } from './envelope.js';
import { KEM_CT_BYTES } from './prekey-bundle.js';

export const INNER_V2_VERSION = 2;
export const PAYLOAD_V2_VERSION = 2;
export const INIT_HEADER_VERSION = 1;
export const RATCHET_HEADER_VERSION = 1;

export const MESSAGE_TYPE = { prekey: 1, message: 2 } as const;
export type MessageType = keyof typeof MESSAGE_TYPE;

export const INIT_HEADER_BYTES = 1 + 32 + 4 + 4 + 1 + 4 + KEM_CT_BYTES; // 1134
export const RATCHET_HEADER_BYTES = 1 + 32 + 4 + 4; // 41
export const AEAD_TAG_BYTES = 16;
export const PAYLOAD_V2_HEADER_BYTES = 1 + 1 + MSG_ID_BYTES + 8 + 8 + 4; // 38
/** The prefix of a plain (type 2) inner v2: version, senderSignPk, type, ratchet header (75 bytes). */
export const PLAIN_PREFIX_BYTES = 1 + 32 + 1 + RATCHET_HEADER_BYTES;
/** Largest ratchet counter (n, pn): u32. A session that reaches it must be replaced. */
export const MAX_COUNTER = 0xffffffff;

export interface InitHeader {
  ekPk: Uint8Array;
  spkId: number;
  kemId: number;
  opkId?: number;
  kemCt: Uint8Array;
}

export interface RatchetHeader {
  dhPk: Uint8Array;
  pn: number;
  n: number;
}

/** A parsed inner v2. Every array is a view of the input (no copies): read it within the call that parsed it, copy what is kept. */
export interface InnerV2 {
  senderSignPk: Uint8Array;
  type: MessageType;
  init?: InitHeader;
  /** The raw init header bytes (type 1), as sent. */
  initBytes?: Uint8Array;
  header: RatchetHeader;
  /** Everything before the AEAD ciphertext (bound as associated data): a view of the input. */
  prefix: Uint8Array;
  /** The AEAD ciphertext and tag: a view of the input (only read, to decrypt it). */
  ciphertext: Uint8Array;
}

export interface PayloadV2 {
  kind: Kind;
  id: Uint8Array;
  time: number;
  /** Per-conversation sequence number of the sender (1, 2, 3, ...), owned by the caller. */
  seq: number;
  body: Uint8Array;
}

const tampered = (): DataError =>
  new DataError('TAMPERED', 'message may be corrupted or tampered with', {
    hint: 'ask the sender to send it again; if this repeats, compare fingerprints with hush verify',
  });

function need(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_KEY', `${what} must be ${n} bytes`);
}

export function encodeInitHeader(h: InitHeader): Uint8Array {
  need(h.ekPk, 32, 'ephemeral key');
  need(h.kemCt, KEM_CT_BYTES, 'KEM ciphertext');
  const hasOpk = h.opkId !== undefined;
  return concatBytes(Uint8Array.of(INIT_HEADER_VERSION), h.ekPk, u32be(h.spkId), u32be(h.kemId), Uint8Array.of(hasOpk ? 1 : 0), u32be(hasOpk ? h.opkId! : 0), h.kemCt);
}

/** Parses an init header; anything malformed is TAMPERED (it arrived inside a box). */
export function parseInitHeader(b: Uint8Array): InitHeader {
  if (b.length !== INIT_HEADER_BYTES || b[0] !== INIT_HEADER_VERSION) throw tampered();
  const flag = b[41];
  const opkId = readU32be(b, 42);
  if (flag !== 0 && flag !== 1) throw tampered();
  if (flag === 0 && opkId !== 0) throw tampered();
  const h: InitHeader = { ekPk: b.slice(1, 33), spkId: readU32be(b, 33), kemId: readU32be(b, 37), kemCt: b.slice(46, 46 + KEM_CT_BYTES) };
  if (flag === 1) h.opkId = opkId;
  return h;
}

export function encodeRatchetHeader(h: RatchetHeader): Uint8Array {
  const out = new Uint8Array(RATCHET_HEADER_BYTES);
  writeRatchetHeader(out, 0, h);
  return out;
}

/** Writes the 41 header bytes at `o` of `out` (no intermediate arrays). */
function writeRatchetHeader(out: Uint8Array, o: number, h: RatchetHeader): void {
  need(h.dhPk, 32, 'ratchet key');
  out[o] = RATCHET_HEADER_VERSION;
  out.set(h.dhPk, o + 1);
  writeU32be(out, o + 33, h.pn);
  writeU32be(out, o + 37, h.n);
}

export function parseRatchetHeader(b: Uint8Array): RatchetHeader {
  if (b.length !== RATCHET_HEADER_BYTES || b[0] !== RATCHET_HEADER_VERSION) throw tampered();
  return { dhPk: b.slice(1, 33), pn: readU32be(b, 33), n: readU32be(b, 37) };
}

/** Bytes of the prefix of an inner v2: 75 for a plain message, 1209 with an init header. */
export function innerPrefixLength(initBytes?: Uint8Array): number {
  return 34 + (initBytes ? INIT_HEADER_BYTES : 0) + RATCHET_HEADER_BYTES;
}

/**
 * The prefix of an inner v2 (the associated data part of it), written into one array:
 * 0x02 || senderSignPk || type || (initBytes) || header.
 */
export function encodeInnerPrefix(senderSignPk: Uint8Array, header: RatchetHeader, initBytes?: Uint8Array): Uint8Array {
  const out = new Uint8Array(innerPrefixLength(initBytes));
  writeInnerPrefix(out, senderSignPk, header, initBytes);
  return out;
}

/**
 * encodeInnerPrefix written at offset `o` of `out` (which has room for innerPrefixLength bytes
 * there, and more): for a sealer that writes prefix || ciphertext into one array.
 */
export function writeInnerPrefix(out: Uint8Array, senderSignPk: Uint8Array, header: RatchetHeader, initBytes?: Uint8Array, o = 0): void {
  need(senderSignPk, 32, 'sender signing key');
  if (initBytes) need(initBytes, INIT_HEADER_BYTES, 'init header');
  const initLen = initBytes ? INIT_HEADER_BYTES : 0;
  if (!Number.isInteger(o) || o < 0 || out.length - o < 34 + initLen + RATCHET_HEADER_BYTES) throw new DataError('BAD_LENGTH', 'no room for the inner prefix');
  out[o] = INNER_V2_VERSION;
  out.set(senderSignPk, o + 1);
  out[o + 33] = initBytes ? MESSAGE_TYPE.prekey : MESSAGE_TYPE.message;
  if (initBytes) out.set(initBytes, o + 34);
  writeRatchetHeader(out, o + 34 + initLen, header);
}

/**
 * Splits an inner v2. A first byte other than 2 is UNSUPPORTED_VERSION; every other problem is
 * TAMPERED (nothing here is authenticated yet).
 */
export function parseInnerV2(b: Uint8Array): InnerV2 {
  if (!(b instanceof Uint8Array) || b.length < 1) throw tampered();
  if (b[0] !== INNER_V2_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `message version ${b[0]} is not supported`, { hint: 'the sender may use a newer hush; upgrade hush' });
  }
  if (b.length < 34) throw tampered();
  const senderSignPk = b.subarray(1, 33);
  const t = b[33];
  let o = 34;
  let init: InitHeader | undefined;
  let initBytes: Uint8Array | undefined;
  if (t === MESSAGE_TYPE.prekey) {
    if (b.length < o + INIT_HEADER_BYTES) throw tampered();
    initBytes = b.slice(o, o + INIT_HEADER_BYTES);
    init = parseInitHeader(initBytes);
    o += INIT_HEADER_BYTES;
  } else if (t !== MESSAGE_TYPE.message) {
    throw tampered();
  }
  if (b.length < o + RATCHET_HEADER_BYTES + AEAD_TAG_BYTES + PAYLOAD_V2_HEADER_BYTES) throw tampered();
  if (b[o] !== RATCHET_HEADER_VERSION) throw tampered();
  const header: RatchetHeader = { dhPk: b.subarray(o + 1, o + 33), pn: readU32be(b, o + 33), n: readU32be(b, o + 37) };
  o += RATCHET_HEADER_BYTES;
  // Views, no copies: the opener only reads them within the call (the ratchet copies the
  // ratchet key it keeps).
  const out: InnerV2 = { senderSignPk, type: t === MESSAGE_TYPE.prekey ? 'prekey' : 'message', header, prefix: b.subarray(0, o), ciphertext: b.subarray(o) };
  if (init) {
    out.init = init;
    out.initBytes = initBytes!;
  }
  return out;
}

/**
 * The padded v2 payload. Throws MESSAGE_TOO_LARGE, BAD_KIND, BAD_ID, BAD_INTEGER. With
 * `scratch`, a payload that fits is written at its start and returned as a view of it (every
 * byte written, the padding too), for a caller that uses it at once and zeroes it after.
 */
export function encodePayloadV2(p: PayloadV2, scratch?: Uint8Array): Uint8Array {
  if (!Object.hasOwn(KIND, p.kind)) throw new DataError('BAD_KIND', `unknown message kind ${String(p.kind)}`);
  if (!(p.id instanceof Uint8Array) || p.id.length !== MSG_ID_BYTES) throw new DataError('BAD_ID', `message id must be ${MSG_ID_BYTES} bytes`);
  if (!(p.body instanceof Uint8Array)) throw new DataError('BAD_BODY', 'message body must be bytes');
  if (p.body.length > MAX_BODY_BYTES) {
    throw new DataError('MESSAGE_TOO_LARGE', `message is ${p.body.length} bytes, the limit is ${MAX_BODY_BYTES}`, { hint: 'split it into smaller messages' });
  }
  if (!Number.isSafeInteger(p.seq) || p.seq < 1) throw new DataError('BAD_INTEGER', 'sequence number must be a positive integer');
  // One array, the integers written in place (no u64be/u32be temporaries).
  const len = paddedLength(PAYLOAD_V2_HEADER_BYTES + p.body.length);
  const out = scratch && scratch.length >= len ? scratch.subarray(0, len) : new Uint8Array(len);
  out[0] = PAYLOAD_V2_VERSION;
  out[1] = KIND[p.kind];
  out.set(p.id, 2);
  writeU64be(out, 18, p.time);
  writeU64be(out, 26, p.seq);
  writeU32be(out, 34, p.body.length);
  out.set(p.body, PAYLOAD_V2_HEADER_BYTES);
  for (let i = PAYLOAD_V2_HEADER_BYTES + p.body.length; i < len; i++) out[i] = 0;
  return out;
}

/** Parses a decrypted v2 payload; every malformation (version, kind, padding, seq 0) is TAMPERED. */
export function parsePayloadV2(p: Uint8Array): PayloadV2 {
  try {
    if (p.length < PAYLOAD_V2_HEADER_BYTES || p.length !== paddedLength(p.length) || p[0] !== PAYLOAD_V2_VERSION) throw tampered();
    const kind = KIND_BY_CODE[p[1]!];
    if (kind === undefined) throw tampered();
    const time = readU64be(p, 18); // above 2^53 - 1: BAD_INTEGER, answered TAMPERED by the catch
    const seq = readU64be(p, 26);
    const bodyLen = readU32be(p, 34);
    const end = PAYLOAD_V2_HEADER_BYTES + bodyLen;
    if (seq < 1 || bodyLen > MAX_BODY_BYTES || paddedLength(end) !== p.length) throw tampered();
    let pad = 0;
    for (let i = end; i < p.length; i++) pad |= p[i]!;
    if (pad !== 0) throw tampered();
    return { kind, id: p.slice(2, 18), time, seq, body: p.slice(PAYLOAD_V2_HEADER_BYTES, end) };
  } catch {
    throw tampered(); // as every malformation, including a length paddedLength refuses
  }
}

/** The v2 envelope around an inner v2: v1's outer layer (§5.1) with version byte 2. */
export const ENVELOPE_V2_VERSION = 2;
export const ENVELOPE_V2_OUTER_BYTES = 1 + 32 + 24 + 16; // version, ephPk, nonce, MAC
const PLAIN_OVERHEAD = PLAIN_PREFIX_BYTES + AEAD_TAG_BYTES; // inner bytes around a type-2 payload
const MAX_PAYLOAD_V2 = paddedLength(PAYLOAD_V2_HEADER_BYTES + MAX_BODY_BYTES);

/** Largest v2 envelope: a prekey message with the largest body. */
export const MAX_ENVELOPE_V2_BYTES = ENVELOPE_V2_OUTER_BYTES + PLAIN_OVERHEAD + INIT_HEADER_BYTES + MAX_PAYLOAD_V2;
/** Smallest v2 envelope: a plain message with a short body (420 bytes). */
export const MIN_ENVELOPE_V2_BYTES = ENVELOPE_V2_OUTER_BYTES + PLAIN_OVERHEAD + 256;

function canonicalPayloadLength(plen: number): boolean {
  return plen >= 256 && plen <= MAX_PAYLOAD_V2 && paddedLength(plen) === plen;
}

/**
 * True when a v2 envelope of `n` bytes could hold a plain or a prekey message with a
 * canonically padded payload (a check the relay can make without any key).
 */
export function isValidEnvelopeV2Length(n: number): boolean {
  if (!Number.isSafeInteger(n) || n < MIN_ENVELOPE_V2_BYTES || n > MAX_ENVELOPE_V2_BYTES) return false;
  const plain = n - ENVELOPE_V2_OUTER_BYTES - PLAIN_OVERHEAD;
  return canonicalPayloadLength(plain) || canonicalPayloadLength(plain - INIT_HEADER_BYTES);
}
