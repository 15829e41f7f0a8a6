/**
 * Byte encodings used in every JSON format and frame of hush.
 *
 * Bytes travel as standard base64 (RFC 4648 §4, with `=` padding). Decoding is strict: the
 * text must re-encode to itself, so each byte string has exactly one spelling.
 */
import { DataError } from '../errors.js';

export function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Strict base64 decode; `what` names the field in the error. */
export function fromB64(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string') throw new DataError('BAD_BASE64', `${what} is not valid base64`);
  // Buffer's decoder is lenient (skips stray characters, takes base64url, missing padding,
  // non-zero unused bits), but its encoder writes only canonical padded standard base64: text
  // that re-encodes to itself is canonical, so every byte string has exactly one accepted
  // spelling. (This replaced a regex pre-check that cost ~7 us per relay frame.)
  const buf = Buffer.from(text, 'base64');
  if (buf.toString('base64') !== text) throw new DataError('BAD_BASE64', `${what} is not valid base64`);
  // A copy, not a view into Buffer's shared pool (decoded secrets must be wipeable alone).
  return new Uint8Array(buf);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw new DataError('BAD_HEX', `${what} is not lowercase hex`);
  }
  return new Uint8Array(Buffer.from(text, 'hex'));
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return enc.encode(text);
}

/** Strict UTF-8 decode (invalid sequences throw). */
export function fromUtf8(bytes: Uint8Array, what = 'text'): string {
  try {
    return dec.decode(bytes);
  } catch {
    throw new DataError('BAD_UTF8', `${what} is not valid utf-8`);
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isAllZero(a: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]!;
  return d === 0;
}

/**
 * Big-endian unsigned integer writers/readers for the binary layouts of PROTOCOL.md, written
 * byte by byte: a DataView per call (a C++ builtin, and `.buffer` moves a small array's bytes
 * off the heap) cost more than the integer. An offset out of the array is a RangeError, as a
 * DataView's was.
 */
function inBounds(b: Uint8Array, off: number, n: number): void {
  if (!Number.isInteger(off) || off < 0 || off + n > b.length) throw new RangeError(`offset ${off} is outside the bounds of the array`);
}

/** Writes n as 4 big-endian bytes at `off` of `out` (no temporary array). */
export function writeU32be(out: Uint8Array, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new DataError('BAD_INTEGER', 'integer out of range');
  inBounds(out, off, 4);
  out[off] = n >>> 24;
  out[off + 1] = n >>> 16;
  out[off + 2] = n >>> 8;
  out[off + 3] = n;
}

/** Writes n (a safe integer) as 8 big-endian bytes at `off` of `out` (no temporary array). */
export function writeU64be(out: Uint8Array, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new DataError('BAD_INTEGER', 'integer out of range');
  inBounds(out, off, 8);
  writeU32be(out, off, Math.floor(n / 2 ** 32));
  writeU32be(out, off + 4, n >>> 0);
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32be(b, 0, n);
  return b;
}

export function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8);
  writeU64be(b, 0, n);
  return b;
}

export function readU32be(b: Uint8Array, off: number): number {
  inBounds(b, off, 4);
  return b[off]! * 2 ** 24 + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

export function readU64be(b: Uint8Array, off: number): number {
  const hi = readU32be(b, off);
  const lo = readU32be(b, off + 4);
  if (hi >= 2 ** 21) throw new DataError('BAD_INTEGER', 'integer out of range');
  return hi * 2 ** 32 + lo;
}

/** Length-prefixed field: u32be(len) || bytes. Used to build unambiguous signed messages. */
export function lp(bytes: Uint8Array): Uint8Array {
  return concatBytes(u32be(bytes.length), bytes);
}
