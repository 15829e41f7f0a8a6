// Who gets receipts and when they may leave (src/client/receipts.ts, src/cli/receipt-delay.ts,
// src/store/config.ts), in process with a real SQLite store: strangers get none, a contact we
// wrote to or verified does; the "not before" time is drawn within the bounds and stored as
// the outbox row's created_at; --receipt-delay and config.json parse or refuse.
import { afterEach, describe, expect, it } from 'vitest';
import { openInner, openOuter } from '../../src/crypto/seal.js';
import { decodeReceipt, DEFAULT_RECEIPT_DELAY, drawNotBefore, queueCatchUpReceipts, queueReadReceipts, queueReceipts, receiptsAllowed } from '../../src/client/receipts.js';
import { MAX_RECEIPT_DELAY_MS, parseReceiptDelay } from '../../src/cli/receipt-delay.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { configToJson, parseConfig } from '../../src/store/config.js';
import { HushStore } from '../../src/store/db.js';
import { isHushError } from '../../src/errors.js';
import { key, msgId, person, removeHome, tempHome } from './store-helpers.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) removeHome(h);
});

function store(): HushStore {
  const home = tempHome();
  homes.push(home);
  return HushStore.open(home, key());
}

describe('receiptsAllowed: strangers get no receipts', () => {
  it('a contact pinned from its own first message is a stranger until we write to it or verify it', () => {
    const s = store();
    try {
      const me = person('me');
      const carol = s.pinContact(person('carol').bundle).contact;
      const dave = s.pinContact(person('dave').bundle).contact;
      expect(receiptsAllowed(s, carol)).toBe(false);
      expect(receiptsAllowed(s, dave)).toBe(false);
      // Incoming mail alone changes nothing.
      s.addMessage({ msgId: msgId(), contactId: carol.id, direction: 'in', time: 1, body: 'hi' });
      expect(receiptsAllowed(s, carol)).toBe(false);
      // We write to carol (any outgoing row, even one still queued): she is a contact now.
      s.addMessage({ msgId: msgId(), contactId: carol.id, direction: 'out', time: 2, body: 'hello', status: 'queued' });
      expect(receiptsAllowed(s, carol)).toBe(true);
      // We verify dave: a contact too.
      expect(receiptsAllowed(s, s.markVerified(dave.id))).toBe(true);

      // queueReadReceipts skips strangers but marks their mail read all the same.
      const eve = s.pinContact(person('eve').bundle).contact;
      const fromEve = msgId();
      const fromCarol = msgId();
      s.addMessage({ msgId: fromEve, contactId: eve.id, direction: 'in', time: 3, body: 'x' });
      s.addMessage({ msgId: fromCarol, contactId: carol.id, direction: 'in', time: 4, body: 'y' });
      const q = queueReadReceipts(s, { identity: me.id, random: randomBytes, now: () => 1000, delay: { minMs: 0, maxMs: 0 } }, [fromEve, fromCarol], true);
      expect(q.map((r) => r.to)).toEqual(['carol']);
      expect(s.findMessage(fromEve, 'in')?.status).toBe('read');
    } finally {
      s.close();
    }
  });
});

