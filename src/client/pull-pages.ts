/**
 * `pull`'s read of a whole mailbox (docs/PERFORMANCE.md "pull"): pages of the largest size are
 * fetched by a pump that runs ahead of the store, and each batch is handed to the Messenger's
 * processBatch, which stores it (one transaction) BEFORE its ack leaves.
 *
 * Each page's request leaves as soon as the previous page arrives (the cursor does not depend on
 * the ack), up to PULL_AHEAD pages, so fetching overlaps opening and storing. The store takes
 * what has arrived, up to PAGES_PER_BATCH pages, as one batch: one commit and one delivered
 * receipt per sender per batch, THEN the ack. Acks and receipt sends of a batch travel while
 * the next batch is opened (`later`), at most 32 outstanding; every started one is waited for,
 * even when a batch fails.
 *
 * The outer layers of a long pull's v2 envelopes are opened on a second thread
 * (src/client/outer-open.ts): outerOpener makes one when a first page says more waits, and
 * prestartOpener starts one before the pull when the relay said at auth that more than a page
 * waits, where it pays (more than one core, a v2 session held).
 */
import { availableParallelism } from 'node:os';
import { MAX_ACK_EIDS, MAX_PULL_LIMIT, type MailItem } from '../protocol/frames.js';
import type { Identity } from '../crypto/identity.js';
import type { HushStore } from '../store/db.js';
import { emptyProcessResult, type ProcessResult } from './inbound.js';
import { type OuterLayer, OuterOpener, type OuterTicket } from './outer-open.js';
import { type AheadOpened, anchorsOf } from './ahead-ratchet.js';
import type { RelayClient } from './relay-client.js';

/** Pull pages fetched ahead of the store at most. */
const PULL_AHEAD = 4;
/** Pages (of 500) stored in one transaction at most: 1,000 = one receipt's worth of ids. */
const PAGES_PER_BATCH = 2;
/** Acks and receipt sends in flight before the pull waits for them. */
const MAX_LATER = 32;

/** A mail item, with its outer layer when it was opened ahead (src/client/outer-open.ts). */
export type PulledItem = Pick<MailItem, 'eid' | 'env'> & { outer?: OuterLayer; ahead?: AheadOpened };

/** Messenger.processBatch, as the pull calls it: store, then start the ack (into `later`). */
export type BatchProcessor = (items: readonly PulledItem[], ack: (eids: string[]) => Promise<unknown>, later: Promise<unknown>[]) => Promise<ProcessResult>;

/** Opens the outer layers of pages ahead of the store (OuterOpener); made when a first page says more waits. */
export interface AheadOpener {
  /** Called with the first page's envelopes: the thread may start loading now. */
  warm(envs: readonly Uint8Array[]): void;
  open(envs: readonly Uint8Array[]): OuterTicket;
  close(): Promise<void>;
}

/** The opener of a pull of `store`'s mail (made when a first page says more waits): the anchors are read then. */
export function outerOpener(store: HushStore, identity: Identity): () => OuterOpener {
  return () => new OuterOpener(identity.boxSk, () => anchorsOf(store.v2.allSessions()));
}

/** A started OuterOpener for a long pull (src/client/outer-open.ts `prestart`), or undefined where it would not pay. */
export function prestartOpener(store: HushStore, identity: Identity): OuterOpener | undefined {
  if (availableParallelism() < 2) return undefined;
  const anchors = anchorsOf(store.v2.allSessions());
  if (anchors.length === 0) return undefined; // no v2 session: v1 mail, or a new home
  const o = new OuterOpener(identity.boxSk, () => anchors);
  o.prestart();
  return o;
}

/**
 * Pulls and processes batches until the mailbox on `c` is empty; returns the sum of the
 * batches. `opener`: called once when a page says more mail waits; each page is then handed to
 * what it returns as soon as it arrives (closed at the end). `started`: an opener already
 * started (its thread loading while the pull connected): it gets every page, and is closed at
 * the end however the pull ends.
 */
