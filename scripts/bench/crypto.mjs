// Rows: seal + open of 200 B and of 64 KiB, against the raw primitives (same process, interleaved).
import * as nodeCrypto from 'node:crypto';
import { dist, fmtMs, interleaved } from './lib.mjs';

async function setup(bodyLen) {
  const nacl = await dist('src/crypto/nacl.js');
  const seal = await dist('src/crypto/seal.js');
  const env = await dist('src/protocol/envelope.js');
  const party = () => {
    const sk = nacl.randomBytes(32);
    return { boxSk: sk, boxPk: nacl.x25519Base(sk), signPk: nacl.randomBytes(32) };
  };
  const a = party();
  const b = party();
  const body = nacl.randomBytes(bodyLen);
  const id = nacl.randomBytes(16);
  const cacheA = new Map();
  const cacheB = new Map();
  const lookup = () => a;
  const sample = seal.sealEnvelope(a, b, { kind: 'msg', id, time: Date.now(), body }, nacl.randomBytes, cacheA);
  const innerLen = sample.length - env.OUTER_HEADER_BYTES - 16;
  const payloadLen = innerLen - env.INNER_HEADER_BYTES - 16;
  const ours = () => {
    const e = seal.sealEnvelope(a, b, { kind: 'msg', id, time: 1_700_000_000_000, body }, nacl.randomBytes, cacheA);
    const o = seal.openEnvelope(b, e, lookup, cacheB);
    if (o.body.length !== bodyLen) throw new Error('round trip failed');
  };
  return { nacl, a, b, ours, innerLen, payloadLen, envLen: sample.length };
}

/**
 * Raw primitives of one seal + open, with nothing of hush around them: an ephemeral X25519
 * pair (OpenSSL, from 32 random bytes), the sender's DH with the recipient's KeyObject, the recipient importing the
 * 32-byte ephemeral key and doing its DH, and the two secretbox layers sealed and opened
 * (tweetnacl, the implementation hush uses) at the sizes a real envelope has. The long-term
 * inner key is precomputed, as hush caches it.
 */
export function rawPrimitives(nacl, payloadLen, innerLen) {
  const rd = Buffer.from(nacl.randomBytes(32)).toString('base64url');
  const rPriv = nodeCrypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: rd, x: Buffer.alloc(32).toString('base64url') }, format: 'jwk' });
  const recipient = { privateKey: rPriv, publicKey: nodeCrypto.createPublicKey(rPriv) };
  const payload = nacl.randomBytes(payloadLen);
  const inner = nacl.randomBytes(innerLen);
  const kInner = nacl.randomBytes(32);
  const nonce1 = nacl.randomBytes(24);
  const nonce2 = nacl.randomBytes(24);
  const placeholder = Buffer.alloc(32).toString('base64url');
  return () => {
    // Key generation = 32 random bytes imported as a private key (OpenSSL derives the public
    // key on import). Not generateKeyPairSync: see x25519KeyPair in src/crypto/nacl.ts.
    const d = Buffer.from(nacl.randomBytes(32)).toString('base64url');
    const ephPriv = nodeCrypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: placeholder }, format: 'jwk' });
    const ephX = nodeCrypto.createPublicKey(ephPriv).export({ format: 'jwk' }).x;
    const k1 = nodeCrypto.diffieHellman({ privateKey: ephPriv, publicKey: recipient.publicKey });
    const b1 = nacl.secretbox(payload, nonce1, kInner);
    const b2 = nacl.secretbox(inner, nonce2, k1);
    const ephPub = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: ephX }, format: 'jwk' });
    const k2 = nodeCrypto.diffieHellman({ privateKey: recipient.privateKey, publicKey: ephPub });
    if (!nacl.secretboxOpen(b2, nonce2, k2) || !nacl.secretboxOpen(b1, nonce1, kInner)) throw new Error('raw open failed');
  };
}

export async function crypto200(opt) {
  const s = await setup(200);
  const raw = rawPrimitives(s.nacl, s.payloadLen, s.innerLen);
  const r = interleaved({ raw, ours: s.ours }, opt.quick ? { rounds: 5, iters: 200 } : { rounds: 21, iters: 500 });
  const ratio = r.ours / r.raw;
  return {
    baseline: `${fmtMs(r.raw)} (keygen + 2 DH + 2 secretbox + 2 open)`,
    ours: `${fmtMs(r.ours)} per seal+open (envelope ${s.envLen} B)`,
    ratio,
    pass: ratio <= 2 && r.ours <= 0.15,
    target: '≤ 2x and ≤ 0.15 ms',
    values: { rawMs: r.raw, oursMs: r.ours },
  };
}

export async function crypto64k(opt) {
  const s = await setup(64 * 1024);
  const key = s.nacl.randomBytes(32);
  const nonce = s.nacl.randomBytes(24);
  const msg = s.nacl.randomBytes(64 * 1024);
  const box = s.nacl.secretbox(msg, nonce, key);
  const secretbox = () => {
    s.nacl.secretbox(msg, nonce, key);
    if (!s.nacl.secretboxOpen(box, nonce, key)) throw new Error('open failed');
  };
  const r = interleaved({ secretbox, ours: s.ours }, opt.quick ? { rounds: 3, iters: 5 } : { rounds: 11, iters: 20 });
  const ratio = r.ours / r.secretbox;
  return {
    baseline: `${fmtMs(r.secretbox)} (secretbox + open, 64 KiB)`,
    ours: `${fmtMs(r.ours)} per seal+open`,
    ratio,
    pass: ratio <= 1.5,
    target: '≤ 1.5x',
    values: { secretboxMs: r.secretbox, oursMs: r.ours },
  };
}