describe('read marks by row (what pull shows: src/client/batch-receiver.ts markRead)', () => {
  it('marks the same messages and queues the same receipts as by id: runs of rows, gaps, outgoing, already read and repeated rows skipped', () => {
    const s = store();
    try {
      const me = person('me');
      const carol = s.pinContact(person('carol').bundle).contact;
      const dave = s.pinContact(person('dave').bundle).contact;
      s.markVerified(carol.id);
      s.markVerified(dave.id);
      const stored: { row: number; msgId: Uint8Array; contactId: number }[] = [];
      for (let i = 0; i < 9; i++) {
        const id = msgId();
        const contactId = i % 3 === 2 ? dave.id : carol.id;
        s.addMessage({ msgId: id, contactId, direction: i === 4 ? 'out' : 'in', time: i + 1, body: `m${i}` });
        stored.push({ row: s.lastMessageRow(), msgId: id, contactId });
      }
      s.markIncomingRead([stored[1]!.msgId]); // read before: no second receipt
      // Rows 0-3 and 5-8 with 4 (outgoing) given too, 7 left out (a gap), 2 given twice.
      const rows = [0, 1, 2, 3, 4, 5, 6, 8, 2].map((i) => ({ row: stored[i]!.row, msgId: stored[i]!.msgId }));
      const byContact = s.markIncomingReadRows(rows);
      const hex = (ids: Uint8Array[] | undefined): string[] => (ids ?? []).map((id) => Buffer.from(id).toString('hex'));
      expect(hex(byContact.get(carol.id))).toEqual(hex([0, 3, 6].map((i) => stored[i]!.msgId)));
      expect(hex(byContact.get(dave.id))).toEqual(hex([2, 5, 8].map((i) => stored[i]!.msgId)));
      expect(stored.map((m) => s.findMessage(m.msgId, 'in')?.status ?? 'out')).toEqual(['read', 'read', 'read', 'read', 'out', 'read', 'read', 'received', 'read']);
      // Through queueReadReceipts: one read receipt per sender for what moved (none here: all read), the rest by id.
      const ctx = { identity: me.id, random: randomBytes, now: () => 1000, delay: { minMs: 0, maxMs: 0 } };
      const q = queueReadReceipts(s, ctx, [stored[7]!.msgId], true, undefined, rows);
      expect(q.map((r) => r.to)).toEqual(['carol']);
      expect(s.findMessage(stored[7]!.msgId, 'in')?.status).toBe('read');
      expect(() => s.markIncomingReadRows([{ row: 0, msgId: stored[0]!.msgId }])).toThrow();
    } finally {
      s.close();
    }
  });
});

describe('queueCatchUpReceipts: the first message to a stranger acknowledges its earlier mail', () => {
  it('queues one delivered receipt for its incoming messages and one read receipt for those read', () => {
    const s = store();
    try {
      const me = person('me');
      const carol = s.pinContact(person('carol').bundle).contact;
      const ids = [msgId(), msgId(), msgId()];
      ids.forEach((id, i) => s.addMessage({ msgId: id, contactId: carol.id, direction: 'in', time: i + 1, body: `m${i}` }));
      s.markIncomingRead([ids[0]!]);
      const ctx = { identity: me.id, random: randomBytes, now: () => 1000, delay: { minMs: 0, maxMs: 0 } };
      const q = queueCatchUpReceipts(s, ctx, carol, { delivered: true, read: true });
      expect(q).toHaveLength(2);
      expect(s.listOutbox()).toHaveLength(2);
      expect(queueCatchUpReceipts(s, ctx, carol, { delivered: false, read: true })).toHaveLength(1);
      expect(queueCatchUpReceipts(s, ctx, carol, { delivered: false, read: false })).toHaveLength(0);
    } finally {
      s.close();
    }
  });
});

