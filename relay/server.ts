/**
 * The relay server's lifecycle: it listens (relay/urls.ts names the URLs it answers to), accepts
 * WebSocket connections and hands their frames to the handlers (relay/handlers.ts) over the
 * wire (relay/wire.ts), keeps mailboxes (relay/mailbox.ts) in the SQLite store
 * (relay/store.ts), pings and purges on timers, and shuts down gracefully.
 * docs/PROTOCOL.md §7; the layout is described in the file comments of each module.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { wsModule } from './cjs-deps.js';
import { UsageError } from '../src/errors.js';
import { canonicalRelayUrl } from '../src/protocol/frames.js';
import { DEFAULT_LIMITS, type RelayLimitsConfig } from './config.js';
import { type Conn, createHandlers, type EventLog } from './handlers.js';
import { Mailbox } from './mailbox.js';
import { freeSpaceProbe } from './quota.js';
import type { Store } from './store-api.js';
import { SqliteStore } from './store-sqlite.js';
import { RedisStore } from './store-redis.js';
import { relayUrls } from './urls.js';
import { Corking, frameBytes, frameText, rawLength, wsLink } from './wire.js';
import { BLOB_BIN_HEADER_BYTES } from '../src/protocol/blob-binary.js';
import { CHUNK_TAG_BYTES } from '../src/protocol/file-chunks.js';

export interface RelayOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Directory of the SQLite store (created 0700); not used with a `redisUrl`. */
  dataDir: string;
  /** A redis://HOST:PORT/DB url: the shared Redis store (relay/store-redis.ts) instead of SQLite in `dataDir`. */
  redisUrl?: string;
  /** Start on a Redis without an append-only file (--redis-allow-volatile). */
  redisAllowVolatile?: boolean;
  /**
   * With a `redisUrl`: the directory whose `blobs/` holds the blob files (--blob-dir), shared by
   * every relay on that Redis; without it the relay stores no blobs (NOT_FOUND).
   */
  blobDir?: string;
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

/**
 * The start-up failures of listen() as one-line usage errors (exit 2) naming the host and port,
 * instead of Node's errno text: a busy port, a privileged port, an address not on this machine.
 */
export function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as { code?: string }).code;
  const where = `port ${port} on ${host}`;
  if (code === 'EADDRINUSE')
    return new UsageError('RELAY_PORT_IN_USE', `${where} is in use`, {
      cause: e,
      hint: 'another relay (or program) listens there: stop it, pick another --port, or --port 0 for any free one',
    });
  if (code === 'EACCES' || code === 'EPERM')
    return new UsageError('RELAY_PORT_DENIED', `${where} needs privileges this process does not have`, {
      cause: e,
      hint: 'ports below 1024 are privileged: pick a port from 1024 up, or --port 0 for any free one',
    });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAFNOSUPPORT' || code === 'EINVAL') {
    return new UsageError('RELAY_BAD_HOST', `cannot listen on ${host}: it is not an address of this machine (${code})`, {
      cause: e,
      hint: 'use --host 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or an address of one of its interfaces',
    });
  }
  return e;
}

