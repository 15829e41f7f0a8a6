/**
 * The binary mail page (docs/PROTOCOL.md §7.2.1): the answer to a `pull` that asked for it
 * (`"bin":1`, on a relay whose hello has `limits.mailBinary` 1). The same items as the JSON
 * `mail` frame, with the envelopes as raw bytes instead of base64 in JSON: a page of 500 v2
 * envelopes is ~30% smaller, and neither side encodes or parses JSON or base64 for it. It is a
 * binary frame of version 1, like the blob frames (blob-binary.ts), of type 3. Integers are
 * big-endian.
 *
 *   offset  size  field
 *   0       1     version: 1
 *   1       1     type: 3 = mail page (relay -> client)
 *   2       4     request id, u32, 1 ..= 2^32 - 1 (the pull's decimal `id`)
 *   6       1     more: 0 or 1
 *   7       2     count, u16, 0 ..= 500 (MAX_PULL_LIMIT)
 *   9       ...   count items, each:
 *                   seq u64 (< 2^53) || time u64 (ms, <= 2^48) || eid[16] (its 32 hex characters as bytes)
 *                   || length u32 (<= MAX_ENVELOPE_BYTES) || envelope[length]
 *
 * Nothing follows the last item. Parsing copies no envelope: each `env` is a view into the
 * received message.
 */
import { BLOB_BIN_VERSION, binFrameId, type BinFrameProblem, binFrameProblem, MAX_BIN_REQUEST_ID } from './blob-binary.js';
import { toHex } from './encoding.js';
import { EID_RE, type MailFrame, type MailItem, MAX_ENVELOPE_BYTES, MAX_PULL_LIMIT, MAX_TIME } from './frames.js';

/** The binary frame version of the layout above (a relay's hello `limits.mailBinary`). */
export const MAIL_BIN_VERSION = BLOB_BIN_VERSION;
/** The binary frame type of a mail page (1 and 2 are the blob put and chunk, §7.9.1). */
export const MAIL_BIN_TYPE = 3;
export const MAIL_BIN_HEADER_BYTES = 9;
/** seq, time, eid and length: the bytes of an item before its envelope. */
export const MAIL_BIN_ITEM_HEADER_BYTES = 36;
const TWO_32 = 2 ** 32;

export type MailBinResult = { ok: true; frame: MailFrame } | BinFrameProblem;

/** An item as the relay holds it: the envelope as bytes, the eid as its 32 hex characters. */
export interface MailBinItem {
  seq: number;
  eid: string;
  env: Uint8Array;
  time: number;
}

/**
 * A whole mail page for the request `id` (its decimal request id as a number). Throws
 * RangeError for a value out of range (a caller's bug: the relay only pages what it stored).
 */
export function encodeMailBin(id: number, more: boolean, items: readonly MailBinItem[]): Buffer {
  if (!Number.isInteger(id) || id < 1 || id > MAX_BIN_REQUEST_ID) throw new RangeError(`request id ${id} is not 1..2^32-1`);
  if (items.length > MAX_PULL_LIMIT) throw new RangeError(`a mail page holds at most ${MAX_PULL_LIMIT} items`);
  let n = MAIL_BIN_HEADER_BYTES;
  for (const it of items) n += MAIL_BIN_ITEM_HEADER_BYTES + it.env.length;
  const b = Buffer.allocUnsafe(n);
  b[0] = MAIL_BIN_VERSION;
  b[1] = MAIL_BIN_TYPE;
  b.writeUInt32BE(id, 2);
  b[6] = more ? 1 : 0;
  b.writeUInt16BE(items.length, 7);
  let at = MAIL_BIN_HEADER_BYTES;
  for (const it of items) {
    if (!Number.isSafeInteger(it.seq) || it.seq < 0) throw new RangeError(`seq ${it.seq} is not 0..2^53-1`);
    if (!Number.isSafeInteger(it.time) || it.time < 0 || it.time > MAX_TIME) throw new RangeError(`time ${it.time} is not 0..2^48`);
    if (!EID_RE.test(it.eid)) throw new RangeError('an eid is 32 lowercase hex characters');
    if (it.env.length > MAX_ENVELOPE_BYTES) throw new RangeError(`an envelope is at most ${MAX_ENVELOPE_BYTES} bytes`);
    b.writeUInt32BE(Math.floor(it.seq / TWO_32), at);
    b.writeUInt32BE(it.seq % TWO_32, at + 4);
    b.writeUInt32BE(Math.floor(it.time / TWO_32), at + 8);
    b.writeUInt32BE(it.time % TWO_32, at + 12);
    b.write(it.eid, at + 16, 16, 'hex');
    b.writeUInt32BE(it.env.length, at + 32);
    b.set(it.env, at + MAIL_BIN_ITEM_HEADER_BYTES);
    at += MAIL_BIN_ITEM_HEADER_BYTES + it.env.length;
  }
  return b;
}

