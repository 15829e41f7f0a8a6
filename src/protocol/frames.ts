/**
 * The relay wire protocol (docs/PROTOCOL.md §7): every frame as a TypeScript type plus a
 * runtime validator, shared by the relay (relay/) and the client (src/client/relay-client.ts).
 *
 * Frames are WebSocket text messages holding one JSON object `{"v":1,"t":TYPE,"id":ID,...}`.
 * Requests (client to relay) carry an `id` that the answer echoes; the relay's unsolicited
 * frames (`hello`, `push`) carry none. Unknown fields are ignored; an unknown `t` is answered
 * with an `UNKNOWN_TYPE` error; a `v` other than 1 with `UNSUPPORTED_VERSION`.
 */
import { DataError, isHushError } from '../errors.js';
import { concatBytes, lp, toB64, u64be, utf8 } from './encoding.js';
import { DOMAIN, domainBytes } from './domains.js';
import { MAX_ENVELOPE_BYTES as MAX_V1_ENVELOPE_BYTES, MIN_ENVELOPE_BYTES } from './envelope.js';
import { MAX_ENVELOPE_V2_BYTES } from './session-wire.js';

/** The largest envelope a frame carries: v1 (§5) or v2 (§9.5, a prekey message with a full body). */
export const MAX_ENVELOPE_BYTES = Math.max(MAX_V1_ENVELOPE_BYTES, MAX_ENVELOPE_V2_BYTES);
import { DELIVERY_TOKEN_BYTES, MAX_TOKENS_PER_FRAME, TOKEN_HASH_BYTES } from './delivery-token.js';
import { NAME_MAX, NAME_RE } from './names.js';
import { type BundleJson } from './bundle.js';
import { PREKEY_BUNDLE_BYTES_WITH_OPK } from './prekey-bundle.js';
import { type PrekeyStatus, prekeysFrameFields, prekeyStatusFields } from './prekey-upload.js';
import { BLOB_CLIENT_FRAME_TYPES, type BlobClientFrame, type BlobRelayFrame, optBin, parseBlobClientFrame, parseBlobRelayFrame } from './blob-frames.js';
import { arr, b64, bool, fail, int, isObj, type Obj, obj, optBool, optInt, parseJson, str } from './validate.js';

export const FRAME_VERSION = 1;

/** Request ids: 1 to 64 characters of A-Z a-z 0-9 . _ : - */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
export const EID_RE = /^[0-9a-f]{32}$/;
export const CHALLENGE_BYTES = 32;
export const MAX_URL_LENGTH = 2048;
/** Largest `limit` of a pull, and its default. */
export const MAX_PULL_LIMIT = 500;
export const DEFAULT_PULL_LIMIT = 100;
/** A mail answer stops adding items once their envelopes reach this many bytes (at least one item). */
export const MAX_PULL_BYTES = 1024 * 1024;
/** Most eids in one ack. */
export const MAX_ACK_EIDS = 500;
/** JSON nesting accepted in a frame (the deepest legal frame, `mail`, has 3). */
export const MAX_FRAME_DEPTH = 4;
/** Largest time value (ms) accepted anywhere in a frame. */
export const MAX_TIME = 2 ** 48;
/** Largest frame a client accepts from a relay (a `mail` answer with MAX_PULL_BYTES of envelopes). */
export const MAX_RELAY_FRAME_BYTES = 4 * 1024 * 1024;

