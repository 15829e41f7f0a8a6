/**
 * Groups by sender-side fan-out (docs/PROTOCOL.md §10, docs/ARCHITECTURE.md "Groups"): every
 * group message is sealed once per member through the ordinary pairwise path, so its author is
 * whoever the pairwise layer authenticated. This module holds the group's rules:
 *
 * - Membership is the fold of the group's change log in ONE total order, (epoch, author key,
 *   change id) (compareChanges): from the base (the create, or the add that brought us in), each
 *   later change applies only if its author is a member in the state before it. Two members who
 *   hold the same changes compute the same membership, whatever order they received them in.
 * - A change or post is judged before anything is stored (the "nothing that failed
 *   authentication changes any state" rule): from a non-member, or for an epoch its author is not
 *   in, it is quarantined (NOT_A_MEMBER); for a group we do not hold or have left, UNKNOWN_GROUP;
 *   malformed, BAD_GROUP_MESSAGE.
 * - Fan-out goes to the current members except us, minus members whose key changed (until
 *   trusted again): they are reported as excluded. A removal is sent to the removed member too
 *   (so she learns it), and nothing after it.
 */
import { UsageError } from '../errors.js';
import { bytesEqual, toHex } from '../protocol/encoding.js';
import {
  compareChanges,
  decodeGroupMessage,
  encodeGroupMessage,
  GROUP_ID_BYTES,
  GROUP_LABEL_RE,
  type GroupChange,
  type GroupMember,
  type GroupOp,
  MAX_GROUP_TEXT,
} from '../protocol/group-wire.js';
import type { Contact, HushStore } from '../store/db.js';
import type { LogEntry, StoredGroup } from '../store/db-groups.js';

/** Default member cap (us included): `hush group create/add --max-members N`. */
export const DEFAULT_MAX_MEMBERS = 100;

export type GroupQuarantineReason = 'NOT_A_MEMBER' | 'UNKNOWN_GROUP' | 'BAD_GROUP_MESSAGE' | 'EPOCH_GAP';

export interface Membership {
  /** Members by hex identity key, in the order they joined. */
  members: Map<string, GroupMember>;
  /** The highest epoch applied. */
  epoch: number;
}

interface Parsed {
  author: Uint8Array;
  change: GroupChange;
}

function parse(log: readonly LogEntry[]): Parsed[] {
  return log.map((e) => {
    const m = decodeGroupMessage(e.change);
    if (m.type !== 'change') throw new Error('a post in a change log');
    return { author: e.author, change: m };
  });
}

const key = (c: Parsed): { epoch: number; author: Uint8Array; changeId: Uint8Array } => ({ epoch: c.change.epoch, author: c.author, changeId: c.change.changeId });

/**
 * The membership from a change log: the base's member list, then every later change in the
 * total order whose author is a member just before it (`maxEpoch`: only changes up to it).
 * `applied` collects the change ids (hex) that took effect.
 */
export function fold(log: readonly LogEntry[], maxEpoch = Infinity, applied?: Set<string>): Membership {
  const all = parse(log);
  const base = all[0];
  if (!base) return { members: new Map(), epoch: 0 };
  const members = new Map(base.change.members.map((m) => [toHex(m.signPk), m]));
  let epoch = base.change.epoch;
  applied?.add(toHex(base.change.changeId));
  const rest = all
    .slice(1)
    .filter((c) => compareChanges(key(c), key(base)) > 0 && c.change.epoch <= maxEpoch)
    .sort((a, b) => compareChanges(key(a), key(b)));
  for (const c of rest) {
    const author = toHex(c.author);
    if (!members.has(author)) continue; // not a member just before it: no effect
    const ch = c.change;
    if (ch.op === 'add') {
      for (const t of ch.targets) {
        const k = toHex(t);
        const m = ch.members.find((x) => bytesEqual(x.signPk, t))!;
        if (!members.has(k)) members.set(k, { signPk: m.signPk, name: m.name, addedBy: c.author });
      }
    } else if (ch.op === 'remove') {
      for (const t of ch.targets) members.delete(toHex(t));
    } else if (ch.op === 'leave') members.delete(author);
    else continue; // a second create for the same id: no effect
    epoch = Math.max(epoch, ch.epoch);
    applied?.add(toHex(ch.changeId));
  }
  return { members, epoch };
}

