/**
 * Name transfer (docs/PROTOCOL.md §7.2 "Transfer"): a statement, signed by the key that holds a
 * name on a relay, giving that name to another key. The old home makes it (`hush register
 * --transfer-to KEY`), the new home presents it (`hush register --transfer-from FILE`) in a
 * `transfer` frame together with its own bundle; the relay checks both signatures and moves
 * the name in one transaction.
 *
 *   signed bytes = D("hush/v1/name-transfer") || u8(len(name)) || utf8(name) || from[32] || to[32]
 *   statement    = one line of JSON text, keys in this order:
 *                  {"type":"hush-name-transfer","v":1,"name":N,"from":B64(32),"to":B64(32),"sig":B64(64)}
 *
 * `from` is the Ed25519 identity key that holds the name and signs; `to` the identity key that
 * gets it. The statement names no relay and no time: it is valid wherever `from` holds `name`,
 * and once moved the name is no longer `from`'s, so replaying it changes nothing.
 */
import { DataError } from '../errors.js';
import { DOMAIN, domainBytes } from './domains.js';
import { concatBytes, fromB64, toB64, utf8 } from './encoding.js';
import { NAME_RE } from './names.js';

export const TRANSFER_TYPE = 'hush-name-transfer';
export const TRANSFER_VERSION = 1;
/** Longest statement text a reader takes (a valid one is about 250 bytes). */
export const TRANSFER_MAX_TEXT = 4096;

export interface NameTransfer {
  name: string;
  /** The key that holds the name and signs (32 bytes). */
  from: Uint8Array;
  /** The key that gets the name (32 bytes). */
  to: Uint8Array;
  /** Ed25519 signature by `from` over transferSignedBytes (64 bytes). */
  sig: Uint8Array;
}

const bad = (why: string): never => {
  throw new DataError('BAD_TRANSFER', `name transfer ${why}`, { hint: 'use the statement hush register --transfer-to printed, unchanged' });
};

/** The bytes `from` signs. */
export function transferSignedBytes(name: string, from: Uint8Array, to: Uint8Array): Uint8Array {
  if (!NAME_RE.test(name)) bad('has an invalid name');
  if (from.length !== 32 || to.length !== 32) bad('keys must be 32 bytes');
  const n = utf8(name);
  return concatBytes(domainBytes(DOMAIN.nameTransfer), Uint8Array.of(n.length), n, from, to);
}

/** The statement as one line of JSON (no trailing newline). */
export function encodeTransfer(t: NameTransfer): string {
  transferSignedBytes(t.name, t.from, t.to);
  if (t.sig.length !== 64) bad('signature must be 64 bytes');
  return JSON.stringify({ type: TRANSFER_TYPE, v: TRANSFER_VERSION, name: t.name, from: toB64(t.from), to: toB64(t.to), sig: toB64(t.sig) });
}

function key(o: Record<string, unknown>, field: string, len: number): Uint8Array {
  const v = o[field];
  if (typeof v !== 'string') return bad(`field ${field} is missing`);
  let b: Uint8Array;
  try {
    b = fromB64(v);
  } catch {
    return bad(`field ${field} is not base64`);
  }
  if (b.length !== len) bad(`field ${field} must be ${len} bytes`);
  return b;
}

/** Parses a statement (the text of a file: surrounding white space is ignored); DataError BAD_TRANSFER otherwise. Checks the shape, not the signature. */
export function parseTransfer(text: string): NameTransfer {
  if (text.length > TRANSFER_MAX_TEXT) bad('is too long');
  let o: unknown;
  try {
    o = JSON.parse(text.trim());
  } catch {
    return bad('is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('is not a JSON object');
  const r = o as Record<string, unknown>;
  if (r.type !== TRANSFER_TYPE) bad(`type must be ${TRANSFER_TYPE}`);
  if (r.v !== TRANSFER_VERSION) bad(`version ${JSON.stringify(r.v)} is not supported (this hush knows ${TRANSFER_VERSION})`);
  if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) bad('has an invalid name');
  return { name: r.name as string, from: key(r, 'from', 32), to: key(r, 'to', 32), sig: key(r, 'sig', 64) };
}
