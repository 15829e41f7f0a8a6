/**
 * The prekey lifecycle of this device (docs/PROTOCOL.md §9.2, §9.10): generate prekeys, keep
 * the pool on the relay filled, rotate the signed prekey, delete old secrets.
 *
 * - `maintainPrekeys` (local, one transaction): a signed prekey exists and is younger than the
 *   rotation period (else a new one; it expires two periods after it was made); one
 *   last-resort ML-KEM prekey exists; a signed prekey replaced by a newer one more than
 *   `grace` ago is deleted (a message started with one is refused as PREKEY_EXPIRED from then
 *   on, src/crypto/pqxdh.ts); one-time pools are
 *   topped up (100 X25519, 50 ML-KEM by default) when the relay reports fewer than 20 / 10 left.
 * - `syncPrekeys`: asks the relay what it holds (`prekeyStatus`), maintains, then uploads the
 *   public halves of everything not yet published (`publishPrekeys`) and marks it published.
 *   A relay without prekey support (prekeyStatus null) is left alone: peers then send v1.
 */
import type { KemPrekey, SignedPrekey } from '../crypto/prekeys.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey } from '../crypto/prekeys.js';
import type { Identity } from '../crypto/identity.js';
import type { Random } from '../crypto/nacl.js';
import { DEFAULT_SPK_GRACE_MS } from '../crypto/pqxdh.js';
import type { HushStore } from '../store/db.js';
import type { PrekeyRowKind } from '../store/db-sessions.js';
import { MAX_UPLOAD_KEMS, MAX_UPLOAD_OPKS, type PrekeyStatus, type PrekeyUpload } from '../protocol/prekey-upload.js';
import { startedKey } from './sessions.js';

export interface PrekeyPolicy {
  /** One-time X25519 prekeys the relay should hold after a refill. */
  oneTime: number;
  /** Refill the one-time X25519 pool when the relay holds fewer than this. */
  refillBelow: number;
  /** One-time ML-KEM-768 prekeys the relay should hold after a refill (1.2 KiB each: one upload frame holds 50). */
  kemOneTime: number;
  /** Refill the one-time ML-KEM pool when the relay holds fewer than this. */
  kemRefillBelow: number;
  /** A signed prekey is replaced once it is this old (ms). */
  rotateMs: number;
  /** How long after a newer one replaced it a signed prekey still completes a session (ms). */
  graceMs: number;
}

export const DEFAULT_PREKEY_POLICY: PrekeyPolicy = {
  oneTime: 100,
  refillBelow: 20,
  kemOneTime: 50,
  kemRefillBelow: 10,
  rotateMs: 7 * 24 * 3600 * 1000,
  graceMs: DEFAULT_SPK_GRACE_MS,
};

/** One-time X25519 secrets kept at most (handed out by the relay but never used: oldest dropped). */
export const MAX_LOCAL_ONE_TIME = 1000;
/** One-time ML-KEM secrets kept at most (64-byte seeds in ~1.2 KiB sealed rows; oldest dropped). */
export const MAX_LOCAL_ONE_TIME_KEM = 500;

/** The relay calls this module needs (src/client/relay-client.ts). */
export interface PrekeyRelay {
  publishPrekeys(upload: PrekeyUpload): Promise<PrekeyStatus>;
  /** null: the relay predates prekeys. */
  prekeyStatus(): Promise<PrekeyStatus | null>;
}

/** How many one-time prekeys the relay still holds for us. */
export interface PoolCounts {
  opk: number;
  kem: number;
}

/**
 * Brings the local prekeys in line with `policy` at `now` (one transaction). `remote` is what
 * the relay reports it holds; undefined: top up only when nothing at all is held locally.
 * Returns how many prekeys were generated.
 */
export function maintainPrekeys(store: HushStore, identity: Identity, now: number, random: Random, policy: PrekeyPolicy = DEFAULT_PREKEY_POLICY, remote?: PoolCounts): number {
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
    // Old signed prekeys: deleted once their grace period has passed since a newer one
    // replaced them (never the newest). A device offline past its key's expiry replaces it
    // only now, so what peers started with it meanwhile still opens for `graceMs`.
    const old = rotate ? spks : spks.slice(1);
    const replacedAt = rotate ? [now, ...spks.map((s) => s.createdAt)] : spks.map((s) => s.createdAt);
    old.forEach((s, i) => {
      // Never before its own expiry: until then a sender may still take it from a bundle.
      if (now > Math.max(replacedAt[i]! + policy.graceMs, s.expires)) {
        v2.deletePrekey('spk', s.id);
        store.deleteValue(startedKey(s.id)); // no message can start a session on it any more
      }
    });
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
    const kemHeld = remote?.kem ?? (v2.count('kem') === 0 ? 0 : policy.kemOneTime);
    if (kemHeld < policy.kemRefillBelow) {
      for (let i = kemHeld; i < policy.kemOneTime; i++) {
        v2.putKemPrekey(generateKemPrekey(identity, v2.nextId('kem'), 'one-time', random), now);
        made++;
      }
    }
    v2.trimOneTime(MAX_LOCAL_ONE_TIME, MAX_LOCAL_ONE_TIME_KEM);
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
  const status = await relay.prekeyStatus();
  if (!status) return 0; // a relay without prekeys: peers send v1
  maintainPrekeys(store, identity, now, random, policy, { opk: status.opks, kem: status.kems });
  const u = store.v2.unpublished();
  let sent = 0;
  // The newest signed prekey and last-resort key replace what the relay serves; one-time keys
  // go in batches the upload frame allows. Each batch is marked published once accepted. A
  // relay that does not serve our current ones (it lost them, or was restored from a backup)
  // gets them again, published or not.
  const first: PrekeyUpload = {};
  const current = store.v2.signedPrekeys()[0];
  const spk = u.spk[0] ?? (current && status.spk?.id !== current.id ? current : undefined);
  if (spk) first.spk = { id: spk.id, expires: spk.expires, pk: spk.pk, sig: spk.sig };
  const lastResort = store.v2.lastResortPrekey();
  const lr = u.lastResort[u.lastResort.length - 1] ?? (lastResort && status.lastResort?.id !== lastResort.id ? lastResort : undefined);
  if (lr) first.lastResort = { id: lr.id, pk: lr.pk, sig: lr.sig };
  let opks = u.opk;
  let kems = u.kem;
  let upload: PrekeyUpload | undefined = first;
  while (upload) {
    const o = opks.slice(0, MAX_UPLOAD_OPKS);
    const k = kems.slice(0, MAX_UPLOAD_KEMS);
    opks = opks.slice(o.length);
    kems = kems.slice(k.length);
    if (o.length > 0) upload.opks = o.map((x) => ({ id: x.id, pk: x.pk }));
    if (k.length > 0) upload.kems = k.map((x) => ({ id: x.id, pk: x.pk, sig: x.sig }));
    const n = (upload.spk ? 1 : 0) + (upload.lastResort ? 1 : 0) + o.length + k.length;
    if (n === 0) break;
    await relay.publishPrekeys(upload);
    const done: { kind: PrekeyRowKind; id: number }[] = [...o.map((x) => ({ kind: 'opk' as const, id: x.id })), ...k.map((x) => ({ kind: 'kem' as const, id: x.id }))];
    if (upload.spk) done.push(...u.spk.map((x) => ({ kind: 'spk' as const, id: x.id })));
    if (upload.lastResort) done.push(...u.lastResort.map((x) => ({ kind: 'lastResort' as const, id: x.id })));
    store.v2.markPublished(done);
    sent += n;
    upload = opks.length > 0 || kems.length > 0 ? {} : undefined;
  }
  return sent;
}
