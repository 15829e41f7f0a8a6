/**
 * Streamed blobs (docs/PROTOCOL.md §7.9, "Streaming"): a recipient's `blob-get` of a chunk that
 * the uploader has not put yet waits here until it is written, so a download can run while the
 * upload goes on. The get is answered with the chunk once it is in the blob's file (BlobStore
 * serves it), with NOT_FOUND when the blob is deleted meanwhile, and with BLOB_INCOMPLETE when
 * no chunk of the blob arrived for `waitMs` (the relay's --blob-wait: the uploader stopped).
 *
 * A waiting get does not hold up its connection's later frames: the answer is sent when it
 * comes, matched by its request id. Chunks put through this relay wake their waiters at once
 * (`progress`); a blob uploaded through another relay sharing the blob directory (a Redis
 * deployment) is polled every POLL_MS. At most MAX_WAITING gets wait per connection (a
 * client's window is 32), so waiting costs a bounded amount of memory per connection.
 */
import type { BlobGetFrame } from '../src/protocol/blob-frames.js';
import type { BlobConn } from './blobs.js';

/** Gets that may wait at once on one connection; more are answered BLOB_INCOMPLETE. */
export const MAX_WAITING = 64;
/** How often blobs uploaded through another relay are checked for new chunks. */
const POLL_MS = 50;

interface Waiter {
  c: BlobConn;
  f: BlobGetFrame;
}

interface Stream {
  waiters: Set<Waiter>;
  /** Fires when no chunk arrived for waitMs; refreshed on every chunk. */
  timer: NodeJS.Timeout;
  /** Uploaded through another relay: polled. */
  remote: boolean;
}

export interface StreamDeps {
  /** Whole chunks written of blob `id` (all of them once finished), or undefined when it is gone. */
  written(id: string): Promise<{ have: number } | undefined>;
  /** Sends chunk f.i of the blob to c (it is written); throws BlobRefusal. */
  serve(c: BlobConn, f: BlobGetFrame): Promise<void>;
  /** The relay's event log: `blob-wait` when a blob's first get starts waiting, `blob-stalled` at --blob-wait. */
  event(name: string, fields: Record<string, string | number | boolean>): void;
}

export class BlobStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly perConn = new WeakMap<BlobConn, number>();
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly waitMs: number,
    private readonly deps: StreamDeps,
  ) {}

  /** Makes `f` wait for its chunk of blob `id` (not written yet); `remote`: uploaded through another relay. */
  wait(c: BlobConn, f: BlobGetFrame, id: string, remote: boolean): void {
    const n = this.perConn.get(c) ?? 0;
    if (n >= MAX_WAITING) return refuse(c, f, 'BLOB_INCOMPLETE', `at most ${MAX_WAITING} gets of chunks not yet uploaded may wait at once; retry later`);
    this.perConn.set(c, n + 1);
    let s = this.streams.get(id);
    if (!s) {
      s = { waiters: new Set(), timer: setTimeout(() => this.stalled(id), this.waitMs), remote };
      s.timer.unref();
      this.streams.set(id, s);
      this.deps.event('blob-wait', { conn: c.n, i: f.i });
    }
    s.waiters.add({ c, f });
    if (remote && !this.poller) {
      this.poller = setInterval(() => void this.poll(), POLL_MS);
      this.poller.unref();
    }
  }

  /** Chunks 0 .. have-1 of blob `id` are written: their waiters are answered. */
  progress(id: string, have: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.timer.refresh();
    for (const w of [...s.waiters]) if (w.f.i < have) this.settle(id, s, w, () => this.deps.serve(w.c, w.f));
  }

  /** Blob `id` is deleted: its waiters get NOT_FOUND. */
  drop(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    for (const w of [...s.waiters]) this.settle(id, s, w, () => refuse(w.c, w.f, 'NOT_FOUND', 'no such blob (never uploaded, expired or deleted)'));
  }

  close(): void {
    for (const s of this.streams.values()) clearTimeout(s.timer);
    this.streams.clear();
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  private stalled(id: string): void {
    const s = this.streams.get(id);
    if (!s) return;
    const secs = Math.round(this.waitMs / 1000);
    this.deps.event('blob-stalled', { waiting: s.waiters.size });
    for (const w of [...s.waiters])
      this.settle(id, s, w, () =>
        refuse(w.c, w.f, 'BLOB_INCOMPLETE', `the blob is still being uploaded and no chunk of it arrived for ${secs} s (the sender stopped?); retry later`),
      );
  }

  private settle(id: string, s: Stream, w: Waiter, answer: () => Promise<void> | void): void {
    s.waiters.delete(w);
    this.perConn.set(w.c, Math.max(0, (this.perConn.get(w.c) ?? 1) - 1));
    if (s.waiters.size === 0) {
      clearTimeout(s.timer);
      this.streams.delete(id);
    }
    void (async () => {
      try {
        await answer();
      } catch (e) {
        const code = (e as { code?: string }).code;
        refuse(w.c, w.f, code === 'NOT_FOUND' ? 'NOT_FOUND' : 'BLOB_INCOMPLETE', (e as Error).message);
      }
    })();
  }

  private async poll(): Promise<void> {
    const remote = [...this.streams].filter(([, s]) => s.remote);
    if (remote.length === 0) {
      clearInterval(this.poller);
      this.poller = undefined;
      return;
    }
    for (const [id] of remote) {
      const w = await this.deps.written(id).catch(() => ({ have: 0 }));
      if (w === undefined) this.drop(id);
      else if (w.have > 0) this.progressIfNew(id, w.have);
    }
  }

  /** progress() for a polled blob, refreshing its stall timer only when a waiter was answered. */
  private progressIfNew(id: string, have: number): void {
    const s = this.streams.get(id);
    if (!s || ![...s.waiters].some((w) => w.f.i < have)) return;
    this.progress(id, have);
  }
}

function refuse(c: BlobConn, f: BlobGetFrame, code: string, message: string): void {
  c.link.send({ t: 'error', id: f.id, code, message });
}
