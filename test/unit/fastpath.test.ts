/**
 * src/crypto/nacl.ts runs X25519, Ed25519 and SHA-512 on node:crypto (OpenSSL); tweetnacl is
 * the reference. They must agree byte for byte on many random inputs and on the edge cases
 * (low-order and non-canonical points, malleated signatures).
 */
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  backend,
  boxBeforeOnce,
  ephemeralBoxBefore,
  isCanonicalSignature,
  isSmallOrderEd25519,
  keyedTag16,
  randomBytes,
  sha512,
  sha512Reference,
  signDetached,
  signDetachedReference,
  signKeyPairFromSeed,
  verifyDetached,
  verifyDetachedReference,
  x25519,
  wipe,
  x25519Base,
  x25519KeyPair,
  x25519Reference,
  x25519Uncached,
} from '../../src/crypto/nacl.js';
import { isAllZero } from '../../src/protocol/encoding.js';
import { codeOfSync, hex, unhex, vectors } from './helpers.js';

const N = 48;
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBig = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const bigToLe = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

it('the default backend is node:crypto', () => {
  expect(backend).toBe(process.env.HUSH_CRYPTO === 'reference' ? 'reference' : 'node');
});

describe('X25519: node:crypto vs tweetnacl', () => {
  it('base-point multiplication agrees on random scalars', () => {
    for (let i = 0; i < N; i++) {
      const sk = randomBytes(32);
      expect(hex(x25519Base(sk))).toBe(hex(nacl.scalarMult.base(sk)));
    }
  });

  it('shared secrets agree on random scalars and random u (any 32 bytes, on the curve or the twist)', () => {
    for (let i = 0; i < N; i++) {
      const sk = randomBytes(32);
      const pk = i % 2 ? randomBytes(32) : x25519Base(randomBytes(32));
      expect(hex(x25519(sk, pk))).toBe(hex(x25519Reference(sk, pk)));
    }
  });

  it('x25519Uncached gives x25519 bytes and errors', () => {
    for (let i = 0; i < 16; i++) {
      const sk = randomBytes(32);
      const pk = i % 2 ? randomBytes(32) : x25519Base(randomBytes(32));
      expect(hex(x25519Uncached(sk, pk))).toBe(hex(x25519Reference(sk, pk)));
    }
    expect(codeOfSync(() => x25519Uncached(randomBytes(32), new Uint8Array(32)))).toBe('LOW_ORDER_KEY');
    expect(codeOfSync(() => x25519Uncached(randomBytes(31), randomBytes(32)))).toBe('BAD_KEY');
  });

  it('non-canonical u (>= p) and bit 255 set agree (both reduce mod p and ignore the top bit)', () => {
    const us = [P + 2n, P + 3n, P + 9n, 2n ** 255n - 1n, 9n + 2n ** 255n, P + 9n + 2n ** 255n];
    for (const u of us) {
      const pk = bigToLe(u);
      const sk = randomBytes(32);
      const ref = x25519Reference(sk, pk);
      if (isAllZero(ref)) expect(codeOfSync(() => x25519(sk, pk))).toBe('LOW_ORDER_KEY');
      else expect(hex(x25519(sk, pk)), u.toString(16)).toBe(hex(ref));
    }
  });

  it('low-order points: tweetnacl yields all zeros, x25519 throws LOW_ORDER_KEY', () => {
    const pts = vectors('envelope').lowOrderPoints as string[];
    expect(pts.length).toBeGreaterThanOrEqual(10);
    for (const pt of pts) {
      for (let i = 0; i < 4; i++) {
        const sk = randomBytes(32);
        expect(isAllZero(x25519Reference(sk, unhex(pt))), pt).toBe(true);
        expect(
          codeOfSync(() => x25519(sk, unhex(pt))),
          pt,
        ).toBe('LOW_ORDER_KEY');
      }
    }
  });
});

describe('SHA-512: node:crypto vs tweetnacl', () => {
  it('agrees on every length 0..300 and on large inputs', () => {
    for (let n = 0; n <= 300; n++) {
      const m = randomBytes(n);
      expect(hex(sha512(m))).toBe(hex(sha512Reference(m)));
    }
    const big = randomBytes(200_000);
    expect(hex(sha512(big))).toBe(hex(sha512Reference(big)));
  });
});

describe('keyedTag16: the store tags, part by part', () => {
  it('is SHA-512(domain || key || data)[0, 16) as tweetnacl computes it, and leaves its inputs as they were', () => {
    for (let n = 0; n <= 70; n++) {
      const domain = randomBytes(n % 23);
      const key = randomBytes(32);
      const data = randomBytes(n);
      const before = hex(domain) + hex(key) + hex(data);
      const want = nacl.hash(new Uint8Array([...domain, ...key, ...data])).subarray(0, 16);
      const tag = keyedTag16(domain, key, data);
      expect(tag.length).toBe(16);
      expect(hex(tag)).toBe(hex(want));
      expect(hex(domain) + hex(key) + hex(data)).toBe(before);
    }
  });
});

