/**
 * The frame handlers of the relay: what it does with each client frame once the wire has
 * decoded its text (docs/PROTOCOL.md §7.2-7.3). They see a connection only as a Conn with a
 * Link (relay/wire.ts), so they run in process against a fake link (test/unit/relay-handlers).
 *
 * The relay is blind: it checks signatures (auth, bundles) and never holds a key that opens a
 * box. Log lines name connections by a counter, never by key or content.
 */
import { randomBytes, verifyDetached } from '../src/crypto/nacl.js';
import { isHushError } from '../src/errors.js';
import { bundleSignedBytes, bundleToJson, parseBundle } from '../src/protocol/bundle.js';
import { bytesEqual, fromB64, toB64 } from '../src/protocol/encoding.js';
import { tokenHash } from '../src/protocol/delivery-token.js';
import { transferSignedBytes } from '../src/protocol/name-transfer.js';
import { envelopeId } from '../src/protocol/envelope.js';
import {
  type AckFrame,
  type AuthFrame,
  authSignedBytes,
  canonicalRelayUrl,
  CHALLENGE_BYTES,
  type ClientFrame,
  type LookupFrame,
  type ReleaseFrame,
  MAX_ENVELOPE_BYTES, // v1 or v2
  MAX_PULL_BYTES,
  parseClientFrame,
  type PullFrame,
  type RegisterFrame,
  type RelayErrorCode,
  type RelayLimits,
  type SendFrame,
  type TokensFrame,
  type TransferFrame,
} from '../src/protocol/frames.js';
import type { BlobClientFrame } from '../src/protocol/blob-frames.js';
import { BLOB_BIN_VERSION, parseBlobBin } from '../src/protocol/blob-binary.js';
import { encodeMailBin, MAIL_BIN_VERSION } from '../src/protocol/mail-binary.js';
import { CHUNK_TAG_BYTES } from '../src/protocol/file-chunks.js';
import { BlobRefusal, BlobStore } from './blobs.js';
import { Bucket } from './bucket.js';
import type { RelayLimitsConfig } from './config.js';
import { acceptedText, isDiskFull, Mailbox } from './mailbox.js';
import { andThen, type Maybe } from './maybe.js';
import { addressKey, WindowCounter } from './quota.js';
import { createPrekeyHandlers } from './prekeys.js';
import type { Store } from './store-api.js';
import { StrangerQuota } from './strangers.js';
import type { RelayUrls } from './urls.js';
import type { Link } from './wire.js';

/** One log event: a name and key=value fields (never keys or envelope contents). */
export type EventLog = (name: string, fields?: Record<string, string | number | boolean>) => void;

/** A client connection: its link and what the relay knows about it. */
export interface Conn {
  /** Counter naming the connection in logs. */
  n: number;
  link: Link;
  challenge: Uint8Array;
  challengeUsed: boolean;
  /** Set by a successful auth. */
  signPk?: Uint8Array;
  /** signPk as base64 (the key of Mailbox.online). */
  key?: string;
  /** Seen since the last heartbeat. */
  alive: boolean;
  authTimer?: NodeJS.Timeout;
  /** The remote address as counted by --names-per-addr (relay/quota.ts addressKey). */
  addr: string;
  /** `register` frames received (--register-conn). */
  registers: number;
  sendBucket: Bucket;
  frameBucket: Bucket;
  /** The frames of one connection are handled one after another, in order (the store is asynchronous). */
  chain: Promise<void>;
  /** Frames of this connection not yet answered; at 0 a frame is handled at once, without `chain`. */
  waiting: number;
  /** `prekeys` and `fetch-prekeys` frames (--prekey-rate, relay/prekeys.ts). */
  prekeyBucket: Bucket;
}

