/**
 * A typed client of the relay wire protocol (docs/PROTOCOL.md §7).
 *
 *   const c = await RelayClient.connect('ws://127.0.0.1:7070', { signPk, sign: (m) => signDetached(m, signSk) });
 *   await c.register(bundle);
 *   const bob = await c.lookup({ name: 'bob' });          // shape-checked; verify its signature yourself
 *   await c.send(bob.signPk, envelope);                    // resolves once the relay committed it
 *   c.on('push', (item) => ...);                           // mail delivered at once while connected
 *   const { items, more } = await c.pull({ after: 0 });
 *   await c.ack(items.map((i) => i.eid));
 *   await c.close();
 *
 * Errors are RelayError with the relay's code (NAME_TAKEN, MAILBOX_FULL, ...), or
 * RELAY_UNREACHABLE / RELAY_TIMEOUT / RELAY_CLOSED / RELAY_PROTOCOL from this side. No
 * reconnect logic: listen for 'close' and reconnect on top.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type WebSocketClass from 'ws';
import { RelayError } from '../errors.js';
import { corkForTurn } from '../ws-turn.js';
import { type Bundle, bundleToJson, parseBundle } from '../protocol/bundle.js';
import { fromHex, toB64 } from '../protocol/encoding.js';
import { MAIL_BIN_TYPE, MAIL_BIN_VERSION, parseMailBin } from '../protocol/mail-binary.js';
import { BLOB_BIN_HEADER_BYTES, BLOB_BIN_VERSION, encodeBlobBin, MAX_BIN_REQUEST_ID, parseBlobBin, writeBlobBinHeader } from '../protocol/blob-binary.js';
import { CHUNK_SIZE, LARGE_CHUNK_SIZE, MAX_SEALED_CHUNK } from '../protocol/file-chunks.js';
import { envelopeId } from '../protocol/envelope.js';
import { parsePrekeyBundle, type PrekeyBundle } from '../protocol/prekey-bundle.js';
import { encodePrekeyUpload, type PrekeyStatus, type PrekeyUpload } from '../protocol/prekey-upload.js';
import type { BlobStateFrame, ChunkFrame } from '../protocol/blob-frames.js';
import { authSignedBytes, canonicalRelayUrl, encodeFrame, type HelloFrame, MAX_RELAY_FRAME_BYTES, type MailItem, parseRelayFrame, type RelayFrame } from '../protocol/frames.js';

// ws is CommonJS: require() loads it with synchronous reads, its ESM wrapper through the ESM
// loader's asynchronous ones and a lexer pass per file, which cost a command that connects
// ~100 ms more on a busy 2-core machine (docs/PERFORMANCE.md, "Start-up").
const WebSocket = createRequire(import.meta.url)('ws') as typeof WebSocketClass;
type WebSocket = WebSocketClass;
/**
 * Whether this connection's frames may go with an all-zero masking key (docs/SECURITY.md,
 * "WebSocket masking"): over TLS (wss:, where no intermediary reads the frames) and on
 * loopback (no intermediary at all). Masking defends a transparent proxy on a plain ws: path
 * against bytes chosen by a script in a browser; it costs a pass over every byte sent (a
 * quarter of an upload's CPU time in JavaScript), and the relay skips unmasking a zero key.
 */
export function unmaskedOk(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'wss:') return true;
  const h = u.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