export async function pullPages(c: RelayClient, processBatch: BatchProcessor, opener?: () => AheadOpener, started?: AheadOpener): Promise<ProcessResult> {
  const total = emptyProcessResult();
  // Acks and delivered receipts in flight (each started after its batch was committed).
  const later: Promise<unknown>[] = [];
  const settle = async (): Promise<void> => {
    const failed = (await Promise.allSettled(later.splice(0))).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  type Page = Awaited<ReturnType<RelayClient['pull']>> & { outer?: OuterTicket };
  const ready: Page[] = [];
  // Started before the pull (Messenger.pull, a long mailbox): every page goes to it, the first one too.
  let ahead: AheadOpener | undefined = started;
  let cursor = 0;
  let fetching = false;
  let exhausted = false;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const pump = (): void => {
    if (fetching || exhausted || stopped || failure || ready.length >= PULL_AHEAD) return;
    fetching = true;
    c.pull({ after: cursor, limit: MAX_PULL_LIMIT }).then(
      (pg) => {
        fetching = false;
        if (pg.items.length > 0) cursor = pg.items[pg.items.length - 1]!.seq;
        if (!pg.more || pg.items.length === 0) exhausted = true;
        // The first page is opened here while the thread starts; the pages after it there.
        const first = !ahead;
        if (opener && !ahead && pg.more) {
          ahead = opener();
          ahead.warm(pg.items.map((i) => i.env));
        }
        ready.push(ahead && !first && pg.items.length > 0 ? { ...pg, outer: ahead.open(pg.items.map((i) => i.env)) } : pg);
        notify();
        pump();
      },
      (e: unknown) => {
        fetching = false;
        failure = { error: e };
        notify();
      },
    );
  };
  pump();
  try {
    for (;;) {
      while (ready.length === 0 && !failure && !(exhausted && !fetching)) await new Promise<void>((r) => (wake = r));
      if (ready.length === 0) {
        if (failure) throw failure.error;
        break; // exhausted
      }
      // One turn of the event loop first: a page that arrived while the last batch was stored
      // is read now, so the next request leaves before this batch (a few hundred ms of work
      // without I/O) and the relay prepares it meanwhile; without this the relay sat idle.
      await new Promise<void>((r) => setImmediate(r));
      // A batch joins the next page only when the thread has answered it (or it has no
      // ticket): a page still with the thread waits for the next batch rather than being taken
      // from it now (the first page of a pull is opened here while the thread loads; the second
      // is then usually the thread's by the next batch).
      const pages = [ready.shift()!];
      while (pages.length < PAGES_PER_BATCH && ready.length > 0 && (ready[0]!.outer?.done?.() ?? true)) pages.push(ready.shift()!);
      pump();
      const items: PulledItem[] = [];
      // Pages the thread has not started on (it still loads, or is behind): this thread opens them.
      for (const pg of pages) pg.outer?.take();
      for (const pg of pages) {
        const opened = await pg.outer?.result;
        if (opened?.outer.length === pg.items.length) {
          pg.items.forEach((item, i) => {
            const a = opened.ahead[i];
            items.push(a ? { eid: item.eid, env: item.env, outer: opened.outer[i], ahead: a } : { eid: item.eid, env: item.env, outer: opened.outer[i] });
          });
        } else items.push(...pg.items);
      }
      if (items.length === 0) continue;
      const r = await processBatch(items, (eids) => ackAll(c, eids), later);
      total.messages.push(...r.messages);
      total.groups.push(...r.groups);
      total.quarantined.push(...r.quarantined.filter((q) => q.isNew));
      total.duplicates += r.duplicates;
      total.quarantineDropped += r.quarantineDropped;
      total.ignored += r.ignored;
      total.ackEids.push(...r.ackEids);
      if (later.length > MAX_LATER) await settle();
    }
  } finally {
    stopped = true;
    await Promise.allSettled(later);
    await ahead?.close();
  }
  await settle();
  return total;
}

/** Acks any number of envelope ids, MAX_ACK_EIDS per frame (all frames leave at once). */
function ackAll(c: RelayClient, eids: string[]): Promise<unknown> {
  if (eids.length <= MAX_ACK_EIDS) return c.ack(eids);
  const parts: Promise<number>[] = [];
  for (let i = 0; i < eids.length; i += MAX_ACK_EIDS) parts.push(c.ack(eids.slice(i, i + MAX_ACK_EIDS)));
  return Promise.all(parts);
}
