/**
 * Schema of the local store (docs/PROTOCOL.md §8.1) and its forward migrations.
 * `PRAGMA user_version` holds the schema version; MIGRATIONS[n] takes a store from version n
 * to n + 1 and runs inside the IMMEDIATE transaction that also sets the new version.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { GROUP_RECEIPTS_SCHEMA, GROUPS_SCHEMA } from './db-groups.js';

const V1 = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value NOT NULL
) WITHOUT ROWID;

CREATE TABLE kv (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE contacts (
  id   INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);

CREATE TABLE messages (
  id          INTEGER PRIMARY KEY,
  msg_tag     BLOB NOT NULL,
  contact_id  INTEGER NOT NULL REFERENCES contacts(id),
  direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  time        INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'received')),
  body        BLOB NOT NULL,
  UNIQUE (msg_tag, direction)
);
CREATE INDEX messages_contact_time ON messages (contact_id, time);
CREATE INDEX messages_time ON messages (time);

CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY,
  eid        TEXT NOT NULL UNIQUE,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  envelope   BLOB NOT NULL,
  ref        BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE quarantine (
  id          INTEGER PRIMARY KEY,
  eid         TEXT NOT NULL UNIQUE,
  received_at INTEGER NOT NULL,
  envelope    BLOB NOT NULL,
  info        BLOB NOT NULL
);
`;

export const MIGRATIONS: ReadonlyArray<(db: BetterSqlite3.Database) => void> = [
  // 0 -> 1: the first schema.
  (db) => db.exec(V1),
  // 1 -> 2: contact records may now be version 2 (label, relay, rejected keys;
  // src/store/db-codec.ts): a hush that knows only version 1 would treat two contacts of the
  // same name as one, so it must refuse this store. The quarantine gets its sender bucket (a
  // keyed tag of the authenticated sender key, NULL for unauthenticated mail) for its bounds.
  (db) =>
    db.exec(`
ALTER TABLE quarantine ADD COLUMN bucket BLOB;
CREATE INDEX quarantine_bucket ON quarantine (bucket, id);
CREATE INDEX quarantine_received ON quarantine (received_at);
`),
  // 2 -> 3: protocol v2 (docs/PROTOCOL.md §8.1, §9): this device's prekey secrets and its
  // sessions with contacts, each row sealed (src/store/db-sessions.ts). A hush that knows only
  // schema 2 would send v1 to a contact it holds a session with, so it must refuse this store.
  (db) =>
    db.exec(`
CREATE TABLE prekeys (
  kind       INTEGER NOT NULL CHECK (kind IN (1, 2, 3, 4)),
  id         INTEGER NOT NULL CHECK (id BETWEEN 0 AND 4294967295),
  created_at INTEGER NOT NULL,
  published  INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
  data       BLOB NOT NULL,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;

CREATE TABLE sessions (
  id         INTEGER PRIMARY KEY,
  contact_id INTEGER NOT NULL REFERENCES contacts(id),
  updated_at INTEGER NOT NULL,
  rev        INTEGER NOT NULL DEFAULT 0,
  state      BLOB NOT NULL
);
CREATE INDEX sessions_contact ON sessions (contact_id);
`),
  // 3 -> 4: groups (docs/PROTOCOL.md §8.1, §10): each group's sealed change log and its posts
  // (src/store/db-groups.ts). A hush that knows only schema 3 would drop group mail silently.
  (db) => db.exec(GROUPS_SCHEMA),
  // 4 -> 5: receipts per member of a group (docs/PROTOCOL.md §10.6): the copies of our posts
  // and the read mark of incoming ones (src/store/db-groups.ts). A hush that knows only schema
  // 4 would store posts without their copies, and receipts for them would be lost.
  (db) => db.exec(GROUP_RECEIPTS_SCHEMA),
];

/** The schema version this code writes and understands. */
export const STORE_SCHEMA_VERSION = MIGRATIONS.length;