/** The highest epoch in the log (what a new change builds on). */
function maxEpoch(log: readonly LogEntry[]): number {
  return parse(log).reduce((m, c) => Math.max(m, c.change.epoch), 0);
}

// --- receiving ---------------------------------------------------------------------------------

/** What a group message did, for pull / listen / chat to print. */
export type GroupEvent =
  | { type: 'post'; group: string; from: string; id: string; time: number; text: string }
  | {
      type: 'change';
      group: string;
      from: string;
      op: GroupOp;
      targets: string[];
      epoch: number;
      time: number;
      /** A change the members we added concurrently missed: to re-announce (reannounceChange). */
      reannounce?: { op: 'add' | 'remove'; targets: GroupMember[] };
    };

export type GroupVerdict = { ok: true; event?: GroupEvent } | { ok: false; reason: GroupQuarantineReason; /** our label of the group, when we hold it */ group?: string };

/** A free local label: `label`, else `label-2`, `label-3`… */
function freeLabel(store: HushStore, label: string): string {
  if (!store.groups.byLabel(label)) return label;
  for (let i = 2; ; i++) {
    const l = `${label.slice(0, 28)}-${i}`;
    if (!store.groups.byLabel(l)) return l;
  }
}

/** A member's display name: the contact's label when it is one, else the name its adder gave. */
export function memberName(store: HushStore, m: Pick<GroupMember, 'signPk' | 'name'>, me?: { signPk: Uint8Array; name: string }): string {
  if (me && bytesEqual(m.signPk, me.signPk)) return me.name;
  return store.findContactBySignPk(m.signPk)?.label ?? m.name;
}

/**
 * Judges and applies one authenticated group message from `sender` (its pairwise payload id
 * `msgId`, its time `time`). Must run inside the store transaction that commits the batch.
 * Changes nothing unless it returns ok.
 */
export function applyGroupMessage(store: HushStore, me: { signPk: Uint8Array; name: string }, sender: Contact, msgId: Uint8Array, time: number, body: Uint8Array): GroupVerdict {
  let m;
  try {
    m = decodeGroupMessage(body);
  } catch {
    return { ok: false, reason: 'BAD_GROUP_MESSAGE' };
  }
  const g = store.groups.byId(m.groupId);
  const from = sender.label;
  if (m.type === 'post') {
    if (!g || g.left) return { ok: false, reason: 'UNKNOWN_GROUP' };
    // A member at the epoch the post claims AND now: a post from a removed member, even one
    // stamped with an epoch she was in, is refused once the removal is applied (§10.3).
    const k = toHex(sender.signPk);
    if (!fold(g.log, m.epoch).members.has(k) || !fold(g.log).members.has(k)) return { ok: false, reason: 'NOT_A_MEMBER' };
    const fresh = store.groups.addPost({ groupRow: g.row, postId: msgId, author: sender.signPk, direction: 'in', time, text: m.text }) !== undefined;
    return fresh ? { ok: true, event: { type: 'post', group: g.label, from, id: toHex(msgId), time, text: m.text } } : { ok: true };
  }
  const entry: LogEntry = { author: sender.signPk, change: body };
  const names = (keys: Uint8Array[]): string[] => keys.map((k) => memberName(store, m.members.find((x) => bytesEqual(x.signPk, k)) ?? { signPk: k, name: '?' }, me));
  const event: GroupEvent = { type: 'change', group: '', from, op: m.op, targets: names(m.targets), epoch: m.epoch, time };
  const listsUs = m.members.some((x) => bytesEqual(x.signPk, me.signPk));
  const listsAuthor = m.members.some((x) => bytesEqual(x.signPk, sender.signPk));
  const bringsUsIn = listsUs && listsAuthor && (m.op === 'create' || (m.op === 'add' && m.targets.some((t) => bytesEqual(t, me.signPk))));
  if (!g || g.left) {
    // A group we do not hold (or left): only a create or an add that names us starts it.
    if (!bringsUsIn) return { ok: false, reason: 'UNKNOWN_GROUP' };
    const label = g ? g.label : freeLabel(store, m.label);
    if (g) store.groups.update({ ...g, left: false, log: [entry] });
    else store.groups.insert({ groupId: m.groupId, label, left: false, log: [entry] });
    return { ok: true, event: { ...event, group: label } };
  }
  if (parse(g.log).some((c) => bytesEqual(c.change.changeId, m.changeId))) return { ok: true }; // already applied
  // A change must build on what we hold: its epoch at most one above the highest we have. One
  // further ahead means we missed a change in between (still in its author's outbox, or lost):
  // applying it would fold a log with a hole, so it is quarantined and never retried (§10.3).
  if (m.epoch > maxEpoch(g.log) + 1) return { ok: false, reason: 'EPOCH_GAP', group: g.label };
  const log = [...g.log, entry];
  const applied = new Set<string>();
  const after = fold(log, Infinity, applied);
  if (!applied.has(toHex(m.changeId))) return { ok: false, reason: 'NOT_A_MEMBER' };
  store.groups.update({ ...g, log, left: !after.members.has(toHex(me.signPk)) });
  return { ok: true, event: { ...event, group: g.label, ...missedBy(parse(g.log), m, sender.signPk, me.signPk, after) } };
}

