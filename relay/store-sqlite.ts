/**
 * The embedded store behind the Store interface (relay/store-api.ts): the SQLite file of
 * relay/store.ts, used by this one relay process only. Because nothing else writes it, the
 * quotas are checked against counts kept in memory (read from the file once per mailbox, then
 * kept up to date), the registered keys are a Set and the tokens read are cached
 * (relay/token-cache.ts): a contact's send makes no query before its insert.
 */
import type { DirectoryEntry, InsertResult, MailQuota, NewMail, Store, StoredMail, WakeHandler } from './store-api.js';
import type { PrekeyStore } from './prekeys-store.js';
import { RelayStore } from './store.js';
import { TokenCache } from './token-cache.js';
import { toB64 } from '../src/protocol/encoding.js';

interface Stats {
  count: number;
  bytes: number;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly shared = false;
  readonly db: RelayStore;
  private readonly stats = new Map<string, Stats>();
  private total: number;
  private readonly registered: Set<string>;
  private readonly tokens = new TokenCache();

  constructor(readonly where: string) {
    this.db = new RelayStore(where);
    this.total = this.db.totalBytes();
    this.registered = new Set(this.db.registeredKeys());
  }

  private statsOf(recipient: Uint8Array, rkey: string): Stats {
    let s = this.stats.get(rkey);
    if (!s) this.stats.set(rkey, (s = this.db.stats(recipient)));
    return s;
  }

  insertBatch(items: readonly NewMail[], quota: MailQuota): Promise<InsertResult[]> {
    const out = new Array<InsertResult>(items.length);
    const fit: NewMail[] = [];
    const fitAt: number[] = [];
    const keys = items.map((m) => m.rkey ?? toB64(m.recipient));
    // Counted in order, so that a batch cannot pass a quota together that each item passes alone.
    for (let i = 0; i < items.length; i++) {
      const m = items[i]!;
      const s = this.statsOf(m.recipient, keys[i]!);
      const size = m.env.length;
      if (s.count + 1 > quota.mailboxMaxCount || s.bytes + size > quota.mailboxMaxBytes) out[i] = 'MAILBOX_FULL';
      else if (this.total + size > quota.maxStoreBytes) out[i] = 'STORE_FULL';
      else {
        s.count++;
        s.bytes += size;
        this.total += size;
        fit.push(m);
        fitAt.push(i);
        continue;
      }
      if (this.db.exists(m.recipient, m.eid)) out[i] = 'dup'; // a resend of mail that waits: accepted, even when full
    }
    let committed: Promise<(number | null)[]>;
    try {
      committed = this.db.insertBatchDurable(fit); // committed now; resolves once on disk
    } catch (e) {
      for (const i of fitAt) this.uncount(keys[i]!, items[i]!.env.length);
      throw e;
    }
    // Counted above, synchronously: the next batch is checked against this one's counts while this one syncs.
    return committed.then((seqs) => this.settle(items, keys, fitAt, seqs, out));
  }

  private settle(items: readonly NewMail[], keys: string[], fitAt: number[], seqs: (number | null)[], out: InsertResult[]): InsertResult[] {
    for (let j = 0; j < fitAt.length; j++) {
      const i = fitAt[j]!;
      const seq = seqs[j];
      if (seq) out[i] = seq;
      else {
        out[i] = 'dup';
        this.uncount(keys[i]!, items[i]!.env.length);
      }
    }
    return out;
  }

  private uncount(rkey: string, bytes: number, count = 1): void {
    this.total -= bytes;
    const s = this.stats.get(rkey);
    if (s) {
      s.count -= count;
      s.bytes -= bytes;
    }
  }

  exists(recipient: Uint8Array, eid: string): Promise<boolean> {
    return Promise.resolve(this.db.exists(recipient, eid));
  }

  synced(): Promise<unknown> | undefined {
    return this.db.synced();
  }

  existsNow(recipient: Uint8Array, eid: string): boolean {
    return this.db.exists(recipient, eid);
  }