/** Stable error codes carried by `error` frames (catalogue in docs/PROTOCOL.md §7.6). */
export const ERROR_CODES = [
  'BAD_FRAME',
  'TOO_LARGE',
  'UNKNOWN_TYPE',
  'UNSUPPORTED_VERSION',
  'AUTH_REQUIRED',
  'AUTH_FAILED',
  'AUTH_WRONG_URL',
  'AUTH_STALE',
  'AUTH_TIMEOUT',
  'CHALLENGE_USED',
  'NAME_TAKEN',
  'BAD_BUNDLE',
  'NOT_FOUND',
  'BAD_ENVELOPE',
  'RATE_LIMITED',
  'MAILBOX_FULL',
  'UNKNOWN_RECIPIENT',
  'REGISTER_LIMITED',
  'STORE_FULL',
  'TOKEN_INVALID',
  'STRANGER_QUOTA',
  'TOKEN_REQUIRED',
  'BAD_TRANSFER',
  'TOO_MANY_TOKENS',
  'BAD_PREKEYS',
  'TOO_MANY_PREKEYS',
  'NO_PREKEYS',
  'TOO_MANY_CONNECTIONS',
  'BLOB_TOO_LARGE',
  'BLOB_QUOTA',
  'BLOB_ORDER',
  'BLOB_INCOMPLETE',
  'SHUTTING_DOWN',
  'INTERNAL',
] as const;
export type RelayErrorCode = (typeof ERROR_CODES)[number];

// --- Client -> relay -------------------------------------------------------------------

export interface AuthFrame {
  v: 1;
  t: 'auth';
  id: string;
  signPk: Uint8Array;
  url: string;
  time: number;
  sig: Uint8Array;
}
/** `bundle` is validated (shape and signature) by the relay itself, which answers BAD_BUNDLE. */
export interface RegisterFrame {
  v: 1;
  t: 'register';
  id: string;
  bundle: Obj;
}
export interface LookupFrame {
  v: 1;
  t: 'lookup';
  id: string;
  name?: string;
  signPk?: Uint8Array;
}
/** Frees `name`, which must be held by the authenticated key (the connection's auth is the proof). */
export interface ReleaseFrame {
  v: 1;
  t: 'release';
  id: string;
  name: string;
}
/**
 * Moves `bundle.name` from the key `from` (which holds it and signed `sig` over
 * transferSignedBytes(name, from, bundle.signPk), src/protocol/name-transfer.ts) to the
 * authenticated key, whose signed bundle this is (§7.2 "Transfer").
 */
export interface TransferFrame {
  v: 1;
  t: 'transfer';
  id: string;
  bundle: Record<string, unknown>;
  from: Uint8Array;
  sig: Uint8Array;
}
/**
 * `toText` and `envText` are the base64 texts of `to` and `env` exactly as received: decoding is
 * strict (they re-encode to themselves), so the relay forwards them without re-encoding.
 */
export interface SendFrame {
  v: 1;
  t: 'send';
  id: string;
  to: Uint8Array;
  env: Uint8Array;
  eid: string;
  ephemeral: boolean;
  toText: string;
  envText: string;
  token?: Uint8Array;
}
/** A mailbox owner's delivery-token registrations (§7.2): hashes to add (with expiry) and to remove. */
export interface TokensFrame {
  v: 1;
  t: 'tokens';
  id: string;
  add: { h: Uint8Array; exp: number }[];
  remove: Uint8Array[];
}
export interface PullFrame {
  v: 1;
  t: 'pull';
  id: string;
  after: number;
  limit: number;
  /** 1: answer with a binary mail page (§7.2.1; the id must then be decimal, 1..2^32-1); absent: a JSON `mail` frame. */
  bin?: 1;
}
export interface AckFrame {
  v: 1;
  t: 'ack';
  id: string;
  eids: string[];
}
export interface PingFrame {
  v: 1;
  t: 'ping';
  id: string;
}
/** Publishes prekeys (src/protocol/prekey-upload.ts); without `upload` it only asks for the status. */
export interface PrekeysFrame {
  v: 1;
  t: 'prekeys';
  id: string;
  upload?: Uint8Array;
}
/** Takes one v2 prekey bundle of the identity `signPk` (one-time prekeys are handed out once). */
export interface FetchPrekeysFrame {
  v: 1;
  t: 'fetch-prekeys';
  id: string;
  signPk: Uint8Array;
}
export type ClientFrame =
  | AuthFrame
  | RegisterFrame
  | LookupFrame
  | ReleaseFrame
  | SendFrame
  | PullFrame
  | AckFrame
  | PingFrame
  | TokensFrame
  | TransferFrame
  | PrekeysFrame
  | FetchPrekeysFrame
  | BlobClientFrame;