/**
 * A change concurrent with an add of ours (its epoch not above our add's) was not sent to the
 * members we added, who hold our add as their base: we re-announce it as a change of our own
 * at the next epoch (redundant for everyone else), so they converge too (§10.2).
 */
function missedBy(log: Parsed[], c: GroupChange, author: Uint8Array, me: Uint8Array, after: Membership): { reannounce?: { op: 'add' | 'remove'; targets: GroupMember[] } } {
  if (c.op === 'create' || !after.members.has(toHex(me))) return {};
  const told = new Set([...c.members.map((x) => toHex(x.signPk)), ...c.targets.map(toHex), toHex(author)]);
  const ours = log.filter((e) => bytesEqual(e.author, me) && e.change.op === 'add' && e.change.epoch >= c.epoch);
  if (!ours.some((e) => e.change.targets.some((t) => !told.has(toHex(t)) && after.members.has(toHex(t))))) return {};
  if (c.op === 'add') return { reannounce: { op: 'add', targets: c.targets.map((t) => after.members.get(toHex(t))).filter((x): x is GroupMember => x !== undefined) } };
  const gone = c.op === 'leave' ? [author] : c.targets;
  return {
    reannounce: {
      op: 'remove',
      targets: gone.filter((t) => !after.members.has(toHex(t))).map((t) => ({ signPk: t, addedBy: t, name: c.members.find((x) => bytesEqual(x.signPk, t))?.name ?? 'member' })),
    },
  };
}

/**
 * The order a batch's group messages are judged in: by epoch, a change before a post of the
 * same epoch (stable otherwise), each keeping the slots group messages had in the batch. A
 * change and the next one from another member that arrived in the wrong order in one batch are
 * then applied in order instead of the later one being an EPOCH_GAP. A body too short to carry
 * an epoch keeps its place (it is BAD_GROUP_MESSAGE anyway).
 */
export function inEpochOrder<T>(items: readonly T[], body: (t: T) => Uint8Array | undefined): T[] {
  const slots: number[] = [];
  const keyed: { t: T; k: number; i: number }[] = [];
  items.forEach((t, i) => {
    const b = body(t);
    if (!b || b.length < 22) return;
    slots.push(i);
    const epoch = ((b[18]! << 24) >>> 0) + (b[19]! << 16) + (b[20]! << 8) + b[21]!;
    keyed.push({ t, k: epoch * 2 + (b[1] === 2 ? 0 : 1), i });
  });
  keyed.sort((a, b) => a.k - b.k || a.i - b.i);
  const out = items.slice();
  slots.forEach((slot, j) => (out[slot] = keyed[j]!.t));
  return out;
}

// --- sending -----------------------------------------------------------------------------------

/** How the group layer reaches the pairwise layer (the Messenger, or a test double). */
export interface PairwiseSender {
  /** The contact for a member: pinned, or looked up by name and pinned when its key is the listed one. */
  contactFor(m: GroupMember): Promise<Contact | undefined>;
  /** Finds or starts the pairwise session before sealing (v2 when the member has prekeys). */
  prepare(c: Contact): Promise<void>;
  /**
   * Seals `body` (kind group) to each contact and queues every copy in the outbox, with `store`
   * (the group's local change) in the SAME transaction; returns the queued copies. When `store`
   * returns a post row (a post of ours), each copy is recorded for its receipts (§10.6).
   */
  queue(contacts: readonly Contact[], body: Uint8Array, store: () => number | void): Promise<{ contact: Contact; msgId: Uint8Array }[]>;
}

