/**
 * Sending what waits in the outbox, for a Messenger (docs/PROTOCOL.md §8.1 `outbox`): its
 * pipelines (src/client/send-pipeline.ts), paced per connection below the rates the relay
 * announced, the flush of what is due, and the timing of the receipts we send.
 *
 * Receipts we send wait in the outbox until their random "not before" time (receiptDelay):
 * pull sends only those already due and leaves the rest for a later command; listen (and chat)
 * sends each one when its time passes (sendDueReceipts, on listen's timer, after any batch in
 * progress). This module remembers the earliest such time it knows of.
 */
import { toHex } from '../protocol/encoding.js';
import type { Messenger } from './messenger.js';
import type { DrainResult, QueuedMessage } from './messenger-types.js';
import { dueOutbox } from './outbox.js';
import type { RelayClient } from './relay-client.js';
import { SendPacer, SendPipeline } from './send-pipeline.js';

export class OutboxSender {
  /** The earliest "not before" time of a receipt known to wait in the outbox (listen sends it then). */
  private receiptDue: number | undefined;
  private readonly pacers = new WeakMap<RelayClient, SendPacer>();

  constructor(
    private readonly m: Messenger,
    /** Sends in flight at most per pipeline. */
    private readonly window: number,
    private readonly now: () => number,
  ) {}

  /** A pipelined sender on the current connection (see SendPipeline). */
  pipeline(completeAtDrain: boolean): SendPipeline {
    return new SendPipeline(this.m, this.window, completeAtDrain);
  }

  /**
   * Waits for this send's turn below the relay's announced rates (SendPacer, per connection).
   * @internal used by SendPipeline
   */
  pace(c: RelayClient): Promise<void> {
    let p = this.pacers.get(c);
    if (!p) {
      const l = c.hello.limits;
      const rate = Math.min(l.sendRatePerConn ?? Infinity, l.sendRatePerIdentity ?? Infinity);
      this.pacers.set(c, (p = new SendPacer(Number.isFinite(rate) && rate > 0 ? rate : 1e9)));
    }
    return p.take();
  }

  /** @internal used by SendPipeline: the Messenger's 'sent' event (not for receipts and tokens). */
  reportSent(q: QueuedMessage): void {
    if (q.control) return;
    this.m.emit('sent', { to: q.to, id: toHex(q.msgId), time: q.time, eid: q.eid, fromOutbox: q.fromOutbox, sealed: q.sealed === true, protocol: q.envelope[0] ?? 1 });
  }

  /** A receipt waits in the outbox until `notBefore`: listen's timer sends it then. */
  receiptAt(notBefore: number): void {
    this.receiptDue = Math.min(this.receiptDue ?? Infinity, notBefore);
  }

  /**
   * Sends everything waiting in the outbox (oldest first, pipelined), except receipts whose
   * "not before" time (their created_at) has not come yet; `receiptsOnly` sends only the due
   * receipts. Never throws for refusals.
   */
  async flush(receiptsOnly: boolean): Promise<DrainResult> {
    const { go, nextReceipt } = dueOutbox(this.m.store, this.now(), receiptsOnly);
    if (nextReceipt !== undefined) this.receiptDue = Math.min(this.receiptDue ?? Infinity, nextReceipt);
    if (go.length === 0) return { sent: 0, failed: [] };
    const pipe = this.pipeline(false);
    for (const q of go) await pipe.submit(q);
    return pipe.drain();
  }

  /** Sends the receipts whose time has come (listen's timer), after any batch in progress. */
  sendDueReceipts(): void {
    if (this.receiptDue === undefined || this.receiptDue > this.now() || !this.m.connections.open) return;
    this.receiptDue = undefined; // recomputed by the flush
    const run = async (): Promise<void> => {
      await this.flush(true).catch(() => undefined); // failures stay in the outbox
    };
    void this.m.serialise(run);
  }

  /** Sends the receipts of `list` that are due now; remembers when the others are. */
  async sendDue(list: readonly (QueuedMessage & { notBefore: number })[]): Promise<DrainResult> {
    const now = this.now();
    const due = list.filter((q) => q.notBefore <= now);
    for (const q of list) if (q.notBefore > now) this.receiptDue = Math.min(this.receiptDue ?? Infinity, q.notBefore);
    return due.length > 0 ? this.sendQueued(due) : { sent: 0, failed: [] };
  }

  /** Sends already-queued envelopes now (best effort: what fails stays in the outbox). */
  async sendQueued(list: readonly QueuedMessage[]): Promise<DrainResult> {
    const pipe = this.pipeline(false);
    for (const q of list) await pipe.submit(q);
    return pipe.drain();
  }
}
