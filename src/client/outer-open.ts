/**
 * A long pull opens the outer layer of its v2 envelopes on a second thread (docs/PERFORMANCE.md
 * "v2 speed-ups"): that layer is an X25519 DH per envelope (a quarter of a pull's CPU) and
 * depends on nothing but the envelope and our box key, so a page can be opened there as soon
 * as it arrives while the main thread opens the ratchet layer of the page before it and
 * stores it. Everything that decides (the ratchet, the sender's authentication, the store) stays on the
 * main thread, which treats the answer exactly like its own openEnvelopeV2.
 *
 * The thread starts with the first page of a long pull (`warm`) and loads while the main thread
 * opens that page itself. Each page carries a shared claim word: whichever thread claims it
 * first opens the page. The main thread claims the pages it needs that the thread has not
 * started (`take`: while it loads, or when it falls behind on a loaded machine), so it never
 * sits idle waiting for the thread (docs/PERFORMANCE.md "Pull speed-ups").
 *
 * Best effort: when the thread cannot start or fails, open() answers undefined and the
 * envelopes are opened on the main thread as before. close() wipes the key in the thread and
 * ends it.
 */
import { Worker } from 'node:worker_threads';
import { ENVELOPE_V2_VERSION } from '../protocol/session-wire.js';
import { wipe } from '../crypto/nacl.js';
import { openEnvelopeV2 } from '../crypto/envelope-v2.js';
import type { AheadOpened, ChainAnchor } from './ahead-chains.js';

/** What the outer layer of one envelope gave: the inner bytes, TAMPERED, or undefined (not a v2 envelope: open it yourself). */
export type OuterLayer = Uint8Array | 'TAMPERED' | undefined;

const WORKER = new URL('./outer-open-worker.js', import.meta.url);

/** A page's answer: each envelope's outer layer and, when it opened there, its ratchet layer (src/client/ahead-ratchet.ts). */
export interface OpenedPage {
  outer: OuterLayer[];
  ahead: (AheadOpened | undefined)[];
}

/**
 * One page asked for: its answer, and `take()`, after which `result` answers undefined (open
 * them yourself) unless the thread had already started on the page.
 */
export interface OuterTicket {
  result: Promise<OpenedPage | undefined>;
  take(): void;
  /** Has the answer come (or was the page taken)? Absent: treated as yes. */
  done?(): boolean;
}

/** A page as it travels to the thread: the envelopes end to end in `bytes`, envelope i ending at `ends[i]`; and the page's claim word. */
export interface PageRequest {
  id: number;
  bytes: Uint8Array;
  ends: Uint32Array;
  claim: Int32Array;
}

/** `envs` end to end in one new buffer, and where each ends (pageEnvelopes gives them back). */
export function packPage(envs: readonly Uint8Array[]): Pick<PageRequest, 'bytes' | 'ends'> {
  const ends = new Uint32Array(envs.length);
  let n = 0;
  envs.forEach((e, i) => (ends[i] = n += e.length));
  const bytes = new Uint8Array(n);
  envs.forEach((e, i) => bytes.set(e, i === 0 ? 0 : ends[i - 1]!));
  return { bytes, ends };
}

/** The envelopes of a PageRequest (views into its bytes). */
export function pageEnvelopes(m: Pick<PageRequest, 'bytes' | 'ends'>): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (const end of m.ends) {
    out.push(m.bytes.subarray(start, end));
    start = end;
  }
  return out;
}

/**
 * A page's answer as it travels back: one transferred buffer instead of up to four cloned
 * arrays per envelope. Envelope i has `kinds[i]` (ANSWER_NONE: not opened there; ANSWER_TAMPERED;
 * ANSWER_INNER: its inner bytes) and, when `rows[i] >= 0`, an AheadOpened of that session row;
 * its four segments in `bytes` are, in order, the inner bytes, ckBefore, ckAfter and the
 * plaintext (empty when absent), segment j ending at `ends[4 * i + j]`.
 */
