/**
 * The stranger quota (docs/PROTOCOL.md §7.7 `--stranger-count`, `--stranger-bytes`): an
 * identified send (authenticated, no delivery token: first contact, strangers) may leave at most
 * so many envelopes and bytes waiting in one mailbox per sender, so that one stranger's junk
 * cannot fill a mailbox that contacts reach with tokens.
 *
 * Kept in memory only, never on disk: the relay's store must not learn who sent what. The
 * counters start empty when the relay starts (mail already waiting is not counted) and an
 * entry is released when its envelope is acknowledged or purged.
 */
export interface StrangerEntry {
  pair: string;
  bytes: number;
  time: number;
}

export class StrangerQuota {
  private readonly pairs = new Map<string, { count: number; bytes: number }>();
  /** `${recipientB64} ${eid}` -> its pair and size. */
  private readonly byEid = new Map<string, StrangerEntry>();

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  /** True when the envelope is already counted (a resend of the same eid). */
  counted(rkey: string, eid: string): boolean {
    return this.byEid.has(`${rkey} ${eid}`);
  }

  /** Would one more envelope of `bytes` from `sender` to `rkey` fit? */
  fits(sender: string, rkey: string, bytes: number): boolean {
    const p = this.pairs.get(`${sender} ${rkey}`);
    return !p || (p.count + 1 <= this.maxCount && p.bytes + bytes <= this.maxBytes);
  }

  charge(sender: string, rkey: string, eid: string, bytes: number, time: number): void {
    const pair = `${sender} ${rkey}`;
    let p = this.pairs.get(pair);
    if (!p) this.pairs.set(pair, (p = { count: 0, bytes: 0 }));
    p.count++;
    p.bytes += bytes;
    this.byEid.set(`${rkey} ${eid}`, { pair, bytes, time });
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
    const p = this.pairs.get(e.pair);
    if (!p) return;
    p.count--;
    p.bytes -= e.bytes;
    if (p.count <= 0) this.pairs.delete(e.pair);
  }
}