describe('the receipt delay', () => {
  it('draws a not-before time uniformly within the bounds, ends included', () => {
    const d = { minMs: 5_000, maxMs: 60_000 };
    expect(drawNotBefore(1000, () => Uint8Array.of(0, 0, 0, 0), d)).toBe(6_000);
    expect(drawNotBefore(1000, () => Uint8Array.of(255, 255, 255, 255), d)).toBe(61_000);
    expect(drawNotBefore(1000, () => Uint8Array.of(128, 0, 0, 0), d)).toBe(1000 + 5_000 + 27_500);
    for (let i = 0; i < 200; i++) {
      const t = drawNotBefore(0, randomBytes, d);
      expect(t >= 5_000 && t <= 60_000 && Number.isInteger(t)).toBe(true);
    }
    expect(drawNotBefore(7, randomBytes, { minMs: 0, maxMs: 0 })).toBe(7);
    expect(DEFAULT_RECEIPT_DELAY).toEqual({ minMs: 5_000, maxMs: 60_000 });
  });

  it('stores the not-before time as the outbox row created_at', () => {
    const s = store();
    try {
      const me = person('me');
      const c = s.pinContact(person('carol').bundle).contact;
      const q = queueReceipts(s, { identity: me.id, random: randomBytes, now: () => 10_000, delay: { minMs: 2_000, maxMs: 3_000 } }, c, 'delivered', [msgId(), msgId()]);
      expect(q).toHaveLength(1);
      expect(q[0]!.notBefore >= 12_000 && q[0]!.notBefore <= 13_000).toBe(true);
      expect(s.listOutbox().map((e) => e.createdAt)).toEqual([q[0]!.notBefore]);
    } finally {
      s.close();
    }
  });

  it('coalesces a receipt still waiting with the next one of the same type to the same contact, at the earlier time', () => {
    const s = store();
    try {
      const me = person('me');
      const carolP = person('carol');
      const carol = s.pinContact(carolP.bundle).contact;
      const dave = s.pinContact(person('dave').bundle).contact;
      let now = 10_000;
      const pending = new Map();
      let draw = 0;
      // The first draw is 20 s, the later ones 30 s: the merged receipt keeps the first time.
      const random = (n: number): Uint8Array => (n === 4 ? Uint8Array.of(draw++ === 0 ? 0 : 255, 0, 0, 0) : randomBytes(n));
      const ctx = { identity: me.id, random, now: () => now, delay: { minMs: 20_000, maxMs: 40_000 }, pending };
      const a = [msgId(), msgId()];
      const b = [msgId(), a[1]!];
      const first = s.transaction(() => queueReceipts(s, ctx, carol, 'delivered', a));
      now += 5_000;
      const second = s.transaction(() => queueReceipts(s, ctx, carol, 'delivered', b));
      s.transaction(() => queueReceipts(s, ctx, carol, 'read', [a[0]!])); // another type: its own
      s.transaction(() => queueReceipts(s, ctx, dave, 'delivered', [msgId()])); // another contact: its own
      expect(second[0]!.notBefore).toBe(first[0]!.notBefore);
      const out = s.listOutbox();
      expect(out).toHaveLength(3);
      expect(out.map((e) => e.eid)).not.toContain(first[0]!.eid);
      expect(out.map((e) => e.eid)).toContain(second[0]!.eid);
      // carol opens the merged envelope: one delivered receipt naming a[0], a[1] and b[0] once each.
      const opened = openInner(carolP.id, openOuter(carolP.id, second[0]!.envelope), me.bundle);
      const body = decodeReceipt(opened.body);
      expect(body.type).toBe('delivered');
      expect(body.ids.map((x) => Buffer.from(x).toString('hex'))).toEqual([a[0]!, a[1]!, b[0]!].map((x) => Buffer.from(x).toString('hex')));
      // Once its time has passed, a receipt is left alone (it may be on its way): no merge.
      now = second[0]!.notBefore;
      const third = s.transaction(() => queueReceipts(s, ctx, carol, 'delivered', [msgId()]));
      expect(s.listOutbox().map((e) => e.eid)).toEqual(expect.arrayContaining([second[0]!.eid, third[0]!.eid]));
    } finally {
      s.close();
    }
  });

  it('--receipt-delay parses MIN-MAX with units, one value, and refuses the rest (BAD_RECEIPT_DELAY)', () => {
    expect(parseReceiptDelay(undefined)).toEqual({ minMs: 5_000, maxMs: 60_000 });
    expect(parseReceiptDelay('5-60')).toEqual({ minMs: 5_000, maxMs: 60_000 });
    expect(parseReceiptDelay('0')).toEqual({ minMs: 0, maxMs: 0 });
    expect(parseReceiptDelay('500ms-2s')).toEqual({ minMs: 500, maxMs: 2_000 });
    expect(parseReceiptDelay('1m-60m')).toEqual({ minMs: 60_000, maxMs: MAX_RECEIPT_DELAY_MS });
    for (const bad of ['', '-', '9-3', '1-2-3', '61m', '5s-2h', 'x', '-5', '1.5', '5 s']) {
      let code = '';
      try {
        parseReceiptDelay(bad);
      } catch (e) {
        code = isHushError(e) ? e.code : String(e);
      }
      expect(code, bad).toBe('BAD_RECEIPT_DELAY');
    }
  });

  it('config.json carries deliveryReceipts and receiptDelay, typed, and writes them back', () => {
    const cfg = parseConfig('{"v":1,"deliveryReceipts":false,"receiptDelay":"0","future":1}');
    expect(cfg.deliveryReceipts).toBe(false);
    expect(cfg.receiptDelay).toBe('0');
    expect(JSON.parse(configToJson(cfg))).toEqual({ v: 1, deliveryReceipts: false, receiptDelay: '0', future: 1 });
    for (const bad of ['{"v":1,"deliveryReceipts":"no"}', '{"v":1,"receiptDelay":5}']) {
      let code = '';
      try {
        parseConfig(bad);
      } catch (e) {
        code = isHushError(e) ? e.code : String(e);
      }
      expect(code, bad).toBe('CONFIG_CORRUPT');
    }
  });
});
