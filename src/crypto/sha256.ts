/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript, for the many tiny
 * HMACs of the Double Ratchet (src/crypto/kdf.ts): a node:crypto createHmac costs ~5-7 µs
 * whatever the input (object, KeyObject-free key setup, C++ crossings), while one SHA-256
 * compression here costs well under 1 µs, and an HMAC of a 32-byte key over a short message is
 * four of them (docs/PERFORMANCE.md "v2 speed-ups").
 *
 * Only 32-bit additions, rotations and boolean operations on words: no table lookup or branch
 * depends on the data, so the time does not depend on the key or the message.
 * test/unit/sha256.test.ts checks every function against node:crypto (random inputs of every
 * length around the block boundaries) and against the RFC 4231 and RFC 5869 vectors.
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
  0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

export const SHA256_BLOCK = 64;
export const SHA256_BYTES = 32;

/** The message schedule, shared (JS is single-threaded; it is wiped after each compression). */
const W = new Int32Array(64);

/** One compression of the 64-byte block at `b[off..off+64]` into `h` (8 words). */
function compress(h: Int32Array, b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) W[i] = (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!;
    const y = W[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = h[0]!;
  let bb = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & bb) ^ (a & c) ^ (bb & c);
    const t2 = (S0 + maj) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  h[0] = h[0]! + a;
  h[1] = h[1]! + bb;
  h[2] = h[2]! + c;
  h[3] = h[3]! + d;
  h[4] = h[4]! + e;
  h[5] = h[5]! + f;
  h[6] = h[6]! + g;
  h[7] = h[7]! + hh;
  W.fill(0);
}

/** A running SHA-256: update() any number of parts, then digest() once. */
export class Sha256 {
  readonly h = new Int32Array(8);
  private readonly buf = new Uint8Array(SHA256_BLOCK);
  private used = 0;
  private length = 0;

  constructor(state?: Int32Array, length = 0) {
    this.h.set(state ?? IV);
    this.length = length;
  }

  update(data: Uint8Array): this {
    let off = 0;
    const n = data.length;
    this.length += n;
    if (this.used > 0) {
      const take = Math.min(SHA256_BLOCK - this.used, n);
      this.buf.set(data.subarray(0, take), this.used);
      this.used += take;
      off = take;
      if (this.used < SHA256_BLOCK) return this;
      compress(this.h, this.buf, 0);
      this.used = 0;
    }
    for (; n - off >= SHA256_BLOCK; off += SHA256_BLOCK) compress(this.h, data, off);
    if (off < n) {
      this.buf.set(data.subarray(off), 0);
      this.used = n - off;
    }
    return this;
  }

  /** The 32-byte hash; the object is wiped and must not be used again. */
  digest(): Uint8Array {
    const buf = this.buf;
    buf.fill(0, this.used);
    buf[this.used] = 0x80;
    if (this.used >= SHA256_BLOCK - 8) {
      compress(this.h, buf, 0);
      buf.fill(0);
    }
    const bits = this.length * 8;
    const hi = Math.floor(bits / 0x100000000);
    buf[56] = hi >>> 24;
    buf[57] = hi >>> 16;
    buf[58] = hi >>> 8;
    buf[59] = hi;
    buf[60] = bits >>> 24;
    buf[61] = bits >>> 16;
    buf[62] = bits >>> 8;
    buf[63] = bits;
    compress(this.h, buf, 0);
    const out = new Uint8Array(SHA256_BYTES);
    putWords(this.h, out, 0);
    buf.fill(0);
    this.h.fill(0);
    return out;
  }
}

export function sha256Js(data: Uint8Array): Uint8Array {
  return new Sha256().update(data).digest();
}

/** Scratch block of the short-message path (wiped after each use). */
const BLOCK = new Uint8Array(SHA256_BLOCK);
const STATE = new Int32Array(8);

/** Writes the big-endian words of `h` into `out[off..off+32]`. */
function putWords(h: Int32Array, out: Uint8Array, off: number): void {
  for (let i = 0; i < 8; i++) {
    const w = h[i]!;
    out[off + 4 * i] = w >>> 24;
    out[off + 4 * i + 1] = w >>> 16;
    out[off + 4 * i + 2] = w >>> 8;
    out[off + 4 * i + 3] = w;
  }
}

/**
 * Finishes a hash started from `from` (a state after one 64-byte block, the padded key) over
 * `parts` of at most 55 bytes in all: one compression, into STATE.
 */
function finishShort(from: Int32Array, parts: readonly Uint8Array[], total: number): void {
  let off = 0;
  for (const p of parts) {
    BLOCK.set(p, off);
    off += p.length;
  }
  BLOCK[off] = 0x80;
  const bits = (SHA256_BLOCK + total) * 8;
  BLOCK[62] = bits >>> 8;
  BLOCK[63] = bits;
  STATE.set(from);
  compress(STATE, BLOCK, 0);
  BLOCK.fill(0);
}

/**
 * HMAC-SHA256 keyed once: the inner and outer states after the padded key, from which each
 * mac() starts (two compressions per key; then two per message of up to 55 bytes).
 */
export class HmacSha256Key {
  private readonly inner = new Int32Array(8);
  private readonly outer = new Int32Array(8);

  constructor(key: Uint8Array) {
    const k = BLOCK;
    if (key.length > SHA256_BLOCK) k.set(sha256Js(key));
    else k.set(key);
    for (let i = 0; i < SHA256_BLOCK; i++) k[i] = k[i]! ^ 0x36;
    this.inner.set(IV);
    compress(this.inner, k, 0);
    for (let i = 0; i < SHA256_BLOCK; i++) k[i] = k[i]! ^ 0x36 ^ 0x5c;
    this.outer.set(IV);
    compress(this.outer, k, 0);
    k.fill(0);
  }

  /** HMAC over the concatenation of `parts`. */
  mac(...parts: Uint8Array[]): Uint8Array {
    let total = 0;
    for (const p of parts) total += p.length;
    const out = new Uint8Array(SHA256_BYTES);
    if (total <= SHA256_BLOCK - 9) {
      finishShort(this.inner, parts, total);
      putWords(STATE, out, 0);
    } else {
      const h = new Sha256(this.inner, SHA256_BLOCK);
      for (const p of parts) h.update(p);
      const ih = h.digest();
      out.set(ih);
      ih.fill(0);
    }
    // The outer hash: the 32-byte inner hash, always one block.
    finishShort(this.outer, [out], SHA256_BYTES);
    putWords(STATE, out, 0);
    STATE.fill(0);
    return out;
  }

  wipe(): void {
    this.inner.fill(0);
    this.outer.fill(0);
  }
}