export interface FanOut {
  group: string;
  /** The members a copy was queued for. */
  to: Contact[];
  /** Members left out, and why (key changed: until `hush trust`; unknown: no key found). */
  excluded: { name: string; reason: 'KEY_CHANGED' | 'NOT_FOUND' }[];
  /** The post id (a post), or the change id (a change), hex. */
  id: string;
  epoch: number;
}

export interface GroupOptions {
  me: { signPk: Uint8Array; name: string };
  random: (n: number) => Uint8Array;
  now: () => number;
  maxMembers?: number;
}

function badLabel(label: string): UsageError {
  return new UsageError('BAD_GROUP_NAME', `invalid group name "${label}"`, { hint: 'group names are 1-32 characters a-z, 0-9, ".", "_" or "-"' });
}

/** The group by its local name (with or without the leading `@`); UsageError UNKNOWN_GROUP. */
export function findGroup(store: HushStore, label: string): StoredGroup {
  const l = label.startsWith('@') ? label.slice(1) : label;
  if (!GROUP_LABEL_RE.test(l)) throw badLabel(l);
  const g = store.groups.byLabel(l);
  if (!g) throw new UsageError('UNKNOWN_GROUP', `you have no group named ${l}`, { hint: 'see hush group list, or create it with hush group create' });
  return g;
}

function tooLarge(n: number, cap: number): UsageError {
  return new UsageError('GROUP_TOO_LARGE', `a group of ${n} members is over the member cap of ${cap} (you included)`, {
    hint: 'fan-out seals every message once per member; raise the cap with --max-members N if you mean it (docs/ARCHITECTURE.md "Groups")',
  });
}

function asMember(c: Pick<Contact, 'signPk' | 'name'>, addedBy: Uint8Array): GroupMember {
  return { signPk: c.signPk, addedBy, name: c.name };
}

/**
 * Seals `body` to each member but us (a changed key is left out and reported; a member without
 * a contact is looked up), storing the local side with it. `also`: extra recipients (a removed
 * member gets her removal).
 */
async function fanOut(
  store: HushStore,
  s: PairwiseSender,
  o: GroupOptions,
  g: { label: string },
  members: Iterable<GroupMember>,
  body: Uint8Array,
  local: () => void,
  id: string,
  epoch: number,
): Promise<FanOut> {
  const to: Contact[] = [];
  const excluded: FanOut['excluded'] = [];
  for (const m of members) {
    if (bytesEqual(m.signPk, o.me.signPk)) continue;
    const c = await s.contactFor(m);
    if (!c) excluded.push({ name: m.name, reason: 'NOT_FOUND' });
    else if (c.state === 'changed') excluded.push({ name: c.label, reason: 'KEY_CHANGED' });
    else to.push(c);
  }
  for (const c of to) await s.prepare(c);
  await s.queue(to, body, local);
  return { group: g.label, to, excluded, id, epoch };
}

/** `hush group create LABEL MEMBER...`: epoch 1, us and the members, all added by us. */
export async function createGroup(store: HushStore, s: PairwiseSender, o: GroupOptions, label: string, contacts: readonly Contact[]): Promise<FanOut> {
  if (!GROUP_LABEL_RE.test(label)) throw badLabel(label);
  if (store.groups.byLabel(label))
    throw new UsageError('GROUP_EXISTS', `you already have a group named ${label}`, { hint: 'pick another name, or add members with hush group add' });
  const cap = o.maxMembers ?? DEFAULT_MAX_MEMBERS;
  const members = dedupe([{ signPk: o.me.signPk, addedBy: o.me.signPk, name: o.me.name }, ...contacts.map((c) => asMember(c, o.me.signPk))]);
  if (members.length > cap) throw tooLarge(members.length, cap);
  const groupId = o.random(GROUP_ID_BYTES);
  const changeId = o.random(16);
  const body = encodeGroupMessage({ type: 'change', groupId, epoch: 1, changeId, op: 'create', label, targets: [], members });
  return fanOut(
    store,
    s,
    o,
    { label },
    members,
    body,
    () => void store.groups.insert({ groupId, label, left: false, log: [{ author: o.me.signPk, change: body }] }),
    toHex(changeId),
    1,
  );
}