export type ClientFrameType = ClientFrame['t'];
export const CLIENT_FRAME_TYPES: readonly ClientFrameType[] = [
  'auth',
  'register',
  'lookup',
  'release',
  'send',
  'pull',
  'ack',
  'ping',
  'tokens',
  'transfer',
  'prekeys',
  'fetch-prekeys',
  ...BLOB_CLIENT_FRAME_TYPES,
];

// --- Relay -> client -------------------------------------------------------------------

export interface RelayLimits {
  maxFrameBytes: number;
  maxEnvelopeBytes: number;
  sendRatePerConn: number;
  sendRatePerIdentity: number;
  mailboxMaxCount: number;
  mailboxMaxBytes: number;
  ttlMs: number;
  authTimeoutMs: number;
  authSkewMs: number;
  /** Added with delivery tokens (older relays omit them): the stranger quota and token limits (§7.7). */
  strangerMaxCount?: number;
  strangerMaxBytes?: number;
  /** Added with the strangers' share (§7.7 `--stranger-share`): what all identified senders together may leave waiting in one mailbox. */
  strangerShareCount?: number;
  strangerShareBytes?: number;
  tokensPerMailbox?: number;
  tokenMaxLifetimeMs?: number;
  /** Added with v2 prekeys (older relays omit it): one-time prekeys of each kind kept per identity (§7.7). */
  prekeyCap?: number;
  /** Added with binary blob frames (older relays omit it): the binary blob frame version the relay takes, 1 (§7.9.1). */
  blobBinary?: number;
  /** Added with binary mail pages (older relays omit it): the binary frame version of the mail pages it answers a `bin` pull with, 1 (§7.2.1). */
  mailBinary?: number;
  /**
   * Added with streamed blobs (older relays omit it): ms a `blob-get` of a chunk not yet
   * uploaded waits for it before BLOB_INCOMPLETE (§7.9); present: recipients may fetch an
   * unfinished blob's chunks while it is uploaded.
   */
  blobWait?: number;
  /**
   * Added with large chunks (older relays omit it): the largest plaintext chunk of a blob the
   * relay takes, 65,536..=1,048,576 (its --blob-chunk; §7.9.1). Absent: 65,536.
   */
  blobChunk?: number;
}
/**
 * `relay` is the relay's main canonical URL; `urls` (optional, added after the first release:
 * older relays omit it, older clients ignore it) lists every canonical URL whose auth it accepts,
 * `relay` first.
 */
export interface HelloFrame {
  v: 1;
  t: 'hello';
  challenge: Uint8Array;
  relay: string;
  urls?: string[];
  time: number;
  limits: Partial<RelayLimits>;
}
/** Most URLs a relay lists in `hello.urls`. */
export const MAX_HELLO_URLS = 32;
export interface OkFrame {
  v: 1;
  t: 'ok';
  id: string;
  deleted?: number;
  /** The answer to `auth`: envelopes waiting in the caller's mailbox (relays before this field omit it). */
  waiting?: number;
}
export interface BundleFrame {
  v: 1;
  t: 'bundle';
  id: string;
  bundle: unknown;
}
export interface AcceptedFrame {
  v: 1;
  t: 'accepted';
  id: string;
  eid: string;
  stored: boolean;
  delivered: number;
}
export interface MailItem {
  seq: number;
  eid: string;
  env: Uint8Array;
  time: number;
}
export interface MailFrame {
  v: 1;
  t: 'mail';
  id: string;
  items: MailItem[];
  more: boolean;
}
/** An envelope delivered at once; `seq` is 0 for an ephemeral (never stored) one. */
export interface PushFrame {
  v: 1;
  t: 'push';
  seq: number;
  eid: string;
  env: Uint8Array;
  time: number;
  ephemeral: boolean;
}
export interface PongFrame {
  v: 1;
  t: 'pong';
  id: string;
  time: number;
}
export interface ErrorFrame {
  v: 1;
  t: 'error';
  id?: string;
  code: string;
  message: string;
}
/** The answer to `prekeys`: what the relay now holds for the caller. */
export interface PrekeyStatusFrame {
  v: 1;
  t: 'prekey-status';
  id: string;
  status: PrekeyStatus;
}
/** The answer to `fetch-prekeys`: a prekey bundle (docs/PROTOCOL.md §9.2), signatures unchecked. */
export interface PrekeyBundleFrame {
  v: 1;
  t: 'prekey-bundle';
  id: string;
  bundle: Uint8Array;
}
export type RelayFrame =
  HelloFrame | OkFrame | BundleFrame | AcceptedFrame | MailFrame | PushFrame | PongFrame | ErrorFrame | PrekeyStatusFrame | PrekeyBundleFrame | BlobRelayFrame;

