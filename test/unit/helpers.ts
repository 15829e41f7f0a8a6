/** Shared helpers of the crypto unit tests: vectors, hex, a replaying Random, a real Argon2id. */
import { readFileSync } from 'node:fs';
import argon2 from 'argon2';
import type { Random } from '../../src/crypto/nacl.js';
import { isHushError } from '../../src/errors.js';
import type { KdfParams } from '../../src/protocol/keyring-file.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function vectors(name: 'envelope' | 'bundle' | 'fingerprint' | 'keyring' | 'store'): any {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8'));
}

/** A Random that replays recorded draws in order and checks each requested length. */
export function tape(draws: string[]): Random & { left: () => number } {
  let i = 0;
  const r = (n: number): Uint8Array => {
    const d = draws[i++];
    if (d === undefined) throw new Error('tape: no draws left');
    const b = unhex(d);
    if (b.length !== n) throw new Error(`tape: wanted ${n} bytes, recorded ${b.length}`);
    return b;
  };
  return Object.assign(r, { left: () => draws.length - i });
}

/** Argon2id (v0x13), 32-byte raw output: the KDF of docs/PROTOCOL.md §6. */
export async function argon2Kdf(passphrase: Uint8Array, p: KdfParams): Promise<Uint8Array> {
  const out = await argon2.hash(Buffer.from(passphrase), {
    type: argon2.argon2id,
    version: 0x13,
    memoryCost: p.m,
    timeCost: p.t,
    parallelism: p.p,
    salt: Buffer.from(p.salt),
    hashLength: 32,
    raw: true,
  });
  return new Uint8Array(out);
}

/** The HushError code thrown by `fn` (sync or async), or 'OK'; any other throw is reported as such. */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'OK';
  } catch (e) {
    return isHushError(e) ? e.code : `non-hush error: ${String(e)}`;
  }
}

export function codeOfSync(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return isHushError(e) ? e.code : `non-hush error: ${String(e)}`;
  }
}
