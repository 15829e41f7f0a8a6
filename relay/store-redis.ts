/**
 * The shared relay store on Redis (through ioredis): any number of relay processes on one Redis
 * serve the same users (docs/ARCHITECTURE.md "The relay store"). Layout and scripts:
 * relay/redis-layout.ts, docs/PROTOCOL.md §7.8.
 *
 * Every write that a check guards is one Lua script (atomic in Redis): an insert with its
 * mailbox and store quotas and idempotent eid, an ack that deletes from the acknowledging
 * mailbox only, a name claimed first-come. A stored envelope is announced on WAKE_CHANNEL, so
 * the relay holding the recipient's connection fetches and pushes it.
 *
 * "accepted" means durable: open() reads the server's persistence and refuses to start without
 * AOF (appendonly yes) unless allowVolatile, and warns on appendfsync everysec (the last second
 * of accepted mail can be lost when the Redis machine crashes).
 */
import type { Redis } from 'ioredis';
import { ioredis } from './cjs-deps.js';
import { randomBytes } from '../src/crypto/nacl.js';
import { DataError, UsageError } from '../src/errors.js';
import { toB64 } from '../src/protocol/encoding.js';
import { ACK_LUA, INSERT_LUA, keys, LAYOUT_VERSION, PULL_LUA, PURGE_LUA, PUT_BUNDLE_LUA, RELEASE_LUA, TOKENS_LUA, TRANSFER_LUA, WAKE_CHANNEL } from './redis-layout.js';
import { RedisBlobMeta } from './blobs-redis.js';
import { RedisPrekeyStore } from './prekeys-redis.js';
import { runScript, Script } from './redis-script.js';
import type { DirectoryEntry, InsertResult, MailQuota, NewMail, Store, StoredMail, WakeHandler } from './store-api.js';

const hex = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('hex');
const buf = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
const KNOWN_MS = 2000;
const KNOWN_MAX = 100_000;
const STORE_HINT = 'give --store redis://HOST:PORT/DB of a running Redis (or HUSH_RELAY_STORE), or --store sqlite:DIR';

const S = {
  insert: new Script(INSERT_LUA),
  pull: new Script(PULL_LUA),
  ack: new Script(ACK_LUA),
  purge: new Script(PURGE_LUA),
  putBundle: new Script(PUT_BUNDLE_LUA),
  release: new Script(RELEASE_LUA),
  transfer: new Script(TRANSFER_LUA),
  tokens: new Script(TOKENS_LUA),
};

export interface RedisStoreOptions {
  /** Start on a Redis without AOF (accepted mail is lost with the Redis process). */
  allowVolatile?: boolean;
  /** Warnings for the log (appendfsync everysec, volatile). */
  warn: (line: string) => void;
  /** Errors of the connection after start (ioredis reconnects by itself). */
  onError: (e: Error) => void;
}