describe('Ed25519: node:crypto vs tweetnacl', () => {
  it('signatures are identical and verify on both, altered ones fail on both', () => {
    for (let i = 0; i < N; i++) {
      const kp = signKeyPairFromSeed(randomBytes(32));
      const msg = randomBytes(i * 7);
      const sig = signDetached(msg, kp.secretKey);
      expect(hex(sig)).toBe(hex(signDetachedReference(msg, kp.secretKey)));
      expect(verifyDetached(msg, sig, kp.publicKey)).toBe(true);
      expect(verifyDetachedReference(msg, sig, kp.publicKey)).toBe(true);
      const bad = new Uint8Array(sig);
      bad[i % 64]! ^= 1 << (i % 8);
      expect(verifyDetached(msg, bad, kp.publicKey)).toBe(false);
      expect(verifyDetachedReference(msg, bad, kp.publicKey)).toBe(false);
      const other = new Uint8Array(msg.length + 1);
      expect(verifyDetached(other, sig, kp.publicKey)).toBe(false);
    }
  });

  it('random garbage keys and signatures are refused by both', () => {
    for (let i = 0; i < N; i++) {
      const msg = randomBytes(10);
      const sig = randomBytes(64);
      const pk = randomBytes(32);
      expect(verifyDetached(msg, sig, pk)).toBe(false);
      expect(verifyDetachedReference(msg, sig, pk)).toBe(false);
    }
  });

  it('S + L (malleated) verifies on bare tweetnacl but is refused by verifyDetached on every path', () => {
    const kp = signKeyPairFromSeed(randomBytes(32));
    const msg = randomBytes(20);
    const sig = signDetached(msg, kp.secretKey);
    const mall = new Uint8Array(64);
    mall.set(sig.subarray(0, 32));
    mall.set(bigToLe(leToBig(sig.subarray(32)) + L), 32);
    expect(isCanonicalSignature(sig)).toBe(true);
    expect(isCanonicalSignature(mall)).toBe(false);
    expect(verifyDetachedReference(msg, mall, kp.publicKey)).toBe(true);
    expect(verifyDetached(msg, mall, kp.publicKey)).toBe(false);
    // S exactly L and S = L - 1 at the boundary.
    const atL = new Uint8Array(64);
    atL.set(bigToLe(L), 32);
    expect(isCanonicalSignature(atL)).toBe(false);
    atL.set(bigToLe(L - 1n), 32);
    expect(isCanonicalSignature(atL)).toBe(true);
  });

  it('small-order public keys: the trivial forgery that bare tweetnacl accepts is refused', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged[0] = 1; // R = identity, S = 0
    const msg = randomBytes(16);
    expect(verifyDetachedReference(msg, forged, identity)).toBe(true);
    expect(verifyDetached(msg, forged, identity)).toBe(false);
    const withSignBit = new Uint8Array(identity);
    withSignBit[31] = 0x80;
    expect(isSmallOrderEd25519(withSignBit)).toBe(true);
    expect(isSmallOrderEd25519(signKeyPairFromSeed(randomBytes(32)).publicKey)).toBe(false);
  });

  it('every blocklisted encoding really is a point of order dividing 8 (checked with BigInt arithmetic)', () => {
    const mod = (a: bigint) => ((a % P) + P) % P;
    const pow = (b: bigint, e: bigint) => {
      let r = 1n;
      b = mod(b);
      while (e > 0n) {
        if (e & 1n) r = mod(r * b);
        b = mod(b * b);
        e >>= 1n;
      }
      return r;
    };
    const inv = (a: bigint) => pow(a, P - 2n);
    const d = mod(-121665n * inv(121666n));
    const decode = (enc: Uint8Array): [bigint, bigint] => {
      const y = mod(leToBig(enc) & (2n ** 255n - 1n));
      const u = mod((y * y - 1n) * inv(d * y * y + 1n));
      let x = pow(u, (P + 3n) / 8n);
      if (mod(x * x) !== u) x = mod(x * pow(2n, (P - 1n) / 4n));
      if (mod(x * x) !== u) throw new Error('not on the curve');
      return [x, y];
    };
    const add = ([x1, y1]: [bigint, bigint], [x2, y2]: [bigint, bigint]): [bigint, bigint] => {
      const t = mod(d * x1 * x2 * y1 * y2);
      return [mod((x1 * y2 + x2 * y1) * inv(1n + t)), mod((y1 * y2 + x1 * x2) * inv(1n - t))];
    };
    const ys = new Set<bigint>();
    const encodings = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const h of encodings) {
      expect(isSmallOrderEd25519(unhex(h)), h).toBe(true);
      let pt = decode(unhex(h));
      ys.add(pt[1]);
      for (let i = 0; i < 3; i++) pt = add(pt, pt); // 8P
      expect(pt, h).toEqual([0n, 1n]);
    }
    // The 8-torsion subgroup has 5 distinct y values (1, -1, 0 and ±y8): all covered.
    expect(ys.size).toBe(5);
    // A real public key is not of small order.
    let q = decode(signKeyPairFromSeed(randomBytes(32)).publicKey);
    for (let i = 0; i < 3; i++) q = add(q, q);
    expect(q).not.toEqual([0n, 1n]);
  });
});