export interface RelayClientOptions {
  /**
   * Our identity key (32 bytes): the mailbox we authenticate as. Leave signPk and sign out for
   * an unauthenticated connection (sealed sender): it may only ping and send with delivery tokens.
   */
  signPk?: Uint8Array;
  /** Ed25519-signs the auth message with the identity's secret key (detached, 64 bytes). */
  sign?: (msg: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /**
   * The canonical URL to sign, i.e. the relay we mean to talk to. Default: the URL dialled.
   * Give it when dialling another address than the relay's public one (e.g. through a tunnel).
   */
  expectedUrl?: string;
  /** Per-request timeout in ms (default 15000); also bounds connect + auth. */
  timeoutMs?: number;
  /** Clock for the auth timestamp (ms); default Date.now. */
  now?: () => number;
}

export interface SendResult {
  eid: string;
  /** false for an ephemeral envelope (pushed if the recipient was online, never stored). */
  stored: boolean;
  /** How many of the recipient's connections got it pushed at once. */
  delivered: number;
}

export interface PullResult {
  items: MailItem[];
  /** More mail is waiting after the last item: pull again with after = last seq. */
  more: boolean;
}

export interface PushItem extends MailItem {
  ephemeral: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export type LookupQuery = { name: string } | { signPk: Uint8Array };

const HINTS: Record<string, string> = {
  NAME_TAKEN: 'choose another name with hush init --name, or register from the identity that owns it',
  MAILBOX_FULL: 'the recipient must pull their mail before more can be sent',
  UNKNOWN_RECIPIENT: 'the recipient must run hush register on this relay first; the message goes out with the next hush send, pull or listen after that',
  REGISTER_LIMITED: 'registration is limited per connection, per identity and per address: retry later',
  STORE_FULL: "the relay's storage is full; retry later or tell its operator",
  RATE_LIMITED: 'slow down and retry in a second',
  NOT_FOUND: 'check the name; the recipient must have registered on this relay',
  AUTH_WRONG_URL: 'the relay announces another url: use that one with --relay, or pass the url it expects',
  AUTH_STALE: "check this machine's clock",
  TOO_MANY_CONNECTIONS: 'the relay is busy; retry later',
  SHUTTING_DOWN: 'the relay is restarting; retry in a moment',
  STRANGER_QUOTA:
    'the recipient has not pulled what you (or senders without a delivery token together) already sent; until they reply (which gives you a delivery token), your waiting mail is limited',
  BAD_TRANSFER: 'make the statement again with hush register --transfer-to KEY in the home that holds the name',
  TOKEN_REQUIRED: 'typing and other ephemeral envelopes go only to contacts who gave you a delivery token',
  TOKEN_INVALID: 'the delivery token expired or was revoked; hush sends identified instead',
  TOO_MANY_TOKENS: 'too many delivery tokens are registered for this mailbox',
  BAD_PREKEYS: 'this is a bug in the uploading client; the relay stored none of this upload',
  TOO_MANY_PREKEYS: 'the relay holds as many one-time prekeys as it keeps for you; upload again once some are used',
  NO_PREKEYS: 'the recipient has published no prekeys; hush sends with protocol v1',
  BLOB_TOO_LARGE: 'the file is larger than this relay accepts (its --blob-max); split it, or use a relay that takes more',
  BLOB_QUOTA: 'files already waiting on the relay use the quota: wait until the recipients save them, or until they expire',
  BLOB_INCOMPLETE: 'the upload is not finished; the sender must run the same hush send again to resume it',
};

/**
 * Watches connection attempts (the CLI shows a status line while a relay is slow to greet):
 * called when a connect starts, it returns the function called once the attempt is over
 * (greeted, failed or timed out). One per process; see RelayClient.observeConnects.
 */
export type ConnectObserver = (url: string) => () => void;
let connectObserver: ConnectObserver | undefined;

/** TLS failures that mean a wss:// URL reached a relay speaking plain ws:// (or another non-TLS service). */
function isTlsMismatch(url: string, e: Error & { code?: string }): boolean {
  if (!url.startsWith('wss:')) return false;
  if (e.code === 'EPROTO' || (e.code ?? '').startsWith('ERR_SSL_')) return true;
  return /wrong version number|packet length too long|unknown protocol/i.test(e.message);
}

/** Network errno codes in words, for "cannot reach the relay at URL: connection refused". */
const NET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on that port)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up (DNS)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  ECONNRESET: 'the connection was reset',
};

function unreachableError(url: string, e: Error & { code?: string }): RelayError {
  if (isTlsMismatch(url, e)) {
    return new RelayError('RELAY_TLS_MISMATCH', `the TLS handshake with ${url} failed: the server there does not speak TLS`, {
      hint: `the relay speaks plain ws:// (hush relay has no TLS; put a TLS proxy in front of it for wss://), or the URL scheme is wrong: try ${url.replace(/^wss:/, 'ws:')}`,
      cause: e,
    });
  }
  const why = e.code ? (NET_WORDS[e.code] ?? e.code) : undefined;
  return new RelayError('RELAY_UNREACHABLE', `cannot reach the relay at ${url}${why ? `: ${why}` : ''}`, {
    hint: 'is the relay running? start one with hush relay, or check --relay / HUSH_RELAY',
    cause: e,
  });
}

