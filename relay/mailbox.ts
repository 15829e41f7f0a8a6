/**
 * The mailboxes above the store: the group commit of durable sends, and the pushes to the
 * recipient's online connections once a send is committed (docs/PROTOCOL.md §7.2), including
 * mail another relay process accepted into a shared store (its wake-up, then a fetch).
 *
 * Group commit: every send queued in one event-loop turn is inserted in one batch
 * (setImmediate), where the store checks the mailbox and store quotas (relay/store-api.ts);
 * then each is answered `accepted` (or refused) and pushed, the sockets corked for the batch.
 */
import { isHushError } from '../src/errors.js';
import type { Conn, EventLog } from './handlers.js';
import { toB64 } from '../src/protocol/encoding.js';
import type { InsertResult, MailQuota, Store } from './store-api.js';
import { batchWakes } from './wake-batch.js';
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
  /** Called when the envelope was refused (a quota, a store error): releases what was charged for it. */
  refused?: () => void;
}

// The two frames of the hot path, written as text: the same JSON as encodeFrame (same keys in
// the same order) without building an object per frame. Every interpolated string is checked
// to need no escaping: request ids match REQUEST_ID_RE, eids EID_RE, envelopes canonical base64.
export const pushText = (seq: number, eid: string, env: string, time: number, ephemeral: boolean): string =>
  `{"v":1,"t":"push","seq":${seq},"eid":"${eid}","env":"${env}","time":${time}${ephemeral ? ',"ephemeral":true' : ''}}`;
export const acceptedText = (id: string, eid: string, stored: boolean, delivered: number): string =>
  `{"v":1,"t":"accepted","id":"${id}","eid":"${eid}","stored":${stored},"delivered":${delivered}}`;

const REFUSED = {
  MAILBOX_FULL: "the recipient's mailbox is full",
  STORE_FULL: "the relay's storage is full; retry later",
  UNKNOWN_RECIPIENT: 'the recipient is not registered on this relay',
};

/** True for SQLite's and the OS's "disk full" errors: answered STORE_FULL, never a crash. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}

export class Mailbox {
  /** Authenticated connections by identity key (base64). */
  readonly online = new Map<string, Set<Conn>>();
  private queue: Pending[] = [];
  private scheduled = false;
  /** Commits under way (awaited by the shutdown). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly corking: Corking,
    private readonly event: EventLog,
    private readonly quota: MailQuota,
  ) {
    // Mail another relay process accepted (a shared store): fetched, then pushed to the
    // recipient's connections here, if it has any.
    // Gathered per recipient over one turn (relay/wake-batch.ts): one fetch per burst, not per envelope.
    store.onWake(
      batchWakes((rkey, after, limit, seqs) => {
        const set = this.online.get(rkey);
        if (!set || set.size === 0) return;
        const [first] = set;
        this.store.pull(first!.signPk!, after, 0, limit).then(
          (rows) => {
            this.corking.begin();
            for (const r of rows) if (seqs.has(r.seq)) this.pushTo(rkey, r.seq, r.eid, toB64(r.env), r.time, false);
            this.corking.end();
          },
          (e: unknown) => this.event('store-error', { op: 'wake', error: (e as Error).name }),
        );
      }),
    );
  }

  /** Sends queued or being committed, not yet answered. */
  get pending(): number {
    return this.queue.length + this.inFlight.size;
  }

  /** Queues `p` for the next group commit. */
  enqueue(p: Pending): void {
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

  /** Commits every queued send in one batch; resolves once each is answered and pushed. */
  readonly flush = (): Promise<void> => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return Promise.all(this.inFlight).then(() => undefined);
    const done = this.commit(batch);
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return done;
  };

  /** Resolves once every queued and in-flight commit is answered (the shutdown). */
  async drain(): Promise<void> {
    await this.flush();
    await Promise.all(this.inFlight);
  }

  private async commit(batch: Pending[]): Promise<void> {
    let results: InsertResult[];
    try {
      results = await this.store.insertBatch(batch, this.quota);
    } catch (e) {
      const full = isDiskFull(e);
      this.event('store-error', { op: 'insert', n: batch.length, error: isHushError(e) ? e.code : full ? 'SQLITE_FULL' : (e as Error).name });
      for (const p of batch) {
        p.refused?.();
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
      const r = results[i]!;
      if (r === 'MAILBOX_FULL' || r === 'STORE_FULL' || r === 'UNKNOWN_RECIPIENT') {
        p.refused?.();
        p.conn.link.send({ t: 'error', id: p.reqId, code: r, message: REFUSED[r] });
        continue;
      }
      const delivered = r === 'dup' ? 0 : this.pushTo(p.rkey, r, p.eid, p.envText, p.time, false); // a resend: stored once
      p.conn.link.send(acceptedText(p.reqId, p.eid, true, delivered));
    }
    this.corking.end();
  }
}