// --- Auth ------------------------------------------------------------------------------

/**
 * The bytes a client signs to answer a challenge:
 *   D(relayAuth) || challenge[32] || lp(utf8(url)) || u64be(time)
 * where `url` is the relay's canonical URL (canonicalRelayUrl) and `time` ms since the epoch.
 */
export function authSignedBytes(challenge: Uint8Array, url: string, time: number): Uint8Array {
  if (challenge.length !== CHALLENGE_BYTES) throw new DataError('BAD_CHALLENGE', `challenge must be ${CHALLENGE_BYTES} bytes`);
  return concatBytes(domainBytes(DOMAIN.relayAuth), challenge, lp(utf8(url)), u64be(time));
}

/**
 * The canonical spelling of a relay URL, as signed by clients and compared by the relay
 * (docs/PROTOCOL.md §7.3). Four rewrites, everything else must already be canonical or the URL
 * is refused (BAD_URL), so that any two implementations agree byte for byte:
 *   - the scheme `ws` / `wss` and the host are lowercased;
 *   - the default port (80 for ws, 443 for wss) and an empty port (`host:`) are dropped;
 *   - a path of a lone `/` is written as nothing.
 * Refused: more than MAX_URL_LENGTH characters, anything but printable ASCII (no spaces), user
 * info (`@`), a query (`?`), a fragment (`#`), a backslash; a host that is not a DNS name of
 * `a-z 0-9 . _ -`, a dotted-decimal IPv4 address or a bracketed RFC 5952 IPv6 address; a port
 * with leading zeros or above 65535; a path with characters outside RFC 3986 `pchar` and `/`,
 * a `%` not followed by two hex digits, or a `.` / `..` segment.
 * `WS://LocalHost:80/` -> `ws://localhost`, `ws://127.0.0.1:4000/` -> `ws://127.0.0.1:4000`.
 */
/** canonicalRelayUrl(url), or `url` unchanged when it does not canonicalise (its connect fails with its own error). */
export function canonicalOrAsIs(url: string): string {
  try {
    return canonicalRelayUrl(url);
  } catch {
    return url;
  }
}

