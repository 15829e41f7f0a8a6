/**
 * The daemon's shared sender: every `send` a client asks for (JSON-RPC `send`, `hush send`
 * handed over with cli.run) goes through ONE long-lived Messenger with its own store connection
 * and relay connections, opened once and kept open. Requests that arrive while a batch is on
 * its way wait for the next batch; a batch is:
 *
 *   1. each distinct recipient resolved once (pinned or looked up, its v2 session checked),
 *      the notes this causes (pinned, protocol, routed) kept for the requests to print;
 *   2. the outbox flushed (older messages go first, as with `hush send`); what it sent is
 *      reported to the batch's first request;
 *   3. every request's messages sealed and stored (history + outbox) in ONE store transaction,
 *      in arrival order: per recipient the send times increase in the order requests came;
 *   4. all of them submitted to one pipeline on the open connection, in that order; once the
 *      relay answered every one, each request answered with what the relay accepted (or
 *      refused) while their completions are committed in ONE transaction (not one per tick of
 *      answers: each commit is an fsync on the event loop); the batch ends after that commit
 *      (src/client/send-pipeline.ts, completeAtDrain).
 *
 * Exactly-once is the outbox's, as for every send: a message is in the outbox (committed)
 * before the relay sees it and leaves it only once the relay accepted it, so a daemon killed at
 * any point leaves each message either accepted or waiting in the outbox for the next command.
 * Batches run one at a time, so a batch's outbox flush never sees messages of a batch in flight.
 *
 * After a connection failure the session is closed and the next batch opens a new one (a
 * Messenger remembers a failed connect; a daemon outlives relay restarts).
 */
import type { BatchSender, BatchSendResult, CommandContext } from '../cli/commands/index.js';
import { resolveRelay } from '../store/config.js';
import { printSendNote, relayTimeoutMs, type SendNote, type Session, tokenLifetimeMs } from '../cli/messaging.js';
import type { Output } from '../cli/output.js';
import type { Contact } from '../store/db-codec.js';
import type { QueuedMessage, SendFailure, SentReport } from '../client/messenger.js';

/** Most requests in one batch (a larger backlog waits for the next one). */
export const MAX_BATCH_REQUESTS = 1024;

interface Request {
  name: string;
  texts: readonly string[];
  resolve: (r: BatchSendResult) => void;
  reject: (e: unknown) => void;
  sent: SentReport[];
  failed: SendFailure[];
  notes: SendNote[];
}

export class SendBatcher implements BatchSender {
  private queue: Request[] = [];
  private running = false;
  private session: Session | undefined;
  private opening: Promise<Session> | undefined;
  private closed = false;
  /** A connection failed: the next batch opens a new session. */
  private broken = false;
  /** Wakes the loop waiting for its last batch when a request comes. */
  private wake: (() => void) | undefined;
  private tokens: Promise<void> = Promise.resolve();

  constructor(private readonly open: () => Promise<Session>) {}

  send(name: string, texts: readonly string[]): Promise<BatchSendResult> {
    if (this.closed) return Promise.reject(new Error('the daemon is stopping'));
    return new Promise((resolve, reject) => {
      this.queue.push({ name, texts, resolve, reject, sent: [], failed: [], notes: [] });
      if (!this.running) void this.loop();
      else this.wake?.();
    });
  }

  printNote(out: Output, note: SendNote): void {
    if (this.session) printSendNote(out, this.session.m.store, note);
  }

  /** Waits for the batches in flight, then closes the session (daemon stop). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await new Promise((r) => setImmediate(r));
    const s = this.session ?? (await this.opening?.catch(() => undefined));
    this.session = undefined;
    await s?.close().catch(() => undefined);
  }

  /** The shared session (opened at the first send). */
  current(): Promise<Session> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= this.open()
      .then((s) => (this.session = s))
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async loop(): Promise<void> {
    this.running = true;
    let prev: Promise<void> | undefined; // the batch on its way to the relay
    try {
      for (;;) {
        await new Promise((r) => setImmediate(r)); // the requests of one burst join one batch
        if (this.queue.length === 0) {
          if (!prev) break;
          const p = prev;
          const settled = await Promise.race([p.then(() => true), new Promise<false>((r) => (this.wake = () => r(false)))]);
          this.wake = undefined;
          if (settled) prev = undefined;
          continue;
        }
        if (this.broken) {
          // A connection failed: the next batch gets a new session, once the last one is answered.
          await prev;
          prev = undefined;
          this.broken = false;
          await this.reset();
        }
        const batch = this.queue.splice(0, MAX_BATCH_REQUESTS);
        let sent: Promise<void>;
        try {
          sent = (await this.start(batch, prev === undefined)).done;
        } catch (e) {
          for (const r of batch) r.reject(e); // the session could not be opened, or a store failure
          this.broken = true;
          continue;
        }
        // Two batches at most: this one sealed and stored while the one before is on its way.
        await prev;
        prev = sent;
      }
    } finally {
      this.running = false;
    }
  }

  private async reset(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.close().catch(() => undefined);
  }