interface Waiter {
  resolve: (f: RelayFrame) => void;
  reject: (e: RelayError) => void;
  timer: NodeJS.Timeout;
}

export interface RelayClientEvents {
  push: [item: PushItem];
  close: [info: CloseInfo];
}

export class RelayClient extends EventEmitter<RelayClientEvents> {
  /** Envelopes the relay said wait in our mailbox when this connection authenticated (§7.3; undefined from relays before the field). */
  waitingAtAuth: number | undefined;
  /** The relay's hello: its canonical URL, its clock and its limits. */
  readonly hello: HelloFrame;
  /** The canonical URL we authenticated to. */
  readonly url: string;
  private readonly ws: WebSocket;
  private readonly timeoutMs: number;
  private readonly waiters = new Map<string, Waiter>();
  private nextId = 1;
  private closedInfo: CloseInfo | undefined;

  private constructor(ws: WebSocket, hello: HelloFrame, url: string, timeoutMs: number) {
    super();
    this.ws = ws;
    this.hello = hello;
    this.url = url;
    this.timeoutMs = timeoutMs;
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
  }

  /** Opens a connection and authenticates; rejects with RelayError (RELAY_UNREACHABLE, AUTH_*, ...). */
  static async connect(url: string, opts: RelayClientOptions): Promise<RelayClient> {
    const done = connectObserver?.(url);
    try {
      return await RelayClient.dial(url, opts);
    } finally {
      done?.();
    }
  }

  /** Installs (or with undefined removes) the process's ConnectObserver. */
  static observeConnects(observer: ConnectObserver | undefined): void {
    connectObserver = observer;
  }

