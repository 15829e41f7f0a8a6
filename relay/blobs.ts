/**
 * The relay's blob store (docs/PROTOCOL.md §7.8): sealed file chunks uploaded by one identity
 * for up to 16 recipients, downloaded by those recipients only, deleted once every recipient
 * acked or when the blob's time to live runs out. The relay sees opaque bytes: their size, the
 * times, the uploader and the recipients, never a key, a name or a plaintext byte.
 *
 * Metadata sits behind BlobMetaStore (relay/blobs-meta.ts; on Redis relay/blobs-redis.ts), bytes
 * in files (relay/blobs-files.ts), which relays sharing a Redis must share too (--blob-dir).
 * Limits (relay/config.ts): --blob-max (BLOB_TOO_LARGE), --blob-quota-uploader and
 * --blob-quota-recipient (BLOB_QUOTA), --blob-ttl, and the relay's --min-free (STORE_FULL).
 */
import { randomBytes } from '../src/crypto/nacl.js';
import { fromHex, toB64, toHex } from '../src/protocol/encoding.js';
import { BLOB_BIN_HEADER_BYTES, writeBlobBinHeader } from '../src/protocol/blob-binary.js';
import type { BlobBeginFrame, BlobClientFrame, BlobGetFrame, BlobPutFrame, BlobRefFrame } from '../src/protocol/blob-frames.js';
import { BLOB_ID_BYTES, CHUNK_TAG_BYTES } from '../src/protocol/file-chunks.js';
import type { RelayLimitsConfig } from './config.js';
import { BlobFiles } from './blobs-files.js';
import { type Awaitable, type BlobMetaStore, type BlobQuotaMiss, type BlobRecord, SqliteBlobMeta } from './blobs-meta.js';
import { join } from 'node:path';
import { BlobStreams } from './blob-streams.js';

/** What the blob handlers need of a connection and of the relay (a subset of handlers.ts). */
export interface BlobConn {
  n: number;
  key?: string;
  link: { send(frame: { t: string; [k: string]: unknown }): void; sendBinary(data: Uint8Array): void; batchTurn?(): void };
}

export class BlobRefusal extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'BLOB_TOO_LARGE' | 'BLOB_QUOTA' | 'BLOB_ORDER' | 'BLOB_INCOMPLETE' | 'STORE_FULL' | 'UNKNOWN_RECIPIENT' | 'AUTH_REQUIRED',
    message: string,
  ) {
    super(message);
  }
}

export interface BlobDeps {
  limits: RelayLimitsConfig;
  isRegistered(key: string): Awaitable<boolean>;
  freeBytes(now: number): number;
  event(name: string, fields?: Record<string, string | number | boolean>): void;
  now?: () => number;
}

/** Blob records kept in memory at most (own metadata: relay/blobs.ts BlobStore.records). */
const RECORDS = 1024;

export class BlobStore {
  readonly files: BlobFiles;
  readonly meta: BlobMetaStore;
  private readonly now: () => number;
  /**
   * Unfinished blobs being uploaded through this relay process, by id: their records (the
   * metadata of an unfinished blob changes only through this class: finish and drop update it).
   */
  private readonly uploading = new Map<string, BlobRecord>();
  /**
   * With our own metadata (SQLite), no other process writes the blob directory or the index:
   * `records` keeps the records read (a get of each chunk needs no metadata read) and
   * `onDisk` the whole chunks written of unfinished blobs (a put or get needs no stat). Both
   * are kept true by this class (finish, ack, drop) and stay empty on a shared store (Redis).
   */
  private readonly solo: boolean;
  private readonly records = new Map<string, BlobRecord>();
  private readonly onDisk = new Map<string, number>();

  private readonly streams: BlobStreams;