/** A refusal of one request with a wire error code; the connection stays open. */
export class FrameRefusal extends Error {
  constructor(
    readonly code: RelayErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface HandlerContext {
  limits: RelayLimitsConfig;
  urls: RelayUrls;
  store: Store;
  mailbox: Mailbox;
  event: EventLog;
  /** True once the relay is shutting down: frames are answered SHUTTING_DOWN. */
  closing(): boolean;
  /** Free bytes on the data directory's file system (--min-free); default: unlimited. */
  freeBytes?: (now?: number) => number;
  /** The data directory: blob frames are served from DATA/blobs (relay/blobs.ts); without it they are NOT_FOUND. */
  dataDir?: string;
}

export interface Handlers {
  /** A new connection's state (`addr`: the socket's remote address); the caller sends `hello(c)` once it is registered. */
  newConn(n: number, link: Link, addr?: string): Conn;
  /** The `hello` frame for `c`. */
  hello(c: Conn): { t: string; [k: string]: unknown };
  /** One text frame from `c`, parsed and handled (undefined: a binary message taken as no blob frame, refused BAD_FRAME); resolves once it is answered (a send: once queued). */
  onFrame(c: Conn, text: string | undefined): Promise<void>;
  /** One binary frame from `c`: a blob chunk put (docs/PROTOCOL.md §7.9.1), queued like a text frame. */
  onBinary(c: Conn, data: Uint8Array): Promise<void>;
  /** Answers an error, logs `refused` and closes the connection (1008 unless said). */
  refuse(c: Conn, id: string | undefined, code: RelayErrorCode, message: string, closeCode?: number): void;
  /** Forgets a closed connection. */
  gone(c: Conn): void;
  /** Drops rate buckets of identities that are offline and refilled, and expired quota windows (called by the purge timer). */
  sweepBuckets(): void;
  /** The blob store (with ctx.dataDir): purged by the purge timer, closed at shutdown. */
  blobs?: BlobStore;
}

/** What onFrame returns for a frame answered at once. */
const ANSWERED: Promise<void> = Promise.resolve();

export function createHandlers(ctx: HandlerContext): Handlers {
  const { limits, urls, store, mailbox, event } = ctx;
  const own = new Set(urls.all);
  const identityBuckets = new Map<string, Bucket>();
  /** Ephemeral sends per (sender, recipient): `${sender} ${recipient}` (base64 keys). */
  const pairBuckets = new Map<string, Bucket>();
  const renames = new WindowCounter(24 * 3600_000, limits.renamesPerDay);
  const newNames = new WindowCounter(3600_000, limits.namesPerAddrHour);
  const freeBytes = ctx.freeBytes ?? (() => Infinity);
  /** Per delivery token (hash, base64): the identity bucket of an unidentified sender. */
  const tokenBuckets = new Map<string, Bucket>();
  const shareCount = Math.max(1, Math.floor((limits.mailboxMaxCount * limits.strangerSharePercent) / 100));
  const shareBytes = Math.floor((limits.mailboxMaxBytes * limits.strangerSharePercent) / 100);
  // A share of 100% is the whole mailbox: left to the store's own quota (MAILBOX_FULL, checked in the insert).
  const whole = limits.strangerSharePercent >= 100;
  const strangers = new StrangerQuota(limits.strangerMaxCount, limits.strangerMaxBytes, whole ? Infinity : shareCount, whole ? Infinity : shareBytes);
  const online = mailbox.online;
  const prekeyHandlers = createPrekeyHandlers(limits, store, event, ctx.freeBytes);
  // Blob files in ctx.dataDir (on Redis: --blob-dir, shared by the relays), metadata in the store's blobMeta if it has one.
  const registeredNow = store.registeredNow?.bind(store);
  const isRegistered = (k: string): boolean | Promise<boolean> => registeredNow?.(k) ?? store.isRegistered(fromB64(k), k);
  const blobs = ctx.dataDir === undefined ? undefined : new BlobStore(ctx.dataDir, { limits, isRegistered, freeBytes: (now) => freeBytes(now), event }, store.blobMeta);
  // The send path's checks answered in process when the store can (SQLite), else awaited (Redis).
  const tokenNow = store.tokenNow?.bind(store);
  const existsNow = store.existsNow?.bind(store);
  const publicLimits: RelayLimits = {
    maxFrameBytes: limits.maxFrameBytes,
    maxEnvelopeBytes: MAX_ENVELOPE_BYTES,
    sendRatePerConn: limits.sendRatePerConn,
    sendRatePerIdentity: limits.sendRatePerIdentity,
    mailboxMaxCount: limits.mailboxMaxCount,
    mailboxMaxBytes: limits.mailboxMaxBytes,
    ttlMs: limits.ttlMs,
    authTimeoutMs: limits.authTimeoutMs,
    authSkewMs: limits.authSkewMs,
    strangerMaxCount: limits.strangerMaxCount,
    strangerMaxBytes: limits.strangerMaxBytes,
    strangerShareCount: shareCount,
    strangerShareBytes: shareBytes,
    tokensPerMailbox: limits.tokensPerMailbox,
    tokenMaxLifetimeMs: limits.tokenMaxLifetimeMs,
    prekeyCap: limits.prekeyCap,
    mailBinary: MAIL_BIN_VERSION,
    ...(blobs ? { blobBinary: BLOB_BIN_VERSION, blobWait: limits.blobWaitMs, blobChunk: limits.blobChunkBytes } : {}),
  };

  const sendError = (c: Conn, id: string | undefined, code: RelayErrorCode, message: string): void => {
    c.link.send({ t: 'error', ...(id === undefined ? {} : { id }), code, message });
  };
  const refuse = (c: Conn, id: string | undefined, code: RelayErrorCode, message: string, closeCode = 1008): void => {
    sendError(c, id, code, message);
    event('refused', { conn: c.n, code });
    c.link.close(closeCode, code);
  };

  const handleAuth = (c: Conn, f: AuthFrame): void => {
    if (c.challengeUsed) return sendError(c, f.id, 'CHALLENGE_USED', 'this connection already answered its challenge');
    c.challengeUsed = true;
    let claimed: string;
    try {
      claimed = canonicalRelayUrl(f.url);
    } catch {
      return refuse(c, f.id, 'AUTH_WRONG_URL', `auth is for an invalid url, this relay answers to ${urls.all.join(' ')}`);
    }
    if (!own.has(claimed)) return refuse(c, f.id, 'AUTH_WRONG_URL', `auth is for ${claimed}, this relay answers to ${urls.all.join(' ')}`);
    if (Math.abs(Date.now() - f.time) > limits.authSkewMs) return refuse(c, f.id, 'AUTH_STALE', `auth time is more than ${limits.authSkewMs} ms from the relay's clock`);
    if (!verifyDetached(authSignedBytes(c.challenge, claimed, f.time), f.sig, f.signPk)) return refuse(c, f.id, 'AUTH_FAILED', 'auth signature does not verify');
    c.signPk = f.signPk;
    c.key = toB64(f.signPk);
    if (c.authTimer) clearTimeout(c.authTimer);
    let set = online.get(c.key);
    if (!set) online.set(c.key, (set = new Set()));
    set.add(c);
    event('auth', { conn: c.n });
    // How much mail waits (§7.3): a hint for the owner's pull; without it if the store cannot say.
    store.waitingCount(f.signPk).then(
      (waiting) => c.link.send({ t: 'ok', id: f.id, waiting }),
      () => c.link.send({ t: 'ok', id: f.id }),
    );
  };

  /** The bundle of a register or transfer frame: well formed, the authenticated key's, and self-signed. */
  const ownBundle = (c: Conn, bytes: Parameters<typeof parseBundle>[0]): ReturnType<typeof parseBundle> => {
    let b;
    try {
      b = parseBundle(bytes);
    } catch (e) {
      throw new FrameRefusal('BAD_BUNDLE', isHushError(e) ? e.message : 'bad bundle');
    }
    if (!bytesEqual(b.signPk, c.signPk!)) throw new FrameRefusal('BAD_BUNDLE', 'bundle is for another identity than the authenticated one');
    if (!verifyDetached(bundleSignedBytes(b), b.sig, b.signPk)) throw new FrameRefusal('BAD_BUNDLE', 'bundle signature does not verify');
    return b;
  };

  const handleRegister = async (c: Conn, f: RegisterFrame): Promise<void> => {
    if (++c.registers > limits.registerPerConn) throw new FrameRefusal('REGISTER_LIMITED', `more than ${limits.registerPerConn} register frames on this connection`);
    const b = ownBundle(c, f.bundle);
    const byName = await store.lookupName(b.name);
    if (byName && !bytesEqual(byName.signPk, b.signPk)) throw new FrameRefusal('NAME_TAKEN', `the name ${b.name} is taken by another identity`);
    const mine = await store.lookupKey(b.signPk);
    if (mine) {
      const prev = (JSON.parse(mine.bundle) as { created: number }).created;
      if (b.created < prev) throw new FrameRefusal('BAD_BUNDLE', 'bundle is older than the one already registered');
    }
    const now = Date.now();
    const newName = !mine || mine.name !== b.name;
    if (newName) {
      if (mine && !renames.allows(c.key!, now))
        throw new FrameRefusal('REGISTER_LIMITED', `this identity already changed its name ${limits.renamesPerDay} time${limits.renamesPerDay === 1 ? '' : 's'} in 24 hours`);
      if (!newNames.allows(c.addr, now)) throw new FrameRefusal('REGISTER_LIMITED', `${limits.namesPerAddrHour} new names were registered from this address in the last hour`);
    }
    if (freeBytes(now) < limits.minFreeBytes) throw new FrameRefusal('STORE_FULL', "the relay's disk is nearly full");
    // Checked again in the same step as the write: another relay process may have taken the name meanwhile.
    if ((await store.putBundle(b.name, b.signPk, JSON.stringify(bundleToJson(b)), now)) === 'taken')
      throw new FrameRefusal('NAME_TAKEN', `the name ${b.name} is taken by another identity`);
    if (newName) {
      newNames.record(c.addr, now);
      if (mine) renames.record(c.key!, now);
    }
    event('register', { conn: c.n, renamed: !!mine && mine.name !== b.name });
    c.link.send({ t: 'ok', id: f.id });
  };

  const handleLookup = async (c: Conn, f: LookupFrame): Promise<void> => {
    const row = await (f.name !== undefined ? store.lookupName(f.name) : store.lookupKey(f.signPk!));
    if (!row) throw new FrameRefusal('NOT_FOUND', f.name !== undefined ? `no identity is registered under the name ${f.name}` : 'no identity is registered with that key');
    c.link.send({ t: 'bundle', id: f.id, bundle: JSON.parse(row.bundle) as unknown });
  };

  const handleRelease = async (c: Conn, f: ReleaseFrame): Promise<void> => {
    const row = await store.lookupName(f.name);
    if (!row) throw new FrameRefusal('NOT_FOUND', `no identity is registered under the name ${f.name}`);
    if (!bytesEqual(row.signPk, c.signPk!)) throw new FrameRefusal('NAME_TAKEN', `the name ${f.name} is held by another identity; only its key can release it`);
    // No longer registered: mail to the key is UNKNOWN_RECIPIENT, and its v2 prekeys are gone
    // (the store drops them with the name): nobody starts a session with a released key.
    await store.releaseName(f.name, c.signPk!);
    event('release', { conn: c.n });
    c.link.send({ t: 'ok', id: f.id });
  };

  /**
   * Moves a name from the key that signed the transfer to the authenticated key (§7.2
   * "Transfer"): both signatures are checked, then the directory changes in one transaction.
   * The old key keeps no name and is no longer registered (mail to it: UNKNOWN_RECIPIENT).
   */
  const handleTransfer = async (c: Conn, f: TransferFrame): Promise<void> => {
    if (!store.transferName) throw new FrameRefusal('UNKNOWN_TYPE', `this relay's ${store.kind} store cannot transfer names yet; register the new key under a new name`);
    if (++c.registers > limits.registerPerConn) throw new FrameRefusal('REGISTER_LIMITED', `more than ${limits.registerPerConn} register frames on this connection`);
    const b = ownBundle(c, f.bundle);
    if (!verifyDetached(transferSignedBytes(b.name, f.from, b.signPk), f.sig, f.from))
      throw new FrameRefusal('BAD_TRANSFER', `the transfer of ${b.name} to this key is not signed by the key it names as the holder`);
    const row = await store.lookupName(b.name);
    if (!row) throw new FrameRefusal('NOT_FOUND', `no identity is registered under the name ${b.name}`);
    if (!bytesEqual(row.signPk, b.signPk)) {
      if (!bytesEqual(row.signPk, f.from)) throw new FrameRefusal('NAME_TAKEN', `the name ${b.name} is held by another key than the one that signed the transfer`);
      const now = Date.now();
      if (freeBytes(now) < limits.minFreeBytes) throw new FrameRefusal('STORE_FULL', "the relay's disk is nearly full");
      // The store moves the name and who is registered in one step (the old key takes no mail).
      if (!(await store.transferName(b.name, f.from, b.signPk, JSON.stringify(bundleToJson(b)), now)))
        throw new FrameRefusal('NAME_TAKEN', `the name ${b.name} changed hands meanwhile`);
    } // else: already moved (a resend): ok, nothing changes
    event('transfer', { conn: c.n });
    c.link.send({ t: 'ok', id: f.id });
  };

  /**
   * A send with a delivery token (sealed sender, §7.2): checked against the token's hash, rated
   * per connection and per token; no identity, no stranger quota. Refused TOKEN_INVALID when
   * the token is unknown, expired, revoked or for another mailbox (the client then sends
   * identified). The log line names the connection only. `hk`: the token's hash as base64.
   */
  const checkToken = (c: Conn, f: SendFrame, hk: string, row: { recipient: Uint8Array; exp: number } | undefined, now: number): void => {
    if (!row || row.exp <= now || !bytesEqual(row.recipient, f.to)) {
      event('token-refused', { conn: c.n });
      throw new FrameRefusal('TOKEN_INVALID', 'the delivery token is unknown, expired or revoked; send identified');
    }
    if (!c.sendBucket.take(now)) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.sendRatePerConn} envelopes per second on this connection`);
    let tb = tokenBuckets.get(hk);
    if (!tb) tokenBuckets.set(hk, (tb = new Bucket(limits.sendRatePerIdentity)));
    if (!tb.take(now)) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.sendRatePerIdentity} envelopes per second with this delivery token`);
    // A connection that sends with valid tokens may stay without auth (it never gets pushes).
    if (c.authTimer) {
      clearTimeout(c.authTimer);
      c.authTimer = undefined;
    }
  };

