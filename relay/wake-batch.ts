/**
 * Wake-ups from a shared store (relay/store-api.ts onWake), gathered per recipient over one
 * event-loop turn: a burst of mail to one recipient costs one fetch (the pull script over the
 * range of seqs) instead of one fetch per envelope. The pushes then leave together.
 */

/** Largest seq range one fetch covers; a wider burst is split (nothing is dropped). */
export const WAKE_RANGE = 256;

/** Calls `fetch(rkey, after, limit, seqs)` once per recipient and range of at most WAKE_RANGE seqs, after the turn's wake-ups. */
export function batchWakes(fetch: (rkey: string, after: number, limit: number, seqs: ReadonlySet<number>) => void): (rkey: string, seq: number) => void {
  let pending = new Map<string, number[]>();
  let scheduled = false;
  const run = (): void => {
    scheduled = false;
    const now = pending;
    pending = new Map();
    for (const [rkey, seqs] of now) {
      seqs.sort((x, y) => x - y);
      let i = 0;
      while (i < seqs.length) {
        const lo = seqs[i]!;
        let j = i;
        while (j + 1 < seqs.length && seqs[j + 1]! - lo < WAKE_RANGE) j++;
        const hi = seqs[j]!;
        fetch(rkey, lo - 1, hi - lo + 1, new Set(seqs.slice(i, j + 1)));
        i = j + 1;
      }
    }
  };
  return (rkey, seq) => {
    let list = pending.get(rkey);
    if (!list) pending.set(rkey, (list = []));
    list.push(seq);
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  };
}