/**
 * Parses a binary mail page. Checked in this order: a message shorter than the 9-byte header
 * (BAD_FRAME); another version (UNSUPPORTED_VERSION); another type (UNKNOWN_TYPE); a request
 * id of 0, a `more` byte other than 0 and 1, a count over 500 (BAD_FRAME); then each item in
 * turn: fewer than 36 bytes left, a seq of 2^53 or more, a time over 2^48, an envelope longer
 * than MAX_ENVELOPE_BYTES or than the bytes left (BAD_FRAME); finally any byte after the last
 * item (BAD_FRAME). The request id goes with the problem when the frame is version 1 and holds
 * a non-zero one, as for the blob frames.
 */
export function parseMailBin(buf: Uint8Array): MailBinResult {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const id = binFrameId(b); // a mail page is a binary frame of the blob frames' version: the same header
  const problem = (code: BinFrameProblem['code'], message: string): BinFrameProblem => binFrameProblem(id, code, message);
  if (b.length < MAIL_BIN_HEADER_BYTES) return problem('BAD_FRAME', `a binary mail page is at least ${MAIL_BIN_HEADER_BYTES} bytes (PROTOCOL §7.2.1), this one is ${b.length}`);
  if (b[0] !== MAIL_BIN_VERSION) return problem('UNSUPPORTED_VERSION', `binary frame version ${b[0]} is not supported, this side speaks ${MAIL_BIN_VERSION}`);
  if (b[1] !== MAIL_BIN_TYPE) return problem('UNKNOWN_TYPE', `binary frame type ${b[1]} is not a mail page (${MAIL_BIN_TYPE})`);
  if (id === undefined) return problem('BAD_FRAME', 'binary frame request id must be 1..2^32-1');
  const more = b[6]!;
  if (more > 1) return problem('BAD_FRAME', `mail page "more" must be 0 or 1, not ${more}`);
  const count = b.readUInt16BE(7);
  if (count > MAX_PULL_LIMIT) return problem('BAD_FRAME', `a mail page holds at most ${MAX_PULL_LIMIT} items, this one says ${count}`);
  const items: MailItem[] = new Array<MailItem>(count);
  let at = MAIL_BIN_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (b.length - at < MAIL_BIN_ITEM_HEADER_BYTES) return problem('BAD_FRAME', `mail page item ${i} is cut short`);
    const seqHigh = b.readUInt32BE(at);
    if (seqHigh >= 2 ** 21) return problem('BAD_FRAME', `mail page item ${i}: seq must be below 2^53`);
    const seq = seqHigh * TWO_32 + b.readUInt32BE(at + 4);
    const time = b.readUInt32BE(at + 8) * TWO_32 + b.readUInt32BE(at + 12);
    if (time > MAX_TIME) return problem('BAD_FRAME', `mail page item ${i}: time must be at most 2^48`);
    const len = b.readUInt32BE(at + 32);
    if (len > MAX_ENVELOPE_BYTES) return problem('BAD_FRAME', `mail page item ${i}: an envelope is at most ${MAX_ENVELOPE_BYTES} bytes, this one says ${len}`);
    const start = at + MAIL_BIN_ITEM_HEADER_BYTES;
    if (b.length - start < len) return problem('BAD_FRAME', `mail page item ${i}: its envelope is cut short`);
    items[i] = { seq, eid: toHex(b.subarray(at + 16, at + 32)), env: new Uint8Array(b.buffer, b.byteOffset + start, len), time };
    at = start + len;
  }
  if (at !== b.length) return problem('BAD_FRAME', `${b.length - at} bytes follow the last item of a mail page`);
  return { ok: true, frame: { v: 1, t: 'mail', id, items, more: more === 1 } };
}
