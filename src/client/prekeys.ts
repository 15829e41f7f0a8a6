/**
 * The prekey lifecycle of this device (docs/PROTOCOL.md §9.2, §9.10): generate prekeys, keep
 * the pool on the relay filled, rotate the signed prekey, delete old secrets.
 *
 * - `maintainPrekeys` (local, one transaction): a signed prekey exists and is younger than the
 *   rotation period (else a new one; it expires two periods after it was made); one
 *   last-resort ML-KEM prekey exists; signed prekeys past `expires + grace` are deleted (a
 *   message started with one is refused as PREKEY_EXPIRED from then on); one-time pools are
 *   topped up to `oneTime` when the relay reports fewer than `refillBelow` left.
 * - `syncPrekeys`: asks the relay what it holds (`prekeyStatus`), maintains, then uploads the
 *   public halves of everything not yet published (`publishPrekeys`) and marks it published.
 *   A relay without prekey support (UNKNOWN_TYPE) is left alone: peers then send v1.
 */
import { RelayError } from '../errors.js';
import type { KemPrekey, SignedPrekey } from '../crypto/prekeys.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey } from '../crypto/prekeys.js';
import type { Identity } from '../crypto/identity.js';
import type { Random } from '../crypto/nacl.js';
import { DEFAULT_SPK_GRACE_MS } from '../crypto/pqxdh.js';
import type { HushStore } from '../store/db.js';
import type { PrekeyRowKind } from '../store/db-sessions.js';

export interface PrekeyPolicy {
  /** One-time X25519 and one-time ML-KEM prekeys the relay should hold after a refill. */
  oneTime: number;
  /** Refill when the relay holds fewer than this many of either kind. */
  refillBelow: number;
  /** A signed prekey is replaced once it is this old (ms). */
  rotateMs: number;
  /** How long after its expiry a signed prekey still completes a session (ms). */
  graceMs: number;
}

export const DEFAULT_PREKEY_POLICY: PrekeyPolicy = { oneTime: 100, refillBelow: 20, rotateMs: 7 * 24 * 3600 * 1000, graceMs: DEFAULT_SPK_GRACE_MS };

/** One-time X25519 secrets kept at most (handed out by the relay but never used: oldest dropped). */
export const MAX_LOCAL_ONE_TIME = 1000;

/** What is uploaded: public halves only. */
export interface PrekeyUpload {
  spk?: { id: number; expires: number; pk: Uint8Array; sig: Uint8Array };
  lastResort?: { id: number; pk: Uint8Array; sig: Uint8Array };
  kem: { id: number; pk: Uint8Array; sig: Uint8Array }[];
  opk: { id: number; pk: Uint8Array }[];
}

/** How many prekeys the relay still holds for us (unknown counts: 0, i.e. refill). */
export interface PrekeyStatus {
  opk: number;
  kem: number;
}

/** The relay calls this module needs (src/client/relay-client.ts). */
export interface PrekeyRelay {
  publishPrekeys(upload: PrekeyUpload): Promise<unknown>;
  prekeyStatus(): Promise<Partial<PrekeyStatus>>;
}

/**
 * Brings the local prekeys in line with `policy` at `now` (one transaction). `remote` is what
 * the relay reports it holds; undefined: top up only when nothing at all is held locally.
 * Returns how many prekeys were generated.
 */
export function maintainPrekeys(store: HushStore, identity: Identity, now: number, random: Random, policy: PrekeyPolicy = DEFAULT_PREKEY_POLICY, remote?: PrekeyStatus): number {
  return store.transaction(() => {
    const v2 = store.v2;
    let made = 0;
    const spks = v2.signedPrekeys();
    const current = spks[0];
    const rotate = !current || now >= current.createdAt + policy.rotateMs;
    if (rotate) {
      const spk: SignedPrekey = generateSignedPrekey(identity, v2.nextId('spk'), now + 2 * policy.rotateMs, random);
      v2.putSignedPrekey(spk, now);
      made++;
    }
    // Old signed prekeys: deleted once past their grace period (never the newest).
    for (const s of spks.slice(rotate ? 0 : 1)) {
      if (now > s.expires + policy.graceMs) v2.deletePrekey('spk', s.id);
    }
    if (v2.count('lastResort') === 0) {
      const k: KemPrekey = generateKemPrekey(identity, v2.nextId('lastResort'), 'last-resort', random);
      v2.putKemPrekey(k, now);
      made++;
    }
    const opkHeld = remote?.opk ?? (v2.count('opk') === 0 ? 0 : policy.oneTime);
    if (opkHeld < policy.refillBelow) {
      for (let i = opkHeld; i < policy.oneTime; i++) {
        v2.putOneTimePrekey(generateOneTimePrekey(v2.nextId('opk'), random), now);
        made++;
      }
    }
    const kemHeld = remote?.kem ?? (v2.count('kem') === 0 ? 0 : policy.oneTime);
    if (kemHeld < policy.refillBelow) {
      for (let i = kemHeld; i < policy.oneTime; i++) {
        v2.putKemPrekey(generateKemPrekey(identity, v2.nextId('kem'), 'one-time', random), now);
        made++;
      }
    }
    v2.trimOneTime(MAX_LOCAL_ONE_TIME);
    return made;
  });
}

/**
 * Keeps the relay's pool filled: status, local maintenance, upload of what is new.
 * Returns how many prekeys were uploaded (0 when the relay has no prekey support).
 */
export async function syncPrekeys(
  store: HushStore,
  identity: Identity,
  relay: PrekeyRelay,
  now: number,
  random: Random,
  policy: PrekeyPolicy = DEFAULT_PREKEY_POLICY,
): Promise<number> {
  let status: Partial<PrekeyStatus>;
  try {
    status = await relay.prekeyStatus();
  } catch (e) {
    if (e instanceof RelayError && (e.code === 'UNKNOWN_TYPE' || e.code === 'BAD_FRAME')) return 0;
    throw e;
  }
  maintainPrekeys(store, identity, now, random, policy, { opk: status.opk ?? 0, kem: status.kem ?? 0 });
  const u = store.v2.unpublished();
  const upload: PrekeyUpload = {
    kem: u.kem.map((k) => ({ id: k.id, pk: k.pk, sig: k.sig })),
    opk: u.opk.map((k) => ({ id: k.id, pk: k.pk })),
  };
  // The newest signed prekey and last-resort key are what the relay hands out.
  const spk = u.spk[0];
  if (spk) upload.spk = { id: spk.id, expires: spk.expires, pk: spk.pk, sig: spk.sig };
  const lr = u.lastResort[u.lastResort.length - 1];
  if (lr) upload.lastResort = { id: lr.id, pk: lr.pk, sig: lr.sig };
  const n = (upload.spk ? 1 : 0) + (upload.lastResort ? 1 : 0) + upload.kem.length + upload.opk.length;
  if (n === 0) return 0;
  await relay.publishPrekeys(upload);
  const done: { kind: PrekeyRowKind; id: number }[] = [
    ...u.spk.map((k) => ({ kind: 'spk' as const, id: k.id })),
    ...u.lastResort.map((k) => ({ kind: 'lastResort' as const, id: k.id })),
    ...u.kem.map((k) => ({ kind: 'kem' as const, id: k.id })),
    ...u.opk.map((k) => ({ kind: 'opk' as const, id: k.id })),
  ];
  store.v2.markPublished(done);
  return n;
}
