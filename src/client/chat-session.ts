/**
 * The logic of `hush chat NAME` (no printing: src/cli/commands/chat.ts draws it). One
 * conversation with one contact on top of a Messenger:
 *
 *   const chat = new ChatSession(messenger, 'bob');
 *   chat.on('change', () => redraw(chat.view()));
 *   await chat.start();              // resolves the contact (TOFU / key change), starts listening
 *   await chat.send('hello');        // queued (history + outbox) first, then sent; ticks follow
 *   chat.typing(line);               // call on each keypress: at most one typing envelope / 2 s
 *   await chat.stop();
 *
 * - Incoming messages from the contact are shown and marked read (read receipts unless off);
 *   messages from others are stored as usual and noted in one line.
 * - Outgoing status: queued -> sent ('sent' event) -> delivered / read (receipts).
 * - Typing: ephemeral envelopes of kind `typing` (never stored by the relay), sent at most
 *   once per TYPING_SEND_MS while the user types, and only to a contact whose delivery token
 *   we hold (the relay refuses identified ephemerals); an incoming one shows for TYPING_SHOW_MS.
 *   A flood only extends that deadline: the view changes when the indicator turns on or off,
 *   never once per envelope.
 * - Connection: Messenger.listen reconnects with backoff; queued messages go out on reconnect.
 * - Trust: a contact whose key changed ('changed') cannot be written to (TrustError
 *   KEY_CHANGED); the state is part of the view.
 */