  /**
   * Resolves, seals and stores the batch and starts sending it; resolves with the promise of
   * its end (`done`: every request answered; it never rejects). `flush`: no batch is in flight, so the
   * outbox holds only older messages: send them first.
   */
  private async start(batch: Request[], flush: boolean): Promise<{ done: Promise<void> }> {
    const s = await this.current();
    const m = s.m;
    // 1. Recipients, once each; a name that fails fails only its requests.
    const contacts = new Map<string, Contact | { error: unknown }>();
    const notes = new Map<string, SendNote[]>();
    for (const r of batch) {
      if (contacts.has(r.name)) continue;
      const got: SendNote[] = [];
      const onProtocol = (e: SendNote['e']): number => got.push({ kind: 'protocol', e } as SendNote);
      const onRouted = (e: SendNote['e']): number => got.push({ kind: 'routed', e } as SendNote);
      const onPinned = (e: SendNote['e']): number => got.push({ kind: 'pinned', e } as SendNote);
      m.on('protocol', onProtocol);
      m.on('routed', onRouted);
      m.on('pinned', onPinned);
      try {
        const c = await m.resolveRecipient(r.name);
        await m.prepareSend(c);
        contacts.set(r.name, c);
      } catch (e) {
        contacts.set(r.name, { error: e });
      } finally {
        m.off('protocol', onProtocol);
        m.off('routed', onRouted);
        m.off('pinned', onPinned);
      }
      notes.set(r.name, got);
    }
    const live = batch.filter((r) => {
      r.notes = notes.get(r.name) ?? [];
      const c = contacts.get(r.name)!;
      if ('error' in c) {
        r.reject(c.error);
        return false;
      }
      return true;
    });
    if (live.length === 0) return { done: Promise.resolve() };

    const first = live[0]!;
    const byEid = new Map<string, Request>();
    const onSent = (e: SentReport): void => {
      const r = byEid.get(e.eid);
      if (r) r.sent.push(e);
      else if (!e.fromOutbox || !flush)
        return; // another batch's
      else first.sent.push(e);
    };
    m.on('sent', onSent);
    const failed: SendFailure[] = [];
    let pipe: ReturnType<typeof m.sendPipeline>;
    try {
      // 2. Older messages first.
      if (flush) failed.push(...(await m.flushOutbox()).failed);
      // 3. One transaction for the whole batch (queueMessages' own become savepoints).
      const queued: QueuedMessage[] = [];
      m.store.transaction(() => {
        for (const r of live) {
          if (r.texts.length === 0) continue;
          let qs: QueuedMessage[];
          try {
            qs = m.queueMessages(contacts.get(r.name) as Contact, r.texts); // its savepoint rolls back alone
          } catch (e) {
            r.reject(e);
            continue;
          }
          for (const q of qs) byEid.set(q.eid, r);
          queued.push(...qs);
        }
      });
      // 4. One pipeline, in order (submit resolves once each send has started).
      pipe = m.sendPipeline({ completeAtDrain: true }); // one completion commit per batch
      for (const q of queued) await pipe.submit(q);
    } catch (e) {
      m.off('sent', onSent);
      throw e;
    }
    const done = (async (): Promise<void> => {
      try {
        const d = await pipe.drain();
        failed.push(...d.failed);
        for (const f of failed) (byEid.get(f.eid) ?? first).failed.push(f);
        if (failed.some((f) => CONNECTION_FAILURES.has(f.error.code))) this.broken = true;
        // A delivery token for a contact written to for the first time (one sync at a time).
        if (!this.broken) this.tokens = this.tokens.then(() => m.syncTokens()).catch(() => undefined);
        await this.tokens;
        // Receipts wait in the outbox too; only messages (with a history row) are counted, once
        // the accepted ones have left it.
        if (failed.length > 0) await pipe.committed;
        const kept = failed.length === 0 ? 0 : m.store.listOutbox().filter((e) => m.store.findMessage(e.msgId, 'out') !== undefined).length;
        // Answered now (the relay accepted every message); the completion commit runs meanwhile,
        // and this batch ends (the next one may flush the outbox) once it is done.
        for (const r of live) r.resolve({ notes: r.notes, sent: r.sent, failed: r.failed, kept, relayUrl: s.relay.url });
        await pipe.committed;
      } catch (e) {
        for (const r of live) r.reject(e);
        this.broken = true;
      } finally {
        m.off('sent', onSent);
      }
    })();
    return { done };
  }
}

const CONNECTION_FAILURES = new Set(['RELAY_CLOSED', 'RELAY_TIMEOUT', 'RELAY_UNREACHABLE', 'SHUTTING_DOWN', 'RELAY_PROTOCOL']);

/**
 * The daemon's `DaemonBackend.sender`: the shared sender, unless the command asks for other
 * relay settings (--relay, HUSH_RELAY, --relay-timeout, --token-lifetime; config.json as the
 * session read it). No file is read here: requests reach the batcher in the order they came.
 */
export function senderFor(batcher: SendBatcher, daemonCtx: CommandContext): (ctx: CommandContext) => Promise<BatchSender | undefined> {
  return async (ctx) => {
    try {
      const s = await batcher.current();
      const mine = resolveRelay(ctx.global.relay, ctx.env, s.relay.config);
      if (mine?.url !== s.relay.url) return undefined;
      if (relayTimeoutMs(ctx) !== relayTimeoutMs(daemonCtx) || tokenLifetimeMs(ctx) !== tokenLifetimeMs(daemonCtx)) return undefined;
    } catch {
      return undefined; // a bad setting, or no shared session: the direct path says what is wrong
    }
    return batcher;
  };
}
