/**
 * `hush daemon`'s server: one unlocked identity, one listening Messenger (the relay connection
 * that stores mail as it arrives), and JSON-RPC 2.0 over a Unix socket in the home
 * (./rpc.ts for the format, ./methods.ts for the methods, docs/RPC.md for both).
 *
 * Life cycle:
 *   start(): the place (./socket-path.cts) is made 0700; a live daemon there is refused
 *     (DAEMON_RUNNING, exit 2); a stale socket or pid file (kill -9) is replaced; the socket
 *     is created under umask 077 (mode 0600); the listen starts.
 *   stop(): no new connections; requests in flight finish; the listen ends; the outbox is
 *     flushed once; the store closes and the identity is wiped; socket and pid file go.
 *     SIGTERM, SIGINT, `daemon.stop` (hush lock) and the idle lock all end here.
 *
 * The daemon writes no secret anywhere: the pid and cursor files hold a number each.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { UsageError } from '../errors.js';
import type { CommandContext, DaemonBackend } from '../cli/commands/index.js';
import { openSession, quarantinedEvent, type Session } from '../cli/messaging.js';
import type { Unlocked } from '../store/keyring-store.js';
import { atomicWriteFile } from '../store/fsutil.js';
import { homeWarnings } from '../store/paths.js';
import { DEFAULT_MAX_LINE_BYTES, encode, errorObject, parseRequestLine, RpcCode, type RpcNotification, type RpcRequest, type RpcResponse } from './rpc.js';
import { type DaemonPaths, daemonPaths, MAX_SOCKET_PATH, unsafeReason } from './socket-path.cjs';
import { METHODS } from './methods.js';
import { SendBatcher, senderFor } from './send-batcher.js';

export interface DaemonOptions {
  home: string;
  /** The unlocked keyring; the daemon owns it from now on and wipes it on stop. */
  unlocked: Unlocked;
  /** The context `hush daemon` ran with (relay, timeouts, env, a logger as `out`). */
  ctx: CommandContext;
  /** Stop after this long without a request (ms; 0: never). */
  idleLockMs: number;
  maxLineBytes?: number;
  /** One line for the daemon's log (stderr). */
  log: (line: string) => void;
}

/** One client connection. */
export class Conn {
  subscribed = false;
  /** stdin streams of this connection's cli.run requests, by request id. */
  readonly inputs = new Map<string, import('node:stream').PassThrough>();
  constructor(readonly socket: net.Socket) {}

  send(msg: RpcResponse | RpcNotification): void {
    if (!this.socket.destroyed) this.socket.write(encode(msg));
  }

  notify(method: string, params: Record<string, unknown>): void {
    this.send({ jsonrpc: '2.0', method, params });
  }
}

function cloneUnlocked(u: Unlocked): Unlocked {
  const id = u.identity;
  return {
    ...u,
    identity: { signPk: id.signPk.slice(), signSk: id.signSk.slice(), boxPk: id.boxPk.slice(), boxSk: id.boxSk.slice(), historyKey: id.historyKey.slice() },
    dataKey: u.dataKey.slice(),
    wrappingKey: u.wrappingKey.slice(),
  };
}

export class Daemon {
  readonly paths: DaemonPaths;
  readonly started = Date.now();
  private server: net.Server | undefined;
  private session: Session | undefined;
  private readonly listenAbort = new AbortController();
  private listening: Promise<void> | undefined;
  private readonly conns = new Set<Conn>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private idleTimer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private stopping: Promise<void> | undefined;
  private readonly stopped: Promise<string>;
  private resolveStopped!: (reason: string) => void;
  readonly backend: DaemonBackend;
  private readonly batcher: SendBatcher;
  private warningsCheck: Promise<string[]> | undefined;

  constructor(readonly o: DaemonOptions) {
    this.paths = daemonPaths(o.home);
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.backend = {
      unlocked: () => cloneUnlocked(this.o.unlocked),
      shownAfter: () => this.cursor,
      shown: (row) => {
        if (row <= this.cursor) return;
        this.cursor = row;
        void atomicWriteFile(this.paths.cursor, `${row}\n`).catch(() => undefined); // a number, not a secret; best effort
      },
      // One stat of the home for the requests that arrive while it runs (64 JSON-RPC sends in
      // flight need not stat it 64 times); a request after it settles starts a new one.
      homeWarnings: (home) => {
        if (home !== this.o.home) return homeWarnings(home);
        this.warningsCheck ??= homeWarnings(home).finally(() => (this.warningsCheck = undefined));
        return this.warningsCheck;
      },
    };
    // Sends share one session of their own (./send-batcher.ts), opened at the first send.
    this.batcher = new SendBatcher(() => openSession({ ...this.o.ctx, backend: this.backend }));
    this.backend.sender = senderFor(this.batcher, o.ctx);
  }

