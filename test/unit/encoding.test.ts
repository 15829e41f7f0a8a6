/** Byte encodings and validators that every format relies on; fingerprint helpers. */
import { describe, expect, it } from 'vitest';
import { fingerprint, normaliseFingerprint, safetyNumber } from '../../src/crypto/fingerprint.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { fromB64, fromHex, lp, readU32be, readU64be, toB64, u32be, u64be, writeU32be, writeU64be } from '../../src/protocol/encoding.js';
import { b64 } from '../../src/protocol/validate.js';
import { codeOfSync } from './helpers.js';

describe('strict base64', () => {
  it('round-trips every length', () => {
    for (let n = 0; n < 70; n++) {
      const b = randomBytes(n);
      expect(fromB64(toB64(b))).toEqual(b);
    }
  });
  it.each([
    ['unused bits set (1 pad)', 'AAB='],
    ['unused bits set (2 pads)', 'AB=='],
    ['no padding', 'AAA'],
    ['url-safe alphabet', 'ab-_'],
    ['whitespace', 'AAAA\nAAAA'],
    ['leading space', ' AAAA'],
    ['too much padding', 'AA==='],
    ['padding in the middle', 'AA==AAAA'],
    ['not a string', 42],
  ])('refuses %s', (_n, text) => {
    expect(codeOfSync(() => fromB64(text as string))).toBe('BAD_BASE64');
  });
  it('returns its own copy, not a view into a shared pool', () => {
    const b = fromB64('AAECAw==');
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(4);
  });
  it('validate.b64 enforces exact and maximum lengths after decoding', () => {
    expect(codeOfSync(() => b64({ k: toB64(randomBytes(31)) }, 'k', 'x', { len: 32 }))).toBe('BAD_SHAPE');
    expect(codeOfSync(() => b64({ k: toB64(randomBytes(11)) }, 'k', 'x', { max: 10 }))).toBe('BAD_SHAPE');
    expect(codeOfSync(() => b64({ k: 'A'.repeat(10_000) }, 'k', 'x', { max: 10 }))).toBe('BAD_SHAPE');
    expect(b64({ k: toB64(randomBytes(10)) }, 'k', 'x', { max: 10 })).toHaveLength(10);
  });
});

describe('integers and hex', () => {
  it('u32be refuses values that do not fit', () => {
    for (const n of [-1, 2 ** 32, 1.5, Number.NaN])
      expect(
        codeOfSync(() => u32be(n)),
        String(n),
      ).toBe('BAD_INTEGER');
    expect(u32be(0xffffffff)).toEqual(Uint8Array.of(255, 255, 255, 255));
    expect(lp(Uint8Array.of(7))).toEqual(Uint8Array.of(0, 0, 0, 1, 7));
  });
  it('u64be / readU64be round-trip up to 2^53 - 1 and refuse beyond', () => {
    for (const n of [0, 1, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) expect(readU64be(u64be(n), 0)).toBe(n);
    expect(codeOfSync(() => u64be(2 ** 53))).toBe('BAD_INTEGER');
    expect(codeOfSync(() => readU64be(Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0), 0))).toBe('BAD_INTEGER');
  });
  it('the byte-by-byte writers and readers agree with a DataView at every offset, and refuse offsets outside the array', () => {
    const values = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
    for (let i = 1; i <= 200; i++) values.push((i * 2654435761) % 2 ** 32);
    for (const [k, n] of values.entries()) {
      const off = k % 5;
      const hi = (n * 7919) % 2 ** 21;
      const b = new Uint8Array(off + 12);
      const dv = new DataView(b.buffer);
      writeU32be(b, off, n);
      expect(dv.getUint32(off)).toBe(n);
      expect(readU32be(b, off)).toBe(n);
      writeU64be(b, off + 4, hi * 2 ** 32 + n);
      expect([dv.getUint32(off + 4), dv.getUint32(off + 8)]).toEqual([hi, n]);
      expect(readU64be(b, off + 4)).toBe(hi * 2 ** 32 + n);
    }
    const b = new Uint8Array(8);
    for (const off of [-1, 5, 1.5]) {
      expect(() => writeU32be(b, off, 1)).toThrow(RangeError);
      expect(() => readU32be(b, off)).toThrow(RangeError);
    }
    expect(() => writeU64be(b, 1, 1)).toThrow(RangeError);
    expect(() => readU64be(b, 1)).toThrow(RangeError);
  });
  it('hex is lowercase and even-length only', () => {
    expect(fromHex('00ff')).toEqual(Uint8Array.of(0, 255));
    for (const t of ['0', '00FF', 'zz']) expect(codeOfSync(() => fromHex(t))).toBe('BAD_HEX');
  });
});

describe('fingerprints', () => {
  it('are 30 digits in 6 groups, differ per key, and safety numbers are symmetric', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(fingerprint(a)).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(fingerprint(a)).not.toBe(fingerprint(b));
    expect(safetyNumber(a, b)).toBe(safetyNumber(b, a));
    expect(normaliseFingerprint(safetyNumber(a, b))).toHaveLength(60);
    expect(normaliseFingerprint(safetyNumber(a, b))).toContain(normaliseFingerprint(fingerprint(a)));
  });
  it('normalise drops spaces and dashes only', () => {
    expect(normaliseFingerprint('12345-67890 12345\t67890')).toBe('12345678901234567890');
  });
});
