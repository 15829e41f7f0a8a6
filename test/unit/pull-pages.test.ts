/**
 * src/client/pull-pages.ts in process, over a fake relay connection: every waiting envelope is
 * handed to the store exactly once and in mailbox order, an ack is only started by the batch
 * that committed it, no ack frame exceeds MAX_ACK_EIDS, and a failed page rejects the pull only
 * after every ack already started has settled (nothing committed is left unacked behind it).
 */
import { describe, expect, it } from 'vitest';
import { pullPages, type BatchProcessor } from '../../src/client/pull-pages.js';
import { emptyProcessResult } from '../../src/client/inbound.js';
import type { RelayClient } from '../../src/client/relay-client.js';
import { MAX_ACK_EIDS, MAX_PULL_LIMIT, type MailItem } from '../../src/protocol/frames.js';

function mailbox(n: number): MailItem[] {
  return Array.from({ length: n }, (_, i) => ({ seq: i + 1, eid: `e${i + 1}`, env: new Uint8Array([i & 255]), time: 1000 + i }));
}

/** A connection whose pull pages `items` by seq and whose acks are recorded (and resolve later). */
function fakeClient(items: MailItem[], failAfter?: number) {
  const acks: string[][] = [];
  const pulls: number[] = [];
  let settledAcks = 0;
  const c = {
    pull({ after = 0, limit = 100 }: { after?: number; limit?: number }) {
      pulls.push(after);
      if (failAfter !== undefined && after >= failAfter) return Promise.reject(new Error('connection lost'));
      const page = items.filter((m) => m.seq > after).slice(0, limit);
      const more = items.some((m) => m.seq > (page.at(-1)?.seq ?? after));
      return new Promise((r) => setImmediate(() => r({ items: page, more })));
    },
    ack(eids: string[]) {
      acks.push(eids);
      return new Promise<number>((r) =>
        setTimeout(() => {
          settledAcks++;
          r(eids.length);
        }, 2),
      );
    },
  };
  return { c: c as unknown as RelayClient, acks, pulls, settled: () => settledAcks };
}

/** A store that records what it committed, then starts the ack as Messenger.processBatch does. */
function recordingStore(order: string[]) {
  const committed: string[] = [];
  const batches: number[] = [];
  const process: BatchProcessor = async (items, ack, later) => {
    await new Promise((r) => setImmediate(r));
    const eids = items.map((i) => i.eid);
    committed.push(...eids);
    batches.push(items.length);
    order.push(`commit:${eids.length}`);
    const res = emptyProcessResult();
    res.ackEids = eids;
    later.push(
      ack(eids).then((n) => {
        order.push(`acked:${eids.length}`);
        return n;
      }),
    );
    return res;
  };
  return { process, committed, batches };
}

describe('pullPages', () => {
  it('hands every envelope to the store once, in order, and acks each id once after its commit', async () => {
    const items = mailbox(2 * MAX_PULL_LIMIT * 2 + 123); // more than two batches of two pages
    const { c, acks } = fakeClient(items);
    const order: string[] = [];
    const store = recordingStore(order);
    const total = await pullPages(c, store.process);
    expect(store.committed).toEqual(items.map((i) => i.eid));
    expect(total.ackEids).toEqual(items.map((i) => i.eid));
    expect(acks.flat().sort()).toEqual(items.map((i) => i.eid).sort());
    expect(Math.max(...acks.map((a) => a.length))).toBeLessThanOrEqual(MAX_ACK_EIDS);
    // Batches are at most two pages: one commit per 1,000 at most.
    expect(Math.max(...store.batches)).toBeLessThanOrEqual(2 * MAX_PULL_LIMIT);
    // The first ack comes after the first commit.
    expect(order[0]).toMatch(/^commit:/);
  });

  it('an empty mailbox is one page request and nothing stored', async () => {
    const { c, acks, pulls } = fakeClient([]);
    const store = recordingStore([]);
    const total = await pullPages(c, store.process);
    expect(pulls).toEqual([0]);
    expect(store.committed).toEqual([]);
    expect(acks).toEqual([]);
    expect(total.messages).toEqual([]);
  });

  it('a failed page rejects the pull after every started ack settled; what was committed was acked', async () => {
    const items = mailbox(3 * MAX_PULL_LIMIT);
    const f = fakeClient(items, MAX_PULL_LIMIT); // the second page fails
    const store = recordingStore([]);
    await expect(pullPages(f.c, store.process)).rejects.toThrow('connection lost');
    expect(store.committed).toEqual(items.slice(0, MAX_PULL_LIMIT).map((i) => i.eid));
    expect(f.acks.flat()).toEqual(store.committed);
    expect(f.settled()).toBe(f.acks.length);
  });
});