describe('performance fast paths (docs/PERFORMANCE.md) vs tweetnacl', () => {
  it('x25519KeyPair with the real randomBytes gives a pair tweetnacl agrees with (and its cached KeyObject does the DH)', () => {
    for (let i = 0; i < N; i++) {
      const kp = x25519KeyPair(randomBytes);
      expect(kp.secretKey.length).toBe(32);
      expect(hex(kp.publicKey)).toBe(hex(nacl.scalarMult.base(kp.secretKey)));
      const peer = randomBytes(32);
      expect(hex(x25519(kp.secretKey, x25519Base(peer)))).toBe(hex(x25519Reference(peer, kp.publicKey)));
    }
  });

  it('signKeyPairFromSeed (OpenSSL) gives the key pair tweetnacl derives', () => {
    for (let i = 0; i < N; i++) {
      const seed = randomBytes(32);
      const kp = signKeyPairFromSeed(seed);
      const ref = nacl.sign.keyPair.fromSeed(seed);
      expect(hex(kp.publicKey)).toBe(hex(ref.publicKey));
      expect(hex(kp.secretKey)).toBe(hex(ref.secretKey));
    }
  });

  it('x25519KeyPair with a seeded stream takes random(32) as the secret key', () => {
    const sk = randomBytes(32);
    const kp = x25519KeyPair(() => new Uint8Array(sk));
    expect(hex(kp.secretKey)).toBe(hex(sk));
    expect(hex(kp.publicKey)).toBe(hex(nacl.scalarMult.base(sk)));
  });

  it('cached private keys follow the bytes: a reused or wiped array is re-imported', () => {
    const sk = randomBytes(32);
    const pk = x25519Base(randomBytes(32));
    expect(hex(x25519(sk, pk))).toBe(hex(x25519Reference(sk, pk)));
    sk.set(randomBytes(32)); // same array, new key
    expect(hex(x25519(sk, pk))).toBe(hex(x25519Reference(sk, pk)));
    pk.set(x25519Base(randomBytes(32))); // same public-key array, new key
    expect(hex(x25519(sk, pk))).toBe(hex(x25519Reference(sk, pk)));
    const a = signKeyPairFromSeed(randomBytes(32));
    const b = signKeyPairFromSeed(randomBytes(32));
    const msg = randomBytes(40);
    const sk64 = new Uint8Array(a.secretKey);
    expect(hex(signDetached(msg, sk64))).toBe(hex(signDetachedReference(msg, a.secretKey)));
    sk64.set(b.secretKey);
    expect(hex(signDetached(msg, sk64))).toBe(hex(signDetachedReference(msg, b.secretKey)));
    wipe(sk64);
    sk64.set(a.secretKey);
    expect(hex(signDetached(msg, sk64))).toBe(hex(signDetachedReference(msg, a.secretKey)));
  });

  it('ephemeralBoxBefore and boxBeforeOnce (no key cache) give tweetnacl box.before bytes, draw random(32) as the secret, refuse low order', () => {
    for (let i = 0; i < 16; i++) {
      const sk = randomBytes(32);
      const recipient = nacl.box.keyPair();
      const e = ephemeralBoxBefore(recipient.publicKey, () => new Uint8Array(sk));
      expect(hex(e.publicKey)).toBe(hex(nacl.scalarMult.base(sk)));
      expect(hex(e.k)).toBe(hex(nacl.box.before(recipient.publicKey, sk)));
      expect(hex(boxBeforeOnce(e.publicKey, recipient.secretKey))).toBe(hex(e.k));
      const real = ephemeralBoxBefore(recipient.publicKey, randomBytes);
      expect(hex(real.k)).toBe(hex(nacl.box.before(real.publicKey, recipient.secretKey)));
    }
    const lowOrder = new Uint8Array(32); // u = 0
    expect(codeOfSync(() => ephemeralBoxBefore(lowOrder, randomBytes))).toBe('LOW_ORDER_KEY');
    expect(codeOfSync(() => boxBeforeOnce(lowOrder, randomBytes(32)))).toBe('LOW_ORDER_KEY');
    expect(codeOfSync(() => boxBeforeOnce(new Uint8Array(31), randomBytes(32)))).toBe('BAD_KEY');
  });

  it('pooled randomBytes returns fresh, distinct arrays of every length', () => {
    const seen = new Set<string>();
    for (const n of [0, 1, 16, 24, 32, 255, 256, 257, 5000]) {
      for (let i = 0; i < 40; i++) {
        const r = randomBytes(n);
        expect(r).toBeInstanceOf(Uint8Array);
        expect(r.length).toBe(n);
        expect(r.byteOffset).toBe(0);
        if (n >= 16) {
          expect(seen.has(hex(r))).toBe(false);
          seen.add(hex(r));
        }
      }
    }
    expect(codeOfSync(() => randomBytes(-1))).toBe('BAD_LENGTH');
  });
});
