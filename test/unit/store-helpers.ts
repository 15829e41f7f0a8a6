/** Shared set-up for the store tests: temp homes, identities and bundles. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { makeBundle } from '../../src/crypto/bundle.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import type { Bundle } from '../../src/protocol/bundle.js';

export function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hush-store-'));
}

export function removeHome(home: string): void {
  fs.rmSync(home, { recursive: true, force: true });
}

export function person(name: string, created = 1_763_900_000_000): { id: Identity; bundle: Bundle } {
  const id = generateIdentity(randomBytes);
  return { id, bundle: makeBundle(id, name, created) };
}

export function key(): Uint8Array {
  return randomBytes(32);
}

export function msgId(): Uint8Array {
  return randomBytes(16);
}

/** True when `needle` occurs anywhere in `hay`. */
export function contains(hay: Buffer, needle: Uint8Array | string): boolean {
  return hay.indexOf(typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle)) !== -1;
}
