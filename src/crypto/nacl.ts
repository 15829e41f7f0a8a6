/**
 * Every primitive hush uses, in one place. All of them are tweetnacl (the reference), except
 * X25519 and Ed25519, which by default run on node:crypto (OpenSSL) because it is 20-200x
 * faster and byte-identical; test/unit/fastpath.test.ts compares the two on every call shape.
 * Setting HUSH_CRYPTO=reference forces tweetnacl everywhere.
 *
 * Primitives (NaCl names): crypto_box (X25519 + XSalsa20-Poly1305), crypto_secretbox,
 * crypto_sign (Ed25519), crypto_hash (SHA-512), crypto_core_hsalsa20, randombytes.
 */
import * as nodeCrypto from 'node:crypto';
import { DataError } from '../errors.js';
import { isAllZero } from '../protocol/encoding.js';
import { KEY_BYTES, lowlevel, nacl, needLength, SIG_BYTES, SIGN_SK_BYTES } from './nacl-core.js';

export { KEY_BYTES, MAC_BYTES, NONCE_BYTES, SIG_BYTES, SIGN_SK_BYTES } from './nacl-core.js';
export { SECRETBOX_ZERO_BYTES, secretbox, secretboxInto, secretboxOpen, secretboxPadded, secretboxPaddedInto } from './secretbox.js';

const useNative = process.env.HUSH_CRYPTO !== 'reference';
/** Which implementation runs X25519, Ed25519 and SHA-512: 'node' (default) or 'reference'. */
export const backend: 'node' | 'reference' = useNative ? 'node' : 'reference';

/** A source of random bytes. Real code passes `randomBytes`; vectors pass a seeded stream. */
export type Random = (n: number) => Uint8Array;

/*
 * The CSPRNG, drawn in 4 KiB blocks: one crypto.randomFillSync call costs ~6 us whatever its
 * size, and a seal needs three small draws, so small requests are served from a pool (the
 * consumed bytes are zeroed). Large requests go straight to the CSPRNG. In reference mode it
 * is tweetnacl's randomBytes (which uses the same node:crypto source).
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolPos = POOL_BYTES;

export const randomBytes: Random = (n) => {
  if (!useNative) return nacl.randomBytes(n);
  if (!Number.isInteger(n) || n < 0) throw new DataError('BAD_LENGTH', `random length ${String(n)} is not a non-negative integer`);
  if (n > 256) return nodeCrypto.randomFillSync(new Uint8Array(n));
  if (poolPos + n > POOL_BYTES) {
    nodeCrypto.randomFillSync(pool);
    poolPos = 0;
  }
  const out = new Uint8Array(n);
  if (n <= 64) {
    // Keys and nonces: copied and zeroed in a loop, with no view of the pool made per draw.
    for (let i = 0, j = poolPos; i < n; i++, j++) {
      out[i] = pool[j]!;
      pool[j] = 0;
    }
  } else {
    out.set(pool.subarray(poolPos, poolPos + n));
    pool.fill(0, poolPos, poolPos + n);
  }
  poolPos += n;
  return out;
};

export function sha512(data: Uint8Array): Uint8Array {
  if (useNative) return new Uint8Array(nodeCrypto.createHash('sha512').update(data).digest());
  return nacl.hash(data);
}

/**
 * SHA-512(domain || key || data)[0, 16): the store's keyed tags (docs/PROTOCOL.md §8.2). The
 * parts go to the hash one after the other, so no array holding a copy of the key is left
 * for the garbage collector (the reference backend's joined copy is wiped).
 */
export function keyedTag16(domain: Uint8Array, key: Uint8Array, data: Uint8Array): Uint8Array {
  if (useNative) return new Uint8Array(nodeCrypto.createHash('sha512').update(domain).update(key).update(data).digest().subarray(0, 16));
  const joined = new Uint8Array(domain.length + key.length + data.length);
  joined.set(domain);
  joined.set(key, domain.length);
  joined.set(data, domain.length + key.length);
  const tag = nacl.hash(joined).slice(0, 16);
  joined.fill(0);
  return tag;
}

