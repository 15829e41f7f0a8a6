/**
 * The group tables of the local store (schema 4, docs/PROTOCOL.md §8.1, §10.4): each group
 * with its change log, and the group posts (both directions). Every row's content is sealed
 * under the history key like the other records and repeats the row's clear columns, so a
 * record moved to another row fails as STORE_CORRUPT; the group id and post ids are stored
 * only as keyed tags.
 *
 *   group record = 0x01 || groupId[16] || u8 labelLen || label || u8 left
 *                  || u32be n || (author[32] || u32be len || change) * n      (change: §10.1)
 *   post record  = 0x01 || u64be group_row || postId[16] || author[32] || text (UTF-8)
 *
 * Schema 5 adds receipts per member: `group_copies` (one row per member copy of our posts:
 * post row, contact, a keyed tag of the copy's pairwise payload id, status) and the read mark
 * of incoming posts (`group_posts.read`).
 *
 * The first change of the log is the group's base (the create, or the add that brought us
 * in); the membership is computed from the log (src/client/groups.ts).
 */
import { concatBytes, readU32be, readU64be, u32be, u64be, utf8 } from '../protocol/encoding.js';
import { GROUP_ID_BYTES, GROUP_LABEL_RE } from '../protocol/group-wire.js';
import { keyedTag16 } from '../crypto/nacl.js';
import { openSealed, seal, storeCorrupt } from './db-codec.js';
import type { TableContext } from './db-quarantine.js';
import { badArg, checkTime, u8 } from './db-util.js';

const RECORD_VERSION = 1;
const GROUP_TAG_DOMAIN = concatBytes(utf8('hush/v1/store-group'), Uint8Array.of(0));
const POST_TAG_DOMAIN = concatBytes(utf8('hush/v1/store-group-post'), Uint8Array.of(0));
const COPY_TAG_DOMAIN = concatBytes(utf8('hush/v1/store-group-copy'), Uint8Array.of(0));

/** How far one member's copy of our post got (receipts per member, schema 5). */
export type CopyStatus = 'queued' | 'sent' | 'delivered' | 'read';
const COPY_RANK: Record<CopyStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3 };
/** Post tags per UPDATE in markRead. */
const READ_CHUNK = 500;

export interface LogEntry {
  /** The identity key that authored the change (the pairwise-authenticated sender, or us). */
  author: Uint8Array;
  /** The change's bytes as received (src/protocol/group-wire.ts). */
  change: Uint8Array;
}

export interface StoredGroup {
  row: number;
  groupId: Uint8Array;
  /** Our local name for the group (what commands take after `@`). */
  label: string;
  /** We left the group (or were removed): nothing is sent or accepted any more. */
  left: boolean;
  log: LogEntry[];
}

export interface StoredPost {
  row: number;
  groupRow: number;
  postId: Uint8Array;
  author: Uint8Array;
  direction: 'in' | 'out';
  time: number;
  text: string;
  /** An incoming post shown to the user (a read receipt went, or was not due); out: always true. */
  read: boolean;
}

/** One member's copy of one of our posts: whom it went to and how far it got. */
export interface StoredCopy {
  postRow: number;
  contactId: number;
  status: CopyStatus;
}

type GroupRow = { id: number; gid_tag: Buffer; data: Buffer };
type PostRow = { id: number; group_row: number; direction: 'in' | 'out'; time: number; read: number; data: Buffer };

export class GroupTables {
  constructor(private readonly c: TableContext) {}

  private tag(domain: Uint8Array, id: Uint8Array): Uint8Array {
    return keyedTag16(domain, this.c.key, id);
  }

  private encode(g: Omit<StoredGroup, 'row'>): Uint8Array {
    if (g.groupId.length !== GROUP_ID_BYTES || !GROUP_LABEL_RE.test(g.label)) throw badArg('bad group');
    const label = utf8(g.label);
    const parts: Uint8Array[] = [Uint8Array.of(RECORD_VERSION), g.groupId, Uint8Array.of(label.length), label, Uint8Array.of(g.left ? 1 : 0), u32be(g.log.length)];
    for (const e of g.log) parts.push(e.author, u32be(e.change.length), e.change);
    return seal(concatBytes(...parts), this.c.key);
  }

  private decode(r: GroupRow): StoredGroup {
    const p = openSealed(u8(r.data), this.c.key);
    if (!p) throw storeCorrupt('a group record does not decrypt');
    try {
      if (p[0] !== RECORD_VERSION) throw new Error('version');
      let o = 1;
      const groupId = p.slice(o, o + GROUP_ID_BYTES);
      o += GROUP_ID_BYTES;
      const ll = p[o++]!;
      const label = String.fromCharCode(...p.subarray(o, o + ll));
      o += ll;
      const left = p[o++] === 1;
      const n = readU32be(p, o);
      o += 4;
      const log: LogEntry[] = [];
      for (let i = 0; i < n; i++) {
        const author = p.slice(o, o + 32);
        const len = readU32be(p, o + 32);
        o += 36;
        if (o + len > p.length) throw new Error('truncated');
        log.push({ author, change: p.slice(o, o + len) });
        o += len;
      }
      if (o !== p.length || !GROUP_LABEL_RE.test(label) || !Buffer.from(this.tag(GROUP_TAG_DOMAIN, groupId)).equals(r.gid_tag)) throw new Error('mismatch');
      return { row: r.id, groupId, label, left, log };
    } catch (e) {
      throw storeCorrupt('a group record does not match its row', e);
    }
  }

