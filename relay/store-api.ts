/**
 * The relay's store interface: everything a relay process keeps beyond one connection, behind
 * one asynchronous API that the embedded SQLite store (relay/store-sqlite.ts over
 * relay/store.ts) and the shared Redis store (relay/store-redis.ts) both implement
 * (docs/ARCHITECTURE.md "The relay store").
 *
 * Every check that must hold across relay processes is made by the store in the same atomic
 * step as the write it guards: a mailbox's count and bytes and the store's total bytes in
 * insertBatch, a name's first-come ownership in putBundle, ack-delete of the acknowledging
 * mailbox only in ack. The handlers never read-then-write these.
 */

import type { BlobMetaStore } from './blobs-meta.js';
import type { PrekeyStore } from './prekeys-store.js';

export interface StoredMail {
  seq: number;
  eid: string;
  env: Uint8Array;
  time: number;
}
export interface NewMail {
  recipient: Uint8Array;
  /** `recipient` as base64, when the caller has it (the relay's sends do): not encoded again. */
  rkey?: string;
  eid: string;
  env: Uint8Array;
  time: number;
}
export interface DirectoryEntry {
  name: string;
  signPk: Uint8Array;
  bundle: string;
  created: number;
}

/** The limits an insert is checked against (--mailbox-count, --mailbox-bytes, --max-store-bytes). */
export interface MailQuota {
  mailboxMaxCount: number;
  mailboxMaxBytes: number;
  maxStoreBytes: number;
}

/**
 * Per item of insertBatch: its seq (> 0) when stored now, 'dup' when the same eid already waits
 * in that mailbox (a resend: `accepted`, stored once), or the quota that refused it, or
 * UNKNOWN_RECIPIENT when the recipient released its name meanwhile (a shared store checks that
 * again in the insert, as its isRegistered may answer from a short cache).
 */
export type InsertResult = number | 'dup' | 'MAILBOX_FULL' | 'STORE_FULL' | 'UNKNOWN_RECIPIENT';

/** Called for mail another relay process accepted: `rkey` is the recipient (base64), `seq` its seq. */
export type WakeHandler = (rkey: string, seq: number) => void;

export interface Store {
  /** 'sqlite' or 'redis' (logged at start). */
  readonly kind: string;
  /** Where it lives, for the `listening` log line (a directory, or redis://host:port/db without a password). */
  readonly where: string;
  /** True when other relay processes share it (their accepted mail arrives through onWake). */
  readonly shared: boolean;

  /** Stores each envelope unless its eid already waits or a quota refuses it; one result per item, in order. */
  insertBatch(items: readonly NewMail[], quota: MailQuota): Promise<InsertResult[]>;
  exists(recipient: Uint8Array, eid: string): Promise<boolean>;
  /** Mail with seq > after and time > notBefore, in seq order; stops once past maxBytes (that item included). */
  pull(recipient: Uint8Array, after: number, notBefore: number, limit: number, maxBytes?: number): Promise<StoredMail[]>;
  /** Deletes these eids from `recipient`'s mailbox only; count and bytes freed. */
  ack(recipient: Uint8Array, eids: readonly string[]): Promise<{ count: number; bytes: number }>;
  /** Deletes mail that arrived at or before `cutoff`; how many. */
  purge(cutoff: number): Promise<number>;

  /** True when `signPk` (`rkey` is its base64) holds a name: mail to any other key is UNKNOWN_RECIPIENT (insertBatch checks it again). */
  isRegistered(signPk: Uint8Array, rkey: string): Promise<boolean>;
  lookupName(name: string): Promise<DirectoryEntry | undefined>;
  lookupKey(signPk: Uint8Array): Promise<DirectoryEntry | undefined>;
  /**
   * Puts `bundle` under `name` for `signPk`, dropping any other name the key held, unless
   * another key holds `name` ('taken', nothing changed): checked and written in one step.
   */
  putBundle(name: string, signPk: Uint8Array, bundle: string, now: number): Promise<'ok' | 'taken'>;
  /** Frees `name` if `signPk` holds it, and drops the key's v2 prekeys; false when it does not hold it. */
  releaseName(name: string, signPk: Uint8Array): Promise<boolean>;
  /**
   * Moves `name` from `from` to `to` with `bundle` in one step (§7.2 "Transfer"); false when
   * `from` no longer holds it. A store without it: the relay answers `transfer` UNKNOWN_TYPE.
   */
  transferName?(name: string, from: Uint8Array, to: Uint8Array, bundle: string, now: number): Promise<boolean>;
  /**
   * The v2 prekeys (relay/prekeys-store.ts; on Redis relay/prekeys-redis.ts). A store without
   * them: the relay answers `prekeys` and `fetch-prekeys` UNKNOWN_TYPE, and clients send v1.
   */
  readonly prekeys?: PrekeyStore;
  /** Whether `rkey` holds a name, answered from memory (the SQLite store): the blob store's fast path. */
  registeredNow?(rkey: string): boolean;
  /**
   * The synchronous twins of `token` and `exists`, for a store that answers in process (SQLite):
   * with them and `registeredNow`, a send is checked without awaiting (relay/handlers.ts, the
   * hot path). Each answers exactly what its asynchronous twin answers; `hk` is `h` as base64.
   * A shared store (Redis) has none: its sends take the asynchronous path.
   */
  tokenNow?(h: Uint8Array, hk: string): { recipient: Uint8Array; exp: number } | undefined;
  existsNow?(recipient: Uint8Array, eid: string): boolean;
  /**
   * A store that commits before its disk sync finishes (SQLite, relay/store.ts
   * insertBatchDurable): the sync of every commit so far, or undefined when none is pending.
   * Whoever answers `accepted` for mail found already stored waits for it.
   */
  synced?(): Promise<unknown> | undefined;
  /**
   * Blob metadata that other relay processes share (Redis, relay/blobs-redis.ts). Without it the
   * blob store keeps its own SQLite file beside the blobs (relay/blobs-meta.ts).
   */
  readonly blobMeta?: BlobMetaStore;

  /** Adds (or re-dates) and removes token hashes of `recipient`; a hash of another mailbox is left alone. Unexpired tokens after. */
  putTokens(recipient: Uint8Array, add: readonly { h: Uint8Array; exp: number }[], remove: readonly Uint8Array[], now: number): Promise<number>;
  countTokens(recipient: Uint8Array, now: number): Promise<number>;
  /** Envelopes waiting in `recipient`'s mailbox (the `waiting` of the answer to its auth, §7.3). */
  waitingCount(recipient: Uint8Array): Promise<number>;
  token(h: Uint8Array): Promise<{ recipient: Uint8Array; exp: number } | undefined>;
  purgeTokens(now: number): Promise<number>;

  /** Envelope bytes stored over all mailboxes (what --max-store-bytes counts). */
  totalBytes(): Promise<number>;
  /** Subscribes to mail accepted by other relay processes (a shared store only). */
  onWake(fn: WakeHandler): void;
  close(): Promise<void>;
}