export interface PageAnswer {
  bytes: Uint8Array;
  ends: Uint32Array;
  kinds: Uint8Array;
  rows: Int32Array;
}
const ANSWER_NONE = 0;
const ANSWER_TAMPERED = 1;
const ANSWER_INNER = 2;

/** Packs a page's answer (the thread's side); the caller wipes its own copies of the secrets. */
export function packAnswer(page: OpenedPage): PageAnswer {
  const n = page.outer.length;
  const kinds = new Uint8Array(n);
  const rows = new Int32Array(n).fill(-1);
  const ends = new Uint32Array(4 * n);
  // Each envelope's four segments, in order (made once: measured, then copied).
  const segs: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = page.outer[i];
    kinds[i] = o instanceof Uint8Array ? ANSWER_INNER : o === 'TAMPERED' ? ANSWER_TAMPERED : ANSWER_NONE;
    const a = page.ahead[i];
    if (a) rows[i] = a.row;
    segs.push(o instanceof Uint8Array ? o : EMPTY, a?.ckBefore ?? EMPTY, a?.ckAfter ?? EMPTY, a?.plaintext ?? EMPTY);
    for (let j = 0; j < 4; j++) ends[4 * i + j] = total += segs[4 * i + j]!.length;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of segs) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, ends, kinds, rows };
}

/** The OpenedPage of a PageAnswer (the main thread's side): views into its one buffer. */
export function unpackAnswer(m: PageAnswer): OpenedPage {
  const n = m.kinds.length;
  const outer: OuterLayer[] = new Array<OuterLayer>(n);
  const ahead: (AheadOpened | undefined)[] = new Array<AheadOpened | undefined>(n);
  let start = 0;
  const next = (k: number): Uint8Array => {
    const v = m.bytes.subarray(start, m.ends[k]);
    start = m.ends[k]!;
    return v;
  };
  for (let i = 0; i < n; i++) {
    const inner = next(4 * i);
    const ckBefore = next(4 * i + 1);
    const ckAfter = next(4 * i + 2);
    const plaintext = next(4 * i + 3);
    outer[i] = m.kinds[i] === ANSWER_INNER ? inner : m.kinds[i] === ANSWER_TAMPERED ? 'TAMPERED' : undefined;
    ahead[i] = m.rows[i]! >= 0 ? { row: m.rows[i]!, ckBefore, ckAfter, plaintext } : undefined;
  }
  return { outer, ahead };
}
const EMPTY = new Uint8Array(0);

/** The claim word's values: nobody yet, the thread, the main thread. */
export const CLAIM_FREE = 0;
export const CLAIM_THREAD = 1;
export const CLAIM_MAIN = 2;

const NONE: OuterTicket = { result: Promise.resolve(undefined), take: () => undefined };

/** Envelopes per claim word (OuterOpener.open). */
const PART = 250;

/**
 * One ticket for a page handed over in parts of `part` envelopes (`n` in all): its answer is
 * the parts' answers end to end, a part answered undefined (the thread failed) giving undefined
 * layers for its envelopes (opened by the judge); take() takes every part.
 */
export function joinParts(parts: readonly OuterTicket[], n: number, part: number): OuterTicket {
  const result = Promise.all(parts.map((t) => t.result)).then((answers): OpenedPage | undefined => {
    if (answers.every((a) => a === undefined)) return undefined;
    const outer: OuterLayer[] = [];
    const ahead: (AheadOpened | undefined)[] = [];
    answers.forEach((a, k) => {
      const len = Math.min(part, n - k * part);
      for (let i = 0; i < len; i++) {
        outer.push(a?.outer[i]);
        ahead.push(a?.ahead[i]);
      }
    });
    return { outer, ahead };
  });
  return { result, take: () => parts.forEach((t) => t.take()), done: () => parts.every((t) => t.done?.() ?? true) };
}

/** The outer layer of one envelope, as the thread opens it: undefined when it is not v2 (the judge's), TAMPERED when it does not open. */
export function openOuter(boxSk: Uint8Array, env: Uint8Array): OuterLayer {
  if (env[0] !== ENVELOPE_V2_VERSION) return undefined;
  try {
    return openEnvelopeV2(boxSk, env);
  } catch {
    return 'TAMPERED';
  }
}

