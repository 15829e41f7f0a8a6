/**
 * The logic of `hush chat @NAME` (issue 14): the interactive chat of src/client/chat-session.ts
 * for a group, with the same view and calls, so src/cli/commands/chat.ts draws either.
 *
 * - Shown: the group's posts as `bob: text` (the backlog from the store, then what arrives),
 *   membership changes as notes (`alice added dave`); posts shown are marked read, and read
 *   receipts go to their authors under the pair rules (Messenger.markRead, §10.6). Messages and
 *   posts of other conversations are stored as usual and noted once per conversation.
 * - Sent: a post to the group (postToGroup: sealed once per member, queued in one transaction,
 *   then sent); a member whose key changed is left out with a note. The tick of a post of ours
 *   is the least advanced of its copies (`✓✓ delivered` once every member's client stored it,
 *   read once every member showed it).
 * - Typing: to each member whose delivery token we hold (the relay refuses typing without one),
 *   at most once per TYPING_SEND_MS; a typing envelope from a member shows `NAME is typing…`
 *   (a typing envelope names no conversation: a member typing to us alone shows too).
 * - Trust in the header: `KEY CHANGED` when any member's key changed, `verified` when every
 *   member is, else `unverified`.
 */
import { EventEmitter } from 'node:events';
import { isHushError, RelayError } from '../errors.js';
import { bytesEqual, toHex } from '../protocol/encoding.js';
import { MSG_ID_BYTES } from '../protocol/envelope.js';
import { randomBytes } from '../crypto/nacl.js';
import type { CopyStatus, StoredPost } from '../store/db-groups.js';
import type { MessageStatus } from '../store/db.js';
import { TypingIndicator } from './typing-indicator.js';
import { appendEntry, type ChatEvents, type ChatView, type Connection, type Entry, TYPING_SEND_MS, TYPING_SHOW_MS, type TrustState } from './chat-session.js';
import { heldToken } from './delivery-tokens.js';
import { MessengerGroupSender } from './group-sender.js';
import { findGroup, fold, type GroupEvent, memberName, postToGroup } from './groups.js';
import type { Messenger, ReceivedMessage } from './messenger.js';

type Msg = Extract<Entry, { t: 'msg' }>;
const VERB = { create: 'created the group', add: 'added', remove: 'removed', leave: 'left' } as const;
const RANK: Record<CopyStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3 };

/** The tick of a post of ours: the least advanced of its copies (`sent` when it had none). */
export function postStatus(copies: readonly { status: CopyStatus }[]): MessageStatus {
  if (copies.length === 0) return 'sent';
  return copies.reduce<CopyStatus>((lo, c) => (RANK[c.status] < RANK[lo] ? c.status : lo), 'read');
}

export class GroupChatSession extends EventEmitter<ChatEvents> {
  private readonly label: string;
  private readonly entries: Entry[] = [];
  private readonly byId = new Map<string, Msg>();
  /** Post rows of our posts in the transcript, by post id (hex): their ticks are read from the store. */
  private readonly ours = new Map<string, number>();
  private connection: Connection = 'connecting';
  private readonly indicator = new TypingIndicator(
    () => this.now,
    TYPING_SHOW_MS,
    () => this.emit('change'),
  );
  private lastTypingSent = 0;
  private readonly ac = new AbortController();
  private listening: Promise<void> | undefined;
  private toMarkRead: Pick<ReceivedMessage, 'id'>[] = [];
  private readonly othersNoted = new Set<string>();

  constructor(
    readonly m: Messenger,
    peer: string,
    private readonly o: { now?: () => number; backlog?: number } = {},
  ) {
    super();
    this.label = peer.replace(/^@/, '');
  }

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  private me(): { signPk: Uint8Array; name: string } {
    return { signPk: this.m.identity.signPk, name: this.m.name };
  }

