/**
 * The relay's v2 prekey frames (docs/PROTOCOL.md §7.2 "Prekeys"): `prekeys` publishes an
 * identity's prekeys after checking every signature against its registered keys, and answers
 * with what is stored; `fetch-prekeys` hands out one prekey bundle, each one-time key at most
 * once. The relay needs no secret for any of it.
 *
 * Limits (§7.7): --prekey-rate frames per connection per second (RATE_LIMITED), --prekey-cap
 * one-time keys stored per identity (TOO_MANY_PREKEYS), --prekey-handouts bundles per identity
 * per hour that carry one-time keys (later ones carry none: a sender is never refused for that,
 * so draining an identity's pool cannot stop others from starting sessions with it).
 */
import { verifyDetached } from '../src/crypto/nacl.js';
import { isHushError } from '../src/errors.js';
import { parseBundle } from '../src/protocol/bundle.js';
import { toB64 } from '../src/protocol/encoding.js';
import type { FetchPrekeysFrame, PrekeysFrame } from '../src/protocol/frames.js';
import { encodePrekeyBundle, kemSignedBytes, spkSignedBytes } from '../src/protocol/prekey-bundle.js';
import { isEmptyUpload, parsePrekeyUpload, type PrekeyUpload, prekeyStatusJson } from '../src/protocol/prekey-upload.js';
import type { RelayLimitsConfig } from './config.js';
import type { Conn, EventLog } from './handlers.js';
import { FrameRefusal } from './handlers.js';
import type { PrekeyStore } from './prekeys-store.js';
import { WindowCounter } from './quota.js';
import type { Store } from './store-api.js';

export interface PrekeyHandlers {
  prekeys(c: Conn, f: PrekeysFrame): Promise<void>;
  fetch(c: Conn, f: FetchPrekeysFrame): Promise<void>;
  /** Forgets expired handout windows (purge timer). */
  sweep(): void;
}

/** The registered boxPk of `signPk`, or undefined when the key has no directory entry. */
async function registeredBoxPk(store: Store, signPk: Uint8Array): Promise<Uint8Array | undefined> {
  const row = await store.lookupKey(signPk);
  return row ? parseBundle(JSON.parse(row.bundle) as unknown).boxPk : undefined;
}

/** Why an upload's signatures do not verify under (signPk, boxPk), or undefined when they all do. */
export function uploadSignatureProblem(u: PrekeyUpload, signPk: Uint8Array, boxPk: Uint8Array): string | undefined {
  if (u.spk && !verifyDetached(spkSignedBytes(signPk, boxPk, u.spk.id, u.spk.expires, u.spk.pk), u.spk.sig, signPk)) return 'the signed prekey signature does not verify';
  if (u.lastResort && !verifyDetached(kemSignedBytes(signPk, boxPk, 'last-resort', u.lastResort.id, u.lastResort.pk), u.lastResort.sig, signPk)) {
    return 'the last-resort KEM prekey signature does not verify';
  }
  for (const k of u.kems ?? []) {
    if (!verifyDetached(kemSignedBytes(signPk, boxPk, 'one-time', k.id, k.pk), k.sig, signPk)) return `the signature of one-time KEM prekey ${k.id} does not verify`;
  }
  return undefined;
}

/** `freeBytes`: free space of the data directory's file system (--min-free applies to uploads as to register). */
export function createPrekeyHandlers(limits: RelayLimitsConfig, store: Store, event: EventLog, freeBytes: (now?: number) => number = () => Infinity): PrekeyHandlers {
  const handouts = new WindowCounter(3600_000, limits.prekeyHandoutsPerHour);
  /** The store's prekeys, or UNKNOWN_TYPE when it keeps none: clients then send v1 (§7.6). */
  const rate = (c: Conn): PrekeyStore => {
    if (!store.prekeys) throw new FrameRefusal('UNKNOWN_TYPE', `this relay's ${store.kind} store keeps no v2 prekeys; send with protocol v1`);
    if (!c.prekeyBucket.take()) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.prekeyRatePerConn} prekey frames per second on this connection`);
    return store.prekeys;
  };

  return {
    prekeys: async (c, f) => {
      const prekeys = rate(c);
      const signPk = c.signPk!;
      let u: PrekeyUpload = {};
      if (f.upload) {
        try {
          u = parsePrekeyUpload(f.upload);
        } catch (e) {
          throw new FrameRefusal('BAD_PREKEYS', isHushError(e) ? e.message : 'bad prekey upload');
        }
      }
      if (isEmptyUpload(u)) return c.link.send({ t: 'prekey-status', id: f.id, ...prekeyStatusJson(await prekeys.prekeyStatus(signPk)) });
      const boxPk = await registeredBoxPk(store, signPk);
      if (!boxPk) throw new FrameRefusal('NOT_FOUND', 'register on this relay before publishing prekeys');
      if (u.spk && u.spk.expires <= Date.now()) throw new FrameRefusal('BAD_PREKEYS', 'the signed prekey has already expired');
      const why = uploadSignatureProblem(u, signPk, boxPk);
      if (why) throw new FrameRefusal('BAD_PREKEYS', why);
      if (freeBytes() < limits.minFreeBytes) throw new FrameRefusal('STORE_FULL', "the relay's disk is nearly full");
      const status = await prekeys.putPrekeys(signPk, boxPk, u, limits.prekeyCap);
      if (status === 'too-many') throw new FrameRefusal('TOO_MANY_PREKEYS', `the relay keeps at most ${limits.prekeyCap} one-time prekeys of each kind per identity`);
      event('prekeys', { conn: c.n, opks: u.opks?.length ?? 0, kems: u.kems?.length ?? 0, spk: !!u.spk, lastResort: !!u.lastResort });
      c.link.send({ t: 'prekey-status', id: f.id, ...prekeyStatusJson(status) });
    },

    fetch: async (c, f) => {
      const prekeys = rate(c);
      const boxPk = await registeredBoxPk(store, f.signPk);
      if (!boxPk) throw new FrameRefusal('NOT_FOUND', 'no identity is registered with that key');
      const now = Date.now();
      const target = toB64(f.signPk);
      // Reserved before the store is asked (it may answer later, Redis), so concurrent fetches
      // cannot all pass the window; given back when no one-time key was handed out.
      const oneTime = handouts.allows(target, now);
      if (oneTime) handouts.record(target, now);
      let taken: Awaited<ReturnType<PrekeyStore['takeBundle']>>;
      try {
        taken = await prekeys.takeBundle(f.signPk, boxPk, now, oneTime);
      } finally {
        if (oneTime && !(taken?.opk || taken?.kem.kind === 'one-time')) handouts.unrecord(target, now);
      }
      if (!taken) throw new FrameRefusal('NO_PREKEYS', 'that identity has published no usable prekeys; send with protocol v1');
      const bundle = encodePrekeyBundle({ signPk: f.signPk, boxPk, ...taken });
      event('fetch-prekeys', { conn: c.n, opk: !!taken.opk, kem: taken.kem.kind });
      c.link.send({ t: 'prekey-bundle', id: f.id, bundle: toB64(bundle) });
    },

    sweep: () => handouts.sweep(),
  };
}