  /**
   * A send, checked in this order: the token (or the identity's rates), the eid, the recipient's
   * registration, then the ephemeral pair rate or the disk floor and the stranger quota, then
   * queued for the group commit. Each store answer goes through `andThen` (relay/maybe.ts): the
   * SQLite store answers in process, so its sends are checked and queued in the frame's own turn;
   * the Redis store's are awaited, in the same order.
   */
  const handleSend = (c: Conn, f: SendFrame): Maybe<void> => {
    const now = Date.now();
    const token = f.token;
    if (token) {
      const h = tokenHash(token);
      const hk = toB64(h);
      return andThen(tokenNow ? tokenNow(h, hk) : store.token(h), (row) => {
        checkToken(c, f, hk, row, now);
        return sendChecked(c, f, hk, now);
      });
    }
    if (!c.signPk) throw new FrameRefusal('AUTH_REQUIRED', 'authenticate before send, or send with a delivery token');
    // Typing and other ephemerals go only between contacts (§7.2): never identified, so a
    // stranger or a throwaway key cannot push anything at a listening recipient.
    if (f.ephemeral) throw new FrameRefusal('TOKEN_REQUIRED', "an ephemeral send needs a delivery token for the recipient's mailbox");
    if (!c.sendBucket.take(now)) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.sendRatePerConn} envelopes per second on this connection`);
    let ib = identityBuckets.get(c.key!);
    if (!ib) identityBuckets.set(c.key!, (ib = new Bucket(limits.sendRatePerIdentity)));
    if (!ib.take(now)) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.sendRatePerIdentity} envelopes per second from this identity`);
    return sendChecked(c, f, undefined, now);
  };

  /** A send whose sender passed its checks (`hk`: its token's hash as base64, undefined when identified): the envelope and the recipient. */
  const sendChecked = (c: Conn, f: SendFrame, hk: string | undefined, now: number): Maybe<void> => {
    if (envelopeId(f.env) !== f.eid) throw new FrameRefusal('BAD_ENVELOPE', 'eid does not match the envelope');
    const rkey = f.toText; // = toB64(f.to): base64 is strict
    return andThen(registeredNow ? registeredNow(rkey) : store.isRegistered(f.to, rkey), (registered) => {
      if (!registered) throw new FrameRefusal('UNKNOWN_RECIPIENT', 'the recipient is not registered on this relay');
      return sendToMailbox(c, f, hk, rkey, now);
    });
  };

  const sendToMailbox = (c: Conn, f: SendFrame, hk: string | undefined, rkey: string, now: number): Maybe<void> => {
    // Identified and durable: the stranger quota of this (sender, mailbox) pair (§7.7).
    if (f.ephemeral) {
      // The pair: the token's hash (only token sends get here) and the mailbox.
      const pk = `${hk!} ${rkey}`;
      let pb = pairBuckets.get(pk);
      if (!pb) pairBuckets.set(pk, (pb = new Bucket(limits.ephemeralRatePerPair)));
      if (!pb.take(now)) throw new FrameRefusal('RATE_LIMITED', `more than ${limits.ephemeralRatePerPair} ephemeral envelopes per second to this recipient`);
      const delivered = mailbox.pushTo(rkey, 0, f.eid, f.envText, now, true);
      c.link.send(acceptedText(f.id, f.eid, false, delivered));
      return;
    }
    // The mailbox and store quotas are checked by the store in the insert itself (relay/store-api.ts);
    // the free-space floor and, for an identified send, the stranger quota of this (sender,
    // mailbox) pair and the strangers' share of the mailbox (§7.7) here. The stranger counts are
    // this process's own (relay/strangers.ts: never stored), so with a shared store each relay
    // process enforces them on the sends it takes.
    const diskFull = freeBytes(now) - f.env.length < limits.minFreeBytes;
    const stranger = hk === undefined && !strangers.counted(rkey, f.eid);
    const over = stranger ? strangers.refusal(c.key!, rkey, f.env.length) : undefined;
    if (diskFull || over) {
      return andThen(existsNow ? existsNow(f.to, f.eid) : store.exists(f.to, f.eid), (stored) => {
        if (stored) {
          // Stored, perhaps not yet on disk (a commit whose sync is still running): accepted once it is.
          return andThen(store.synced?.(), () => c.link.send(acceptedText(f.id, f.eid, true, 0)));
        }
        if (diskFull) throw new FrameRefusal('STORE_FULL', "the relay's storage is full; retry later");
        throw new FrameRefusal(
          'STRANGER_QUOTA',
          over === 'pair'
            ? `more than ${limits.strangerMaxCount} envelopes or ${limits.strangerMaxBytes} bytes from you wait in this mailbox; a contact's delivery token is not limited so`
            : `senders without a delivery token already fill their share of this mailbox (${shareCount} envelopes, ${shareBytes} bytes); the rest is kept for contacts`,
        );
      });
    }
    const key = c.key;
    if (stranger) strangers.charge(key!, rkey, f.eid, f.env.length, now);
    const refused = stranger ? () => strangers.release(rkey, [f.eid]) : undefined;
    mailbox.enqueue({ conn: c, reqId: f.id, recipient: f.to, rkey, eid: f.eid, env: f.env, envText: f.envText, time: now, refused });
  };

  const handlePull = async (c: Conn, f: PullFrame): Promise<void> => {
    const rows = await store.pull(c.signPk!, f.after, Date.now() - limits.ttlMs, f.limit, MAX_PULL_BYTES);
    let n = 0;
    let bytes = 0;
    for (const r of rows) {
      if (n > 0 && bytes + r.env.length > MAX_PULL_BYTES) break;
      bytes += r.env.length;
      n++;
    }
    const page = n < rows.length ? rows.slice(0, n) : rows;
    let more = n < rows.length;
    if (!more && rows.length === f.limit) more = (await store.pull(c.signPk!, rows[rows.length - 1]!.seq, Date.now() - limits.ttlMs, 1)).length > 0;
    // A `bin` pull gets the envelopes as bytes in one binary frame (§7.2.1), else JSON and base64.
    if (f.bin === 1) c.link.sendBinary(encodeMailBin(Number(f.id), more, page));
    else c.link.send({ t: 'mail', id: f.id, items: page.map((r) => ({ seq: r.seq, eid: r.eid, env: toB64(r.env), time: r.time })), more });
  };

  const handleAck = async (c: Conn, f: AckFrame): Promise<void> => {
    const r = await store.ack(c.signPk!, f.eids);
    strangers.release(c.key!, f.eids);
    c.link.send({ t: 'ok', id: f.id, deleted: r.count });
  };

  /** Registers and removes delivery-token hashes of the authenticated mailbox (§7.2). */
  const handleTokens = async (c: Conn, f: TokensFrame): Promise<void> => {
    const now = Date.now();
    const add = f.add.filter((t) => t.exp > now).map((t) => ({ h: t.h, exp: Math.min(t.exp, now + limits.tokenMaxLifetimeMs) }));
    if (add.length > 0 && (await store.countTokens(c.signPk!, now)) + add.length - f.remove.length > limits.tokensPerMailbox) {
      throw new FrameRefusal('TOO_MANY_TOKENS', `more than ${limits.tokensPerMailbox} delivery tokens for this mailbox; remove some first`);
    }
    const n = await store.putTokens(c.signPk!, add, f.remove, now);
    event('tokens', { conn: c.n, added: add.length, removed: f.remove.length });
    c.link.send({ t: 'ok', id: f.id, tokens: n });
  };

  const dispatch = (c: Conn, f: ClientFrame): Maybe<void> => {
    if (f.t === 'ping') return c.link.send({ t: 'pong', id: f.id, time: Date.now() });
    if (f.t === 'auth') return handleAuth(c, f);
    // Without auth: ping, auth, lookup (the directory is public), fetch-prekeys (public too,
    // bounded per target by --prekey-handouts) and a send with a delivery token (§7.2).
    // Everything else needs an authenticated connection.
    if (f.t === 'send' && f.token) return handleSend(c, f);
    if (f.t === 'lookup') return handleLookup(c, f);
    if (f.t === 'fetch-prekeys') return prekeyHandlers.fetch(c, f); // public like lookup: the relay need not learn who starts a session
    if (!c.signPk) throw new FrameRefusal('AUTH_REQUIRED', `authenticate before ${f.t}`);
    switch (f.t) {
      case 'tokens':
        return handleTokens(c, f);
      case 'register':
        return handleRegister(c, f);
      case 'release':
        return handleRelease(c, f);
      case 'transfer':
        return handleTransfer(c, f);
      case 'send':
        return handleSend(c, f);
      case 'pull':
        return handlePull(c, f);
      case 'ack':
        return handleAck(c, f);
      case 'prekeys':
        return prekeyHandlers.prekeys(c, f);
      default:
        return handleBlob(c, f);
    }
  };

  const handleBlob = async (c: Conn, f: BlobClientFrame): Promise<void> => {
    if (!blobs) throw new FrameRefusal('NOT_FOUND', store.shared ? 'this relay stores no blobs (it was started without --blob-dir)' : 'this relay stores no blobs');
    try {
      await blobs.handle(c, f);
    } catch (e) {
      if (e instanceof BlobRefusal) throw new FrameRefusal(e.code, e.message);
      throw e;
    }
  };

  /** The answer to a frame whose handler threw (now or later). */
  const failed = (c: Conn, f: ClientFrame, e: unknown): void => {
    if (e instanceof FrameRefusal) return sendError(c, f.id, e.code, e.message);
    if (isDiskFull(e)) {
      event('store-error', { conn: c.n, frame: f.t, error: 'SQLITE_FULL' });
      return sendError(c, f.id, 'STORE_FULL', "the relay's disk is full");
    }
    event('internal-error', { conn: c.n, frame: f.t, error: isHushError(e) ? e.code : (e as Error).name });
    sendError(c, f.id, 'INTERNAL', 'the relay failed to handle this frame');
  };

  /** Handles `f`: at once when its handler completes synchronously, else a promise that never rejects. */
  const handle = (c: Conn, f: ClientFrame): Maybe<void> => {
    let r: Maybe<void>;
    try {
      r = dispatch(c, f);
    } catch (e) {
      return failed(c, f, e);
    }
    if (r instanceof Promise) return r.catch((e: unknown) => failed(c, f, e));
  };

  /**
   * A frame is parsed and counted against --frame-rate when it arrives; it is answered in
   * arrival order, after the frames before it on its connection (the store is asynchronous).
   * When none of them waits, it is handled at once, and one that completes synchronously (a
   * send on the SQLite store) costs no promise; else it waits on the connection's chain.
   */
  const onFrame = (c: Conn, text: string | undefined): Promise<void> => {
    c.alive = true;
    let next: () => Maybe<void>;
    if (text === undefined) next = () => sendError(c, undefined, 'BAD_FRAME', 'binary frames are not supported, send json text');
    else {
      const r = parseClientFrame(text, limits.maxFrameBytes);
      if (!r.ok) next = () => sendError(c, r.id, r.code, r.message);
      else if (!c.frameBucket.take()) next = () => sendError(c, r.frame.id, 'RATE_LIMITED', `more than ${limits.frameRatePerConn} frames per second`);
      else {
        const f = r.frame;
        next = () => (ctx.closing() ? sendError(c, f.id, 'SHUTTING_DOWN', 'the relay is shutting down') : handle(c, f));
      }
    }
    return inTurn(c, next);
  };
  /** Runs `next` in its connection's turn: at once when nothing of the connection waits, else after what does. */
  const inTurn = (c: Conn, next: () => Maybe<void>): Promise<void> => {
    if (c.waiting === 0) {
      const r = next();
      return r instanceof Promise ? wait(c, r) : ANSWERED;
    }
    return wait(c, c.chain.then(next));
  };
  /** `p` (a frame being handled) holds back the connection's later frames until it settles. */
  const wait = (c: Conn, p: Promise<void>): Promise<void> => {
    c.waiting++;
    return (c.chain = p.finally(() => void c.waiting--));
  };

  const onBinary = (c: Conn, data: Uint8Array): Promise<void> => {
    c.alive = true;
    const r = parseBlobBin(data, 'put', limits.blobChunkBytes + CHUNK_TAG_BYTES);
    let next: () => Maybe<void>;
    if (!r.ok) next = () => sendError(c, r.id, r.code, r.message);
    else if (!c.frameBucket.take()) next = () => sendError(c, r.frame.id, 'RATE_LIMITED', `more than ${limits.frameRatePerConn} frames per second`);
    else {
      const { id, blob, i, data: chunk } = r.frame;
      next = () => (ctx.closing() ? sendError(c, id, 'SHUTTING_DOWN', 'the relay is shutting down') : handle(c, { v: 1, t: 'blob-put', id, blob, i, data: chunk }));
    }
    // In the same turn order as text frames: a text blob-finish after binary puts waits for them.
    return inTurn(c, next);
  };

  return {
    newConn: (n, link, addr) => ({
      n,
      link,
      addr: addressKey(addr),
      registers: 0,
      challenge: randomBytes(CHALLENGE_BYTES),
      challengeUsed: false,
      alive: true,
      sendBucket: new Bucket(limits.sendRatePerConn),
      frameBucket: new Bucket(limits.frameRatePerConn),
      chain: ANSWERED,
      waiting: 0,
      prekeyBucket: new Bucket(limits.prekeyRatePerConn),
    }),
    hello: (c) => ({ t: 'hello', challenge: toB64(c.challenge), relay: urls.main, urls: urls.all, time: Date.now(), limits: publicLimits }),
    onFrame,
    onBinary,
    refuse,
    gone: (c) => {
      if (c.authTimer) clearTimeout(c.authTimer);
      if (c.key) {
        const set = online.get(c.key);
        set?.delete(c);
        if (set && set.size === 0) online.delete(c.key);
      }
    },
    sweepBuckets: () => {
      for (const [k, b] of identityBuckets) if (!online.has(k) && b.full()) identityBuckets.delete(k);
      for (const [k, b] of pairBuckets) if (b.full()) pairBuckets.delete(k);
      renames.sweep();
      newNames.sweep();
      for (const [k, b] of tokenBuckets) if (b.full()) tokenBuckets.delete(k);
      strangers.purge(Date.now() - limits.ttlMs);
      prekeyHandlers.sweep();
    },
    ...(blobs ? { blobs } : {}),
  };
}
