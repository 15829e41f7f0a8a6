/**
 * Blob metadata on the shared Redis store (docs/PROTOCOL.md §7.8.1): the BlobMetaStore contract
 * of relay/blobs-meta.ts, in the keys and Lua scripts of relay/redis-layout.ts. The quota checks
 * and the write of a new blob are one script, so relays sharing the Redis cannot together pass
 * --blob-quota-uploader or --blob-quota-recipient; an ack is one script too, so exactly one
 * relay sees the last recipient's ack (and deletes the blob). The blob bytes stay in files,
 * in a directory the relays must share (--blob-dir, docs/ARCHITECTURE.md "Blobs").
 *
 * Keys in BlobRecord are base64 signing keys (as in the handlers); Redis keys and fields use
 * them as 64 lowercase hex digits, like every other key of the layout.
 */
import type { Redis } from 'ioredis';
import type { BlobMetaStore, BlobQuota, BlobQuotaMiss, BlobRecord } from './blobs-meta.js';
import { BLOB_ACK_LUA, BLOB_CREATE_LUA, BLOB_DELETE_LUA, BLOB_FINISH_LUA, keys } from './redis-layout.js';
import { runScript, Script } from './redis-script.js';

const S = {
  create: new Script(BLOB_CREATE_LUA),
  ack: new Script(BLOB_ACK_LUA),
  del: new Script(BLOB_DELETE_LUA),
  finish: new Script(BLOB_FINISH_LUA),
};

const hexOf = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
const b64Of = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

export class RedisBlobMeta implements BlobMetaStore {
  constructor(private readonly redis: Redis) {}

  async create(r: BlobRecord, quota: BlobQuota, now: number): Promise<BlobQuotaMiss | undefined> {
    const rcpt = r.recipients.map((x) => hexOf(x.key));
    const out = (await runScript(
      this.redis,
      S.create,
      [keys.blob(r.id), keys.blobExpiry, keys.blobsUp(hexOf(r.uploader)), ...rcpt.map((k) => keys.blobsFor(k))],
      [r.id, hexOf(r.uploader), r.bytes, r.chunk, r.chunks, r.created, r.expires, now, quota.uploader, quota.recipient, ...rcpt],
    )) as number[];
    const code = Number(out[0]);
    if (code === 1) return undefined;
    return { who: code === -1 ? 'uploader' : 'recipient', bytes: Number(out[1]) };
  }

  async get(id: string): Promise<BlobRecord | undefined> {
    const h = await this.redis.hgetall(keys.blob(id));
    if (h.up === undefined) return undefined;
    const recipients = Object.keys(h)
      .filter((f) => f.startsWith('r:'))
      .sort()
      .map((f) => ({ key: b64Of(f.slice(2)), acked: h[f] === '1' }));
    return {
      id,
      uploader: b64Of(h.up),
      bytes: Number(h.bytes),
      chunk: Number(h.chunk),
      chunks: Number(h.chunks),
      created: Number(h.created),
      expires: Number(h.expires),
      done: h.done === '1',
      recipients,
    };
  }

  async finish(id: string): Promise<void> {
    await runScript(this.redis, S.finish, [keys.blob(id)], []);
  }

  async ack(id: string, recipient: string): Promise<number> {
    const r = hexOf(recipient);
    return Number(await runScript(this.redis, S.ack, [keys.blob(id), keys.blobsFor(r)], [id, r]));
  }

  async delete(id: string): Promise<void> {
    await runScript(this.redis, S.del, [keys.blob(id), keys.blobExpiry], [id]);
  }

  expired(now: number): Promise<string[]> {
    return this.redis.zrangebyscore(keys.blobExpiry, '-inf', now);
  }

  /** The connection belongs to the store (relay/store-redis.ts closes it). */
  close(): void {}
}
