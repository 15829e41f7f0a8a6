/**
 * Pipelined sends over a Messenger's connection (src/client/messenger.ts), in order.
 *
 * Order: messages to one recipient must reach the relay's mailbox in the order they were
 * queued (issue: `--lines` reordered under rate limits). The relay answers a send over its rate
 * with RATE_LIMITED and later frames of the same connection can still be accepted, so a refused
 * message retried later lands after them. The pipeline therefore paces itself below the rates the
 * relay announces in its hello (SendPacer: 90 % of the lower of the per-connection and
 * per-identity rates, a burst of half a second), so an honest sender is not refused; every send
 * takes its turn in submission order. A RATE_LIMITED that still happens (another process of the
 * same identity sending at once) is retried after a pause; receivers then still store and list
 * that sender's messages by their strictly increasing send times (docs/PROTOCOL.md §5.1).
 *
 * Sealed sender: an envelope to a contact whose delivery token we hold goes on the
 * messenger's unauthenticated connection with that token (docs/PROTOCOL.md §5.8). A refused
 * token (TOKEN_INVALID: expired or revoked; or a relay without tokens) is forgotten and the
 * same envelope is sent again identified, which is what happens at first contact anyway.
 */
import { DataError, HushError, RelayError } from '../errors.js';
import type { Messenger, QueuedMessage, SendFailure, DrainResult } from './messenger.js';

const RETRYABLE_SEND = new Set(['RATE_LIMITED']);
/** Connection-level failures: give up on this connection (the rest stays in the outbox). */
export const CONNECTION_CODES = new Set(['RELAY_CLOSED', 'RELAY_TIMEOUT', 'RELAY_UNREACHABLE', 'SHUTTING_DOWN', 'RELAY_PROTOCOL']);

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Share of the relay's announced send rate a client uses. */
export const PACE_SHARE = 0.9;
/** Burst allowed, in seconds of the paced rate (the relay's buckets hold one second). */
export const PACE_BURST_S = 0.5;

/**
 * GCRA pacing (a token bucket in virtual time): each take() gets the earliest time it may send,
 * in call order, and resolves then. Callers resolve in the order they called.
 */
export class SendPacer {
  private tat = 0;
  private gate: Promise<void> = Promise.resolve();
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(ratePerSecond: number, now: () => number = Date.now) {
    this.now = now;
    this.interval = 1000 / Math.max(1, ratePerSecond * PACE_SHARE);
    this.tolerance = Math.max(0, ratePerSecond * PACE_SHARE * PACE_BURST_S - 1) * this.interval;
  }

  private readonly now: () => number;

  take(): Promise<void> {
    const now = this.now();
    this.tat = Math.max(this.tat, now);
    const at = Math.max(now, this.tat - this.tolerance);
    this.tat += this.interval;
    if (at <= now) return this.gate;
    const p = this.gate.then(() => sleep(at - this.now()));
    this.gate = p;
    return p;
  }
}

/**
 * Pipelined sends over the messenger's connection: submit() starts at once while fewer than
 * `window` sends are in flight (else it waits for a slot); drain() waits for all. Each accepted
 * envelope leaves the outbox and its message becomes 'sent' (completions are committed in small
 * transactions). RATE_LIMITED is retried after a pause; a refusal leaves the message in the
 * outbox and is reported by drain(); after a connection failure the rest is not tried. Refusals
 * (MAILBOX_FULL, UNKNOWN_RECIPIENT: the relay knows no such key, STORE_FULL, ...) are not retried
 * here: the message is tried again once by the next send, pull or listen (README, hush send). A
 * receipt refused UNKNOWN_RECIPIENT is dropped instead (drop()).
 */
export class SendPipeline {
  private inflight = 0;
  private readonly slots: (() => void)[] = [];
  private readonly tasks: Promise<void>[] = [];
  private readonly failed: SendFailure[] = [];
  private sent = 0;
  private broken: RelayError | undefined;
  private pauseUntil = 0;
  private completions: QueuedMessage[] = [];
  private completing: Promise<void> | undefined;
  private readonly tokens = new Map<number, Uint8Array | undefined>();

  /**
   * `completeAtDrain` (the daemon's shared sender, src/daemon/send-batcher.ts): the completions
   * are committed once per drain() instead of after each tick of answers (every commit is an
   * fsync on the event loop), and drain() reports them ('sent') and returns BEFORE that commit,
   * which starts on the next turn of the event loop: the owner answers its clients (the relay
   * accepted every message) while the commit runs, and awaits `committed` before anything else
   * reads the outbox. Exactly-once is unchanged: a message accepted but not yet completed stays
   * in the outbox, as it does between the relay's answer and the commit on the direct path,
   * and a crash there sends it again, which the receiver drops as a duplicate.
   */
  constructor(
    private readonly m: Messenger,
    private readonly window: number,
    private readonly completeAtDrain = false,
  ) {}