export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const limits: RelayLimitsConfig = { ...DEFAULT_LIMITS, ...opts.limits };
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const event: EventLog = (name, fields = {}) => {
    const kv = Object.entries(fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    log(`hush-relay: ${new Date().toISOString()} ${name}${kv ? ' ' + kv : ''}`);
  };

  // Checked before anything is opened: a bad URL throws BAD_URL here, not after listening.
  const publicUrls = [...(opts.publicUrls ?? []), ...(opts.url === undefined ? [] : [opts.url])].map((u) => canonicalRelayUrl(u));
  if (opts.redisUrl !== undefined && opts.blobDir !== undefined) usableBlobDir(opts.blobDir);
  const store: Store = opts.redisUrl
    ? await RedisStore.open(opts.redisUrl, {
        allowVolatile: opts.redisAllowVolatile,
        warn: (line) => log(`hush-relay: warning: ${line}`),
        onError: (e) => event('store-error', { op: 'redis', error: (e as { code?: string }).code ?? e.name }),
      })
    : new SqliteStore(opts.dataDir);
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
  await listen(server, opts.port ?? 0, host).catch(async (e: unknown) => {
    await store.close();
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
  // A relay storing blobs takes binary put frames of a whole chunk (--blob-chunk, §7.9.1), which
  // may pass --max-frame; text frames stay bounded by --max-frame (closed 1009 below).
  const storesBlobs = store.kind === 'sqlite' || opts.blobDir !== undefined;
  const maxPayload = storesBlobs ? Math.max(limits.maxFrameBytes, BLOB_BIN_HEADER_BYTES + limits.blobChunkBytes + CHUNK_TAG_BYTES) : limits.maxFrameBytes;
  const wss = new (wsModule().WebSocketServer)({ noServer: true, maxPayload, perMessageDeflate: false });
  for (const srv of servers) srv.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const listenUrl = `ws://${hostInUrl}:${port}`;
  const urls = relayUrls(host, port, publicUrls);
  if (urls.warning) log(`hush-relay: warning: ${urls.warning}`);

  const corking = new Corking();
  const mailbox = new Mailbox(store, corking, event, limits);
  /** Open connections, with their sockets (for the shutdown's close events). */
  const conns = new Map<Conn, WebSocket>();
  let closing = false;
  let connCounter = 0;
  const handlers = createHandlers({
    limits,
    urls,
    store,
    mailbox,
    event,
    closing: () => closing,
    freeBytes: store.kind === 'sqlite' ? freeSpaceProbe(opts.dataDir) : opts.blobDir !== undefined ? freeSpaceProbe(opts.blobDir) : undefined,
    dataDir: store.kind === 'sqlite' ? opts.dataDir : opts.blobDir,
  });

  wss.on('connection', (ws, req: IncomingMessage) => {
    const n = ++connCounter;
    const c = handlers.newConn(
      n,
      wsLink(ws, corking, (buffered) => event('slow', { conn: n, buffered })),
      req.socket.remoteAddress,
    );
    ws.on('error', (e) => event('socket-error', { conn: c.n, error: (e as { code?: string }).code ?? e.name }));
    if (closing) {
      c.link.send({ t: 'error', code: 'SHUTTING_DOWN', message: 'the relay is shutting down' });
      c.link.close(1001, 'SHUTTING_DOWN');
      return;
    }
    if (conns.size >= limits.maxConnections) {
      handlers.refuse(c, undefined, 'TOO_MANY_CONNECTIONS', `the relay already has ${limits.maxConnections} connections`, 1013);
      return;
    }
    conns.set(c, ws);
    event('connect', { conn: c.n, open: conns.size });
    c.authTimer = setTimeout(() => {
      if (!c.signPk) handlers.refuse(c, undefined, 'AUTH_TIMEOUT', `no valid auth within ${limits.authTimeoutMs} ms`);
    }, limits.authTimeoutMs);
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (ws.readyState !== ws.OPEN) return; // closed for an oversize text frame: nothing after it is read
      if (isBinary) return void handlers.onBinary(c, frameBytes(data));
      if (maxPayload > limits.maxFrameBytes && rawLength(data) > limits.maxFrameBytes) return ws.close(1009, 'Max payload size exceeded');
      return void handlers.onFrame(c, frameText(data));
    });
    ws.on('close', (code) => {
      conns.delete(c);
      handlers.gone(c);
      event('disconnect', { conn: c.n, code, open: conns.size });
    });
    c.link.send(handlers.hello(c));
  });

  const heartbeat = setInterval(() => {
    for (const c of conns.keys()) {
      if (!c.alive) {
        event('dead', { conn: c.n });
        c.link.terminate();
        continue;
      }
      c.alive = false;
      c.link.ping();
    }
  }, limits.heartbeatMs);

  const purge = async (): Promise<void> => {
    try {
      const n = await store.purge(Date.now() - limits.ttlMs);
      await store.purgeTokens(Date.now());
      await store.prekeys?.purgeExpiredPrekeys(Date.now());
      if (n > 0) event('purge', { removed: n });
    } catch (e) {
      event('store-error', { op: 'purge', error: (e as Error).name });
    }
    try {
      const b = (await handlers.blobs?.purge()) ?? 0;
      if (b > 0) event('purge-blobs', { removed: b });
    } catch (e) {
      event('store-error', { op: 'purge-blobs', error: (e as Error).name });
    }
    handlers.sweepBuckets();
  };
  const purgeTimer = setInterval(() => void purge(), limits.purgeIntervalMs);

  event('listening', {
    url: urls.main,
    urls: urls.all.join(','),
    listen: servers
      .map((srv) => {
        const a = srv.address() as AddressInfo;
        return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
      })
      .join(','),
    ...(store.kind === 'sqlite' ? { data: opts.dataDir } : { store: store.where, ...(opts.blobDir !== undefined ? { blobs: opts.blobDir } : {}) }),
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closed) return closed;
    closing = true;
    closed = (async () => {
      event('shutdown', { open: conns.size, pending: mailbox.pending });
      clearInterval(heartbeat);
      clearInterval(purgeTimer);
      const stopped = Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
      await mailbox.drain(); // finish the commits already queued, answering `accepted`
      const gone = [...conns].map(
        ([c, ws]) =>
          new Promise<void>((resolve) => {
            if (c.link.isClosed) return resolve();
            ws.once('close', () => resolve());
            c.link.close(1001, 'SHUTTING_DOWN');
            setTimeout(() => {
              c.link.terminate();
              resolve();
            }, 2000).unref();
          }),
      );
      await Promise.all(gone);
      wss.close();
      await stopped;
      await store.close();
      await handlers.blobs?.close();
      event('stopped');
    })();
    return closed;
  };

  return { url: urls.main, urls: urls.all, listenUrl, port, close };
}

/** Makes DIR/blobs (0700) for --blob-dir before anything is opened; a directory it cannot make is RELAY_DATA_DIR (exit 2). */
function usableBlobDir(dir: string): void {
  try {
    mkdirSync(join(dir, 'blobs'), { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as { code?: string }).code ?? (e as Error).message;
    throw new UsageError('RELAY_DATA_DIR', `cannot use the blob directory ${dir} (${code})`, {
      cause: e,
      hint: 'give --blob-dir (or HUSH_RELAY_BLOB_DIR) a writable directory that every relay on this Redis shares',
    });
  }
}