  constructor(
    dataDir: string,
    private readonly deps: BlobDeps,
    meta?: BlobMetaStore,
  ) {
    this.files = new BlobFiles(join(dataDir, 'blobs'));
    this.now = deps.now ?? Date.now;
    this.streams = new BlobStreams(deps.limits.blobWaitMs, {
      written: async (id) => {
        const r = await this.meta.get(id);
        return r ? { have: r.done ? r.chunks : this.written(r) } : undefined;
      },
      serve: async (c, f) => {
        const r = await this.meta.get(f.blob);
        if (!r) throw new BlobRefusal('NOT_FOUND', 'no such blob (never uploaded, expired or deleted)');
        this.serve(c, f, r);
      },
      event: (name, fields) => this.deps.event(name, fields),
    });
    this.solo = meta === undefined;
    if (meta) {
      // Shared metadata (Redis): other relays may be between creating a file and its metadata
      // right now, so no sweep; a blob's file goes with its metadata (ack, delete, purge).
      this.meta = meta;
      return;
    }
    const own = new SqliteBlobMeta(this.files.dir);
    this.meta = own;
    // A file without metadata (a crash between the two, or metadata lost) is dropped.
    const known = new Set(own.ids());
    for (const id of this.files.list()) if (!known.has(id)) this.files.remove(id);
  }

  /** Handles one frame; the caller awaits it before the connection's next frame (chunks arrive in order). */
  async handle(c: BlobConn, f: BlobClientFrame): Promise<void> {
    if (!c.key) throw new BlobRefusal('AUTH_REQUIRED', `authenticate before ${f.t}`);
    switch (f.t) {
      case 'blob-begin':
        return this.begin(c, f);
      case 'blob-resume':
        return this.resume(c, f);
      case 'blob-put':
        return this.put(c, f);
      case 'blob-finish':
        return this.finish(c, f);
      case 'blob-get':
        return this.get(c, f);
      case 'blob-ack':
        return this.ack(c, f);
      case 'blob-delete':
        return this.remove(c, f);
    }
  }

  /** Deletes expired blobs; returns how many. */
  async purge(): Promise<number> {
    const ids = await this.meta.expired(this.now());
    for (const id of ids) await this.drop(id);
    return ids.length;
  }

  close(): Awaitable<void> {
    this.streams.close();
    this.files.closeAll();
    return this.meta.close();
  }

  private async drop(id: string): Promise<void> {
    this.uploading.delete(id);
    this.records.delete(id);
    this.onDisk.delete(id);
    await this.meta.delete(id);
    this.files.remove(id);
    this.streams.drop(id);
  }

  /** The live blob `id`, or NOT_FOUND (unknown, expired: the same answer, so ids cannot be probed). */
  private async live(id: string): Promise<BlobRecord> {
    const r = this.records.get(id) ?? (await this.meta.get(id));
    if (r) this.remember(r);
    if (!r) throw new BlobRefusal('NOT_FOUND', 'no such blob (never uploaded, expired or deleted)');
    if (r.expires <= this.now()) {
      await this.drop(id);
      throw new BlobRefusal('NOT_FOUND', 'no such blob (never uploaded, expired or deleted)');
    }
    return r;
  }

  private async own(c: BlobConn, id: string): Promise<BlobRecord> {
    const r = await this.live(id);
    if (r.uploader !== c.key) throw new BlobRefusal('NOT_FOUND', 'no such blob (never uploaded, expired or deleted)');
    return r;
  }

  /** Keeps `r` in `records` (own metadata only), at most RECORDS of them. */
  private remember(r: BlobRecord): void {
    if (!this.solo || this.records.get(r.id) === r) return;
    if (this.records.size >= RECORDS) this.records.delete(this.records.keys().next().value!);
    this.records.set(r.id, r);
  }

  /** Whole chunks on disk (a torn last write is cut off). */
  private have(r: BlobRecord): number {
    const known = this.onDisk.get(r.id);
    if (known !== undefined) return known;
    const size = this.files.size(r.id);
    if (size >= r.bytes) return r.chunks;
    const whole = Math.min(Math.floor(size / r.chunk), r.chunks - 1);
    if (size !== whole * r.chunk) this.files.truncate(r.id, whole * r.chunk);
    if (this.solo && !r.done) this.onDisk.set(r.id, whole);
    return whole;
  }

  private state(c: BlobConn, reqId: string, r: BlobRecord, have: number): void {
    c.link.batchTurn?.();
    c.link.send({ t: 'blob', id: reqId, blob: r.id, have, chunks: r.chunks, bytes: r.bytes, done: r.done });
  }