export function canonicalRelayUrl(text: string): string {
  const bad = (why: string): never => {
    throw new DataError('BAD_URL', `relay url ${JSON.stringify(text.slice(0, 200))} ${why}`, { hint: 'use a url like ws://127.0.0.1:7070' });
  };
  if (text.length > MAX_URL_LENGTH) bad(`is longer than ${MAX_URL_LENGTH} characters`);
  if (!/^[\x21-\x7e]*$/.test(text)) bad('must be printable ASCII without spaces');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(.*)$/.exec(text);
  if (!m) return bad('is not a valid url');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'ws' && scheme !== 'wss') bad('must start with ws:// or wss://');
  if (text.includes('?') || text.includes('#')) bad('must not carry a query or a fragment');
  if (text.includes('\\')) bad('must not contain a backslash');
  const authority = m[2]!;
  if (authority.includes('@')) bad('must not carry user info');
  const a = /^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9._-]+)(?::([0-9]*))?$/.exec(authority);
  if (!a) return bad('has no valid host');
  const host = canonicalHost(a[1]!.toLowerCase(), bad);
  const portText = a[2] ?? '';
  if (portText !== '' && (!/^(0|[1-9][0-9]{0,4})$/.test(portText) || Number(portText) > 65535)) bad('has an invalid port');
  const port = portText === '' || Number(portText) === (scheme === 'ws' ? 80 : 443) ? '' : `:${portText}`;
  const path = m[3]!;
  if (path !== '') {
    if (!/^(\/([A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)+$/.test(path)) bad('has a path with characters that need escaping');
    if (path.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) bad('has a . or .. segment in its path');
  }
  return `${scheme}://${host}${port}${path === '/' ? '' : path}`;
}

/** A lowercased host as written in a canonical URL, or `bad` (see canonicalRelayUrl). */
function canonicalHost(host: string, bad: (why: string) => never): string {
  if (host.startsWith('[')) {
    let written: string;
    try {
      written = new URL(`ws://${host}`).hostname; // the RFC 5952 form (WHATWG serialises IPv6 that way)
    } catch {
      return bad('has an invalid IPv6 address');
    }
    if (written !== host) bad(`must write its IPv6 address as ${written}`);
    return host;
  }
  const labels = host.replace(/\.$/, '').split('.');
  // As in WHATWG URL parsing, a host whose last label is a number is an IPv4 address.
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(labels[labels.length - 1]!)) {
    const octet = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
    if (!new RegExp(`^${octet}(\\.${octet}){3}$`).test(host)) bad('must write its IPv4 address as four decimal numbers (like 127.0.0.1)');
    return host;
  }
  if (labels.some((l) => l === '')) bad('has an empty label in its host');
  return host;
}

// --- Validators ------------------------------------------------------------------------

/** Why a frame was refused: the code for the error frame, and the request id if one was readable. */
export interface FrameProblem {
  ok: false;
  code: RelayErrorCode;
  message: string;
  id?: string;
}
export type FrameResult<T> = { ok: true; frame: T } | FrameProblem;

class Problem extends Error {
  constructor(
    readonly code: RelayErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The checks of `b64(o, 'env', p, { max: MAX_ENVELOPE_BYTES })` and `fromB64`, with the same
 * errors, but the decoded Buffer is kept instead of copied: an envelope is sealed, not a secret
 * to wipe, and the relay only hashes, stores and drops it.
 */
function envelopeBytes(v: unknown, path: string): Uint8Array {
  if (typeof v !== 'string') fail(path, 'must be a base64 string');
  if (v.length > Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4) fail(path, `is longer than ${MAX_ENVELOPE_BYTES} bytes`);
  const buf = Buffer.from(v, 'base64');
  if (buf.toString('base64') !== v) throw new DataError('BAD_BASE64', `${path} is not valid base64`);
  if (buf.length > MAX_ENVELOPE_BYTES) fail(path, `is longer than ${MAX_ENVELOPE_BYTES} bytes`);
  return buf;
}

function eid(v: unknown, path: string): string {
  if (typeof v !== 'string' || !EID_RE.test(v)) fail(path, 'must be 32 lowercase hex characters');
  return v;
}

/**
 * True when the text holds at most MAX_FRAME_DEPTH opening brackets in all (inside strings or
 * not), so it cannot nest deeper than the limit and parseJson's character-by-character depth
 * scan can be skipped. Every ordinary frame but `mail` qualifies (a `send` has one `{`);
 * `indexOf` is a fast native search, ~20x cheaper than the scan.
 */
function shallow(text: string): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > MAX_FRAME_DEPTH) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > MAX_FRAME_DEPTH) return false;
  return true;
}

