/**
 * The bundle: a user's public identity as published in the relay directory.
 *
 *   JSON: {"v":1,"name":"bob","signPk":B64(32),"boxPk":B64(32),"created":MS,"sig":B64(64)}
 *
 * `sig` is Ed25519 by `signPk` over bundleSignedBytes() (docs/PROTOCOL.md §3). Shape is
 * checked here; the signature is checked by src/crypto/bundle.ts (and by the relay).
 */
import { DataError } from '../errors.js';
import { concatBytes, lp, toB64, u64be, utf8 } from './encoding.js';
import { DOMAIN, domainBytes } from './domains.js';
import { NAME_MAX, NAME_RE } from './names.js';
import { b64, int, literal, obj, str } from './validate.js';

export const BUNDLE_VERSION = 1;

export interface Bundle {
  v: 1;
  name: string;
  signPk: Uint8Array;
  boxPk: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  created: number;
  sig: Uint8Array;
}

export interface BundleJson {
  v: 1;
  name: string;
  signPk: string;
  boxPk: string;
  created: number;
  sig: string;
}

/** "hush/v1/bundle" 0x00 || u8 v || lp(name) || signPk || boxPk || u64be(created) */
export function bundleSignedBytes(b: Omit<Bundle, 'sig'>): Uint8Array {
  return concatBytes(domainBytes(DOMAIN.bundle), Uint8Array.of(b.v), lp(utf8(b.name)), b.signPk, b.boxPk, u64be(b.created));
}

export function bundleToJson(b: Bundle): BundleJson {
  return { v: b.v, name: b.name, signPk: toB64(b.signPk), boxPk: toB64(b.boxPk), created: b.created, sig: toB64(b.sig) };
}

/**
 * Validates the shape of a bundle (not its signature). An integer version other than 1 is
 * DataError UNSUPPORTED_VERSION; any other malformation is BAD_SHAPE (or BAD_BASE64).
 */
export function parseBundle(v: unknown, path = 'bundle'): Bundle {
  const o = obj(v, path);
  if (Number.isSafeInteger(o.v) && o.v !== BUNDLE_VERSION) {
    throw new DataError('UNSUPPORTED_VERSION', `bundle version ${String(o.v)} is not supported`, {
      hint: 'the other side may use a newer hush; upgrade hush',
    });
  }
  return {
    v: literal(o, 'v', path, [BUNDLE_VERSION] as const),
    name: str(o, 'name', path, { max: NAME_MAX, min: 1, re: NAME_RE }),
    signPk: b64(o, 'signPk', path, { len: 32 }),
    boxPk: b64(o, 'boxPk', path, { len: 32 }),
    created: int(o, 'created', path, 0, 2 ** 48),
    sig: b64(o, 'sig', path, { len: 64 }),
  };
}