  private async begin(c: BlobConn, f: BlobBeginFrame): Promise<void> {
    const { limits } = this.deps;
    const now = this.now();
    if (f.bytes > limits.blobMaxBytes) throw new BlobRefusal('BLOB_TOO_LARGE', `the blob is ${f.bytes} bytes, this relay takes at most ${limits.blobMaxBytes}`);
    const maxChunk = limits.blobChunkBytes + CHUNK_TAG_BYTES;
    if (f.chunk > maxChunk)
      throw new BlobRefusal('BLOB_TOO_LARGE', `its chunks are ${f.chunk} sealed bytes, this relay takes at most ${maxChunk} (--blob-chunk ${limits.blobChunkBytes})`);
    const to = [...new Set(f.to.map((k) => toB64(k)))];
    for (const k of to) if (!(await this.deps.isRegistered(k))) throw new BlobRefusal('UNKNOWN_RECIPIENT', 'a recipient of the blob is not registered on this relay');
    if (this.deps.freeBytes(now) - f.bytes < limits.minFreeBytes) throw new BlobRefusal('STORE_FULL', "the relay's disk has no room for this blob; retry later");
    const id = toHex(randomBytes(BLOB_ID_BYTES));
    const r: BlobRecord = {
      id,
      uploader: c.key!,
      bytes: f.bytes,
      chunk: f.chunk,
      chunks: f.chunks,
      created: now,
      expires: now + limits.blobTtlMs,
      done: false,
      recipients: to.map((key) => ({ key, acked: false })),
    };
    this.files.create(id);
    // Both quotas are checked by the metadata store in the same step as the write (relays sharing it cannot both pass).
    let over: BlobQuotaMiss | undefined;
    try {
      over = await this.meta.create(r, { uploader: limits.blobQuotaUploaderBytes, recipient: limits.blobQuotaRecipientBytes }, now);
    } catch (e) {
      this.files.remove(id);
      throw e;
    }
    if (over) this.files.remove(id);
    if (over?.who === 'uploader')
      throw new BlobRefusal('BLOB_QUOTA', `your blobs on this relay would take ${over.bytes} bytes, the quota per uploader is ${limits.blobQuotaUploaderBytes}`);
    if (over) throw new BlobRefusal('BLOB_QUOTA', `blobs waiting for a recipient would take ${over.bytes} bytes, the quota per recipient is ${limits.blobQuotaRecipientBytes}`);
    this.uploading.set(id, r);
    this.remember(r);
    if (this.solo) this.onDisk.set(id, 0);
    this.deps.event('blob-begin', { conn: c.n, bytes: f.bytes, recipients: to.length });
    this.state(c, f.id, r, 0);
  }

  private async resume(c: BlobConn, f: BlobRefFrame): Promise<void> {
    const r = await this.own(c, f.blob);
    this.state(c, f.id, r, this.have(r));
  }