import { EventEmitter } from 'node:events';
import { isHushError, RelayError, TrustError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import { MSG_ID_BYTES } from '../protocol/envelope.js';
import { fingerprint, safetyNumber } from '../crypto/fingerprint.js';
import { randomBytes } from '../crypto/nacl.js';
import type { Contact, MessageStatus, StoredMessage } from '../store/db.js';
import { type Messenger, type ReceivedMessage } from './messenger.js';
import { TypingIndicator } from './typing-indicator.js';

export const TYPING_SEND_MS = 2000;
export const TYPING_SHOW_MS = 4000;
/** Lines kept in the transcript (older ones scroll away). */
export const TRANSCRIPT_MAX = 500;

/** Appends `e` to a transcript and its index of messages by id, dropping the oldest past TRANSCRIPT_MAX. */
export function appendEntry(entries: Entry[], byId: Map<string, Entry>, e: Entry): void {
  entries.push(e);
  if (e.t === 'msg') byId.set(e.id, e);
  while (entries.length > TRANSCRIPT_MAX) {
    const old = entries.shift()!;
    if (old.t === 'msg') byId.delete(old.id);
  }
}

export type TrustState = 'verified' | 'unverified' | 'changed';
export type Connection = 'connecting' | 'connected' | 'reconnecting';

export type Entry =
  { t: 'msg'; id: string; dir: 'in' | 'out'; who: string; time: number; body: string; status: MessageStatus; backlog?: true } | { t: 'note'; text: string; level: 'info' | 'warn' };

export interface ChatView {
  peer: string;
  me: string;
  trust: TrustState;
  connection: Connection;
  /** The peer is typing (an indicator shown for TYPING_SHOW_MS after the last envelope). */
  peerTyping: boolean;
  entries: readonly Entry[];
}

export interface ChatEvents {
  change: [];
  /** listen() stopped for a reason a retry cannot fix. */
  fatal: [Error];
}

export interface ChatOptions {
  now?: () => number;
  /** Messages from the history shown when the chat opens (default 10). */
  backlog?: number;
}

const lossy = new TextDecoder('utf-8');
const bodyText = (m: StoredMessage): string => (typeof m.body === 'string' ? m.body : lossy.decode(m.body));

export class ChatSession extends EventEmitter<ChatEvents> {
  private contact!: Contact;
  private readonly entries: Entry[] = [];
  private readonly byId = new Map<string, Extract<Entry, { t: 'msg' }>>();
  private connection: Connection = 'connecting';
  private readonly indicator = new TypingIndicator(
    () => this.now(),
    TYPING_SHOW_MS,
    () => this.emit('change'),
  );
  private lastTypingSent = 0;
  private readonly ac = new AbortController();
  private listening: Promise<void> | undefined;
  private toMarkRead: ReceivedMessage[] = [];
  private readonly now: () => number;
  private readonly backlog: number;
  private othersNoted = new Set<string>();

  constructor(
    readonly m: Messenger,
    readonly peer: string,
    o: ChatOptions = {},
  ) {
    super();
    this.now = o.now ?? Date.now;
    this.backlog = o.backlog ?? 10;
  }

  /**
   * Resolves the contact (pins on first use; a changed key is recorded and shown, not thrown),
   * shows the last messages and starts listening. Throws UsageError UNKNOWN_RECIPIENT, or a
   * RelayError when the relay is unreachable and the name is not pinned.
   */
  async start(): Promise<void> {
    try {
      this.contact = await this.m.resolveRecipient(this.peer);
    } catch (e) {
      const pinned = this.m.store.findContactByLabel(this.peer);
      if (!(e instanceof TrustError && e.code === 'KEY_CHANGED') || !pinned) throw e;
      this.contact = pinned;
    }
    if (this.contact.state !== 'changed') await this.m.prepareSend(this.contact).catch((e: unknown) => (e instanceof RelayError ? false : Promise.reject(e)));
    const recent = this.m.store.history({ contactId: this.contact.id, limit: this.backlog });
    for (const msg of recent) this.push({ ...this.entryOf(msg), backlog: true });
    const unread = recent.filter((r) => r.direction === 'in' && r.status === 'received');
    if (unread.length > 0) this.readLater(unread.map((r) => ({ id: toHex(r.msgId) }) as ReceivedMessage));

    this.m.on('message', (msg) => this.onMessage(msg));
    this.m.on('sent', (s) => this.setStatus([s.id], 'sent'));
    this.m.on('receipt', (r) => {
      if (r.from === this.contact.label) this.setStatus(r.ids, r.type);
    });
    this.m.on('typing', (t) => this.onTyping(t.from));
    this.m.on('quarantined', (q) => {
      if (q.isNew)
        this.note(
          `a message${q.claimedName ? ` claiming to be from ${q.claimedName}` : ''} was not shown (${q.reason.toLowerCase().replace(/_/g, ' ')}); kept in quarantine`,
          'warn',
        );
      if (q.reason === 'KEY_CHANGED' && q.claimedName === this.contact.label) this.refreshContact();
    });
    this.m.on('state', (st) => {
      this.connection = st.state === 'disconnected' ? 'reconnecting' : 'connected';
      this.emit('change');
    });
    this.listening = this.m.listen(this.ac.signal).catch((e: unknown) => {
      if (!this.ac.signal.aborted) this.emit('fatal', e instanceof Error ? e : new Error(String(e)));
    });
  }

  view(): ChatView {
    return {
      peer: this.contact?.label ?? this.peer,
      me: this.m.name,
      trust: this.trust(),
      connection: this.connection,
      peerTyping: this.indicator.on,
      entries: this.entries,
    };
  }

  trust(): TrustState {
    if (!this.contact) return 'unverified';
    if (this.contact.state === 'changed') return 'changed';
    return this.contact.verified ? 'verified' : 'unverified';
  }

  /**
   * Queues the text (history + outbox, one transaction) and tries to send it now; when the
   * relay is away it stays queued and goes out on reconnect. Throws TrustError KEY_CHANGED for
   * a contact whose key changed, UsageError for an empty or too large message.
   */
  async send(text: string): Promise<void> {
    this.refreshContact();
    if (this.contact.state === 'changed') {
      throw new TrustError('KEY_CHANGED', `${this.contact.label}'s key has changed since you pinned it; nothing was sent`, {
        hint: `compare fingerprints (/verify), then run hush trust ${this.contact.label}`,
      });
    }
    const [q] = this.m.queueMessages(this.contact, [text]);
    this.push({ t: 'msg', id: toHex(q!.msgId), dir: 'out', who: this.m.name, time: q!.time, body: text, status: 'queued' });
    if (this.connection !== 'connected') return; // goes out with the outbox flush on reconnect
    const pipe = this.m.sendPipeline();
    await pipe.submit(q!);
    await pipe.drain(); // a failure leaves it queued (outbox)
  }

  /** Call on each keypress with the current input: sends a typing envelope at most every 2 s. */
  typing(line: string): void {
    if (line.trim() === '' || (line.startsWith('/') && !line.startsWith('//'))) return; // a command, not a message
    if (this.connection !== 'connected' || this.contact?.state === 'changed') return;
    const now = this.now();
    if (now - this.lastTypingSent < TYPING_SEND_MS) return;
    this.lastTypingSent = now;
    const env = this.m.seal(this.contact, { kind: 'typing', id: randomBytes(MSG_ID_BYTES), time: now, body: new Uint8Array(0) });
    void this.m.sendEphemeral(this.contact, env).catch(() => undefined); // best effort, never queued: a lost typing hint is harmless
  }

  /** The messages sent and received in this session (not the backlog shown at the start), oldest first. */
  sessionMessages(): Extract<Entry, { t: 'msg' }>[] {
    return this.entries.filter((e): e is Extract<Entry, { t: 'msg' }> => e.t === 'msg' && e.backlog !== true);
  }

  /** The last `n` messages with the contact, oldest first, as entries (for /history N). */
  history(n: number): Entry[] {
    return this.m.store.history({ contactId: this.contact.id, limit: n }).map((m) => this.entryOf(m));
  }

  /** Both fingerprints and the safety number (for /verify). */
  verifyInfo(): { me: string; myFingerprint: string; peer: string; fingerprint: string; safetyNumber: string; trust: TrustState; newFingerprint?: string } {
    this.refreshContact();
    const c = this.contact;
    return {
      me: this.m.name,
      myFingerprint: fingerprint(this.m.identity.signPk),
      peer: c.label,
      fingerprint: fingerprint(c.signPk),
      safetyNumber: safetyNumber(this.m.identity.signPk, c.signPk),
      trust: this.trust(),
      ...(c.pendingBundle ? { newFingerprint: fingerprint(c.pendingBundle.signPk) } : {}),
    };
  }

  /** Adds a note line to the transcript (not stored). */
  note(text: string, level: 'info' | 'warn' = 'info'): void {
    this.push({ t: 'note', text, level });
  }

  /** Stops listening and closes the connection (the store stays open: the caller owns it). */
  async stop(): Promise<void> {
    this.ac.abort();
    this.indicator.stop();
    await this.listening;
  }

  // --- internals -----------------------------------------------------------------------------

  private refreshContact(): void {
    const c = this.contact ? this.m.store.getContact(this.contact.id) : undefined;
    if (c) this.contact = c;
  }

  private entryOf(m: StoredMessage): Extract<Entry, { t: 'msg' }> {
    const out = m.direction === 'out';
    return { t: 'msg', id: toHex(m.msgId), dir: m.direction, who: out ? this.m.name : this.contact.label, time: m.time, body: bodyText(m), status: m.status };
  }

  private push(e: Entry): void {
    appendEntry(this.entries, this.byId, e);
    this.emit('change');
  }

  private onMessage(msg: ReceivedMessage): void {
    if (msg.from !== this.contact.label) {
      if (!this.othersNoted.has(msg.from)) this.note(`new message from ${msg.from} (see hush history ${msg.from})`);
      this.othersNoted.add(msg.from);
      return;
    }
    this.indicator.clear(); // the message they were typing arrived
    this.push({ t: 'msg', id: msg.id, dir: 'in', who: msg.from, time: msg.time, body: msg.body, status: 'read' });
    this.readLater([msg]);
  }

  /** Shown: one read receipt per batch (Messenger.markRead honours --no-read-receipts). */
  private readLater(msgs: ReceivedMessage[]): void {
    if (this.toMarkRead.push(...msgs) !== msgs.length) return;
    setImmediate(() => {
      const batch = this.toMarkRead;
      this.toMarkRead = [];
      this.m.markRead(batch).catch((e: unknown) => {
        if (!isHushError(e) || !(e instanceof RelayError)) this.note(`could not record the read state: ${(e as Error).message}`, 'warn');
      });
    });
  }

  private setStatus(ids: readonly string[], status: MessageStatus): void {
    const rank: Record<string, number> = { queued: 0, sent: 1, delivered: 2, read: 3 };
    let changed = false;
    for (const id of ids) {
      const e = this.byId.get(id);
      if (!e || e.dir !== 'out' || (rank[e.status] ?? 0) >= (rank[status] ?? 0)) continue;
      e.status = status;
      changed = true;
    }
    if (changed) this.emit('change');
  }

  private onTyping(from: string): void {
    if (from !== this.contact.label) return;
    this.indicator.seen();
  }
}
