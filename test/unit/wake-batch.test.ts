/**
 * relay/wake-batch.ts: the wake-ups of one event-loop turn become one fetch per recipient and
 * range, every seq covered exactly once (a burst wider than WAKE_RANGE is split, never cut).
 */
import { describe, expect, it } from 'vitest';
import { batchWakes, WAKE_RANGE } from '../../relay/wake-batch.js';

describe('batchWakes', () => {
  it('gathers a turn of wake-ups per recipient, splits wide bursts, and drops none', async () => {
    const calls: { rkey: string; after: number; limit: number; seqs: number[] }[] = [];
    const wake = batchWakes((rkey, after, limit, seqs) => calls.push({ rkey, after, limit, seqs: [...seqs] }));
    const bobSeqs = Array.from({ length: 600 }, (_, i) => 1000 + i * 2); // 1,199 seqs wide
    for (const s of [...bobSeqs].reverse()) wake('bob', s); // any order
    wake('carol', 7);
    expect(calls).toEqual([]); // nothing before the turn ends
    await new Promise((r) => setImmediate(r));
    const bob = calls.filter((c) => c.rkey === 'bob');
    expect(bob.flatMap((c) => c.seqs)).toEqual(bobSeqs);
    for (const c of bob) {
      expect(c.limit).toBeLessThanOrEqual(WAKE_RANGE);
      expect(c.seqs.every((s) => s > c.after && s <= c.after + c.limit)).toBe(true);
    }
    expect(bob.length).toBe(Math.ceil((bobSeqs.at(-1)! - bobSeqs[0]! + 1) / WAKE_RANGE));
    expect(calls.filter((c) => c.rkey === 'carol')).toEqual([{ rkey: 'carol', after: 6, limit: 1, seqs: [7] }]);
    wake('carol', 8);
    await new Promise((r) => setImmediate(r));
    expect(calls.at(-1)).toEqual({ rkey: 'carol', after: 7, limit: 1, seqs: [8] }); // the next turn: a new batch
  });
});