  list(): StoredGroup[] {
    return this.c.run(() => (this.c.stmt('grpAll', 'SELECT * FROM groups ORDER BY id').all() as GroupRow[]).map((r) => this.decode(r)));
  }

  byId(groupId: Uint8Array): StoredGroup | undefined {
    const r = this.c.run(() => this.c.stmt('grpByTag', 'SELECT * FROM groups WHERE gid_tag = ?').get(this.tag(GROUP_TAG_DOMAIN, groupId)) as GroupRow | undefined);
    return r && this.decode(r);
  }

  byLabel(label: string): StoredGroup | undefined {
    return this.list().find((g) => g.label === label);
  }

  /** Inserts a group (its id must be new); returns its row. */
  insert(g: Omit<StoredGroup, 'row'>): number {
    return this.c.run(() => {
      const r = this.c.stmt('grpInsert', 'INSERT INTO groups (gid_tag, data) VALUES (?, ?)').run(this.tag(GROUP_TAG_DOMAIN, g.groupId), this.encode(g));
      return Number(r.lastInsertRowid);
    });
  }

  update(g: StoredGroup): void {
    this.c.run(() => {
      const r = this.c.stmt('grpUpdate', 'UPDATE groups SET data = ? WHERE id = ? AND gid_tag = ?').run(this.encode(g), g.row, this.tag(GROUP_TAG_DOMAIN, g.groupId));
      if (r.changes !== 1) throw badArg('no such group row');
    });
  }

  /**
   * Stores a post (an incoming one unread); returns its row, or undefined when a post of that id
   * is already stored in that direction (a re-delivery).
   */
  addPost(p: Omit<StoredPost, 'row' | 'read'>): number | undefined {
    checkTime(p.time, 'time');
    if (p.postId.length !== 16 || p.author.length !== 32) throw badArg('bad post');
    const data = seal(concatBytes(Uint8Array.of(RECORD_VERSION), u64be(p.groupRow), p.postId, p.author, utf8(p.text)), this.c.key);
    return this.c.run(() => {
      const r = this.c
        .stmt('gpInsert', 'INSERT OR IGNORE INTO group_posts (group_row, post_tag, direction, time, read, data) VALUES (?, ?, ?, ?, ?, ?)')
        .run(p.groupRow, this.tag(POST_TAG_DOMAIN, p.postId), p.direction, p.time, p.direction === 'in' ? 0 : 1, data);
      return r.changes === 1 ? Number(r.lastInsertRowid) : undefined;
    });
  }

  private decodePost(r: PostRow): StoredPost {
    const p = openSealed(u8(r.data), this.c.key);
    if (!p || p.length < 1 + 8 + 16 + 32 || p[0] !== RECORD_VERSION || readU64be(p, 1) !== r.group_row) throw storeCorrupt('a group post does not match its row');
    return {
      row: r.id,
      groupRow: r.group_row,
      postId: p.slice(9, 25),
      author: p.slice(25, 57),
      direction: r.direction,
      time: r.time,
      text: new TextDecoder().decode(p.subarray(57)),
      read: r.read === 1,
    };
  }

  // --- receipts per member (schema 5) ----------------------------------------------------------

  /** Records the copy of our post `postRow` sealed to `contactId` as pairwise payload `msgId` (queued). */
  addCopy(postRow: number, contactId: number, msgId: Uint8Array): void {
    if (msgId.length !== 16) throw badArg('bad copy id');
    this.c.run(() =>
      this.c
        .stmt('gcInsert', "INSERT OR IGNORE INTO group_copies (post_row, contact_id, copy_tag, status) VALUES (?, ?, ?, 'queued')")
        .run(postRow, contactId, this.tag(COPY_TAG_DOMAIN, msgId)),
    );
  }

  /** The copy sent as pairwise payload `msgId`, or undefined (not a copy of one of our posts). */
  findCopy(msgId: Uint8Array): StoredCopy | undefined {
    const r = this.c.run(
      () =>
        this.c.stmt('gcFind', 'SELECT post_row, contact_id, status FROM group_copies WHERE copy_tag = ?').get(this.tag(COPY_TAG_DOMAIN, msgId)) as
          { post_row: number; contact_id: number; status: CopyStatus } | undefined,
    );
    return r && { postRow: r.post_row, contactId: r.contact_id, status: r.status };
  }