  private async put(c: BlobConn, f: BlobPutFrame): Promise<void> {
    // An upload in progress is answered from memory, not a metadata read per chunk (a third of a put's time).
    const known = this.uploading.get(f.blob);
    const r = known && known.uploader === c.key && known.expires > this.now() ? known : await this.own(c, f.blob);
    if (!r.done) this.uploading.set(r.id, r);
    if (r.done) throw new BlobRefusal('BLOB_ORDER', 'the blob is already finished');
    const have = this.have(r);
    if (f.i !== have) throw new BlobRefusal('BLOB_ORDER', `chunk ${f.i} is out of order: the relay has ${have} chunks, send chunk ${have} next`);
    const want = f.i < r.chunks - 1 ? r.chunk : r.bytes - (r.chunks - 1) * r.chunk;
    if (f.data.length !== want) throw new BlobRefusal('BLOB_ORDER', `chunk ${f.i} must be ${want} bytes, it is ${f.data.length}`);
    if (this.deps.freeBytes(this.now()) - f.data.length < this.deps.limits.minFreeBytes) throw new BlobRefusal('STORE_FULL', "the relay's disk is nearly full; retry later");
    try {
      if (f.i === r.chunks - 1) await this.files.flushed(r.id); // an early flush's failure is this fsync's (relay/blobs-files.ts)
      this.files.write(r.id, f.i * r.chunk, f.data, f.i === r.chunks - 1);
    } catch (e) {
      // The data directory filled up (or the file outgrew what the relay may write): the chunk
      // is cut off again (blobs-files.ts), the blob keeps its whole chunks and can resume later.
      const code = (e as { code?: string }).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'EFBIG') throw e;
      this.deps.event('store-error', { conn: c.n, op: 'blob-put', error: code });
      throw new BlobRefusal('STORE_FULL', `the relay's disk is full (chunk ${f.i} not kept: the relay has ${have} chunks); retry later`);
    }
    if (this.solo) this.onDisk.set(r.id, have + 1);
    if (f.i === r.chunks - 1) this.files.release(r.id);
    this.state(c, f.id, r, have + 1);
    this.streams.progress(r.id, have + 1);
  }

  private async finish(c: BlobConn, f: BlobRefFrame): Promise<void> {
    const r = await this.own(c, f.blob);
    const have = this.have(r);
    if (have < r.chunks) throw new BlobRefusal('BLOB_INCOMPLETE', `the relay has ${have} of ${r.chunks} chunks; send chunk ${have} next`);
    this.uploading.delete(r.id);
    this.onDisk.delete(r.id);
    if (!r.done) {
      await this.meta.finish(r.id);
      r.done = true;
      this.deps.event('blob-done', { conn: c.n, bytes: r.bytes });
    }
    this.state(c, f.id, r, have);
  }

  /** A recipient's record, or NOT_FOUND; BLOB_INCOMPLETE for a blob still being uploaded unless `unfinished` (a get streams it). */
  private async forRecipient(c: BlobConn, id: string, unfinished = false): Promise<BlobRecord> {
    const r = await this.live(id);
    if (!r.recipients.some((x) => x.key === c.key)) throw new BlobRefusal('NOT_FOUND', 'no such blob (never uploaded, expired or deleted)');
    if (!r.done && !unfinished) throw new BlobRefusal('BLOB_INCOMPLETE', 'the blob is still being uploaded; retry later');
    return r;
  }

  /**
   * A chunk of a finished blob is served at once; of a blob still being uploaded (§7.9
   * "Streaming") once it is written: at once when it is, else the get waits for it (BlobStreams).
   */
  private async get(c: BlobConn, f: BlobGetFrame): Promise<void> {
    const r = await this.forRecipient(c, f.blob, true);
    if (f.i >= r.chunks) throw new BlobRefusal('NOT_FOUND', `the blob has ${r.chunks} chunks, there is no chunk ${f.i}`);
    if (!r.done && f.i >= this.written(r)) return this.streams.wait(c, f, r.id, !this.uploading.has(r.id));
    this.serve(c, f, r);
  }

  /** Whole chunks in the file of a blob, read only (another relay may be writing it: nothing is cut). */
  private written(r: BlobRecord): number {
    const known = this.onDisk.get(r.id);
    if (known !== undefined) return known;
    return Math.min(Math.floor(this.files.size(r.id) / r.chunk), r.chunks);
  }

  private serve(c: BlobConn, f: BlobGetFrame, r: BlobRecord): void {
    const len = f.i < r.chunks - 1 ? r.chunk : r.bytes - (r.chunks - 1) * r.chunk;
    if (f.bin) {
      // The chunk is read straight after the header: one buffer, no copy (§7.9.1).
      const out = writeBlobBinHeader(Buffer.allocUnsafe(BLOB_BIN_HEADER_BYTES + len), 'chunk', Number(f.id), fromHex(r.id, 'blob id'), f.i);
      this.files.readInto(r.id, f.i * r.chunk, len, out, BLOB_BIN_HEADER_BYTES);
      c.link.batchTurn?.();
      return c.link.sendBinary(out);
    }
    const data = this.files.read(r.id, f.i * r.chunk, len);
    c.link.send({ t: 'chunk', id: f.id, blob: r.id, i: f.i, data: data.toString('base64') });
  }

  private async ack(c: BlobConn, f: BlobRefFrame): Promise<void> {
    const r = await this.forRecipient(c, f.blob);
    const left = await this.meta.ack(r.id, c.key!);
    this.records.delete(r.id); // its recipients' acks changed
    if (left === 0) {
      await this.drop(r.id);
      this.deps.event('blob-deleted', { conn: c.n, why: 'acked' });
    }
    c.link.send({ t: 'ok', id: f.id, deleted: left === 0 ? 1 : 0 });
  }

  private async remove(c: BlobConn, f: BlobRefFrame): Promise<void> {
    const r = await this.own(c, f.blob);
    await this.drop(r.id);
    this.deps.event('blob-deleted', { conn: c.n, why: 'uploader' });
    c.link.send({ t: 'ok', id: f.id, deleted: 1 });
  }
}
