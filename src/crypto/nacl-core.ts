/**
 * What src/crypto/nacl.ts and src/crypto/secretbox.ts share: tweetnacl itself (the reference
 * implementation of every NaCl primitive), its low-level calls, the sizes of NaCl's keys,
 * nonces, tags and signatures, and the length check every primitive makes of its inputs.
 */
import { createRequire } from 'node:module';
import type naclType from 'tweetnacl';
import { DataError } from '../errors.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const MAC_BYTES = 16;
export const SIGN_SK_BYTES = 64;
export const SIG_BYTES = 64;

// require, not import: an ESM import of this CommonJS file runs Node's export scanner over its
// 2,400 lines on every start (~30 ms of each CLI command; docs/PERFORMANCE.md).
export const nacl = createRequire(import.meta.url)('tweetnacl') as typeof naclType;

export type LowLevel = {
  crypto_core_hsalsa20(out: Uint8Array, inp: Uint8Array, k: Uint8Array, c: Uint8Array): number;
  crypto_secretbox(c: Uint8Array, m: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number;
};
export const lowlevel = (nacl as unknown as { lowlevel: LowLevel }).lowlevel;

/** Throws BAD_KEY unless `a` is a Uint8Array of `n` bytes. */
export function needLength(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new DataError('BAD_KEY', `${what} must be ${n} bytes`);
}