  /** The group (UsageError UNKNOWN_GROUP / BAD_GROUP_NAME, exit 2), its last posts, then listening. */
  async start(): Promise<void> {
    const g = findGroup(this.m.store, this.label);
    const posts = this.m.store.groups.posts(g.row, this.o.backlog ?? 10);
    for (const p of posts) this.push({ ...this.entryOf(p), backlog: true });
    const unread = posts.filter((p) => p.direction === 'in' && !p.read).map((p) => ({ id: toHex(p.postId) }));
    if (unread.length > 0) this.readLater(unread);
    if (g.left) this.note(`you are no longer a member of @${g.label}: nothing can be sent to it`, 'warn');

    this.m.on('group', (e) => this.onGroup(e));
    this.m.on('message', (msg) => this.noteOther(msg.from, `new message from ${msg.from} (see hush history ${msg.from})`));
    this.m.on('receipt', () => this.refreshTicks());
    this.m.on('typing', (t) => this.onTyping(t.from));
    this.m.on('quarantined', (q) => {
      if (q.isNew) this.note(`a message${q.claimedName ? ` from ${q.claimedName}` : ''} was not shown (${q.reason}); kept in quarantine`, 'warn');
    });
    this.m.on('state', (st) => {
      this.connection = st.state === 'disconnected' ? 'reconnecting' : 'connected';
      this.refreshTicks(); // the outbox went out on (re)connect
      this.emit('change');
    });
    this.listening = this.m.listen(this.ac.signal).catch((e: unknown) => {
      if (!this.ac.signal.aborted) this.emit('fatal', e instanceof Error ? e : new Error(String(e)));
    });
  }

  view(): ChatView & { typingWho?: string } {
    const typing = this.indicator.on;
    const who = this.indicator.who;
    return {
      peer: `@${this.label}`,
      me: this.m.name,
      trust: this.trust(),
      connection: this.connection,
      peerTyping: typing,
      ...(typing && who ? { typingWho: who } : {}),
      entries: this.entries,
    };
  }

  trust(): TrustState {
    const g = this.m.store.groups.byLabel(this.label);
    if (!g) return 'unverified';
    const others = [...fold(g.log).members.values()].filter((x) => !bytesEqual(x.signPk, this.m.identity.signPk));
    const contacts = others.map((x) => this.m.store.findContactBySignPk(x.signPk));
    if (contacts.some((c) => c?.state === 'changed')) return 'changed';
    return contacts.length > 0 && contacts.every((c) => c?.verified) ? 'verified' : 'unverified';
  }

  /** Posts `text` to the group: every copy queued first, then sent now when connected. */
  async send(text: string): Promise<void> {
    const sender = new MessengerGroupSender(this.m);
    const fan = await postToGroup(this.m.store, sender, { me: this.me(), random: randomBytes, now: () => this.now }, this.label, text);
    for (const x of fan.excluded) {
      this.note(
        x.reason === 'KEY_CHANGED'
          ? `${x.name} was left out: their key changed (hush verify ${x.name}, then hush trust ${x.name})`
          : `${x.name} was left out: the relay knows no key for them`,
        'warn',
      );
    }
    const g = findGroup(this.m.store, this.label);
    const row = this.m.store.groups.posts(g.row, 50).find((p) => p.direction === 'out' && toHex(p.postId) === fan.id)?.row;
    if (row !== undefined) this.ours.set(fan.id, row);
    this.push({ t: 'msg', id: fan.id, dir: 'out', who: this.m.name, time: this.now, body: text, status: 'queued' });
    if (this.connection !== 'connected' || sender.queued.length === 0) return this.refreshTicks(); // the outbox goes out on reconnect
    const pipe = this.m.sendPipeline();
    for (const q of sender.queued) await pipe.submit(q);
    await pipe.drain(); // a failure leaves the copy in the outbox
    this.refreshTicks();
  }

  /** Call on each keypress: a typing envelope to each member whose token we hold, at most every 2 s. */
  typing(line: string): void {
    if (line.trim() === '' || (line.startsWith('/') && !line.startsWith('//'))) return;
    if (this.connection !== 'connected') return;
    const now = this.now;
    if (now - this.lastTypingSent < TYPING_SEND_MS) return;
    this.lastTypingSent = now;
    const g = this.m.store.groups.byLabel(this.label);
    if (!g || g.left) return;
    for (const x of fold(g.log).members.values()) {
      const c = this.m.store.findContactBySignPk(x.signPk);
      if (!c || c.state === 'changed' || !heldToken(this.m.store, c.id, this.m.relay, now)) continue; // no token: the relay would refuse it
      const env = this.m.seal(c, { kind: 'typing', id: randomBytes(MSG_ID_BYTES), time: now, body: new Uint8Array(0) });
      void this.m.sendEphemeral(c, env).catch(() => undefined); // best effort, never queued
    }
  }

