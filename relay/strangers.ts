/**
 * The stranger quota (docs/PROTOCOL.md §7.7 `--stranger-count`, `--stranger-bytes`,
 * `--stranger-share`): an identified send (authenticated, no delivery token: first contact,
 * strangers) may leave at most so many envelopes and bytes waiting in one mailbox per sender,
 * and all identified senders together at most a share of the mailbox's quota, so that neither
 * one stranger's junk nor fifty throwaway keys' can fill a mailbox that contacts reach with
 * tokens: the rest of the mailbox is theirs.
 *
 * Kept in memory only, never on disk: the relay's store must not learn who sent what. The
 * counters start empty when the relay starts (mail already waiting is not counted) and an
 * entry is released when its envelope is acknowledged or purged.
 */
export interface StrangerEntry {
  pair: string;
  rkey: string;
  bytes: number;
  time: number;
}

interface Tally {
  count: number;
  bytes: number;
}

/** Why an identified send does not fit: its sender's own quota, or the strangers' share of the mailbox. */
export type StrangerRefusal = 'pair' | 'share';

export class StrangerQuota {
  private readonly pairs = new Map<string, Tally>();
  /** Per mailbox: everything identified senders left waiting in it, all together. */
  private readonly boxes = new Map<string, Tally>();
  /** `${recipientB64} ${eid}` -> its pair and size. */
  private readonly byEid = new Map<string, StrangerEntry>();

  /**
   * `maxCount`/`maxBytes`: per (sender, mailbox); `shareCount`/`shareBytes`: per mailbox, all
   * identified senders together.
   */
  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
    private readonly shareCount = Infinity,
    private readonly shareBytes = Infinity,
  ) {}

  /** True when the envelope is already counted (a resend of the same eid). */
  counted(rkey: string, eid: string): boolean {
    return this.byEid.has(`${rkey} ${eid}`);
  }

  /** Would one more envelope of `bytes` from `sender` to `rkey` fit? undefined when it does, else which quota it is over. */
  refusal(sender: string, rkey: string, bytes: number): StrangerRefusal | undefined {
    const p = this.pairs.get(`${sender} ${rkey}`);
    if (p && (p.count + 1 > this.maxCount || p.bytes + bytes > this.maxBytes)) return 'pair';
    const box = this.waiting(rkey);
    if (box.count + 1 > this.shareCount || box.bytes + bytes > this.shareBytes) return 'share';
    return undefined;
  }

  /** Would one more envelope of `bytes` from `sender` to `rkey` fit? */
  fits(sender: string, rkey: string, bytes: number): boolean {
    return this.refusal(sender, rkey, bytes) === undefined;
  }

  /** What identified senders together left waiting in `rkey`'s mailbox. */
  waiting(rkey: string): Tally {
    const box = this.boxes.get(rkey);
    return { count: box?.count ?? 0, bytes: box?.bytes ?? 0 };
  }

  charge(sender: string, rkey: string, eid: string, bytes: number, time: number): void {
    const pair = `${sender} ${rkey}`;
    add(this.pairs, pair, 1, bytes);
    add(this.boxes, rkey, 1, bytes);
    this.byEid.set(`${rkey} ${eid}`, { pair, rkey, bytes, time });
  }

  /** The mailbox owner acknowledged (or the relay dropped) these envelopes. */
  release(rkey: string, eids: readonly string[]): void {
    for (const eid of eids) {
      const k = `${rkey} ${eid}`;
      const e = this.byEid.get(k);
      if (!e) continue;
      this.byEid.delete(k);
      this.drop(e);
    }
  }

  /** Releases entries whose mail arrived at or before `cutoff` (purged by the TTL). */
  purge(cutoff: number): void {
    for (const [k, e] of this.byEid) {
      if (e.time > cutoff) continue;
      this.byEid.delete(k);
      this.drop(e);
    }
  }

  private drop(e: StrangerEntry): void {
    add(this.pairs, e.pair, -1, -e.bytes);
    add(this.boxes, e.rkey, -1, -e.bytes);
  }
}

function add(m: Map<string, Tally>, key: string, count: number, bytes: number): void {
  let t = m.get(key);
  if (!t) m.set(key, (t = { count: 0, bytes: 0 }));
  t.count += count;
  t.bytes += bytes;
  if (t.count <= 0) m.delete(key);
}
