/**
 * What a Messenger does with received mail (docs/ARCHITECTURE.md "hush pull"): a batch (pull
 * pages or pushes) is opened and stored in one transaction (processEnvelopes,
 * src/client/inbound.ts), what is new is shown through the Messenger's events
 * (src/client/shown-messages.ts), and only THEN is the batch acked and are the due delivered
 * receipts sent: a crash before the commit leaves the mail on the relay, never lost. Once the
 * user has seen messages, markRead marks them read and queues the read receipts.
 *
 * The Messenger serialises these (Messenger.serialise): one batch at a time, and the receipt
 * sends and store polls in between.
 */
import { RelayError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { fingerprint } from '../crypto/fingerprint.js';
import type { QuarantineLimits } from '../store/db.js';
import { processEnvelopes, type ProcessOptions, type ProcessResult, type ReceivedMessage } from './inbound.js';
import type { Messenger } from './messenger.js';
import type { MessengerOptions } from './messenger-types.js';
import type { PulledItem } from './pull-pages.js';
import { DEFAULT_PREKEY_POLICY } from './prekeys.js';
import { queueReadReceipts } from './receipts.js';
import { ShownMessages } from './shown-messages.js';

export class BatchReceiver {
  private readonly afterStore: (() => void) | undefined;
  private readonly quarantineLimits: QuarantineLimits | undefined;
  private readonly ratchetLimits: ProcessOptions['ratchetLimits'];
  /** How long a replaced signed prekey still starts sessions (the prekey policy's grace). */
  private readonly spkGraceMs: number;
  /** The incoming messages shown through the Messenger's events, and their rows. */
  readonly shown: ShownMessages;

  constructor(
    private readonly m: Messenger,
    o: MessengerOptions,
  ) {
    this.afterStore = o.afterStore;
    this.quarantineLimits = o.quarantineLimits;
    this.ratchetLimits = o.ratchetLimits;
    this.spkGraceMs = (o.prekeyPolicy ?? DEFAULT_PREKEY_POLICY).graceMs;
    this.shown = new ShownMessages(o.store, o.name, o.shownAfter ?? o.store.lastMessageRow());
  }

  /** Messenger.processBatch, once the batches before it are done. */
  async run(items: readonly PulledItem[], ack: boolean | ((eids: string[]) => Promise<unknown>), later?: Promise<unknown>[]): Promise<ProcessResult> {
    const m = this.m;
    const res = await processEnvelopes(m.store, m.identity, items, {
      myName: m.name,
      lookup: (signPk) => this.lookupSender(signPk),
      onPinned: (c) => m.emit('pinned', { name: c.label, fingerprint: fingerprint(c.signPk) }),
      cache: m.cache,
      now: m.now,
      random: m.random,
      relay: m.relay,
      deliveryReceipts: m.deliveryReceipts,
      receiptDelay: m.receiptDelay,
      pendingReceipts: m.pendingReceipts,
      requireForwardSecrecy: m.requireForwardSecrecy,
      ...(this.quarantineLimits ? { quarantineLimits: this.quarantineLimits } : {}),
      ...(this.ratchetLimits ? { ratchetLimits: this.ratchetLimits } : {}),
      spkGraceMs: this.spkGraceMs,
    });
    // Shown: every incoming message stored since the last batch, by this process or another
    // reader of the same home (a second listen or chat got the same push and stored it first).
    res.messages = this.shown.takeNew(res.stored && { ...res.stored, messages: res.messages });
    for (const msg of res.messages) m.emit('message', msg);
    if (res.quarantineDropped > 0) m.emit('quarantineFull', { dropped: res.quarantineDropped });
    for (const q of res.quarantined) if (q.isNew) m.emit('quarantined', q);
    for (const g of res.groups) m.emit('group', g);
    for (const t of res.typing) m.emit('typing', t);
    for (const r of res.receipts) {
      if (r.ids.length > 0) m.emit('receipt', r);
      if (r.ignored > 0) m.emit('receiptIgnored', { from: r.from, count: r.ignored });
    }
    if (items.length > 0) this.afterStore?.(); // committed and shown, not yet acked
    if (later) {
      // Store THEN ack: the commit above is done; the ack frame leaves before the receipts.
      const acked = typeof ack === 'function' ? ack(res.ackEids) : ack ? m.client().then((c) => c.ack(res.ackEids)) : Promise.resolve();
      later.push(acked);
      if (res.outgoing.length > 0) later.push(m.sender.sendDue(res.outgoing)); // not due yet, or failed: they wait in the outbox
      return res;
    }
    if (typeof ack === 'function') await ack(res.ackEids);
    else if (ack) await (await m.client()).ack(res.ackEids);
    if (res.outgoing.length > 0) await m.sender.sendDue(res.outgoing); // not due yet, or failed: they wait in the outbox
    return res;
  }

  /** Messenger.showStored: emits and returns the incoming messages stored since the last shown one. */
  showStored(): ReceivedMessage[] {
    const ms = this.shown.takeNew();
    for (const msg of ms) this.m.emit('message', msg);
    return ms;
  }

  /** Messenger.markRead: marks these read and queues the read receipts, sent once due (after any batch in progress). */
  async markRead(messages: readonly Pick<ReceivedMessage, 'id'>[], posts?: readonly Pick<ReceivedMessage, 'id'>[]): Promise<void> {
    if (messages.length === 0 && (posts?.length ?? 0) === 0) return;
    // Messages this Messenger showed are marked by their rows; others (chat's, a caller's copies) by id.
    const ids: Uint8Array[] = [];
    const rows: { row: number; msgId: Uint8Array }[] = [];
    for (const msg of messages) {
      const msgId = Uint8Array.from(Buffer.from(msg.id, 'hex'));
      const row = this.shown.rowOf(msg);
      if (row === undefined) ids.push(msgId);
      else rows.push({ row, msgId });
    }
    const postIds = posts?.map((msg) => Uint8Array.from(Buffer.from(msg.id, 'hex')));
    const queued = queueReadReceipts(this.m.store, this.m.sealContext(), ids, this.m.readReceipts, postIds, rows);
    if (queued.length === 0) return;
    const run = async (): Promise<void> => {
      await this.m.sender.sendDue(queued).catch(() => undefined);
    };
    await this.m.serialise(run);
  }

  /** The key bundle of an unknown sender, from the relay's directory (undefined: nobody has that key). */
  private async lookupSender(signPk: Uint8Array): Promise<Bundle | undefined> {
    try {
      return await (await this.m.client()).lookup({ signPk });
    } catch (e) {
      if (e instanceof RelayError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }
}
