/**
 * The SHA-256 / HMAC-SHA256 / HKDF-SHA256 of src/crypto/sha256.ts and src/crypto/kdf.ts against
 * node:crypto (OpenSSL) on inputs of every length around the block and padding boundaries,
 * and against the published vectors (FIPS 180-4 examples, RFC 4231, RFC 5869).
 */
import * as nodeCrypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HmacSha256Key, Sha256, sha256Js } from '../../src/crypto/sha256.js';
import { hkdfSha256, hmacSha256 } from '../../src/crypto/kdf.js';

const hex = (a: Uint8Array): string => Buffer.from(a).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const rnd = (n: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(n));
const nodeSha = (d: Uint8Array): string => nodeCrypto.createHash('sha256').update(d).digest('hex');
const nodeHmac = (k: Uint8Array, d: Uint8Array): string => nodeCrypto.createHmac('sha256', k).update(d).digest('hex');

describe('SHA-256 in TypeScript', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(hex(sha256Js(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256Js(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const two = new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq');
    expect(hex(sha256Js(two))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  it('matches node:crypto on every length from 0 to 300 bytes, whole and in parts', () => {
    for (let n = 0; n <= 300; n++) {
      const d = rnd(n);
      expect(hex(sha256Js(d))).toBe(nodeSha(d));
      const cut1 = n >> 2;
      const cut2 = n - (n >> 3);
      const parts = new Sha256().update(d.subarray(0, cut1)).update(d.subarray(cut1, cut2)).update(d.subarray(cut2));
      expect(hex(parts.digest())).toBe(nodeSha(d));
    }
  });

  it('matches node:crypto on large inputs', () => {
    for (const n of [4096, 65_537, 1_000_003]) {
      const d = rnd(n);
      expect(hex(sha256Js(d))).toBe(nodeSha(d));
    }
  });
});

describe('HMAC-SHA256 and HKDF-SHA256', () => {
  it('gives the RFC 4231 vectors (cases 1, 2, 6: a 131-byte key is hashed first)', () => {
    expect(hex(hmacSha256(new Uint8Array(20).fill(0x0b), new TextEncoder().encode('Hi There')))).toBe('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
    expect(hex(hmacSha256(new TextEncoder().encode('Jefe'), new TextEncoder().encode('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(hex(hmacSha256(new Uint8Array(131).fill(0xaa), new TextEncoder().encode('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
  });

  it('matches node:crypto for keys of 0-130 bytes and messages of 0-200 bytes, one key for several messages', () => {
    for (let kl = 0; kl <= 130; kl += 7) {
      const key = rnd(kl);
      const k = new HmacSha256Key(key);
      for (let ml = 0; ml <= 200; ml += 13) {
        const m = rnd(ml);
        expect(hex(hmacSha256(key, m))).toBe(nodeHmac(key, m));
        expect(hex(k.mac(m.subarray(0, ml >> 1), m.subarray(ml >> 1)))).toBe(nodeHmac(key, m));
      }
    }
  });

  it('gives the RFC 5869 vectors (cases 1 and 3) and matches hkdfSync for every output length the protocol uses', () => {
    const okm1 = hkdfSha256(bytes('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'), bytes('000102030405060708090a0b0c'), bytes('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(hex(okm1)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    const okm3 = hkdfSha256(bytes('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'), new Uint8Array(0), new Uint8Array(0), 42);
    expect(hex(okm3)).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
    for (const len of [0, 1, 32, 33, 44, 64, 100]) {
      const ikm = rnd(32);
      const salt = rnd(len % 2 ? 32 : 0);
      const info = rnd(len % 40);
      const want = Buffer.from(nodeCrypto.hkdfSync('sha256', ikm, salt, info, len)).toString('hex');
      expect(hex(hkdfSha256(ikm, salt, info, len))).toBe(want);
    }
  });
});