export function sha512Reference(data: Uint8Array): Uint8Array {
  return nacl.hash(data);
}

// --- X25519 -------------------------------------------------------------------------------

/*
 * Keys enter OpenSSL as JWK, not DER: Node's DER/PKCS#8 import goes through OpenSSL's decoder
 * framework and costs ~0.35 ms per private key, JWK import ~0.03 ms (docs/PERFORMANCE.md).
 * For a private key Node validates that `x` is a string but builds the key from `d` alone
 * (the public half is recomputed), so a placeholder `x` is enough; the fast-path test checks
 * every result against tweetnacl.
 */
const JWK_X_PLACEHOLDER = Buffer.alloc(32).toString('base64url');
/**
 * Where b64u encodes a key of up to 64 bytes: V8 keeps typed arrays that small (a key from
 * random(32), a view's parent too when small) on its heap, and `.buffer` on one moves its bytes
 * off the heap into a new backing store, an allocation per key. The bytes are copied here,
 * encoded, and zeroed.
 */
const b64uScratch = Buffer.from(new ArrayBuffer(64));
const b64u = (a: Uint8Array): string => {
  if (a.length > 64) return Buffer.from(a.buffer, a.byteOffset, a.length).toString('base64url');
  b64uScratch.set(a);
  const s = b64uScratch.toString('base64url', 0, a.length);
  b64uScratch.fill(0, 0, a.length);
  return s;
};

type Curve = 'X25519' | 'Ed25519';
interface CachedKey {
  copy: Buffer;
  key: nodeCrypto.KeyObject;
}
/**
 * Private KeyObjects per secret-key array (by identity, so a long-term key is imported once).
 * An entry is used only while the array still holds the bytes it was made from; wipe() drops it.
 */
const privateKeyCache: Record<Curve, WeakMap<Uint8Array, CachedKey>> = { X25519: new WeakMap(), Ed25519: new WeakMap() };

/** A private KeyObject from a 32-byte seed, not cached (see nativePrivate for the cached one). */
function importPrivate(crv: Curve, seed: Uint8Array): nodeCrypto.KeyObject {
  return nodeCrypto.createPrivateKey({ key: { kty: 'OKP', crv, d: b64u(seed), x: JWK_X_PLACEHOLDER }, format: 'jwk' });
}

/** A public KeyObject from 32 bytes, not cached (see nativePublic for the cached one). */
function importPublic(crv: Curve, pk: Uint8Array): nodeCrypto.KeyObject {
  return nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv, x: b64u(pk) }, format: 'jwk' });
}