function header(text: string, maxBytes: number): { o: Obj; id: string | undefined } {
  let root: unknown;
  try {
    if (text.length <= maxBytes && shallow(text)) {
      try {
        root = JSON.parse(text) as unknown;
      } catch {
        throw new Problem('BAD_FRAME', 'input is not valid json'); // parseJson's wording
      }
    } else root = parseJson(text, maxBytes, MAX_FRAME_DEPTH);
  } catch (e) {
    if (e instanceof Problem) throw e;
    if (isHushError(e) && e.code === 'TOO_LARGE') throw new Problem('TOO_LARGE', e.message);
    throw new Problem('BAD_FRAME', isHushError(e) ? e.message : 'frame is not valid json');
  }
  if (!isObj(root)) throw new Problem('BAD_FRAME', 'frame must be a json object');
  const id = typeof root.id === 'string' && REQUEST_ID_RE.test(root.id) ? root.id : undefined;
  return { o: root, id };
}

function checkVersion(o: Obj): void {
  if (o.v !== FRAME_VERSION) throw new Problem('UNSUPPORTED_VERSION', `frame version ${JSON.stringify(o.v) ?? 'undefined'} is not supported, this relay speaks 1`);
  if (typeof o.t !== 'string') throw new Problem('BAD_FRAME', 'frame.t must be a string');
}

function problem(e: unknown, id: string | undefined): FrameProblem {
  if (e instanceof Problem) return { ok: false, code: e.code, message: e.message, ...(id === undefined ? {} : { id }) };
  if (isHushError(e)) return { ok: false, code: 'BAD_FRAME', message: e.message, ...(id === undefined ? {} : { id }) };
  throw e;
}