  /** Moves these copies forward to `status` (never back: a late delivered does not undo read); returns how many moved. */
  setCopyStatus(msgIds: readonly Uint8Array[], status: CopyStatus): number {
    const upd = this.c.stmt(
      'gcStatus',
      "UPDATE group_copies SET status = ? WHERE copy_tag = ? AND (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 ELSE 3 END) < ?",
    );
    return this.c.transaction(() => msgIds.reduce((n, id) => n + upd.run(status, this.tag(COPY_TAG_DOMAIN, id), COPY_RANK[status]).changes, 0));
  }

  /** The copies of these posts of ours, by post row (in the order they were queued). */
  copies(postRows: readonly number[]): Map<number, StoredCopy[]> {
    const out = new Map<number, StoredCopy[]>();
    const q = this.c.stmt('gcOfPost', 'SELECT contact_id, status FROM group_copies WHERE post_row = ? ORDER BY id');
    this.c.run(() => {
      for (const row of postRows)
        out.set(
          row,
          (q.all(row) as { contact_id: number; status: CopyStatus }[]).map((r) => ({ postRow: row, contactId: r.contact_id, status: r.status })),
        );
    });
    return out;
  }

  /** Has any copy of a post of ours gone to `contactId` (we wrote to them in a group)? */
  hasCopyTo(contactId: number): boolean {
    return this.c.run(() => this.c.stmt('gcAny', 'SELECT 1 FROM group_copies WHERE contact_id = ? LIMIT 1').get(contactId) !== undefined);
  }

  /**
   * Marks these incoming posts read (those not read yet: ids of other things are skipped) and
   * returns, per author key (hex), the author and the post ids that moved.
   */
  markRead(postIds: readonly Uint8Array[]): Map<string, { author: Uint8Array; ids: Uint8Array[] }> {
    const out = new Map<string, { author: Uint8Array; ids: Uint8Array[] }>();
    if (postIds.length === 0) return out;
    this.c.transaction(() => {
      for (let i = 0; i < postIds.length; i += READ_CHUNK) {
        const chunk = postIds.slice(i, i + READ_CHUNK).map((id) => this.tag(POST_TAG_DOMAIN, id));
        const upd = this.c.stmt(
          `gpRead:${chunk.length}`,
          `UPDATE group_posts SET read = 1 WHERE direction = 'in' AND read = 0 AND post_tag IN (${chunk.map(() => '?').join(',')}) RETURNING *`,
        );
        for (const r of upd.all(...chunk) as PostRow[]) {
          const p = this.decodePost(r);
          const k = Buffer.from(p.author).toString('hex');
          const e = out.get(k) ?? { author: p.author, ids: [] };
          e.ids.push(p.postId);
          out.set(k, e);
        }
      }
    });
    return out;
  }

  /** The newest `limit` posts of a group, oldest first. */
  posts(groupRow: number, limit: number): StoredPost[] {
    const rows = this.c.run(() => this.c.stmt('gpList', 'SELECT * FROM group_posts WHERE group_row = ? ORDER BY time DESC, id DESC LIMIT ?').all(groupRow, limit) as PostRow[]);
    return rows.reverse().map((r) => this.decodePost(r));
  }
}

/** 3 -> 4: groups (docs/PROTOCOL.md §8.1, §10.4). */
export const GROUPS_SCHEMA = `
CREATE TABLE groups (
  id      INTEGER PRIMARY KEY,
  gid_tag BLOB NOT NULL UNIQUE,
  data    BLOB NOT NULL
);

CREATE TABLE group_posts (
  id        INTEGER PRIMARY KEY,
  group_row INTEGER NOT NULL REFERENCES groups(id),
  post_tag  BLOB NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  time      INTEGER NOT NULL,
  data      BLOB NOT NULL,
  UNIQUE (group_row, post_tag, direction)
);
CREATE INDEX group_posts_time ON group_posts (group_row, time);
`;

/**
 * 4 -> 5: receipts per member (docs/PROTOCOL.md §8.1, §10.6): each copy of our posts with the
 * member it went to and how far it got, and a read mark on incoming posts. Posts stored before
 * count as read (they were shown, and their senders recorded no copies to match a receipt).
 */
export const GROUP_RECEIPTS_SCHEMA = `
ALTER TABLE group_posts ADD COLUMN read INTEGER NOT NULL DEFAULT 1 CHECK (read IN (0, 1));
CREATE INDEX group_posts_tag ON group_posts (post_tag);

CREATE TABLE group_copies (
  id         INTEGER PRIMARY KEY,
  post_row   INTEGER NOT NULL REFERENCES group_posts(id),
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  copy_tag   BLOB NOT NULL UNIQUE,
  status     TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read'))
);
CREATE INDEX group_copies_post ON group_copies (post_row);
CREATE INDEX group_copies_contact ON group_copies (contact_id);
`;
