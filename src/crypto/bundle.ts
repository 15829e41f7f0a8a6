/** Signing and verifying bundles (layout in src/protocol/bundle.ts). */
import { DataError, TrustError } from '../errors.js';
import { type Bundle, BUNDLE_VERSION, bundleSignedBytes } from '../protocol/bundle.js';
import { isValidName } from '../protocol/names.js';
import type { Identity } from './identity.js';
import { signDetached, verifyDetached } from './nacl.js';

/** Signs a bundle for `id` (docs/PROTOCOL.md §3). `created` is milliseconds since the epoch. */
export function makeBundle(id: Identity, name: string, created: number): Bundle {
  if (!isValidName(name)) throw new DataError('BAD_NAME', `${JSON.stringify(name)} is not a valid name`);
  const unsigned = { v: BUNDLE_VERSION, name, signPk: id.signPk, boxPk: id.boxPk, created } as const;
  return { ...unsigned, sig: signDetached(bundleSignedBytes(unsigned), id.signSk) };
}

export function bundleSignatureValid(b: Bundle): boolean {
  return verifyDetached(bundleSignedBytes(b), b.sig, b.signPk);
}

/** Throws TrustError BAD_BUNDLE_SIGNATURE when the bundle is not signed by its own key. */
export function verifyBundle(b: Bundle): Bundle {
  if (!bundleSignatureValid(b)) {
    throw new TrustError('BAD_BUNDLE_SIGNATURE', `the key bundle for ${b.name} is not validly signed`, {
      hint: 'the relay may be misbehaving; do not trust this key',
    });
  }
  return b;
}