  pull(recipient: Uint8Array, after: number, notBefore: number, limit: number, maxBytes?: number): Promise<StoredMail[]> {
    return Promise.resolve(this.db.pull(recipient, after, notBefore, limit, maxBytes));
  }

  ack(recipient: Uint8Array, eids: readonly string[]): Promise<{ count: number; bytes: number }> {
    const r = this.db.ack(recipient, [...eids]);
    this.uncount(toB64(recipient), r.bytes, r.count);
    return Promise.resolve(r);
  }

  purge(cutoff: number): Promise<number> {
    const n = this.db.purge(cutoff);
    if (n > 0) {
      this.stats.clear(); // re-read from the file when next needed
      this.total = this.db.totalBytes();
    }
    return Promise.resolve(n);
  }

  isRegistered(_signPk: Uint8Array, rkey: string): Promise<boolean> {
    return Promise.resolve(this.registered.has(rkey));
  }

  lookupName(name: string): Promise<DirectoryEntry | undefined> {
    return Promise.resolve(this.db.lookupName(name));
  }

  lookupKey(signPk: Uint8Array): Promise<DirectoryEntry | undefined> {
    return Promise.resolve(this.db.lookupKey(signPk));
  }

  putBundle(name: string, signPk: Uint8Array, bundle: string, now: number): Promise<'ok' | 'taken'> {
    const r = this.db.putBundle(name, signPk, bundle, now);
    if (r === 'ok') this.registered.add(toB64(signPk));
    return Promise.resolve(r);
  }

  releaseName(name: string, signPk: Uint8Array): Promise<boolean> {
    const r = this.db.releaseName(name, signPk);
    if (r) {
      this.registered.delete(toB64(signPk)); // mail to the key is UNKNOWN_RECIPIENT, as after a restart
      this.db.prekeys.dropPrekeys(signPk); // and nobody starts a v2 session with a released key
    }
    return Promise.resolve(r);
  }

  transferName(name: string, from: Uint8Array, to: Uint8Array, bundle: string, now: number): Promise<boolean> {
    const r = this.db.transferName(name, from, to, bundle, now);
    if (r) {
      this.registered.delete(toB64(from)); // the old key keeps no name and takes no mail
      this.registered.add(toB64(to));
    }
    return Promise.resolve(r);
  }

  get prekeys(): PrekeyStore {
    return this.db.prekeys;
  }

  registeredNow(rkey: string): boolean {
    return this.registered.has(rkey);
  }

  putTokens(recipient: Uint8Array, add: readonly { h: Uint8Array; exp: number }[], remove: readonly Uint8Array[], now: number): Promise<number> {
    // Dropped from the cache whether the write changes them or not (a hash of another mailbox
    // is left alone in the table): the next send reads them from the table again.
    for (const t of add) this.tokens.drop(toB64(t.h));
    for (const h of remove) this.tokens.drop(toB64(h));
    return Promise.resolve(this.db.putTokens(recipient, add, remove, now));
  }

  waitingCount(recipient: Uint8Array): Promise<number> {
    return Promise.resolve(this.statsOf(recipient, toB64(recipient)).count);
  }

  countTokens(recipient: Uint8Array, now: number): Promise<number> {
    return Promise.resolve(this.db.countTokens(recipient, now));
  }

  token(h: Uint8Array): Promise<{ recipient: Uint8Array; exp: number } | undefined> {
    return Promise.resolve(this.tokenNow(h, toB64(h)));
  }

  tokenNow(h: Uint8Array, hk: string): { recipient: Uint8Array; exp: number } | undefined {
    let row = this.tokens.get(hk);
    if (!row) {
      row = this.db.token(h);
      if (row) this.tokens.set(hk, row); // unknown hashes are never cached
    }
    return row;
  }

  purgeTokens(now: number): Promise<number> {
    const n = this.db.purgeTokens(now);
    if (n > 0) this.tokens.clear();
    return Promise.resolve(n);
  }

  totalBytes(): Promise<number> {
    return Promise.resolve(this.total);
  }

  onWake(_fn: WakeHandler): void {
    // Nobody else writes this file: every accepted envelope is pushed by this process.
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
