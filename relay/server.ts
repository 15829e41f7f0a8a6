/**
 * The relay server: a `ws` WebSocket server over the SQLite store of relay/store.ts, speaking
 * the frames of src/protocol/frames.ts (docs/PROTOCOL.md §7).
 *
 * It is blind: it checks signatures (auth, bundles) and never holds a key that opens a box.
 * It never logs envelope contents or keys: log lines name connections by a counter.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyDetached } from '../src/crypto/nacl.js';
import { isHushError, UsageError } from '../src/errors.js';
import { bundleSignedBytes, bundleToJson, parseBundle } from '../src/protocol/bundle.js';
import { bytesEqual, toB64 } from '../src/protocol/encoding.js';
import { envelopeId, MAX_ENVELOPE_BYTES } from '../src/protocol/envelope.js';
import {
  type AckFrame,
  type AuthFrame,
  authSignedBytes,
  canonicalRelayUrl,
  CHALLENGE_BYTES,
  type ClientFrame,
  encodeFrame,
  type LookupFrame,
  MAX_PULL_BYTES,
  parseClientFrame,
  type PullFrame,
  type RegisterFrame,
  type RelayErrorCode,
  type RelayLimits,
  type SendFrame,
} from '../src/protocol/frames.js';
import { randomBytes } from '../src/crypto/nacl.js';
import { DEFAULT_LIMITS, type RelayLimitsConfig } from './config.js';
import { RelayStore } from './store.js';
import { relayUrls } from './urls.js';

export interface RelayOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Directory of the SQLite store (created 0700). */
  dataDir: string;
  /** The URLs clients dial and sign (canonicalised), the first one announced; see relay/urls.ts. */
  publicUrls?: string[];
  /** Old name of one `publicUrls` entry (--url), appended to them. */
  url?: string;
  limits?: Partial<RelayLimitsConfig>;
  /** One line per event (no newline); default: stderr. */
  log?: (line: string) => void;
}

export interface RunningRelay {
  /** The canonical URL announced first (hello.relay, the first line on stdout). */
  url: string;
  /** Every canonical URL whose auth is accepted, `url` first (hello.urls). */
  urls: string[];
  /** ws://HOST:PORT actually listened on. */
  listenUrl: string;
  port: number;
  /** Stops accepting, finishes pending commits, closes sockets with 1001, closes the store. */
  close(): Promise<void>;
}

/** Token bucket: `rate` tokens per second, holding at most `rate` (one second of burst). */
class Bucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number) {
    this.tokens = rate;
  }
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  full(now = Date.now()): boolean {
    return this.tokens + ((now - this.last) / 1000) * this.rate >= this.rate;
  }
}

interface Conn {
  n: number;
  ws: WebSocket;
  challenge: Uint8Array;
  challengeUsed: boolean;
  signPk?: Uint8Array;
  key?: string;
  alive: boolean;
  authTimer?: NodeJS.Timeout;
  sendBucket: Bucket;
  frameBucket: Bucket;
}

/** A durable send waiting for its group commit; it is also the row store.insertBatch inserts. */
interface Pending {
  conn: Conn;
  reqId: string;
  recipient: Uint8Array;
  rkey: string;
  eid: string;
  env: Uint8Array;
  /** `env` as base64, exactly as received (strictly canonical): pushed without re-encoding. */
  envText: string;
  time: number;
}

// The two frames of the hot path, written as text: the same JSON as encodeFrame (same keys in
// the same order) without building an object per frame. Every interpolated string is checked
// to need no escaping: request ids match REQUEST_ID_RE, eids EID_RE, envelopes canonical base64.
const pushText = (seq: number, eid: string, env: string, time: number, ephemeral: boolean): string =>
  `{"v":1,"t":"push","seq":${seq},"eid":"${eid}","env":"${env}","time":${time}${ephemeral ? ',"ephemeral":true' : ''}}`;
const acceptedText = (id: string, eid: string, stored: boolean, delivered: number): string =>
  `{"v":1,"t":"accepted","id":"${id}","eid":"${eid}","stored":${stored},"delivered":${delivered}}`;

/**
 * A socket with this much unsent gets no more pushes: a stored push closes it (the client
 * reconnects and pulls; the mail waits in the mailbox), an ephemeral one is dropped.
 */
const PUSH_BACKLOG_BYTES = 8 * 1024 * 1024;
/** Answers to a client with this much unsent close its connection (it does not read). */
const MAX_BACKLOG_BYTES = 2 * PUSH_BACKLOG_BYTES;