  sessionMessages(): Msg[] {
    return this.entries.filter((e): e is Msg => e.t === 'msg' && e.backlog !== true);
  }

  /** The last `n` posts, oldest first (for /history N). */
  history(n: number): Entry[] {
    const g = findGroup(this.m.store, this.label);
    return this.m.store.groups.posts(g.row, n).map((p) => this.entryOf(p));
  }

  /** One line per member: name, trust, who added them (for /verify in a group). */
  memberLines(): string[] {
    const g = findGroup(this.m.store, this.label);
    return [...fold(g.log).members.values()].map((x) => {
      const mine = bytesEqual(x.signPk, this.m.identity.signPk);
      const c = mine ? undefined : this.m.store.findContactBySignPk(x.signPk);
      const trust = mine ? 'you' : !c ? 'not pinned' : c.state === 'changed' ? 'KEY CHANGED' : c.verified ? 'verified' : 'unverified';
      return `${memberName(this.m.store, x, this.me())}  ${trust}  added by ${memberName(this.m.store, { signPk: x.addedBy, name: '?' }, this.me())}`;
    });
  }

  note(text: string, level: 'info' | 'warn' = 'info'): void {
    this.push({ t: 'note', text, level });
  }

  async stop(): Promise<void> {
    this.ac.abort();
    this.indicator.stop();
    await this.listening;
  }

  // --- internals -----------------------------------------------------------------------------

  private entryOf(p: StoredPost): Msg {
    const out = p.direction === 'out';
    const id = toHex(p.postId);
    if (out) this.ours.set(id, p.row);
    const status: MessageStatus = out ? postStatus(this.m.store.groups.copies([p.row]).get(p.row) ?? []) : 'read';
    return { t: 'msg', id, dir: p.direction, who: memberName(this.m.store, { signPk: p.author, name: '?' }, this.me()), time: p.time, body: p.text, status };
  }

  private push(e: Entry): void {
    appendEntry(this.entries, this.byId, e);
    this.emit('change');
  }

  private onGroup(e: GroupEvent): void {
    if (e.group !== this.label) {
      this.noteOther(`@${e.group}`, `new in @${e.group} (see hush history @${e.group})`);
      return;
    }
    if (e.type === 'post') {
      this.indicator.clear(e.from); // the post they were typing arrived
      this.push({ t: 'msg', id: e.id, dir: 'in', who: e.from, time: e.time, body: e.text, status: 'read' });
      this.readLater([{ id: e.id }]);
      return;
    }
    this.note(`${e.from} ${VERB[e.op]}${e.targets.length > 0 ? ` ${e.targets.join(', ')}` : ''} (epoch ${e.epoch})`);
  }

  private noteOther(key: string, text: string): void {
    if (this.othersNoted.has(key)) return;
    this.othersNoted.add(key);
    this.note(text);
  }

  /** Shown: one read receipt per author per batch (Messenger.markRead honours --no-read-receipts). */
  private readLater(items: Pick<ReceivedMessage, 'id'>[]): void {
    if (this.toMarkRead.push(...items) !== items.length) return;
    setImmediate(() => {
      const batch = this.toMarkRead;
      this.toMarkRead = [];
      this.m.markRead(batch).catch((e: unknown) => {
        if (!isHushError(e) || !(e instanceof RelayError)) this.note(`could not record the read state: ${(e as Error).message}`, 'warn');
      });
    });
  }

  /** Re-reads the ticks of our posts in the transcript that are not read by everyone yet. */
  private refreshTicks(): void {
    let changed = false;
    const rows = [...this.ours.entries()].filter(([id]) => this.byId.get(id)?.status !== 'read');
    const copies = this.m.store.groups.copies(rows.map(([, row]) => row));
    for (const [id, row] of rows) {
      const e = this.byId.get(id);
      const s = postStatus(copies.get(row) ?? []);
      if (e && e.status !== s) {
        e.status = s;
        changed = true;
      }
    }
    if (changed) this.emit('change');
  }

  private onTyping(from: string): void {
    const g = this.m.store.groups.byLabel(this.label);
    const c = this.m.store.findContactByLabel(from);
    if (!g || !c || !fold(g.log).members.has(toHex(c.signPk))) return; // only members
    this.indicator.seen(from);
  }
}
