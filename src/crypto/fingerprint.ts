/**
 * Fingerprints a person can read aloud.
 *
 * fingerprint(signPk): h = SHA-512("hush/v1/fingerprint" 0x00 || signPk); the first 30 bytes
 * of h as six 5-byte big-endian integers, each mod 100000, written as 5 decimal digits:
 * "12345 67890 12345 67890 12345 67890" (30 digits, ~99.6 bits).
 *
 * safetyNumber(a, b): both fingerprints' digits, the smaller string first, as 12 groups of
 * 5 digits; the same on both sides of a conversation.
 */
import { concatBytes } from '../protocol/encoding.js';
import { DOMAIN, domainBytes } from '../protocol/domains.js';
import { sha512 } from './nacl.js';

function digits(signPk: Uint8Array): string {
  const h = sha512(concatBytes(domainBytes(DOMAIN.fingerprint), signPk));
  let out = '';
  for (let i = 0; i < 6; i++) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + h[i * 5 + j]!;
    out += String(n % 100000).padStart(5, '0');
  }
  return out;
}

function group(d: string): string {
  return d.replace(/(\d{5})(?=\d)/g, '$1 ');
}

export function fingerprint(signPk: Uint8Array): string {
  return group(digits(signPk));
}

export function safetyNumber(a: Uint8Array, b: Uint8Array): string {
  const [x, y] = [digits(a), digits(b)].sort();
  return group(x! + y!);
}

/** Normalises user-typed fingerprints for comparison (drops spaces and dashes). */
export function normaliseFingerprint(text: string): string {
  return text.replace(/[\s-]/g, '');
}