  private static async dial(url: string, opts: RelayClientOptions): Promise<RelayClient> {
    const signUrl = canonicalRelayUrl(opts.expectedUrl ?? url);
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const ws = new WebSocket(url, {
      maxPayload: MAX_RELAY_FRAME_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      ...(unmaskedOk(url) ? { generateMask: zeroMask } : {}),
    });
    const hello = await new Promise<HelloFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new RelayError('RELAY_TIMEOUT', `the relay at ${url} did not greet within ${timeoutMs} ms`, { hint: 'check the relay url' }));
      }, timeoutMs);
      const fail = (e: RelayError): void => {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        reject(e);
      };
      ws.once('error', (e: Error & { code?: string }) => {
        fail(unreachableError(url, e));
      });
      ws.once('close', (code, reason) => fail(closeError(code, reason.toString())));
      ws.once('message', (data, isBinary) => {
        const r = isBinary ? undefined : parseRelayFrame((data as Buffer).toString('utf8'));
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        ws.on('error', () => undefined); // errors surface as 'close'
        clearTimeout(timer);
        if (r?.ok && r.frame.t === 'hello') return resolve(r.frame);
        if (r?.ok && r.frame.t === 'error') {
          ws.close();
          return reject(errorFromFrame(r.frame.code, r.frame.message));
        }
        ws.terminate();
        reject(new RelayError('RELAY_PROTOCOL', 'the relay did not start with a hello frame', { hint: 'check that the url points to a hush relay' }));
      });
    });
    const client = new RelayClient(ws, hello, signUrl, timeoutMs);
    if (!opts.signPk || !opts.sign) return client; // unauthenticated (sealed sender)
    try {
      const time = (opts.now ?? Date.now)();
      const sig = await opts.sign(authSignedBytes(hello.challenge, signUrl, time));
      const ok = await client.request('ok', { t: 'auth', signPk: toB64(opts.signPk), url: signUrl, time, sig: toB64(sig) });
      client.waitingAtAuth = ok.waiting;
    } catch (e) {
      client.ws.terminate();
      if (e instanceof RelayError && e.code === 'AUTH_WRONG_URL') {
        // hello.urls (newer relays) lists every URL the relay accepts; hello.relay is the first.
        const own = hello.urls && hello.urls.length > 0 ? hello.urls : [hello.relay];
        throw new RelayError(e.code, `the relay answers to ${own.join(', ')}, not ${signUrl}`, {
          hint: `if that is the relay you meant, use --relay ${own[0]}`,
          cause: e,
        });
      }
      throw e;
    }
    return client;
  }

  get closed(): boolean {
    return this.closedInfo !== undefined;
  }

  /** Publishes (or replaces) our bundle under its name. The bundle must be for our signPk. */
  async register(bundle: Bundle): Promise<void> {
    await this.request('ok', { t: 'register', bundle: bundleToJson(bundle) });
  }

  /**
   * Frees `name` on this relay; it must be held by our key (RelayError NAME_TAKEN when another
   * key holds it, NOT_FOUND when nobody does). Afterwards anyone may register it.
   */
  /** Presents a name transfer (§7.2): `bundle` is ours, under the name `from` signed over to us. */
  async transfer(bundle: Bundle, from: Uint8Array, sig: Uint8Array): Promise<void> {
    await this.request('ok', { t: 'transfer', bundle: bundleToJson(bundle), from: toB64(from), sig: toB64(sig) });
  }

  async release(name: string): Promise<void> {
    await this.request('ok', { t: 'release', name });
  }

  /**
   * Fetches a bundle by name or by identity key. The shape is checked here; the signature is
   * NOT: check it with verifyBundle (src/crypto/bundle.ts) and compare with what you pinned.
   */
  async lookup(q: LookupQuery): Promise<Bundle> {
    const f = await this.request('bundle', { t: 'lookup', ...('name' in q ? { name: q.name } : { signPk: toB64(q.signPk) }) });
    try {
      return parseBundle(f.bundle);
    } catch (e) {
      throw new RelayError('RELAY_PROTOCOL', 'the relay returned a malformed bundle', { cause: e });
    }
  }

  /**
   * Sends a sealed envelope to the mailbox of `to` (an identity key). Resolves once the relay
   * has committed it (or, with ephemeral, pushed it to whoever was online). Resending the same
   * envelope is safe: it is stored once.
   */
  async send(to: Uint8Array, env: Uint8Array, opts: { ephemeral?: boolean; token?: Uint8Array } = {}): Promise<SendResult> {
    const eid = envelopeId(env);
    const f = await this.request('accepted', {
      t: 'send',
      to: toB64(to),
      env: toB64(env),
      eid,
      ...(opts.ephemeral ? { ephemeral: true } : {}),
      ...(opts.token ? { token: toB64(opts.token) } : {}),
    });
    if (f.eid !== eid) throw new RelayError('RELAY_PROTOCOL', 'the relay accepted another envelope id than the one sent');
    return { eid: f.eid, stored: f.stored, delivered: f.delivered };
  }

  /**
   * Registers delivery-token hashes for our mailbox (with their expiry, ms) and removes others.
   * An older relay answers UNKNOWN_TYPE (RelayError).
   */
  async tokens(add: readonly { h: Uint8Array; exp: number }[], remove: readonly Uint8Array[]): Promise<void> {
    await this.request('ok', { t: 'tokens', add: add.map((t) => ({ h: toB64(t.h), exp: t.exp })), remove: remove.map((h) => toB64(h)) });
  }

  /**
   * Publishes prekeys (docs/PROTOCOL.md §9.2 "Upload"): `spk` and `lastResort` replace the ones
   * the relay holds, `opks` and `kems` are added to its one-time pools (ids it already holds are
   * ignored). The relay checks every signature against our registered keys first and stores
   * nothing of an upload that fails (BAD_PREKEYS), or that would pass its caps
   * (TOO_MANY_PREKEYS); NOT_FOUND when we are not registered there. Resolves with what the
   * relay then holds. An older relay answers UNKNOWN_TYPE (RelayError).
   */
  async publishPrekeys(upload: PrekeyUpload): Promise<PrekeyStatus> {
    return (await this.request('prekey-status', { t: 'prekeys', upload: toB64(encodePrekeyUpload(upload)) })).status;
  }

  /**
   * Takes one v2 prekey bundle of the identity `signPk` from the relay, which hands each
   * one-time prekey out once. Layout checked here (BAD_PREKEY_BUNDLE); keys and signatures are
   * NOT: check them with verifyPrekeyBundle (src/crypto/prekeys.ts) against the pinned contact.
   * null when the identity has published no usable prekeys (NO_PREKEYS) or the relay predates
   * them (UNKNOWN_TYPE): send with v1. RelayError NOT_FOUND when the key is not registered,
   * RATE_LIMITED over the relay's bundle rates (do not fall back to v1 on that: retry).
   */
  async fetchBundle(signPk: Uint8Array): Promise<PrekeyBundle | null> {
    let f;
    try {
      f = await this.request('prekey-bundle', { t: 'fetch-prekeys', signPk: toB64(signPk) });
    } catch (e) {
      if (e instanceof RelayError && (e.code === 'NO_PREKEYS' || e.code === 'UNKNOWN_TYPE')) return null;
      throw e;
    }
    return parsePrekeyBundle(f.bundle);
  }

  /** What the relay holds of our prekeys (an empty `prekeys` frame); null when the relay predates prekeys. */
  async prekeyStatus(): Promise<PrekeyStatus | null> {
    try {
      return (await this.request('prekey-status', { t: 'prekeys' })).status;
    } catch (e) {
      if (e instanceof RelayError && e.code === 'UNKNOWN_TYPE') return null;
      throw e;
    }
  }

  /** Mail waiting in our mailbox with seq > after (default 0), oldest first. */
  async pull(opts: { after?: number; limit?: number } = {}): Promise<PullResult> {
    const f = await this.request('mail', {
      t: 'pull',
      ...(opts.after === undefined ? {} : { after: opts.after }),
      ...(opts.limit === undefined ? {} : { limit: opts.limit }),
      ...(this.binaryMail ? { bin: 1 } : {}),
    });
    return { items: f.items, more: f.more };
  }

  /**
   * True when the relay answers pulls with binary mail pages (§7.2.1: its hello's
   * `limits.mailBinary` is 1); pull() then asks for them. An older relay gets JSON pulls.
   */
  get binaryMail(): boolean {
    return this.hello.limits.mailBinary === MAIL_BIN_VERSION;
  }

  /** Deletes these envelopes from our mailbox; returns how many were there. */
  async ack(eids: string[]): Promise<number> {
    if (eids.length === 0) return 0;
    const f = await this.request('ok', { t: 'ack', eids });
    return f.deleted ?? 0;
  }

  /** Round trip; resolves with the relay's clock (ms). */
  // --- Blobs (PROTOCOL.md §7.8); the transfers themselves are in src/client/blob-transfer.ts.

  /** Starts a blob of `bytes` sealed bytes in `chunks` chunks of `chunk` bytes for `to`. */
  blobBegin(to: readonly Uint8Array[], bytes: number, chunk: number, chunks: number): Promise<BlobStateFrame> {
    return this.request('blob', { t: 'blob-begin', to: to.map((k) => toB64(k)), bytes, chunk, chunks });
  }

  /** Our blob's state: `have` is the number of chunks the relay holds (resume from there). */
  blobResume(blob: string): Promise<BlobStateFrame> {
    return this.request('blob', { t: 'blob-resume', blob });
  }

  /**
   * True when the relay takes chunk data in binary frames (§7.9.1: its hello's `limits.blobBinary`
   * is 1); older relays get the JSON frames with base64 data.
   */
  get binaryBlobs(): boolean {
    return this.hello.limits.blobBinary === BLOB_BIN_VERSION;
  }

  /**
   * Plaintext bytes per chunk of a file uploaded here: 1 MiB (a version-2 file message, §11.2)
   * when the relay takes binary frames and chunks that large (its hello's `limits.blobChunk`),
   * else the largest power of two it takes, and 64 KiB (version 1) on older relays.
   */
  get fileChunkSize(): number {
    const most = this.binaryBlobs ? Math.min(this.hello.limits.blobChunk ?? CHUNK_SIZE, LARGE_CHUNK_SIZE) : CHUNK_SIZE;
    let size = CHUNK_SIZE;
    while (size * 2 <= most) size *= 2;
    return size;
  }

  blobPut(blob: string, i: number, data: Uint8Array): Promise<BlobStateFrame> {
    corkForTurn(this.ws); // this turn's blob frames in one write (src/ws-turn.ts)
    if (this.binaryBlobs) return this.call('blob', 'blob-put', (id) => this.ws.send(encodeBlobBin('put', Number(id), fromHex(blob, 'blob id'), i, data), { binary: true }));
    return this.request('blob', { t: 'blob-put', blob, i, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') });
  }

  /**
   * blobPut of a sealed chunk that sits after BLOB_BIN_HEADER_BYTES unwritten bytes of `framed`
   * (sealChunkAfter): on a binary relay the header is written there and the buffer sent as it
   * is, no copy of the chunk. `written` is called once the socket no longer needs `framed`
   * (written out, or the connection is gone), so the caller may reuse it.
   */
  blobPutFramed(blob: string, i: number, framed: Buffer, written?: () => void): Promise<BlobStateFrame> {
    if (!this.binaryBlobs) {
      const put = this.blobPut(blob, i, framed.subarray(BLOB_BIN_HEADER_BYTES)); // base64 of it, taken at once
      written?.();
      return put;
    }
    corkForTurn(this.ws); // this turn's blob frames in one write (src/ws-turn.ts)
    let sent = false;
    const put = this.call('blob', 'blob-put', (id) => {
      sent = true;
      this.ws.send(writeBlobBinHeader(framed, 'put', Number(id), fromHex(blob, 'blob id'), i), { binary: true }, () => written?.());
    });
    if (!sent) written?.(); // refused before anything was sent (the connection had closed)
    return put;
  }

  blobFinish(blob: string): Promise<BlobStateFrame> {
    return this.request('blob', { t: 'blob-finish', blob });
  }

  /**
   * ms this relay lets a get of a chunk not yet uploaded wait (its hello's `limits.blobWait`,
   * §7.9 "Streaming"), or undefined for an older relay, which refuses gets of an unfinished blob.
   */
  get blobWaitMs(): number | undefined {
    return this.hello.limits.blobWait;
  }

  /** Chunk `i` of a blob; on a streaming relay it may wait for the uploader, so its timeout is ours plus the relay's wait. */
  blobGet(blob: string, i: number): Promise<ChunkFrame> {
    const body = { t: 'blob-get', blob, i, ...(this.binaryBlobs ? { bin: 1 } : {}) };
    corkForTurn(this.ws); // this turn's blob frames in one write (src/ws-turn.ts)
    return this.call('chunk', 'blob-get', (id) => this.ws.send(encodeFrame({ ...body, id })), this.timeoutMs + (this.blobWaitMs ?? 0));
  }

  /** The recipient's ack: the relay deletes the blob once every recipient acked. */
  async blobAck(blob: string): Promise<void> {
    await this.request('ok', { t: 'blob-ack', blob });
  }

  /** The uploader drops its blob. */
  async blobDelete(blob: string): Promise<void> {
    await this.request('ok', { t: 'blob-delete', blob });
  }

  async ping(): Promise<number> {
    return (await this.request('pong', { t: 'ping' })).time;
  }

  /** Closes the connection (1000) and waits for the 'close' event. */
  async close(): Promise<void> {
    if (this.closedInfo) return;
    const done = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.ws.close(1000, 'bye');
    const t = setTimeout(() => this.ws.terminate(), 2000);
    await done;
    clearTimeout(t);
  }

  private request<T extends RelayFrame['t']>(expect: T, body: { t: string; [k: string]: unknown }): Promise<Extract<RelayFrame, { t: T }>> {
    return this.call(expect, body.t, (id) => this.ws.send(encodeFrame({ ...body, id })));
  }

  /** Sends a request (`send` writes it with its id: decimal, 1..2^32-1, so binary frames can carry it) and waits for its answer. */
  private call<T extends RelayFrame['t']>(expect: T, what: string, send: (id: string) => void, timeoutMs = this.timeoutMs): Promise<Extract<RelayFrame, { t: T }>> {
    if (this.closedInfo) return Promise.reject(closeError(this.closedInfo.code, this.closedInfo.reason));
    if (this.nextId > MAX_BIN_REQUEST_ID) this.nextId = 1;
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new RelayError('RELAY_TIMEOUT', `the relay did not answer ${what} within ${timeoutMs} ms`, { hint: 'the relay may be overloaded; retry' }));
      }, timeoutMs);
      this.waiters.set(id, {
        timer,
        reject,
        resolve: (f) => {
          if (f.t === expect) resolve(f as Extract<RelayFrame, { t: T }>);
          else reject(new RelayError('RELAY_PROTOCOL', `the relay answered ${what} with ${f.t}`));
        },
      });
      send(id);
    });
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (data.length >= 2 && data[1] === MAIL_BIN_TYPE) {
        // A mail page (§7.2.1): settled like a JSON mail frame; each envelope is a view, not a copy.
        const m = parseMailBin(data);
        if (m.ok) this.settle(m.frame.id, m.frame);
        else if (m.id !== undefined) this.settle(m.id, undefined, new RelayError('RELAY_PROTOCOL', `malformed binary answer from the relay: ${m.message}`));
        return;
      }
      // A chunk (§7.9.1): settled like a JSON chunk frame; the data is a view, not a copy.
      const r = parseBlobBin(data, 'chunk', MAX_SEALED_CHUNK);
      if (r.ok) this.settle(r.frame.id, { v: 1, t: 'chunk', id: r.frame.id, blob: r.frame.blob, i: r.frame.i, data: r.frame.data });
      else if (r.id !== undefined) this.settle(r.id, undefined, new RelayError('RELAY_PROTOCOL', `malformed binary answer from the relay: ${r.message}`));
      return; // other binary frames are ignored
    }
    const r = parseRelayFrame(data.toString('utf8'));
    if (!r.ok) {
      if (r.id !== undefined) this.settle(r.id, undefined, new RelayError('RELAY_PROTOCOL', `malformed answer from the relay: ${r.message}`));
      return; // unknown or malformed unsolicited frames are ignored (forward compatibility)
    }
    const f = r.frame;
    if (f.t === 'push') {
      const item: PushItem = { seq: f.seq, eid: f.eid, env: f.env, time: f.time, ephemeral: f.ephemeral };
      this.emit('push', item);
      return;
    }
    if (f.t === 'error') {
      const err = errorFromFrame(f.code, f.message);
      if (f.id !== undefined && this.waiters.has(f.id)) this.settle(f.id, undefined, err);
      return; // connection-level errors are followed by a close
    }
    if ('id' in f && f.id !== undefined) this.settle(f.id, f);
  }

  private settle(id: string, f: RelayFrame | undefined, err?: RelayError): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve(f!);
  }

  private onClose(code: number, reason: string): void {
    this.closedInfo = { code, reason };
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      this.waiters.delete(id);
      w.reject(closeError(code, reason));
    }
    this.emit('close', this.closedInfo);
  }
}

function errorFromFrame(code: string, message: string): RelayError {
  const hint = HINTS[code];
  return new RelayError(code, `relay refused: ${message}`, hint === undefined ? {} : { hint });
}

function closeError(code: number, reason: string): RelayError {
  if (/^[A-Z_]+$/.test(reason) && reason !== 'SHUTTING_DOWN') return errorFromFrame(reason, `connection closed (${reason.toLowerCase().replace(/_/g, ' ')})`);
  if (code === 1001 || reason === 'SHUTTING_DOWN') return new RelayError('RELAY_CLOSED', 'the relay is shutting down', { hint: HINTS.SHUTTING_DOWN! });
  if (code === 1009) return new RelayError('TOO_LARGE', 'the relay closed the connection: a frame was too large');
  return new RelayError('RELAY_CLOSED', `the connection to the relay closed (${code}${reason ? ` ${reason}` : ''})`, { hint: 'reconnect and retry' });
}