export class OuterOpener {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, (out: OpenedPage | undefined) => void>();
  private next = 1;
  private failed = false;
  /** Envelopes opened on the main thread before the thread started (the first page). */
  private unseen = 0;

  /**
   * The thread starts with the first page that holds a v2 envelope (a v1 mailbox never starts
   * it). `anchors`: read when it starts, the receiving chains it runs ahead (none: outer layers only).
   */
  constructor(
    private readonly boxSk: Uint8Array,
    private readonly anchors: () => ChainAnchor[] = () => [],
  ) {}

  private start(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    let w: Worker;
    const anchors = this.anchors();
    try {
      w = new Worker(WORKER, { workerData: { boxSk: this.boxSk, anchors, unseen: this.unseen } });
    } catch {
      this.failed = true;
      return undefined;
    } finally {
      for (const a of anchors) wipe(a.rk, a.dhsSk, a.ckr); // the thread has its own copies
    }
    w.unref();
    w.on('message', (m: { id: number; page: PageAnswer | undefined }) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.page && unpackAnswer(m.page));
    });
    const fail = (): void => {
      this.failed = true;
      for (const done of this.waiting.values()) done(undefined);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', fail);
    this.worker = w;
    return w;
  }

  /** Starts the thread now (a pull that the relay said is long). */
  prestart(): void {
    this.start();
  }

  /** Starts the thread now if `envs` hold a v2 envelope (the first page: the thread loads while the main thread opens it). */
  warm(envs: readonly Uint8Array[]): void {
    this.unseen += envs.length;
    if (envs.some((e) => e[0] === ENVELOPE_V2_VERSION)) this.start();
  }

  /**
   * The outer layers of `envs`, in order; undefined when the thread is not there or no envelope
   * is v2 (open them yourself). The page goes to the thread in parts of PART envelopes, each
   * with its own claim word: `take()` makes the main thread open (here, at once) the outer layers
   * of the parts the thread has not started, so a main thread that would otherwise wait for the
   * thread shares its work.
   */
  open(envs: readonly Uint8Array[]): OuterTicket {
    if (!envs.some((e) => e[0] === ENVELOPE_V2_VERSION)) return NONE;
    const w = this.start();
    if (!w || this.failed) return NONE;
    const parts: OuterTicket[] = [];
    for (let i = 0; i < envs.length; i += PART) parts.push(this.openPart(w, envs.slice(i, i + PART)));
    return parts.length === 1 ? parts[0]! : joinParts(parts, envs.length, PART);
  }

  private openPart(w: Worker, envs: readonly Uint8Array[]): OuterTicket {
    const id = this.next++;
    const claim = new Int32Array(new SharedArrayBuffer(4));
    let answered = false;
    const result = new Promise<OpenedPage | undefined>((resolve) =>
      this.waiting.set(id, (page) => {
        answered = true;
        resolve(page);
      }),
    );
    // The page travels as one transferred buffer (the envelopes end to end, and where each
    // ends), not as an array of Uint8Arrays: cloning 500 small arrays cost ~2.3 ms a page
    // against ~1.2 ms (docs/PERFORMANCE.md "Pull speed-ups (third session)").
    const { bytes, ends } = packPage(envs);
    w.postMessage({ id, bytes, ends, claim } satisfies PageRequest, [bytes.buffer, ends.buffer] as ArrayBuffer[]);
    const take = (): void => {
      if (Atomics.compareExchange(claim, 0, CLAIM_FREE, CLAIM_MAIN) !== CLAIM_FREE) return; // the thread has it: wait for its answer
      const done = this.waiting.get(id);
      this.waiting.delete(id);
      // Opened here, now: the same outer layer the thread would give (the ratchet layer is the judge's).
      done?.({ outer: envs.map((e) => openOuter(this.boxSk, e)), ahead: new Array<AheadOpened | undefined>(envs.length) });
    };
    return { result, take, done: () => answered };
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