class RelayError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
  }
}

/**
 * The start-up failures of listen() as one-line usage errors (exit 2) naming the host and port,
 * instead of Node's errno text: a busy port, a privileged port, an address not on this machine.
 */
export function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as { code?: string }).code;
  const where = `port ${port} on ${host}`;
  if (code === 'EADDRINUSE') return new UsageError('RELAY_PORT_IN_USE', `${where} is in use`, { cause: e, hint: 'another relay (or program) listens there: stop it, pick another --port, or --port 0 for any free one' });
  if (code === 'EACCES' || code === 'EPERM') return new UsageError('RELAY_PORT_DENIED', `${where} needs privileges this process does not have`, { cause: e, hint: 'ports below 1024 are privileged: pick a port from 1024 up, or --port 0 for any free one' });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAFNOSUPPORT' || code === 'EINVAL') {
    return new UsageError('RELAY_BAD_HOST', `cannot listen on ${host}: it is not an address of this machine (${code})`, { cause: e, hint: 'use --host 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an address of one of its interfaces' });
  }
  return e;
}

export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const limits: RelayLimitsConfig = { ...DEFAULT_LIMITS, ...opts.limits };
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const event = (name: string, fields: Record<string, string | number | boolean> = {}): void => {
    const kv = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
    log(`hush-relay: ${new Date().toISOString()} ${name}${kv ? ' ' + kv : ''}`);
  };

  const store = new RelayStore(opts.dataDir);
  const conns = new Set<Conn>();
  const online = new Map<string, Set<Conn>>();
  const identityBuckets = new Map<string, Bucket>();
  const mailboxStats = new Map<string, { count: number; bytes: number }>();
  let queue: Pending[] = [];
  let flushScheduled = false;
  let closing = false;
  let connCounter = 0;

  const newServer = (): Server =>
    createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('hush relay: connect with a WebSocket client\n');
    });
  const listen = (srv: Server, port: number, on: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, on, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  const server = newServer();
  await listen(server, opts.port ?? 0, host).catch((e: unknown) => {
    store.close();
    throw listenError(e, host, opts.port ?? 0);
  });
  const address = server.address() as AddressInfo;
  const port = address.port;
  const servers = [server];
  // A relay on 127.0.0.1 (or localhost, or ::1) also listens on the other loopback family, so
  // ws://localhost:PORT and ws://[::1]:PORT, which it accepts as its own, reach it too. Skipped
  // (and logged) where the machine has no such address or something else holds the port there.
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1') {
    const other = address.family === 'IPv6' ? '127.0.0.1' : '::1';
    const srv = newServer();
    await listen(srv, port, other).then(
      () => servers.push(srv),
      (e: unknown) => event('listen-skipped', { host: other, port, error: (e as { code?: string }).code ?? (e as Error).name }),
    );
  }
  // Made once listening, without a server of its own: in `server` mode a WebSocketServer
  // re-emits the http server's listen errors as its own 'error' events, which nobody handles.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, perMessageDeflate: false });
  for (const srv of servers) srv.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const listenUrl = `ws://${hostInUrl}:${port}`;
  const urls = relayUrls(host, port, [...(opts.publicUrls ?? []), ...(opts.url === undefined ? [] : [opts.url])]);
  const url = urls.main;
  const ownUrls = new Set(urls.all);
  if (urls.warning) log(`hush-relay: warning: ${urls.warning}`);

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
  };

  // While a group commit answers its batch, each socket is corked once and uncorked at the end,
  // so a batch costs one write per socket instead of one per frame (docs/PERFORMANCE.md).
  let corked: Set<Socket> | undefined;
  const cork = (ws: WebSocket): void => {
    const sock = (ws as unknown as { _socket?: Socket })._socket;
    if (!corked || !sock || corked.has(sock)) return;
    sock.cork();
    corked.add(sock);
  };

  const send = (c: Conn, f: { t: string; [k: string]: unknown } | string): void => {
    if (c.ws.readyState !== c.ws.OPEN) return;
    // A client that keeps asking and never reads the answers is dropped, not buffered for.
    if (c.ws.bufferedAmount > MAX_BACKLOG_BYTES) {
      event('slow', { conn: c.n, buffered: c.ws.bufferedAmount });
      c.ws.terminate();
      return;
    }
    cork(c.ws);
    c.ws.send(typeof f === 'string' ? f : encodeFrame(f));
  };
  const sendError = (c: Conn, id: string | undefined, code: RelayErrorCode, message: string): void => {
    send(c, { t: 'error', ...(id === undefined ? {} : { id }), code, message });
  };
  const refuse = (c: Conn, id: string | undefined, code: RelayErrorCode, message: string, closeCode = 1008): void => {
    sendError(c, id, code, message);
    event('refused', { conn: c.n, code });
    c.ws.close(closeCode, code);
  };

  const statsOf = (recipient: Uint8Array, rkey: string): { count: number; bytes: number } => {
    let s = mailboxStats.get(rkey);
    if (!s) {
      s = store.stats(recipient);
      mailboxStats.set(rkey, s);
    }
    return s;
  };

  const pushTo = (rkey: string, seq: number, eid: string, env: string, time: number, ephemeral: boolean): number => {
    const set = online.get(rkey);
    if (!set) return 0;
    let delivered = 0;
    const text = pushText(seq, eid, env, time, ephemeral);
    for (const c of set) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      if (c.ws.bufferedAmount > PUSH_BACKLOG_BYTES) {
        // Skipping a stored push silently would leave a listening client idle while mail
        // waits; closing makes it reconnect and pull. Ephemeral pushes are just dropped.
        if (!ephemeral) {
          event('slow', { conn: c.n, buffered: c.ws.bufferedAmount });
          c.ws.terminate();
        }
        continue;
      }
      cork(c.ws);
      c.ws.send(text);
      delivered++;
    }
    return delivered;
  };

  // Group commit: every send that arrives in one event-loop turn goes into one transaction.
  const flush = (): void => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    let fresh: (number | null)[];
    try {
      fresh = store.insertBatch(batch);
    } catch (e) {
      event('store-error', { op: 'insert', n: batch.length, error: isHushError(e) ? e.code : (e as Error).name });
      for (const p of batch) {
        const s = mailboxStats.get(p.rkey);
        if (s) {
          s.count--;
          s.bytes -= p.env.length;
        }
        sendError(p.conn, p.reqId, 'INTERNAL', 'the relay could not store the envelope');
      }
      return;
    }
    corked = new Set<Socket>();
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      let delivered = 0;
      const seq = fresh[i];
      if (seq) {
        delivered = pushTo(p.rkey, seq, p.eid, p.envText, p.time, false);
      } else {
        const s = mailboxStats.get(p.rkey);
        if (s) {
          s.count--;
          s.bytes -= p.env.length;
        }
      }
      send(p.conn, acceptedText(p.reqId, p.eid, true, delivered));
    }
    const socks = corked;
    corked = undefined;
    for (const sock of socks) sock.uncork();
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
    if (!ownUrls.has(claimed)) return refuse(c, f.id, 'AUTH_WRONG_URL', `auth is for ${claimed}, this relay answers to ${urls.all.join(' ')}`);
    if (Math.abs(Date.now() - f.time) > limits.authSkewMs) return refuse(c, f.id, 'AUTH_STALE', `auth time is more than ${limits.authSkewMs} ms from the relay's clock`);
    if (!verifyDetached(authSignedBytes(c.challenge, claimed, f.time), f.sig, f.signPk)) return refuse(c, f.id, 'AUTH_FAILED', 'auth signature does not verify');
    c.signPk = f.signPk;
    c.key = toB64(f.signPk);
    if (c.authTimer) clearTimeout(c.authTimer);
    let set = online.get(c.key);
    if (!set) online.set(c.key, (set = new Set()));
    set.add(c);
    event('auth', { conn: c.n });
    send(c, { t: 'ok', id: f.id });
  };

  const handleRegister = (c: Conn, f: RegisterFrame): void => {
    let b;
    try {
      b = parseBundle(f.bundle);
    } catch (e) {
      throw new RelayError('BAD_BUNDLE', isHushError(e) ? e.message : 'bad bundle');
    }
    if (!bytesEqual(b.signPk, c.signPk!)) throw new RelayError('BAD_BUNDLE', 'bundle is for another identity than the authenticated one');
    if (!verifyDetached(bundleSignedBytes(b), b.sig, b.signPk)) throw new RelayError('BAD_BUNDLE', 'bundle signature does not verify');
    const byName = store.lookupName(b.name);
    if (byName && !bytesEqual(byName.signPk, b.signPk)) throw new RelayError('NAME_TAKEN', `the name ${b.name} is taken by another identity`);
    const mine = store.lookupKey(b.signPk);
    if (mine) {
      const prev = (JSON.parse(mine.bundle) as { created: number }).created;
      if (b.created < prev) throw new RelayError('BAD_BUNDLE', 'bundle is older than the one already registered');
    }
    store.putBundle(b.name, b.signPk, JSON.stringify(bundleToJson(b)), Date.now());
    event('register', { conn: c.n, renamed: !!mine && mine.name !== b.name });
    send(c, { t: 'ok', id: f.id });
  };

  const handleLookup = (c: Conn, f: LookupFrame): void => {
    const row = f.name !== undefined ? store.lookupName(f.name) : store.lookupKey(f.signPk!);
    if (!row) throw new RelayError('NOT_FOUND', f.name !== undefined ? `no identity is registered under the name ${f.name}` : 'no identity is registered with that key');
    send(c, { t: 'bundle', id: f.id, bundle: JSON.parse(row.bundle) as unknown });
  };

  const handleSend = (c: Conn, f: SendFrame): void => {
    const now = Date.now();
    if (!c.sendBucket.take(now)) throw new RelayError('RATE_LIMITED', `more than ${limits.sendRatePerConn} envelopes per second on this connection`);
    let ib = identityBuckets.get(c.key!);
    if (!ib) identityBuckets.set(c.key!, (ib = new Bucket(limits.sendRatePerIdentity)));
    if (!ib.take(now)) throw new RelayError('RATE_LIMITED', `more than ${limits.sendRatePerIdentity} envelopes per second from this identity`);
    if (envelopeId(f.env) !== f.eid) throw new RelayError('BAD_ENVELOPE', 'eid does not match the envelope');
    const rkey = f.toText; // = toB64(f.to): base64 is strict
    if (f.ephemeral) {
      const delivered = pushTo(rkey, 0, f.eid, f.envText, now, true);
      send(c, acceptedText(f.id, f.eid, false, delivered));
      return;
    }
    const s = statsOf(f.to, rkey);
    if (s.count + 1 > limits.mailboxMaxCount || s.bytes + f.env.length > limits.mailboxMaxBytes) {
      if (store.exists(f.to, f.eid)) {
        send(c, acceptedText(f.id, f.eid, true, 0));
        return;
      }
      throw new RelayError('MAILBOX_FULL', "the recipient's mailbox is full");
    }
    s.count++;
    s.bytes += f.env.length;
    queue.push({ conn: c, reqId: f.id, recipient: f.to, rkey, eid: f.eid, env: f.env, envText: f.envText, time: now });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  const handlePull = (c: Conn, f: PullFrame): void => {
    const rows = store.pull(c.signPk!, f.after, Date.now() - limits.ttlMs, f.limit, MAX_PULL_BYTES);
    const items: { seq: number; eid: string; env: string; time: number }[] = [];
    let bytes = 0;
    for (const r of rows) {
      if (items.length > 0 && bytes + r.env.length > MAX_PULL_BYTES) break;
      bytes += r.env.length;
      items.push({ seq: r.seq, eid: r.eid, env: toB64(r.env), time: r.time });
    }
    let more = items.length < rows.length;
    if (!more && rows.length === f.limit) more = store.pull(c.signPk!, rows[rows.length - 1]!.seq, Date.now() - limits.ttlMs, 1).length > 0;
    send(c, { t: 'mail', id: f.id, items, more });
  };

  const handleAck = (c: Conn, f: AckFrame): void => {
    const r = store.ack(c.signPk!, f.eids);
    const s = mailboxStats.get(c.key!);
    if (s) {
      s.count -= r.count;
      s.bytes -= r.bytes;
    }
    send(c, { t: 'ok', id: f.id, deleted: r.count });
  };

  const dispatch = (c: Conn, f: ClientFrame): void => {
    if (f.t === 'ping') return send(c, { t: 'pong', id: f.id, time: Date.now() });
    if (f.t === 'auth') return handleAuth(c, f);
    if (!c.signPk) throw new RelayError('AUTH_REQUIRED', `authenticate before ${f.t}`);
    switch (f.t) {
      case 'register':
        return handleRegister(c, f);
      case 'lookup':
        return handleLookup(c, f);
      case 'send':
        return handleSend(c, f);
      case 'pull':
        return handlePull(c, f);
      case 'ack':
        return handleAck(c, f);
    }
  };

  const onMessage = (c: Conn, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void => {
    c.alive = true;
    if (isBinary) return sendError(c, undefined, 'BAD_FRAME', 'binary frames are not supported, send json text');
    // ws hands a Buffer (binaryType nodebuffer): decode it in place (Buffer.from would copy it).
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const r = parseClientFrame(text, limits.maxFrameBytes);
    if (!r.ok) return sendError(c, r.id, r.code, r.message);
    if (!c.frameBucket.take()) return sendError(c, r.frame.id, 'RATE_LIMITED', `more than ${limits.frameRatePerConn} frames per second`);
    if (closing) return sendError(c, r.frame.id, 'SHUTTING_DOWN', 'the relay is shutting down');
    try {
      dispatch(c, r.frame);
    } catch (e) {
      if (e instanceof RelayError) return sendError(c, r.frame.id, e.code, e.message);
      event('internal-error', { conn: c.n, frame: r.frame.t, error: isHushError(e) ? e.code : (e as Error).name });
      sendError(c, r.frame.id, 'INTERNAL', 'the relay failed to handle this frame');
    }
  };

  wss.on('connection', (ws) => {
    const c: Conn = {
      n: ++connCounter,
      ws,
      challenge: randomBytes(CHALLENGE_BYTES),
      challengeUsed: false,
      alive: true,
      sendBucket: new Bucket(limits.sendRatePerConn),
      frameBucket: new Bucket(limits.frameRatePerConn),
    };
    ws.on('error', (e) => event('socket-error', { conn: c.n, error: (e as { code?: string }).code ?? e.name }));
    if (closing) {
      sendError(c, undefined, 'SHUTTING_DOWN', 'the relay is shutting down');
      ws.close(1001, 'SHUTTING_DOWN');
      return;
    }
    if (conns.size >= limits.maxConnections) {
      sendError(c, undefined, 'TOO_MANY_CONNECTIONS', `the relay already has ${limits.maxConnections} connections`);
      event('refused', { conn: c.n, code: 'TOO_MANY_CONNECTIONS' });
      ws.close(1013, 'TOO_MANY_CONNECTIONS');
      return;
    }
    conns.add(c);
    event('connect', { conn: c.n, open: conns.size });
    c.authTimer = setTimeout(() => {
      if (!c.signPk) refuse(c, undefined, 'AUTH_TIMEOUT', `no valid auth within ${limits.authTimeoutMs} ms`);
    }, limits.authTimeoutMs);
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
    ws.on('close', (code) => {
      conns.delete(c);
      if (c.authTimer) clearTimeout(c.authTimer);
      if (c.key) {
        const set = online.get(c.key);
        set?.delete(c);
        if (set && set.size === 0) online.delete(c.key);
      }
      event('disconnect', { conn: c.n, code, open: conns.size });
    });
    send(c, { t: 'hello', challenge: toB64(c.challenge), relay: url, urls: urls.all, time: Date.now(), limits: publicLimits });
  });

  const heartbeat = setInterval(() => {
    for (const c of conns) {
      if (!c.alive) {
        event('dead', { conn: c.n });
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, limits.heartbeatMs);

  const purge = (): void => {
    try {
      const n = store.purge(Date.now() - limits.ttlMs);
      if (n > 0) {
        mailboxStats.clear();
        event('purge', { removed: n });
      }
    } catch (e) {
      event('store-error', { op: 'purge', error: (e as Error).name });
    }
    for (const [k, b] of identityBuckets) if (!online.has(k) && b.full()) identityBuckets.delete(k);
  };
  const purgeTimer = setInterval(purge, limits.purgeIntervalMs);

  event('listening', { url, urls: urls.all.join(','), listen: servers.map((srv) => { const a = srv.address() as AddressInfo; return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`; }).join(','), data: opts.dataDir });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closed) return closed;
    closing = true;
    closed = (async () => {
      event('shutdown', { open: conns.size, pending: queue.length });
      clearInterval(heartbeat);
      clearInterval(purgeTimer);
      const stopped = Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
      flush(); // finish the commits already queued, answering `accepted`
      const gone = [...conns].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === c.ws.CLOSED) return resolve();
            c.ws.once('close', () => resolve());
            c.ws.close(1001, 'SHUTTING_DOWN');
            setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, 2000).unref();
          }),
      );
      await Promise.all(gone);
      wss.close();
      await stopped;
      store.close();
      event('stopped');
    })();
    return closed;
  };

  return { url, urls: urls.all, listenUrl, port, close };
}