  get name(): string {
    return this.o.unlocked.file.name;
  }

  get relayUrl(): string | undefined {
    return this.session?.relay.url;
  }

  /** The listening messenger (for subscribe). */
  get messenger(): Session['m'] | undefined {
    return this.session?.m;
  }

  private pulls: Promise<unknown> = Promise.resolve();

  /**
   * Runs `fn` after every earlier pull through this daemon has finished: two pulls at once
   * would both start at the same cursor and show the same messages twice.
   */
  serialPull<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.pulls.then(fn, fn);
    this.pulls = p.catch(() => undefined);
    return p;
  }

  /** Resolves with the reason once the daemon has stopped. */
  whenStopped(): Promise<string> {
    return this.stopped;
  }

  async start(): Promise<void> {
    const p = this.paths;
    if (Buffer.byteLength(p.socket) > MAX_SOCKET_PATH) {
      throw new UsageError('DAEMON_PATH_TOO_LONG', `the daemon socket path ${p.socket} is longer than ${MAX_SOCKET_PATH} bytes, the limit of Unix sockets`, {
        hint: 'use a home with a shorter path (--home / HUSH_HOME)',
      });
    }
    await fsp.mkdir(p.dir, { recursive: true, mode: 0o700 });
    const why = unsafeReason(p);
    if (why !== undefined && why !== 'missing') {
      // The directory is ours to fix only when it is ours: a mode we can tighten.
      const st = await fsp.lstat(p.dir);
      if (st.isDirectory() && (typeof process.getuid !== 'function' || st.uid === process.getuid())) await fsp.chmod(p.dir, 0o700);
      const again = unsafeReason(p);
      if (again !== undefined && again !== 'missing' && !again.startsWith(p.socket)) {
        throw new UsageError('DAEMON_UNSAFE', `refusing to run the daemon: ${again}`, { hint: `remove ${p.dir} and start hush daemon again` });
      }
    }
    await this.claim();
    // The store before the socket: a command that reaches us finds everything ready.
    this.session = await openSession({ ...this.o.ctx, backend: this.backend });
    this.cursor = await this.readCursor(this.session.m.store.lastMessageRow());
    await this.listenSocket();
    this.startListen();
    this.touch();
  }

  /** One daemon per home: a live one is refused, a dead one's socket and pid file replaced. */
  private async claim(): Promise<void> {
    const p = this.paths;
    if (await canConnect(p.socket)) {
      throw new UsageError('DAEMON_RUNNING', `a hush daemon already runs for ${this.o.home}${pidNote(p.pid)}`, {
        hint: 'use it (commands find it by themselves), or stop it first with hush lock',
      });
    }
    await fsp.rm(p.socket, { force: true }); // stale: nobody answers on it
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.writeFile(p.pid, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new UsageError('DAEMON_RUNNING', `another hush daemon is starting for ${this.o.home}${pidNote(p.pid)}`, { hint: 'wait for it, or stop it with hush lock' });
        }
        const pid = readPid(p.pid);
        if (pid !== undefined && pid !== process.pid && alive(pid) && (await canConnect(p.socket))) continue; // re-checked below
        await fsp.rm(p.pid, { force: true }); // its daemon is gone (kill -9): replace it
      }
    }
  }

  private async readCursor(fallback: number): Promise<number> {
    try {
      const n = Number((await fsp.readFile(this.paths.cursor, 'utf8')).trim());
      return Number.isSafeInteger(n) && n >= 0 && n <= fallback ? n : fallback;
    } catch {
      return fallback;
    }
  }

  private async listenSocket(): Promise<void> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.paths.socket, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    await fsp.chmod(this.paths.socket, 0o600);
  }

  private startListen(): void {
    const m = this.session!.m;
    m.on('state', (st) => {
      if (st.state === 'connected') this.o.log(`hush: daemon listening on ${st.url} as ${this.name}`);
      else if (st.state === 'reconnected') this.o.log(`hush: reconnected to ${st.url}`);
      else this.o.log(`hush: lost the relay at ${st.url} (${st.error}); reconnecting`);
      this.broadcast('state', { event: 'state', state: st.state, url: st.url, ...('error' in st ? { error: st.error } : {}) });
    });
    m.on('message', (msg) => this.broadcast('message', { event: 'message', id: msg.id, from: msg.from, to: msg.to, time: msg.time, body: msg.body }));
    m.on('receipt', (r) => this.broadcast('receipt', { event: 'receipt', from: r.from, type: r.type, ids: r.ids }));
    m.on('typing', (t) => this.broadcast('typing', { event: 'typing', from: t.from, time: t.time }));
    m.on('sent', (e) => this.broadcast('sent', { event: 'sent', to: e.to, id: e.id, time: e.time, sealed: e.sealed }));
    m.on('quarantined', (q) => this.broadcast('quarantined', quarantinedEvent(q)));
    this.listening = m.listen(this.listenAbort.signal).catch((e: unknown) => {
      // A fatal relay answer (wrong URL, auth refused): commands still run, subscribers get no mail.
      this.o.log(`hush: warning: the daemon stopped listening: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private broadcast(method: string, params: Record<string, unknown>): void {
    for (const c of this.conns) if (c.subscribed) c.notify(method, params);
  }

  /** A request arrived: the idle lock starts again. */
  touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.o.idleLockMs <= 0 || this.stopping) return;
    this.idleTimer = setTimeout(() => void this.stop('idle'), this.o.idleLockMs);
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const conn = new Conn(socket);
    this.conns.add(conn);
    const max = this.o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10)) {
        const line = buf.subarray(0, nl);
        buf = buf.subarray(nl + 1);
        if (line.length > max) {
          conn.send({ jsonrpc: '2.0', id: null, error: { code: RpcCode.invalidRequest, message: `invalid request: a line is longer than ${max} bytes` } });
          socket.end();
          return;
        }
        const text = line.toString('utf8').trim();
        if (text !== '') this.handleLine(conn, text);
      }
      if (buf.length > max) {
        conn.send({ jsonrpc: '2.0', id: null, error: { code: RpcCode.invalidRequest, message: `invalid request: a line is longer than ${max} bytes` } });
        socket.end();
      }
    });
    socket.on('error', () => undefined); // a client that vanished; 'close' follows
    socket.on('close', () => {
      this.conns.delete(conn);
      for (const input of conn.inputs.values()) input.end();
      conn.inputs.clear();
    });
  }

  private handleLine(conn: Conn, line: string): void {
    const parsed = parseRequestLine(line);
    if (!parsed.ok) {
      conn.send(parsed.response);
      return;
    }
    const req = parsed.request;
    // cli.stdin is a notification that feeds a running cli.run: not activity of its own.
    if (req.method !== 'cli.stdin') this.touch();
    const p = this.dispatch(conn, req);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)); // dispatch never rejects
  }

  private async dispatch(conn: Conn, req: RpcRequest): Promise<void> {
    const method = Object.hasOwn(METHODS, req.method) ? METHODS[req.method] : undefined;
    let response: RpcResponse;
    try {
      if (!method) throw Object.assign(new Error(), { rpc: { code: RpcCode.methodNotFound, message: `method not found: ${req.method}` } });
      if (this.stopping && req.method !== 'daemon.stop') throw Object.assign(new Error(), { rpc: { code: RpcCode.internalError, message: 'the daemon is stopping' } });
      const result = await method({ daemon: this, conn, params: req.params, id: req.id ?? null });
      response = { jsonrpc: '2.0', id: req.id ?? null, result };
    } catch (e) {
      const rpc = (e as { rpc?: { code: number; message: string } }).rpc;
      response = { jsonrpc: '2.0', id: req.id ?? null, error: rpc ?? errorObject(e) };
    }
    if (req.id !== undefined) conn.send(response);
  }

  /** Stops once (later calls wait for the same stop). */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.o.log(`hush: daemon stopping (${reason})`);
    const server = this.server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    // Requests in flight finish; a client's stdin still streaming ends here (send --lines
    // sends what it read).
    for (const c of this.conns) for (const input of c.inputs.values()) input.end();
    await Promise.allSettled([...this.inFlight]);
    for (const c of this.conns) c.socket.end();
    await this.batcher.close();
    this.listenAbort.abort();
    await this.listening;
    if (this.session) {
      try {
        const r = await this.session.m.flushOutbox();
        if (r.sent > 0) this.o.log(`hush: sent ${r.sent} queued from the outbox`);
        if (r.failed.length > 0) this.o.log(`hush: ${r.failed.length} left in the outbox (${r.failed[0]!.error.message})`);
      } catch (e) {
        this.o.log(`hush: the outbox was not flushed: ${e instanceof Error ? e.message : String(e)}`);
      }
      await this.session.close().catch(() => undefined);
    }
    const { wipeIdentity } = await import('../crypto/identity.js');
    const { wipe } = await import('../crypto/nacl.js');
    wipeIdentity(this.o.unlocked.identity);
    wipe(this.o.unlocked.dataKey, this.o.unlocked.wrappingKey);
    for (const c of this.conns) c.socket.destroy();
    await closed;
    await fsp.rm(this.paths.socket, { force: true });
    if (readPid(this.paths.pid) === process.pid) await fsp.rm(this.paths.pid, { force: true });
    this.resolveStopped(reason);
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function pidNote(file: string): string {
  const pid = readPid(file);
  return pid === undefined ? '' : ` (pid ${pid})`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Does something accept connections on this socket? (false for a missing or stale one) */
export function canConnect(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
