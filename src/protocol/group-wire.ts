/**
 * Group messages (docs/PROTOCOL.md §10): the body of a pairwise payload of kind `group` (0x08).
 * A group message is sealed once per member through the ordinary pairwise path (v2 session or
 * v1), so its author is the pairwise-authenticated sender: no author field travels inside.
 *
 *   gmsg   = 0x01 || type u8 || groupId[16] || u32be epoch || rest
 *   type 1 (post):   rest = u32be textLen || text (UTF-8, no NUL, 1..MAX_GROUP_TEXT bytes)
 *   type 2 (change): rest = changeId[16] || op u8 || u8 labelLen || label
 *                           || u16be targetCount || targetSignPk[32] * targetCount
 *                           || u16be memberCount || member * memberCount
 *   member = signPk[32] || addedBy[32] || u8 nameLen || name
 *   op: 1 create, 2 add, 3 remove, 4 leave
 *
 * Nothing may follow the last field. A post's epoch is the author's current epoch; a change's
 * epoch is the epoch it creates (its parent + 1; create is epoch 1). The member list of a
 * change is the whole membership after it, as its author sees it (what a member added by it
 * starts from). Every malformation is DataError BAD_GROUP_MESSAGE.
 */
import { DataError } from '../errors.js';
import { concatBytes, readU32be, u32be } from './encoding.js';
import { MAX_BODY_BYTES } from './envelope.js';
import { NAME_RE } from './names.js';

export const GROUP_VERSION = 1;
export const GROUP_ID_BYTES = 16;
export const CHANGE_ID_BYTES = 16;
export const GROUP_TYPE = { post: 1, change: 2 } as const;
export const GROUP_OP = { create: 1, add: 2, remove: 3, leave: 4 } as const;
export type GroupOp = keyof typeof GROUP_OP;
const OP_BY_CODE: Record<number, GroupOp> = { 1: 'create', 2: 'add', 3: 'remove', 4: 'leave' };

/** Hard wire bound on a member list (the configurable cap, default 100, is a client limit). */
export const MAX_GROUP_MEMBERS_WIRE = 1000;
/** Header of a post: version, type, groupId, epoch, textLen. */
export const POST_HEADER_BYTES = 1 + 1 + GROUP_ID_BYTES + 4 + 4;
/** Largest post text: what fits in one pairwise body. */
export const MAX_GROUP_TEXT = MAX_BODY_BYTES - POST_HEADER_BYTES;
/** A group label: the same alphabet as a hush name (1..32 of a-z 0-9 . _ -). */
export const GROUP_LABEL_RE = NAME_RE;

export interface GroupMember {
  signPk: Uint8Array;
  /** Who added this member (the creator for the creator and the first members). */
  addedBy: Uint8Array;
  /** The member's hush name, as its adder knows it (a hint for looking its key up). */
  name: string;
}

export interface GroupPost {
  type: 'post';
  groupId: Uint8Array;
  epoch: number;
  text: string;
}

export interface GroupChange {
  type: 'change';
  groupId: Uint8Array;
  epoch: number;
  changeId: Uint8Array;
  op: GroupOp;
  /** The creator's name for the group. */
  label: string;
  /** The members added (add), removed (remove); empty for create and leave. */
  targets: Uint8Array[];
  /** The whole membership after this change, in the author's view. */
  members: GroupMember[];
}

export type GroupMessage = GroupPost | GroupChange;

function bad(why: string): DataError {
  return new DataError('BAD_GROUP_MESSAGE', `malformed group message: ${why}`);
}

function checkEpoch(e: number): void {
  if (!Number.isSafeInteger(e) || e < 0 || e > 0xffffffff) throw bad('epoch out of range');
}