function dedupe(ms: GroupMember[]): GroupMember[] {
  const seen = new Set<string>();
  return ms.filter((m) => {
    const k = toHex(m.signPk);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function requireMember(g: StoredGroup, state: Membership, me: Uint8Array): void {
  if (g.left || !state.members.has(toHex(me))) {
    throw new UsageError('NOT_A_MEMBER', `you are no longer a member of ${g.label}`, { hint: 'a member can add you again' });
  }
}

/** add / remove / leave: the next epoch, sent to everyone concerned. */
export async function changeGroup(
  store: HushStore,
  s: PairwiseSender,
  o: GroupOptions,
  label: string,
  op: 'add' | 'remove' | 'leave',
  contacts: readonly Pick<Contact, 'signPk' | 'label' | 'name'>[] = [],
  reannounce = false,
): Promise<FanOut> {
  const g = findGroup(store, label);
  const state = fold(g.log);
  requireMember(g, state, o.me.signPk);
  const members = new Map(state.members);
  const targets: Uint8Array[] = [];
  for (const c of contacts) {
    const k = toHex(c.signPk);
    if (op === 'add') {
      if (members.has(k) && reannounce) {
        targets.push(c.signPk);
        continue;
      }
      if (members.has(k)) throw new UsageError('ALREADY_MEMBER', `${c.label} is already a member of ${g.label}`, { hint: `see hush group show ${g.label}` });
      members.set(k, asMember(c, o.me.signPk));
    } else {
      if (!members.has(k) && !reannounce) throw new UsageError('NOT_A_MEMBER', `${c.label} is not a member of ${g.label}`, { hint: `see hush group show ${g.label}` });
      if (bytesEqual(c.signPk, o.me.signPk)) throw new UsageError('SELF', 'to leave a group, use hush group leave', { hint: `hush group leave ${g.label}` });
      members.delete(k);
    }
    if (!targets.some((t) => bytesEqual(t, c.signPk))) targets.push(c.signPk);
  }
  if (op === 'leave') members.delete(toHex(o.me.signPk));
  const cap = o.maxMembers ?? DEFAULT_MAX_MEMBERS;
  if (op === 'add' && members.size > cap) throw tooLarge(members.size, cap);
  if (members.size === 0) members.set(toHex(o.me.signPk), { signPk: o.me.signPk, addedBy: o.me.signPk, name: o.me.name }); // never empty on the wire
  const epoch = maxEpoch(g.log) + 1;
  const changeId = o.random(16);
  const creator = parse(g.log)[0]!.change.label;
  const body = encodeGroupMessage({ type: 'change', groupId: g.groupId, epoch, changeId, op, label: creator, targets, members: [...members.values()] });
  const entry: LogEntry = { author: o.me.signPk, change: body };
  // A removal reaches the removed too; a leave goes to those who stay; an add to everyone after it.
  // A re-announced removal goes to those who stay (the removed member heard it already).
  const recipients = op === 'remove' && !reannounce ? state.members.values() : members.values();
  const local = (): void => store.groups.update({ ...g, log: [...g.log, entry], left: op === 'leave' });
  return fanOut(store, s, o, g, recipients, body, local, toHex(changeId), epoch);
}

/** `hush send @LABEL TEXT`: one post, sealed to every current member but us. */
export async function postToGroup(store: HushStore, s: PairwiseSender, o: GroupOptions, label: string, text: string): Promise<FanOut> {
  const g = findGroup(store, label);
  const state = fold(g.log);
  requireMember(g, state, o.me.signPk);
  if (new TextEncoder().encode(text).length > MAX_GROUP_TEXT) {
    throw new UsageError('MESSAGE_TOO_LARGE', `the message is over the limit of ${MAX_GROUP_TEXT} bytes for a group message`, { hint: 'split it into several messages' });
  }
  const postId = o.random(16);
  const time = o.now();
  const body = encodeGroupMessage({ type: 'post', groupId: g.groupId, epoch: state.epoch, text });
  const local = (): number | undefined => store.groups.addPost({ groupRow: g.row, postId, author: o.me.signPk, direction: 'out', time, text });
  return fanOut(store, s, o, g, state.members.values(), body, local, toHex(postId), state.epoch);
}

/** Re-announces a change the members we added concurrently missed (GroupEvent.reannounce). */
export async function reannounceChange(store: HushStore, s: PairwiseSender, o: GroupOptions, label: string, r: { op: 'add' | 'remove'; targets: GroupMember[] }): Promise<FanOut> {
  const targets = r.targets.map((t) => ({ signPk: t.signPk, name: t.name, label: t.name }));
  return changeGroup(store, s, o, label, r.op, targets, true);
}