/** True when the first 32 bytes of `a` and `b` are equal, in time independent of where they differ. */
function sameSeed(a: Uint8Array, b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < 32; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function nativePrivate(crv: Curve, sk: Uint8Array): nodeCrypto.KeyObject {
  const hit = privateKeyCache[crv].get(sk);
  // A loop, not timingSafeEqual over a view: a cache hit (the recipient's box key, once per
  // envelope opened) then allocates nothing.
  if (hit && sameSeed(hit.copy, sk)) return hit.key;
  const seed = sk.subarray(0, 32);
  const key = importPrivate(crv, seed);
  privateKeyCache[crv].set(sk, { copy: Buffer.from(seed), key });
  return key;
}

/** Public KeyObjects per key array (a contact's key is sealed to many times in a row). */
const publicKeyCache: Record<Curve, WeakMap<Uint8Array, CachedKey>> = { X25519: new WeakMap(), Ed25519: new WeakMap() };

function nativePublic(crv: Curve, pk: Uint8Array): nodeCrypto.KeyObject {
  const hit = publicKeyCache[crv].get(pk);
  // A loop, not Buffer.equals (a call into C++ per seal to a contact's key).
  if (hit && pk.length === 32 && hit.copy.length === 32 && sameSeed(hit.copy, pk)) return hit.key;
  const key = importPublic(crv, pk);
  publicKeyCache[crv].set(pk, { copy: Buffer.from(pk), key });
  return key;
}

function rawPublic(key: nodeCrypto.KeyObject): Uint8Array {
  const x = key.export({ format: 'jwk' }).x!;
  if (x.length > 86) return new Uint8Array(Buffer.from(x, 'base64url')); // never: X25519 and Ed25519 keys are 32 bytes
  // Decoded into the b64u scratch and copied out (no pooled Buffer made per key).
  const n = b64uScratch.write(x, 'base64url');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = b64uScratch[i]!;
  b64uScratch.fill(0, 0, n);
  return out;
}

/** X25519 public key of a 32-byte secret scalar (crypto_scalarmult_base). */
export function x25519Base(sk: Uint8Array): Uint8Array {
  needLength(sk, KEY_BYTES, 'x25519 secret key');
  if (useNative) return rawPublic(nodeCrypto.createPublicKey(nativePrivate('X25519', sk)));
  return nacl.scalarMult.base(sk);
}

export interface BoxKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/**
 * A fresh X25519 key pair: the secret key is `random(32)` and the public key its x25519Base.
 * On the native backend the private KeyObject made for x25519Base stays cached for the DH
 * that follows. (Not crypto.generateKeyPairSync: in Node 20, exporting a key of a
 * generateKeyPairSync job as JWK can deadlock when a GC runs inside the export and finalizes
 * the job, which locks the key's mutex the export holds; seen as a hang in the benchmarks.)
 */
export function x25519KeyPair(random: Random): BoxKeyPair {
  const secretKey = random(32);
  return { publicKey: x25519Base(secretKey), secretKey };
}

/**
 * X25519 shared secret (crypto_scalarmult). Throws DataError on an all-zero result (a
 * low-order public key), as docs/PROTOCOL.md §5.3 (checks 3 and 8) requires.
 */
export function x25519(sk: Uint8Array, pk: Uint8Array): Uint8Array {
  needLength(sk, KEY_BYTES, 'x25519 secret key');
  needLength(pk, KEY_BYTES, 'x25519 public key');
  if (useNative) return nativeDh(nativePrivate('X25519', sk), nativePublic('X25519', pk));
  const s = nacl.scalarMult(sk, pk);
  if (isAllZero(s)) throw new DataError('LOW_ORDER_KEY', 'a public key is of low order');
  return s;
}

/**
 * x25519(sk, pk) without caching sk's KeyObject: for a secret the caller does not own and uses
 * once here (the ratchet's DH step with the state it was given, which it must not wipe), so no
 * copy of the secret is left in the key cache. The same bytes and errors as x25519.
 */
export function x25519Uncached(sk: Uint8Array, pk: Uint8Array): Uint8Array {
  if (!useNative) return x25519(sk, pk);
  needLength(sk, KEY_BYTES, 'x25519 secret key');
  needLength(pk, KEY_BYTES, 'x25519 public key');
  return nativeDh(importPrivate('X25519', sk), nativePublic('X25519', pk));
}

export function x25519Reference(sk: Uint8Array, pk: Uint8Array): Uint8Array {
  return nacl.scalarMult(sk, pk);
}

const SIGMA = new TextEncoder().encode('expand 32-byte k');
const ZERO16 = new Uint8Array(16);

/**
 * crypto_box_beforenm: HSalsa20(shared, 0^16) — the key crypto_box uses for a key pair.
 * Rejects an all-zero X25519 result first.
 */
export function boxBefore(theirPk: Uint8Array, mySk: Uint8Array): Uint8Array {
  return hsalsaKey(x25519(mySk, theirPk));
}

/** HSalsa20(s, 0^16), then s wiped. */
function hsalsaKey(s: Uint8Array): Uint8Array {
  const k = new Uint8Array(32);
  lowlevel.crypto_core_hsalsa20(k, ZERO16, s, SIGMA);
  s.fill(0);
  return k;
}

/**
 * node:crypto's X25519, an all-zero result refused. The result is a plain Uint8Array view of
 * the secret's own 32-byte buffer (no copy; not a node Buffer, whose slice() would share).
 */
function nativeDh(privateKey: nodeCrypto.KeyObject, publicKey: nodeCrypto.KeyObject): Uint8Array {
  const b = nativeDhBuffer(privateKey, publicKey);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** nativeDh's node Buffer itself, for a caller that only reads it and wipes it (hsalsaKey): no view made. */
function nativeDhBuffer(privateKey: nodeCrypto.KeyObject, publicKey: nodeCrypto.KeyObject): Buffer {
  let b: Buffer;
  try {
    b = nodeCrypto.diffieHellman({ privateKey, publicKey });
  } catch {
    // OpenSSL refuses an all-zero shared secret itself.
    throw new DataError('LOW_ORDER_KEY', 'a public key is of low order');
  }
  if (isAllZero(b)) throw new DataError('LOW_ORDER_KEY', 'a public key is of low order');
  return b;
}

/**
 * crypto_box_beforenm from a fresh ephemeral key pair to `theirPk`: the same bytes, and the
 * same draw (the secret key is random(32)), as x25519KeyPair then boxBefore(theirPk, sk),
 * for a secret used once. Natively its KeyObject is made once and kept in no cache (no
 * WeakMap entry, no copy to check it against, nothing to drop at wipe); the secret bytes are
 * wiped here. Returns the ephemeral public key and the box key.
 */
export function ephemeralBoxBefore(theirPk: Uint8Array, random: Random): { publicKey: Uint8Array; k: Uint8Array } {
  needLength(theirPk, KEY_BYTES, 'x25519 public key');
  if (!useNative) {
    const kp = x25519KeyPair(random);
    try {
      return { publicKey: kp.publicKey, k: boxBefore(theirPk, kp.secretKey) };
    } finally {
      wipe(kp.secretKey);
    }
  }
  const sk = random(32);
  needLength(sk, KEY_BYTES, 'x25519 secret key');
  const priv = importPrivate('X25519', sk);
  sk.fill(0);
  const publicKey = rawPublic(nodeCrypto.createPublicKey(priv));
  return { publicKey, k: hsalsaKey(nativeDhBuffer(priv, nativePublic('X25519', theirPk))) };
}

/**
 * boxBefore(theirPk, mySk) for a public key seen once (an envelope's ephemeral key): the
 * same bytes and errors, but its KeyObject is not cached (a cache entry per envelope would
 * only be garbage).
 */
export function boxBeforeOnce(theirPk: Uint8Array, mySk: Uint8Array): Uint8Array {
  if (!useNative) return boxBefore(theirPk, mySk);
  needLength(mySk, KEY_BYTES, 'x25519 secret key');
  needLength(theirPk, KEY_BYTES, 'x25519 public key');
  return hsalsaKey(nativeDhBuffer(nativePrivate('X25519', mySk), importPublic('X25519', theirPk)));
}

// --- Ed25519 ------------------------------------------------------------------------------

export interface SignKeyPair {
  publicKey: Uint8Array; // 32
  secretKey: Uint8Array; // 64: seed || publicKey (NaCl layout)
}

export function signKeyPairFromSeed(seed: Uint8Array): SignKeyPair {
  needLength(seed, 32, 'ed25519 seed');
  if (useNative) {
    // tweetnacl's base-point multiplication costs ~20 ms; OpenSSL's ~0.05 ms.
    const publicKey = rawPublic(nodeCrypto.createPublicKey(nativePrivate('Ed25519', seed)));
    const secretKey = new Uint8Array(64);
    secretKey.set(seed);
    secretKey.set(publicKey, 32);
    return { publicKey, secretKey };
  }
  return nacl.sign.keyPair.fromSeed(seed);
}

export function signDetached(msg: Uint8Array, secretKey: Uint8Array): Uint8Array {
  needLength(secretKey, SIGN_SK_BYTES, 'ed25519 secret key');
  if (useNative) {
    return new Uint8Array(nodeCrypto.sign(null, msg, nativePrivate('Ed25519', secretKey)));
  }
  return nacl.sign.detached(msg, secretKey);
}

/** The order of the Ed25519 base point, little-endian (RFC 8032 §5.1: L). */
const ED25519_L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/**
 * True when the scalar S of a signature (its last 32 bytes, little-endian) is below L.
 * RFC 8032 §5.1.7 requires it; OpenSSL and libsodium check it, tweetnacl does not, so we check
 * it ourselves on both paths: a signature has one accepted encoding (no S + L malleability).
 */
export function isCanonicalSignature(sig: Uint8Array): boolean {
  if (sig.length !== SIG_BYTES) return false;
  for (let i = 31; i >= 0; i--) {
    const a = sig[32 + i]!;
    const b = ED25519_L[i]!;
    if (a < b) return true;
    if (a > b) return false;
  }
  return false; // S == L
}

/**
 * Encodings of the Ed25519 points of small order (dividing 8), with the sign bit (bit 255)
 * cleared: libsodium's blocklist (ge25519_has_small_order). With such a public key or R,
 * "signatures" verify without any secret key, so libsodium refuses them, and so do we on both
 * paths (node:crypto and tweetnacl accept them). test/unit/fastpath.test.ts checks each entry
 * has order dividing 8.
 */
const ED25519_SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000', // y = 0 (order 4)
  '0100000000000000000000000000000000000000000000000000000000000000', // y = 1, the identity
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p - 1 (order 2)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p, non-canonical 0
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1, non-canonical 1
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

/** True when a 32-byte Ed25519 point encoding is of small order (sign bit ignored). */
export function isSmallOrderEd25519(enc: Uint8Array): boolean {
  if (enc.length !== 32) return false;
  return ED25519_SMALL_ORDER.some((bad) => {
    let d = (enc[31]! & 0x7f) ^ bad[31]!;
    for (let i = 0; i < 31; i++) d |= enc[i]! ^ bad[i]!;
    return d === 0;
  });
}

/**
 * Ed25519 verification with libsodium's rules on both paths: canonical S, and neither the
 * public key nor R of small order. Otherwise plain RFC 8032 (cofactorless) verification.
 */
export function verifyDetached(msg: Uint8Array, sig: Uint8Array, publicKey: Uint8Array): boolean {
  if (sig.length !== SIG_BYTES || publicKey.length !== 32 || !isCanonicalSignature(sig)) return false;
  if (isSmallOrderEd25519(publicKey) || isSmallOrderEd25519(sig.subarray(0, 32))) return false;
  if (useNative) {
    try {
      return nodeCrypto.verify(null, msg, nativePublic('Ed25519', publicKey), sig);
    } catch {
      return false;
    }
  }
  return nacl.sign.detached.verify(msg, sig, publicKey);
}

export function verifyDetachedReference(msg: Uint8Array, sig: Uint8Array, publicKey: Uint8Array): boolean {
  return nacl.sign.detached.verify(msg, sig, publicKey);
}

export function signDetachedReference(msg: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return nacl.sign.detached(msg, secretKey);
}

/**
 * wipe() of one array that was never a secret key of x25519 or Ed25519 here (a message key,
 * an AEAD key or nonce, a box key, a plaintext): only the overwrite, without wipe()'s two
 * key-cache deletions, as no KeyObject is cached for such an array. For the per-message paths
 * (about ten per v2 seal + open), where the deletions and wipe()'s argument array were garbage
 * and calls the raw primitives do not make.
 */
export function wipeBytes(a: Uint8Array): void {
  a.fill(0);
}

/** Overwrite secret material we no longer need (best effort in a GC'd runtime). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) {
    if (!a) continue;
    a.fill(0);
    privateKeyCache.X25519.delete(a);
    privateKeyCache.Ed25519.delete(a);
  }
}