function head(type: number, groupId: Uint8Array, epoch: number): Uint8Array {
  if (groupId.length !== GROUP_ID_BYTES) throw bad('group id is not 16 bytes');
  checkEpoch(epoch);
  return concatBytes(Uint8Array.of(GROUP_VERSION, type), groupId, u32be(epoch));
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Encodes a group message. Throws BAD_GROUP_MESSAGE for anything decode would refuse. */
export function encodeGroupMessage(m: GroupMessage): Uint8Array {
  if (m.type === 'post') {
    const text = enc.encode(m.text);
    if (text.length === 0 || text.length > MAX_GROUP_TEXT || text.includes(0)) throw bad('post text empty, too long or with NUL');
    return concatBytes(head(GROUP_TYPE.post, m.groupId, m.epoch), u32be(text.length), text);
  }
  if (m.changeId.length !== CHANGE_ID_BYTES) throw bad('change id is not 16 bytes');
  if (!GROUP_LABEL_RE.test(m.label)) throw bad('bad label');
  if (m.targets.length > MAX_GROUP_MEMBERS_WIRE || m.members.length > MAX_GROUP_MEMBERS_WIRE) throw bad('too many members');
  const label = enc.encode(m.label);
  const parts: Uint8Array[] = [head(GROUP_TYPE.change, m.groupId, m.epoch), m.changeId, Uint8Array.of(GROUP_OP[m.op], label.length), label, u16be(m.targets.length)];
  for (const t of m.targets) {
    if (t.length !== 32) throw bad('target key is not 32 bytes');
    parts.push(t);
  }
  parts.push(u16be(m.members.length));
  for (const mem of m.members) {
    if (mem.signPk.length !== 32 || mem.addedBy.length !== 32 || !NAME_RE.test(mem.name)) throw bad('bad member');
    const name = enc.encode(mem.name);
    parts.push(mem.signPk, mem.addedBy, Uint8Array.of(name.length), name);
  }
  const out = concatBytes(...parts);
  decodeGroupMessage(out); // the semantic checks (duplicates, op rules) in one place
  return out;
}

function u16be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

/** Parses and validates a group message (every rule of docs/PROTOCOL.md §10.1). */
export function decodeGroupMessage(b: Uint8Array): GroupMessage {
  let o = 0;
  const need = (n: number): void => {
    if (o + n > b.length) throw bad('truncated');
  };
  need(2 + GROUP_ID_BYTES + 4);
  if (b[0] !== GROUP_VERSION) throw new DataError('UNSUPPORTED_VERSION', `group message version ${b[0]} is not supported`);
  const type = b[1]!;
  o = 2;
  const groupId = b.slice(o, o + GROUP_ID_BYTES);
  o += GROUP_ID_BYTES;
  const epoch = readU32be(b, o);
  o += 4;
  if (type === GROUP_TYPE.post) {
    need(4);
    const len = readU32be(b, o);
    o += 4;
    if (len === 0 || len > MAX_GROUP_TEXT) throw bad('post text length out of range');
    need(len);
    const raw = b.subarray(o, o + len);
    o += len;
    if (o !== b.length) throw bad('trailing bytes');
    if (raw.includes(0)) throw bad('NUL in post text');
    let text: string;
    try {
      text = dec.decode(raw);
    } catch {
      throw bad('post text is not UTF-8');
    }
    return { type: 'post', groupId, epoch, text };
  }
  if (type !== GROUP_TYPE.change) throw bad(`unknown type ${type}`);
  need(CHANGE_ID_BYTES + 2);
  const changeId = b.slice(o, o + CHANGE_ID_BYTES);
  o += CHANGE_ID_BYTES;
  const op = OP_BY_CODE[b[o++]!];
  if (!op) throw bad('unknown op');
  const labelLen = b[o++]!;
  need(labelLen);
  const label = ascii(b.subarray(o, o + labelLen));
  o += labelLen;
  if (!GROUP_LABEL_RE.test(label)) throw bad('bad label');
  const readKeys = (): Uint8Array[] => {
    need(2);
    const n = (b[o]! << 8) | b[o + 1]!;
    o += 2;
    if (n > MAX_GROUP_MEMBERS_WIRE) throw bad('too many keys');
    need(n * 32);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++, o += 32) out.push(b.slice(o, o + 32));
    return out;
  };
  const targets = readKeys();
  need(2);
  const count = (b[o]! << 8) | b[o + 1]!;
  o += 2;
  if (count === 0 || count > MAX_GROUP_MEMBERS_WIRE) throw bad('member count out of range');
  const members: GroupMember[] = [];
  for (let i = 0; i < count; i++) {
    need(65);
    const signPk = b.slice(o, o + 32);
    const addedBy = b.slice(o + 32, o + 64);
    const nameLen = b[o + 64]!;
    o += 65;
    need(nameLen);
    const name = ascii(b.subarray(o, o + nameLen));
    o += nameLen;
    if (!NAME_RE.test(name)) throw bad('bad member name');
    members.push({ signPk, addedBy, name });
  }
  if (o !== b.length) throw bad('trailing bytes');
  const keys = new Set(members.map((m) => hex(m.signPk)));
  if (keys.size !== members.length) throw bad('a member is listed twice');
  const tkeys = new Set(targets.map(hex));
  if (tkeys.size !== targets.length) throw bad('a target is listed twice');
  if (op === 'create' && (epoch !== 1 || targets.length !== 0)) throw bad('create is epoch 1 without targets');
  if (op !== 'create' && epoch < 2) throw bad('a change after create has epoch 2 or more');
  if ((op === 'add' || op === 'remove') && targets.length === 0) throw bad(`${op} names no target`);
  if (op === 'leave' && targets.length !== 0) throw bad('leave names no target');
  if (op === 'add' && !targets.every((t) => keys.has(hex(t)))) throw bad('an added member is missing from the member list');
  if (op === 'remove' && targets.some((t) => keys.has(hex(t)))) throw bad('a removed member is still in the member list');
  return { type: 'change', groupId, epoch, changeId, op, label, targets, members };
}

function ascii(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/**
 * The total order of changes (docs/PROTOCOL.md §10.2): epoch, then the author's identity key,
 * then the change id, bytewise. Every member applies a group's changes in this order.
 */
export function compareChanges(a: { epoch: number; author: Uint8Array; changeId: Uint8Array }, b: { epoch: number; author: Uint8Array; changeId: Uint8Array }): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  const c = Buffer.compare(a.author, b.author);
  return c !== 0 ? c : Buffer.compare(a.changeId, b.changeId);
}