  /** completeAtDrain: the commit drain() started (rejects when it failed: the messages stay in the outbox). */
  committed: Promise<void> = Promise.resolve();

  /** Resolves once the send has STARTED (back-pressure for streaming input). */
  async submit(q: QueuedMessage): Promise<void> {
    while (this.inflight >= this.window) await new Promise<void>((r) => this.slots.push(r));
    this.inflight++;
    const t = this.sendOne(q).finally(() => {
      this.inflight--;
      this.slots.shift()?.();
    });
    this.tasks.push(t);
  }

  async drain(): Promise<DrainResult> {
    while (this.tasks.length > 0) await Promise.all(this.tasks.splice(0));
    if (this.completeAtDrain) {
      const batch = this.completions;
      this.completions = [];
      this.report(batch);
      if (batch.length > 0) {
        this.committed = new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            try {
              this.commit(batch);
              resolve();
            } catch (e) {
              reject(e instanceof Error ? e : new Error(String(e)));
            }
          }),
        );
        this.committed.catch(() => undefined); // the owner awaits it
      }
      return { sent: this.sent, failed: [...this.failed] };
    }
    await this.flushCompletions();
    return { sent: this.sent, failed: [...this.failed] };
  }

  /**
   * The delivery token for q's contact, read from the store once per pipeline (a read decrypts
   * a record: it was 8% of a `send --lines`), dropped when the relay refuses it. A token that
   * expires during the pipeline is refused like any other and the message goes identified.
   */
  private tokenFor(q: QueuedMessage): Uint8Array | undefined {
    if (!this.tokens.has(q.contactId)) this.tokens.set(q.contactId, this.m.tokens.tokenFor(q.contactId));
    return this.tokens.get(q.contactId);
  }

  private async sendOne(q: QueuedMessage): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.broken) return this.fail(q, this.broken, false);
      const wait = this.pauseUntil - Date.now();
      if (wait > 0) await sleep(wait);
      const token = this.tokenFor(q);
      try {
        const c = token ? await this.m.anonClient() : await this.m.client();
        await this.m.sender.pace(c); // in submission order, below the relay's announced rates
        await c.send(q.toSignPk, q.envelope, token ? { token } : {});
        q.sealed = token !== undefined;
        this.completions.push(q);
        this.scheduleCompletions();
        return;
      } catch (e) {
        const err = e instanceof HushError ? e : new DataError('SEND_FAILED', String((e as Error)?.message ?? e));
        if (token && err instanceof RelayError && this.m.tokens.refused(q.contactId, err.code)) {
          this.tokens.delete(q.contactId);
          continue; // the same envelope, identified
        }
        if (err instanceof RelayError && RETRYABLE_SEND.has(err.code) && attempt < 200) {
          this.pauseUntil = Math.max(this.pauseUntil, Date.now() + 100 + Math.min(attempt, 10) * 50);
          continue;
        }
        if (err instanceof RelayError && CONNECTION_CODES.has(err.code)) this.broken ??= err;
        if (q.control && err instanceof RelayError && err.code === 'UNKNOWN_RECIPIENT') return this.drop(q);
        return this.fail(q, err, true);
      }
    }
  }

  /**
   * A receipt to a key the relay does not know (the sender wrote through a relay it is not
   * registered on) can never be delivered there: receipts are best effort, so it leaves the
   * outbox instead of being retried by every later command.
   */
  private drop(q: QueuedMessage): void {
    try {
      this.m.store.removeOutbox(q.eid);
    } catch {
      // left in the outbox: tried again later, which is harmless
    }
  }

  private fail(q: QueuedMessage, error: HushError, bump: boolean): void {
    if (bump) {
      try {
        this.m.store.bumpAttempts(q.eid);
      } catch {
        // counting attempts is best effort
      }
    }
    this.failed.push({ eid: q.eid, to: q.to, error });
  }

  private scheduleCompletions(): void {
    if (this.completing || this.completeAtDrain) return;
    this.completing = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.completing = undefined;
        this.flushCompletionsSync();
        resolve();
      }),
    );
  }

  private flushCompletionsSync(): void {
    const batch = this.completions;
    this.completions = [];
    if (batch.length === 0) return;
    this.commit(batch);
    this.report(batch);
  }

  private commit(batch: readonly QueuedMessage[]): void {
    this.m.store.completeOutboxMany(batch.map((q) => q.eid));
  }

  private report(batch: readonly QueuedMessage[]): void {
    for (const q of batch) {
      if (!q.control) this.sent++; // receipts are not counted as messages
      this.m.sender.reportSent(q);
    }
  }

  private async flushCompletions(): Promise<void> {
    if (this.completing) await this.completing;
    this.flushCompletionsSync();
  }
}
