/**
 * A long pull opens the outer layer of its v2 envelopes on a second thread (docs/PERFORMANCE.md
 * "v2 speed-ups"): that layer is an X25519 DH per envelope (a quarter of a pull's CPU) and
 * depends on nothing but the envelope and our box key, so a page can be opened there as soon
 * as it arrives while the main thread opens the ratchet layer of the page before it and
 * stores it. Everything that decides (the ratchet, the sender's authentication, the store) stays on the
 * main thread, which treats the answer exactly like its own openEnvelopeV2.
 *
 * Best effort: when the thread cannot start or fails, open() answers undefined and the
 * envelopes are opened on the main thread as before. close() wipes the key in the thread and
 * ends it.
 */
import { Worker } from 'node:worker_threads';

/** What the outer layer of one envelope gave: the inner bytes, TAMPERED, or undefined (not a v2 envelope: open it yourself). */
export type OuterLayer = Uint8Array | 'TAMPERED' | undefined;

const WORKER = new URL('./outer-open-worker.js', import.meta.url);

export class OuterOpener {
  private readonly worker: Worker | undefined;
  private readonly waiting = new Map<number, (out: OuterLayer[] | undefined) => void>();
  private next = 1;
  private failed = false;

  constructor(boxSk: Uint8Array) {
    try {
      this.worker = new Worker(WORKER, { workerData: { boxSk } });
    } catch {
      this.failed = true;
      return;
    }
    this.worker.unref();
    this.worker.on('message', (m: { id: number; out: OuterLayer[] }) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.out);
    });
    const fail = (): void => {
      this.failed = true;
      for (const done of this.waiting.values()) done(undefined);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', fail);
  }

  /** The outer layers of `envs`, in order; undefined when the thread is not there (open them yourself). */
  open(envs: readonly Uint8Array[]): Promise<OuterLayer[] | undefined> {
    if (!this.worker || this.failed) return Promise.resolve(undefined);
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker!.postMessage({ id, envs });
    });
  }

  /** Wipes the key in the thread and waits for it to end (ended by force after a second). */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    if (this.failed) {
      await w.terminate();
      return;
    }
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
    await Promise.race([exited, late]);
    clearTimeout(timer);
    await w.terminate();
  }
}