/** redis://HOST:PORT/DB without user or password (for logs). */
export function redisWhere(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '/0' : u.pathname}`;
}

export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly shared = true;
  /** Names this process in wake-ups (its own are pushed locally already). */
  private readonly instance = hex(randomBytes(8));
  private sub: Redis | undefined;
  /** Keys (R) seen registered, until when (ms). */
  private readonly known = new Map<string, number>();
  /** The v2 prekeys, in the same Redis (relay/prekeys-redis.ts). */
  readonly prekeys: RedisPrekeyStore;
  /** Blob metadata, in the same Redis (relay/blobs-redis.ts); the bytes are files in --blob-dir. */
  readonly blobMeta: RedisBlobMeta;

  private constructor(
    private readonly redis: Redis,
    readonly where: string,
  ) {
    this.prekeys = new RedisPrekeyStore(redis);
    this.blobMeta = new RedisBlobMeta(redis);
  }

  /** Connects, checks the persistence and the layout version; a UsageError (exit 2) or DataError (exit 6) when it cannot serve. */
  static async open(url: string, opts: RedisStoreOptions): Promise<RedisStore> {
    let where: string;
    try {
      where = redisWhere(url);
    } catch {
      throw new UsageError('BAD_FLAG', `--store ${JSON.stringify(url)} is not a redis:// url`, { hint: STORE_HINT });
    }
    const redis = new (ioredis().Redis)(url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(50 * times, 1000),
    });
    let started = false;
    let first: Error | undefined;
    redis.on('error', (e: Error) => {
      if (started) opts.onError(e);
      else first ??= e;
    });
    try {
      await redis.connect();
    } catch (e) {
      redis.disconnect();
      const why = first ?? (e as Error);
      throw new UsageError('RELAY_STORE_UNREACHABLE', `cannot connect to the Redis store ${where} (${(why as { code?: string }).code ?? why.message})`, {
        cause: e,
        hint: STORE_HINT,
      });
    }
    try {
      await RedisStore.checkPersistence(redis, where, opts);
      const version = await redis.get(keys.version);
      if (version === null) await redis.setnx(keys.version, LAYOUT_VERSION);
      else if (version !== LAYOUT_VERSION) {
        throw new DataError('RELAY_STORE_VERSION', `the Redis store ${where} has layout version ${version}, this relay knows ${LAYOUT_VERSION}`, {
          hint: 'use a newer hush relay, or another Redis database (redis://HOST:PORT/DB)',
        });
      }
    } catch (e) {
      redis.disconnect();
      throw e;
    }
    started = true;
    return new RedisStore(redis, where);
  }

  private static async checkPersistence(redis: Redis, where: string, opts: RedisStoreOptions): Promise<void> {
    let aof: string | undefined;
    let fsync: string | undefined;
    try {
      const a = (await redis.config('GET', 'appendonly')) as string[];
      const f = (await redis.config('GET', 'appendfsync')) as string[];
      aof = a[1];
      fsync = f[1];
    } catch (e) {
      if (!opts.allowVolatile)
        throw new UsageError('RELAY_STORE_VOLATILE', `cannot read the persistence settings of ${where} (CONFIG GET: ${(e as Error).message})`, {
          cause: e,
          hint: 'allow CONFIG GET for the relay, or, if you know the Redis keeps an AOF, start with --redis-allow-volatile',
        });
      opts.warn(`the persistence of ${where} is unknown (CONFIG GET refused): accepted mail may be lost if Redis stops`);
      return;
    }
    if (aof !== 'yes') {
      if (!opts.allowVolatile)
        throw new UsageError('RELAY_STORE_VOLATILE', `the Redis store ${where} keeps no append-only file (appendonly ${aof ?? '?'}): accepted mail would be lost when it stops`, {
          hint: 'configure Redis with appendonly yes and appendfsync always, or accept losing mail with --redis-allow-volatile',
        });
      opts.warn(`VOLATILE STORE: ${where} has appendonly ${aof ?? '?'}: every envelope accepted is lost when Redis stops (--redis-allow-volatile)`);
    } else if (fsync !== 'always') {
      opts.warn(
        `${where} has appendfsync ${fsync ?? '?'}: envelopes accepted in the last ${fsync === 'everysec' ? '1 to 2 seconds' : 'seconds (left to the OS)'} before a crash of the Redis machine are lost; appendfsync always closes that window`,
      );
    }
  }

  /** Runs a script by its SHA-1 (loading it on NOSCRIPT); `binary`: replies as Buffers (else auto-pipelined, strings). */
  private run(s: Script, keyList: string[], args: (string | Buffer | number)[], binary = false): Promise<unknown> {
    return runScript(this.redis, s, keyList, args, binary);
  }

  private static mailKeys(r: string): string[] {
    return [keys.queue(r), keys.env(r), keys.time(r), keys.counters(r), keys.bytes, keys.arrivals];
  }

  async insertBatch(items: readonly NewMail[], quota: MailQuota): Promise<InsertResult[]> {
    // One script per envelope (auto-pipelined): each touches one mailbox, atomically.
    return Promise.all(
      items.map(async (m) => {
        const r = hex(m.recipient);
        const seq = Number(
          await this.run(
            S.insert,
            [...RedisStore.mailKeys(r), keys.key(r)],
            [m.eid, buf(m.env), m.time, quota.mailboxMaxCount, quota.mailboxMaxBytes, quota.maxStoreBytes, r, this.instance],
          ),
        );
        if (seq === -3) this.known.delete(r);
        return seq > 0 ? seq : seq === 0 ? 'dup' : seq === -1 ? 'MAILBOX_FULL' : seq === -2 ? 'STORE_FULL' : 'UNKNOWN_RECIPIENT';
      }),
    );
  }

  async exists(recipient: Uint8Array, eid: string): Promise<boolean> {
    return (await this.redis.hexists(keys.env(hex(recipient)), eid)) === 1;
  }

  async pull(recipient: Uint8Array, after: number, notBefore: number, limit: number, maxBytes = Infinity): Promise<StoredMail[]> {
    const r = hex(recipient);
    const flat = (await this.run(S.pull, [keys.queue(r), keys.env(r), keys.time(r)], [after, notBefore, limit, Number.isFinite(maxBytes) ? maxBytes : -1], true)) as Buffer[];
    const out: StoredMail[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push({ seq: Number(flat[i]!.toString()), eid: flat[i + 1]!.toString(), time: Number(flat[i + 2]!.toString()), env: new Uint8Array(flat[i + 3]!) });
    }
    return out;
  }

  async ack(recipient: Uint8Array, eids: readonly string[]): Promise<{ count: number; bytes: number }> {
    const r = hex(recipient);
    const [count, bytes] = (await this.run(S.ack, RedisStore.mailKeys(r), [r, ...eids])) as [number, number];
    return { count: Number(count), bytes: Number(bytes) };
  }

  async purge(cutoff: number): Promise<number> {
    let n = 0;
    for (;;) {
      const k = Number(await this.run(S.purge, [keys.arrivals, keys.bytes], [cutoff, 1000]));
      n += k;
      if (k < 1000) return n;
    }
  }

  /**
   * A key seen registered within the last KNOWN_MS is taken as registered without a round trip
   * (the insert script checks again, atomically): a send then costs one script call, and sends
   * of one connection are not held up one by one behind a lookup.
   */
  async isRegistered(signPk: Uint8Array): Promise<boolean> {
    const r = hex(signPk);
    const now = Date.now();
    if ((this.known.get(r) ?? 0) > now) return true;
    const yes = (await this.redis.exists(keys.key(r))) === 1;
    if (yes) {
      if (this.known.size >= KNOWN_MAX) this.known.clear();
      this.known.set(r, now + KNOWN_MS);
    } else this.known.delete(r);
    return yes;
  }

  async lookupName(name: string): Promise<DirectoryEntry | undefined> {
    const h = await this.redis.hgetallBuffer(keys.name(name));
    if (!h.pk || !h.bundle) return undefined;
    return { name, signPk: new Uint8Array(h.pk), bundle: h.bundle.toString('utf8'), created: Number(h.created?.toString()) };
  }

  async lookupKey(signPk: Uint8Array): Promise<DirectoryEntry | undefined> {
    const name = await this.redis.get(keys.key(hex(signPk)));
    if (name === null) return undefined;
    const e = await this.lookupName(name);
    return e && buf(e.signPk).equals(buf(signPk)) ? e : undefined;
  }

  async putBundle(name: string, signPk: Uint8Array, bundle: string, now: number): Promise<'ok' | 'taken'> {
    const ok = Number(await this.run(S.putBundle, [keys.name(name), keys.key(hex(signPk))], [name, buf(signPk), bundle, now]));
    return ok === 1 ? 'ok' : 'taken';
  }

  async releaseName(name: string, signPk: Uint8Array): Promise<boolean> {
    this.known.delete(hex(signPk));
    const freed = Number(await this.run(S.release, [keys.name(name), keys.key(hex(signPk))], [buf(signPk), name])) === 1;
    if (freed) await this.prekeys.dropPrekeys(signPk); // nobody starts a v2 session with a released key
    return freed;
  }

  async transferName(name: string, from: Uint8Array, to: Uint8Array, bundle: string, now: number): Promise<boolean> {
    this.known.delete(hex(from)); // other processes may answer from their cache for 2 s; the insert checks again
    return Number(await this.run(S.transfer, [keys.name(name), keys.key(hex(from)), keys.key(hex(to))], [name, buf(from), buf(to), bundle, now])) === 1;
  }

  async putTokens(recipient: Uint8Array, add: readonly { h: Uint8Array; exp: number }[], remove: readonly Uint8Array[], now: number): Promise<number> {
    const r = hex(recipient);
    const args: (string | number)[] = [r, now, remove.length, ...remove.map(hex)];
    for (const t of add) args.push(hex(t.h), t.exp);
    return Number(await this.run(S.tokens, [keys.tokens(r)], args));
  }

  async waitingCount(recipient: Uint8Array): Promise<number> {
    return this.redis.zcard(keys.queue(hex(recipient)));
  }

  async countTokens(recipient: Uint8Array, now: number): Promise<number> {
    return this.redis.zcount(keys.tokens(hex(recipient)), `(${now}`, '+inf');
  }

  async token(h: Uint8Array): Promise<{ recipient: Uint8Array; exp: number } | undefined> {
    const v = await this.redis.get(keys.token(hex(h)));
    if (v === null) return undefined;
    const [r, exp] = v.split(' ');
    return { recipient: new Uint8Array(Buffer.from(r!, 'hex')), exp: Number(exp) };
  }

  /** Redis expires the token keys itself (PXAT); the per-mailbox sets drop theirs on the next putTokens. */
  purgeTokens(): Promise<number> {
    return Promise.resolve(0);
  }

  async totalBytes(): Promise<number> {
    return Number((await this.redis.get(keys.bytes)) ?? 0);
  }

  onWake(fn: WakeHandler): void {
    const sub = (this.sub = this.redis.duplicate({ enableAutoPipelining: false }));
    sub.on('error', () => undefined); // the main connection reports; this one reconnects and resubscribes by itself
    sub.on('message', (_channel: string, text: string) => {
      const [from, r, seq] = text.split(' ');
      if (from === this.instance || !r || !seq) return;
      fn(toB64(Buffer.from(r, 'hex')), Number(seq));
    });
    void sub.subscribe(WAKE_CHANNEL).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.sub?.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
