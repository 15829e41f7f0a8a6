/**
 * The Argon2id adapter (the `Kdf` of src/crypto/keyring.ts): raw 32-byte output, type
 * argon2id, memory m KiB, t passes, p lanes, the keyring's 16-byte salt. argon2 is required
 * lazily, so commands that never derive a key (and `hush --help`) do not load it; require(),
 * not import(), because it is CommonJS (see relay/cjs-deps.ts for why that is cheaper).
 *
 * Parameters for WRITING a keyring (init, passwd) are KDF_DEFAULT, or HUSH_KDF_PARAMS
 * ("m=8192,t=1,p=1"; any subset of m, t, p) for tests and small machines. Values outside
 * [KDF_FLOOR, KDF_CEILING] are a UsageError KDF_PARAMS_INVALID, raised before any work.
 * Reading a keyring always uses the parameters in its header (checked by checkKdfParams).
 */
import { createRequire } from 'node:module';
import type * as Argon2 from 'argon2';
import { UsageError } from '../errors.js';
import type { Kdf } from '../crypto/keyring.js';
import { randomBytes } from '../crypto/nacl.js';
import { KDF_CEILING, KDF_DEFAULT, KDF_FLOOR, type KdfParams } from '../protocol/keyring-file.js';

export const SALT_BYTES = 16;

export const argon2idKdf: Kdf = async (passphrase, params) => {
  const argon2 = createRequire(import.meta.url)('argon2') as typeof Argon2;
  const out = await argon2.hash(Buffer.from(passphrase), {
    raw: true,
    type: argon2.argon2id,
    hashLength: 32,
    memoryCost: params.m,
    timeCost: params.t,
    parallelism: params.p,
    salt: Buffer.from(params.salt),
  });
  const key = new Uint8Array(out);
  out.fill(0);
  return key;
};

const KEYS = ['m', 't', 'p'] as const;

/** Parses HUSH_KDF_PARAMS ("m=8192,t=1,p=1"); undefined/empty means the defaults. */
export function parseKdfOverride(text: string | undefined): { m: number; t: number; p: number } {
  const out: { m: number; t: number; p: number } = { ...KDF_DEFAULT };
  if (text === undefined || text.trim() === '') return out;
  const bad = (why: string): never => {
    throw new UsageError('KDF_PARAMS_INVALID', `HUSH_KDF_PARAMS ${why}`, {
      hint: `use m=${KDF_FLOOR.m}..${KDF_CEILING.m},t=${KDF_FLOOR.t}..${KDF_CEILING.t},p=${KDF_FLOOR.p}..${KDF_CEILING.p}, e.g. HUSH_KDF_PARAMS="m=${KDF_FLOOR.m},t=1,p=1"`,
    });
  };
  for (const part of text.split(',')) {
    const m = /^\s*([a-z])\s*=\s*(\d{1,10})\s*$/.exec(part);
    if (!m) bad(`has an invalid entry "${part.trim()}"`);
    const key = m![1] as (typeof KEYS)[number];
    if (!KEYS.includes(key)) bad(`has an unknown parameter "${key}"`);
    const n = Number(m![2]);
    if (n < KDF_FLOOR[key] || n > KDF_CEILING[key]) bad(`${key}=${n} is outside ${KDF_FLOOR[key]}..${KDF_CEILING[key]}`);
    out[key] = n;
  }
  return out;
}

/** KDF parameters for a new wrap: the defaults or HUSH_KDF_PARAMS, with a fresh random salt. */
export function newKdfParams(env: NodeJS.ProcessEnv = process.env): KdfParams {
  const { m, t, p } = parseKdfOverride(env.HUSH_KDF_PARAMS);
  return { alg: 'argon2id', m, t, p, salt: randomBytes(SALT_BYTES) };
}
