/**
 * src/client/pull-pages.ts in process, over a fake relay connection: every waiting envelope is
 * handed to the store exactly once and in mailbox order, an ack is only started by the batch
 * that committed it, no ack frame exceeds MAX_ACK_EIDS, and a failed page rejects the pull only
 * after every ack already started has settled (nothing committed is left unacked behind it).
 * With an opener (the outer-open thread's interface): it is warmed with the first page, and a
 * page the thread has not started is taken back and opened by the store instead.
 */
import { describe, expect, it } from 'vitest';
import { pullPages, type AheadOpener, type BatchProcessor, type PulledItem } from '../../src/client/pull-pages.js';
import { joinParts, type OpenedPage, openOuter, type OuterTicket, packAnswer, packPage, pageEnvelopes, unpackAnswer } from '../../src/client/outer-open.js';
import { sealEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { ENVELOPE_V2_OUTER_BYTES, isValidEnvelopeV2Length } from '../../src/protocol/session-wire.js';
import { randomBytes, x25519KeyPair } from '../../src/crypto/nacl.js';
import type { AheadOpened } from '../../src/client/ahead-ratchet.js';
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

  it('the opener warms with the first page; a page the thread has not started is taken back and opened by the store; every page once, in order', async () => {
    const items = mailbox(4 * MAX_PULL_LIMIT + 7);
    const { c } = fakeClient(items);
    const seen: { eid: string; outer: unknown; ahead: unknown }[] = [];
    const process: BatchProcessor = async (batch, ack, later) => {
      for (const i of batch) seen.push({ eid: i.eid, outer: i.outer, ahead: i.ahead });
      later.push(ack(batch.map((i) => i.eid)));
      const res = emptyProcessResult();
      res.ackEids = batch.map((i) => i.eid);
      return res;
    };
    const warmed: number[] = [];
    let pages = 0;
    let taken = 0;
    const opener = (): AheadOpener => ({
      warm: (envs) => warmed.push(envs.length),
      open: (envs) => {
        // Odd pages: the thread has started (take changes nothing, its answer comes);
        // even pages: not started, so take() makes the answer undefined (opened by the store).
        const started = pages++ % 2 === 1;
        let answer: ((v: OpenedPage | undefined) => void) | undefined;
        const result = new Promise<OpenedPage | undefined>((r) => (answer = r));
        // The thread's answers: every outer layer, and the first envelope's ratchet layer opened ahead.
        const aheadOf = (e: Uint8Array): AheadOpened => ({ row: e[0]!, ckBefore: new Uint8Array(32), ckAfter: new Uint8Array(32), plaintext: Uint8Array.of(1) });
        if (started) setImmediate(() => answer!({ outer: envs.map((e) => Uint8Array.of(0xa0, e[0]!)), ahead: envs.map((e, i) => (i === 0 ? aheadOf(e) : undefined)) }));
        return {
          result,
          take: () => {
            if (started) return;
            taken++;
            answer!(undefined);
          },
        };
      },
      close: async () => undefined,
    });
    await pullPages(c, process, opener);
    expect(warmed).toEqual([MAX_PULL_LIMIT]); // once, with the first page
    expect(seen.map((x) => x.eid)).toEqual(items.map((i) => i.eid));
    expect(taken).toBe(2); // pages 2 and 4 (the first is never handed over)
    // The first page and the taken ones carry no outer layer; the thread's pages carry its answers.
    const withOuter = seen.filter((x) => x.outer !== undefined);
    expect(withOuter.map((x) => x.eid)).toEqual([...items.slice(2 * MAX_PULL_LIMIT, 3 * MAX_PULL_LIMIT), ...items.slice(4 * MAX_PULL_LIMIT)].map((i) => i.eid));
    expect(withOuter[0]!.outer).toEqual(Uint8Array.of(0xa0, items[2 * MAX_PULL_LIMIT]!.env[0]!));
    // A ratchet layer opened ahead travels with its own item only.
    expect(seen.filter((x) => x.ahead !== undefined).map((x) => x.eid)).toEqual([items[2 * MAX_PULL_LIMIT]!.eid, items[4 * MAX_PULL_LIMIT]!.eid]);
    expect((withOuter[0]!.ahead as AheadOpened).row).toBe(items[2 * MAX_PULL_LIMIT]!.env[0]!);
  });

  it('a page the thread has not answered yet is left for the next batch instead of being taken from the thread', async () => {
    const items = mailbox(2 * MAX_PULL_LIMIT + 7);
    const { c } = fakeClient(items);
    const batches: { n: number; withOuter: number }[] = [];
    let answerSecond: (() => void) | undefined;
    let taken = 0;
    const process: BatchProcessor = async (batch, ack, later) => {
      batches.push({ n: batch.length, withOuter: batch.filter((i) => i.outer !== undefined).length });
      answerSecond?.(); // the thread answers the second page while the first batch is stored
      later.push(ack(batch.map((i) => i.eid)));
      const res = emptyProcessResult();
      res.ackEids = batch.map((i) => i.eid);
      return res;
    };
    let pages = 0;
    const opener = (): AheadOpener => ({
      warm: () => undefined,
      open: (envs) => {
        const second = pages++ === 0;
        let answered = false;
        let answer: ((v: OpenedPage | undefined) => void) | undefined;
        const result = new Promise<OpenedPage | undefined>((r) => (answer = r));
        const give = (): void => {
          if (answered) return;
          answered = true;
          answer!({ outer: envs.map(() => Uint8Array.of(0xa0)), ahead: envs.map(() => undefined) });
        };
        if (second) answerSecond = give;
        else setImmediate(give);
        return {
          result,
          done: () => answered,
          take: () => {
            if (!answered) taken++;
          },
        };
      },
      close: async () => undefined,
    });
    await pullPages(c, process, opener);
    // The first page alone (the second was still with the thread); every later page is the thread's.
    expect(batches[0]).toEqual({ n: MAX_PULL_LIMIT, withOuter: 0 });
    expect(batches.slice(1).every((b) => b.withOuter === b.n)).toBe(true);
    expect(batches.reduce((a, b) => a + b.n, 0)).toBe(items.length);
    expect(taken).toBe(0);
  });

  it('a page travels to the thread as one buffer and comes out as the same envelopes, in order (empty ones too)', () => {
    const envs = [Uint8Array.of(2, 1, 2, 3), new Uint8Array(0), new Uint8Array(Buffer.alloc(700, 7)), Uint8Array.of(1)];
    const packed = packPage(envs);
    expect(packed.bytes.length).toBe(705);
    expect(Array.from(packed.ends)).toEqual([4, 4, 704, 705]);
    expect(pageEnvelopes(packed).map((e) => Array.from(e))).toEqual(envs.map((e) => Array.from(e)));
    expect(pageEnvelopes(packPage([]))).toEqual([]);
  });

  it("a page's answer comes back from the thread as one buffer with every layer, answer and absence in place", () => {
    const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    const page: OpenedPage = {
      outer: [b(300, 1), 'TAMPERED', undefined, b(5, 2), new Uint8Array(0)],
      ahead: [
        { row: 7, ckBefore: b(32, 3), ckAfter: b(32, 4), plaintext: b(120, 5) },
        undefined,
        undefined,
        undefined,
        { row: 0, ckBefore: b(32, 6), ckAfter: b(32, 7), plaintext: new Uint8Array(0) },
      ],
    };
    const back = unpackAnswer(packAnswer(page));
    const plain = (p: OpenedPage): unknown => ({
      outer: p.outer.map((o) => (o instanceof Uint8Array ? Array.from(o) : o)),
      ahead: p.ahead.map((a) => a && { row: a.row, ckBefore: Array.from(a.ckBefore), ckAfter: Array.from(a.ckAfter), plaintext: Array.from(a.plaintext) }),
    });
    expect(plain(back)).toEqual(plain(page));
    // Wiping an answer's chain keys (as the main thread does once it looked at them) touches nothing else.
    back.ahead[0]!.ckBefore.fill(0);
    expect(Array.from(back.ahead[0]!.ckAfter)).toEqual(Array.from(b(32, 4)));
    expect(Array.from(back.outer[0] as Uint8Array)).toEqual(Array.from(b(300, 1)));
    expect(unpackAnswer(packAnswer({ outer: [], ahead: [] }))).toEqual({ outer: [], ahead: [] });
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

  it('an opener started before the pull gets every page, the first one too (no warm), and is closed however the pull ends', async () => {
    for (const failAfter of [undefined, MAX_PULL_LIMIT]) {
      const items = mailbox(3 * MAX_PULL_LIMIT);
      const { c } = fakeClient(items, failAfter);
      const handed: number[] = [];
      let warmed = 0;
      let closed = 0;
      const started: AheadOpener = {
        warm: () => void warmed++,
        open: (envs) => {
          handed.push(envs.length);
          return { result: Promise.resolve({ outer: envs.map((e) => Uint8Array.of(0xa0, e[0]!)), ahead: envs.map(() => undefined) }), take: () => undefined };
        },
        close: async () => void closed++,
      };
      const seen: PulledItem[] = [];
      const process: BatchProcessor = async (batch, ack, later) => {
        seen.push(...batch);
        later.push(ack(batch.map((i) => i.eid)));
        const res = emptyProcessResult();
        res.ackEids = batch.map((i) => i.eid);
        return res;
      };
      const made = (): AheadOpener => {
        throw new Error('not asked for: an opener was started');
      };
      const pulled = pullPages(c, process, made, started);
      if (failAfter === undefined) {
        await pulled;
        expect(handed).toEqual([MAX_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PULL_LIMIT]);
        expect(seen.map((i) => i.eid)).toEqual(items.map((i) => i.eid));
        expect(seen.every((i) => i.outer instanceof Uint8Array)).toBe(true); // the first page's too
      } else {
        await expect(pulled).rejects.toThrow('connection lost');
        expect(handed).toEqual([MAX_PULL_LIMIT]);
      }
      expect(warmed).toBe(0);
      expect(closed).toBe(1);
    }
  });

  it('a page in parts: one answer end to end, a part the thread failed left to the judge, take() reaching every part', async () => {
    const part = (outer: (Uint8Array | undefined)[] | undefined, took: string[], name: string): OuterTicket => ({
      result: Promise.resolve(
        outer && { outer, ahead: outer.map((o, i) => (o && i === 0 ? { row: o[0]!, ckBefore: new Uint8Array(32), ckAfter: new Uint8Array(32), plaintext: o } : undefined)) },
      ),
      take: () => void took.push(name),
      done: () => outer !== undefined,
    });
    const took: string[] = [];
    const t = joinParts([part([Uint8Array.of(1), Uint8Array.of(2)], took, 'a'), part(undefined, took, 'b'), part([Uint8Array.of(5)], took, 'c')], 5, 2);
    t.take();
    expect(took).toEqual(['a', 'b', 'c']);
    expect(t.done?.()).toBe(false);
    const page = await t.result;
    expect(page!.outer).toEqual([Uint8Array.of(1), Uint8Array.of(2), undefined, undefined, Uint8Array.of(5)]);
    expect(page!.ahead.map((a) => a?.row)).toEqual([1, undefined, undefined, undefined, 5]);
    // Every part failed: no answer at all (the judge opens the whole page).
    expect(await joinParts([part(undefined, [], 'x'), part(undefined, [], 'y')], 3, 2).result).toBeUndefined();
  });

  it('the outer layer the main thread opens for a part it takes is what the thread would give: inner, TAMPERED, or left to the judge (v1)', () => {
    const bob = x25519KeyPair(randomBytes);
    let n = 1;
    while (!isValidEnvelopeV2Length(ENVELOPE_V2_OUTER_BYTES + n)) n++; // an inner of a length a v2 envelope may have
    const inner = randomBytes(n);
    const env = sealEnvelopeV2(bob.publicKey, inner, randomBytes);
    expect(openOuter(bob.secretKey, env)).toEqual(inner);
    const forged = Uint8Array.from(env);
    forged[forged.length - 1]! ^= 1;
    expect(openOuter(bob.secretKey, forged)).toBe('TAMPERED');
    expect(openOuter(bob.secretKey, Uint8Array.of(1, 2, 3))).toBeUndefined(); // a v1 envelope: the judge's
    expect(openOuter(x25519KeyPair(randomBytes).secretKey, env)).toBe('TAMPERED'); // not ours
  });
});
