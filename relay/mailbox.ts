/**
 * The mailboxes above the store: per-recipient counts and bytes (the quota of
 * --mailbox-count / --mailbox-bytes, cached), the group commit of durable sends, and the pushes
 * to the recipient's online connections once a send is committed (docs/PROTOCOL.md §7.2).
 *
 * Group commit: every send queued in one event-loop turn is inserted in one transaction
 * (setImmediate), then each is answered `accepted` and pushed, the sockets corked for the batch.
 */
import { isHushError } from '../src/errors.js';
import type { Conn, EventLog } from './handlers.js';
import type { RelayStore } from './store.js';
import type { Corking } from './wire.js';

/** A durable send waiting for its group commit; it is also the row store.insertBatch inserts. */
export interface Pending {
  conn: Conn;
  reqId: string;
  recipient: Uint8Array;
  /** `recipient` as base64: the key of the online map and of the stats. */
  rkey: string;
  eid: string;
  env: Uint8Array;
  /** `env` as base64, exactly as received (strictly canonical): pushed without re-encoding. */
  envText: string;
  time: number;
}

// The two frames of the hot path, written as text: the same JSON as encodeFrame (same keys in
// the same order) without building an object per frame. Every interpolated string is checked
// to need no escaping: request ids match REQUEST_ID_RE, eids EID_RE, envelopes canonical base64.
export const pushText = (seq: number, eid: string, env: string, time: number, ephemeral: boolean): string =>
  `{"v":1,"t":"push","seq":${seq},"eid":"${eid}","env":"${env}","time":${time}${ephemeral ? ',"ephemeral":true' : ''}}`;
export const acceptedText = (id: string, eid: string, stored: boolean, delivered: number): string =>
  `{"v":1,"t":"accepted","id":"${id}","eid":"${eid}","stored":${stored},"delivered":${delivered}}`;

/** True for SQLite's and the OS's "disk full" errors: answered STORE_FULL, never a crash. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}

export interface MailboxStats {
  count: number;
  bytes: number;
}

export class Mailbox {
  /** Authenticated connections by identity key (base64). */
  readonly online = new Map<string, Set<Conn>>();
  private readonly stats = new Map<string, MailboxStats>();
  /** Envelope bytes stored over all mailboxes, queued sends included (--max-store-bytes). */
  storedBytes: number;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly store: RelayStore,
    private readonly corking: Corking,
    private readonly event: EventLog,
  ) {
    this.storedBytes = store.totalBytes();
  }

  /** Sends queued, not yet committed. */
  get pending(): number {
    return this.queue.length;
  }

  /** The recipient's count and bytes, including queued sends; read from the store once, then kept. */
  statsOf(recipient: Uint8Array, rkey: string): MailboxStats {
    let s = this.stats.get(rkey);
    if (!s) {
      s = this.store.stats(recipient);
      this.stats.set(rkey, s);
    }
    return s;
  }

  /** Counts `p` in its recipient's stats and queues it for the next group commit. */
  enqueue(p: Pending, s: MailboxStats): void {
    s.count++;
    s.bytes += p.env.length;
    this.storedBytes += p.env.length;
    this.queue.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Pushes to every online connection of `rkey`; returns how many got it. */
  pushTo(rkey: string, seq: number, eid: string, env: string, time: number, ephemeral: boolean): number {
    const set = this.online.get(rkey);
    if (!set) return 0;
    let delivered = 0;
    const text = pushText(seq, eid, env, time, ephemeral);
    for (const c of set) if (c.link.push(text, ephemeral)) delivered++;
    return delivered;
  }

  /** Commits every queued send in one transaction, then answers and pushes each. */
  readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let fresh: (number | null)[];
    try {
      fresh = this.store.insertBatch(batch);
    } catch (e) {
      const full = isDiskFull(e);
      this.event('store-error', { op: 'insert', n: batch.length, error: isHushError(e) ? e.code : full ? 'SQLITE_FULL' : (e as Error).name });
      for (const p of batch) {
        this.uncount(p);
        p.conn.link.send(
          full
            ? { t: 'error', id: p.reqId, code: 'STORE_FULL', message: "the relay's disk is full; the envelope was not stored" }
            : { t: 'error', id: p.reqId, code: 'INTERNAL', message: 'the relay could not store the envelope' },
        );
      }
      return;
    }
    this.corking.begin();
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      let delivered = 0;
      const seq = fresh[i];
      if (seq) delivered = this.pushTo(p.rkey, seq, p.eid, p.envText, p.time, false);
      else this.uncount(p); // already stored (a resend): counted once
      p.conn.link.send(acceptedText(p.reqId, p.eid, true, delivered));
    }
    this.corking.end();
  };

  /** Forgets acknowledged mail in the stats. */
  acked(rkey: string, count: number, bytes: number): void {
    this.storedBytes -= bytes;
    const s = this.stats.get(rkey);
    if (s) {
      s.count -= count;
      s.bytes -= bytes;
    }
  }

  /** After a purge: the stats are re-read from the store when next needed. */
  purged(): void {
    this.stats.clear();
    this.storedBytes = this.store.totalBytes() + this.queue.reduce((n, p) => n + p.env.length, 0);
  }

  private uncount(p: Pending): void {
    this.acked(p.rkey, 1, p.env.length);
  }
}