/** Parses one text frame sent by a client. Never throws for bad input: returns a FrameProblem. */
export function parseClientFrame(text: string, maxBytes: number): FrameResult<ClientFrame> {
  let id: string | undefined;
  try {
    const h = header(text, maxBytes);
    id = h.id;
    const o = h.o;
    checkVersion(o);
    const t = o.t as string;
    if (!(CLIENT_FRAME_TYPES as readonly string[]).includes(t)) throw new Problem('UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(t.slice(0, 32))}`);
    const p = `frame(${t})`;
    if (id === undefined) fail(`${p}.id`, 'must be 1 to 64 characters of A-Z a-z 0-9 . _ : -');
    const base = { v: 1 as const, id };
    if ((BLOB_CLIENT_FRAME_TYPES as readonly string[]).includes(t)) return { ok: true, frame: parseBlobClientFrame(o, t as BlobClientFrame['t'], id) };
    switch (t) {
      case 'auth':
        return {
          ok: true,
          frame: {
            ...base,
            t,
            signPk: b64(o, 'signPk', p, { len: 32 }),
            url: str(o, 'url', p, { max: MAX_URL_LENGTH }),
            time: int(o, 'time', p, 0, MAX_TIME),
            sig: b64(o, 'sig', p, { len: 64 }),
          },
        };
      case 'register':
        return { ok: true, frame: { ...base, t, bundle: obj(o.bundle, `${p}.bundle`) } };
      case 'lookup': {
        const hasName = o.name !== undefined;
        const hasKey = o.signPk !== undefined;
        if (hasName === hasKey) fail(p, 'must carry exactly one of name and signPk');
        return {
          ok: true,
          frame: hasName ? { ...base, t, name: str(o, 'name', p, { max: NAME_MAX, min: 1, re: NAME_RE }) } : { ...base, t, signPk: b64(o, 'signPk', p, { len: 32 }) },
        };
      }
      case 'release':
        return { ok: true, frame: { ...base, t, name: str(o, 'name', p, { max: NAME_MAX, min: 1, re: NAME_RE }) } };
      case 'transfer':
        return { ok: true, frame: { ...base, t, bundle: obj(o.bundle, `${p}.bundle`), from: b64(o, 'from', p, { len: 32 }), sig: b64(o, 'sig', p, { len: 64 }) } };
      case 'send': {
        const to = b64(o, 'to', p, { len: 32 });
        const e = eid(o.eid, `${p}.eid`);
        const ephemeral = optBool(o, 'ephemeral', p) ?? false;
        let env: Uint8Array;
        try {
          env = envelopeBytes(o.env, `${p}.env`);
        } catch (err) {
          throw new Problem('BAD_ENVELOPE', isHushError(err) ? err.message : 'bad envelope');
        }
        if (env.length < MIN_ENVELOPE_BYTES) throw new Problem('BAD_ENVELOPE', `${p}.env must be at least ${MIN_ENVELOPE_BYTES} bytes`);
        const token = o.token === undefined ? undefined : b64(o, 'token', p, { len: DELIVERY_TOKEN_BYTES });
        return { ok: true, frame: { v: 1, t, id, to, env, eid: e, ephemeral, toText: o.to as string, envText: o.env as string, ...(token ? { token } : {}) } };
      }
      case 'tokens': {
        const add = (o.add === undefined ? [] : arr(o, 'add', p, MAX_TOKENS_PER_FRAME)).map((x, i) => {
          const a = obj(x, `${p}.add[${i}]`);
          return { h: b64(a, 'h', `${p}.add[${i}]`, { len: TOKEN_HASH_BYTES }), exp: int(a, 'exp', `${p}.add[${i}]`, 0, MAX_TIME) };
        });
        const remove = (o.remove === undefined ? [] : arr(o, 'remove', p, MAX_TOKENS_PER_FRAME)).map((_x, i, list) =>
          b64(list as unknown as Obj, String(i), `${p}.remove`, { len: TOKEN_HASH_BYTES }),
        );
        return { ok: true, frame: { ...base, t, add, remove } };
      }
      case 'prekeys':
        return { ok: true, frame: { ...base, t, ...prekeysFrameFields(o, p) } };
      case 'fetch-prekeys':
        return { ok: true, frame: { ...base, t, signPk: b64(o, 'signPk', p, { len: 32 }) } };
      case 'pull':
        return {
          ok: true,
          frame: {
            ...base,
            t,
            after: optInt(o, 'after', p, 0, Number.MAX_SAFE_INTEGER) ?? 0,
            limit: optInt(o, 'limit', p, 1, MAX_PULL_LIMIT) ?? DEFAULT_PULL_LIMIT,
            ...optBin(o, p, base.id),
          },
        };
      case 'ack': {
        const list = arr(o, 'eids', p, MAX_ACK_EIDS);
        return { ok: true, frame: { ...base, t, eids: list.map((x, i) => eid(x, `${p}.eids[${i}]`)) } };
      }
      default: // 'ping'
        return { ok: true, frame: { ...base, t: 'ping' } };
    }
  } catch (e) {
    return problem(e, id);
  }
}

function mailItem(v: unknown, path: string): MailItem {
  const o = obj(v, path);
  return {
    seq: int(o, 'seq', path, 0, Number.MAX_SAFE_INTEGER),
    eid: eid(o.eid, `${path}.eid`),
    env: b64(o, 'env', path, { max: MAX_ENVELOPE_BYTES }),
    time: int(o, 'time', path, 0, MAX_TIME),
  };
}

/** Parses one text frame sent by a relay (used by the client). Same contract as parseClientFrame. */
export function parseRelayFrame(text: string, maxBytes = MAX_RELAY_FRAME_BYTES): FrameResult<RelayFrame> {
  let id: string | undefined;
  try {
    const h = header(text, maxBytes);
    id = h.id;
    const o = h.o;
    checkVersion(o);
    const t = o.t as string;
    const p = `frame(${t})`;
    const needId = (): string => {
      if (id === undefined) fail(`${p}.id`, 'must be a request id');
      return id;
    };
    switch (t) {
      case 'hello': {
        const lim = o.limits === undefined ? {} : obj(o.limits, `${p}.limits`);
        const limits: Partial<RelayLimits> = {};
        for (const [k, val] of Object.entries(lim)) if (typeof val === 'number' && Number.isSafeInteger(val) && val >= 0) (limits as Record<string, number>)[k] = val;
        const urls =
          o.urls === undefined ? undefined : arr(o, 'urls', p, MAX_HELLO_URLS).map((_u, i, list) => str(list as unknown as Obj, String(i), `${p}.urls`, { max: MAX_URL_LENGTH }));
        const relay = str(o, 'relay', p, { max: MAX_URL_LENGTH });
        return {
          ok: true,
          frame: {
            v: 1,
            t,
            challenge: b64(o, 'challenge', p, { len: CHALLENGE_BYTES }),
            relay,
            ...(urls === undefined ? {} : { urls }),
            time: int(o, 'time', p, 0, MAX_TIME),
            limits,
          },
        };
      }
      case 'ok':
        return {
          ok: true,
          frame: {
            v: 1,
            t,
            id: needId(),
            ...(o.deleted === undefined ? {} : { deleted: int(o, 'deleted', p, 0, Number.MAX_SAFE_INTEGER) }),
            ...(o.waiting === undefined ? {} : { waiting: int(o, 'waiting', p, 0, Number.MAX_SAFE_INTEGER) }),
          },
        };
      case 'bundle':
        return { ok: true, frame: { v: 1, t, id: needId(), bundle: obj(o.bundle, `${p}.bundle`) } };
      case 'accepted':
        return {
          ok: true,
          frame: { v: 1, t, id: needId(), eid: eid(o.eid, `${p}.eid`), stored: bool(o, 'stored', p), delivered: int(o, 'delivered', p, 0, Number.MAX_SAFE_INTEGER) },
        };
      case 'mail': {
        const items = arr(o, 'items', p, MAX_PULL_LIMIT).map((x, i) => mailItem(x, `${p}.items[${i}]`));
        return { ok: true, frame: { v: 1, t, id: needId(), items, more: bool(o, 'more', p) } };
      }
      case 'push': {
        const item = mailItem(o, p);
        return { ok: true, frame: { v: 1, t, ...item, ephemeral: optBool(o, 'ephemeral', p) ?? false } };
      }
      case 'prekey-status':
        return { ok: true, frame: { v: 1, t, id: needId(), status: prekeyStatusFields(o, p) } };
      case 'prekey-bundle':
        return { ok: true, frame: { v: 1, t, id: needId(), bundle: b64(o, 'bundle', p, { max: PREKEY_BUNDLE_BYTES_WITH_OPK }) } };
      case 'pong':
        return { ok: true, frame: { v: 1, t, id: needId(), time: int(o, 'time', p, 0, MAX_TIME) } };
      case 'error':
        return {
          ok: true,
          frame: { v: 1, t, ...(id === undefined ? {} : { id }), code: str(o, 'code', p, { max: 64, min: 1, re: /^[A-Z0-9_]+$/ }), message: str(o, 'message', p, { max: 1024 }) },
        };
      default: {
        const blob = parseBlobRelayFrame(o, t, id);
        if (blob) return { ok: true, frame: blob };
        throw new Problem('UNKNOWN_TYPE', `unknown frame type ${JSON.stringify(t.slice(0, 32))}`);
      }
    }
  } catch (e) {
    return problem(e, id);
  }
}

// --- Encoders --------------------------------------------------------------------------

/** JSON text of a frame whose byte fields are already base64 strings. */
export function encodeFrame(f: { t: string; [k: string]: unknown }): string {
  return JSON.stringify({ v: FRAME_VERSION, ...f });
}

export function mailItemJson(m: MailItem): { seq: number; eid: string; env: string; time: number } {
  return { seq: m.seq, eid: m.eid, env: toB64(m.env), time: m.time };
}

export type { BundleJson };
