/**
 * The receive path's judgement in process (src/client/inbound.ts, PROTOCOL §5.7), on a real
 * SQLite store with a fake relay lookup: a typing hint or a receipt whose inner box does not
 * open with the key it claims (a contact's) changes nothing and is quarantined; from a key the
 * relay names but that is no contact, it is authenticated yet still changes nothing (no pin,
 * no typing shown, no receipt applied).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { processEnvelopes } from '../../src/client/inbound.js';
import { encodeReceipt } from '../../src/client/receipts.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { HushStore } from '../../src/store/db.js';
import { key, person, removeHome, tempHome } from './store-helpers.js';

const RELAY = 'ws://127.0.0.1:7070';
let home: string;
let store: HushStore;
const me = person('alice');
const bob = person('bob');
const mallory = person('mallory');

beforeEach(() => {
  home = tempHome();
  store = HushStore.open(home, key());
  store.pinContact(bob.bundle, undefined, RELAY);
});
afterEach(() => {
  store.close();
  removeHome(home);
});

const item = (env: Uint8Array) => ({ eid: envelopeId(env), env });
const opts = { myName: 'alice', relay: RELAY, lookup: async (pk: Uint8Array) => [bob, mallory].find((p) => Buffer.from(p.bundle.signPk).equals(pk))?.bundle };

it('typing and receipts that claim a contact but do not authenticate change nothing', async () => {
  const sent = store.addMessages([{ msgId: randomBytes(16), contactId: 1, direction: 'out', time: 1, body: 'hi bob', status: 'sent' }]);
  expect(sent).toEqual([true]);
  const forger = { signPk: bob.id.signPk, boxPk: mallory.id.boxPk, boxSk: mallory.id.boxSk }; // bob's name, mallory's box key
  const typing = sealEnvelope(forger, me.id, { kind: 'typing', id: randomBytes(16), time: 2, body: new Uint8Array(0) }, randomBytes);
  const receipt = sealEnvelope(forger, me.id, { kind: 'receipt', id: randomBytes(16), time: 3, body: encodeReceipt({ type: 'read', ids: [randomBytes(16)] }) }, randomBytes);
  const before = store.listContacts();
  const r = await processEnvelopes(store, me.id, [item(typing), item(receipt)], opts);
  expect(r.typing).toEqual([]);
  expect(r.receipts).toEqual([]);
  expect(r.quarantined.map((q) => [q.reason, q.authenticated])).toEqual([
    ['TAMPERED', false],
    ['TAMPERED', false],
  ]);
  expect(store.listContacts()).toEqual(before);
});

it('typing and receipts from a key the relay names, but no contact, are authenticated and still change nothing', async () => {
  const typing = sealEnvelope(mallory.id, me.id, { kind: 'typing', id: randomBytes(16), time: 2, body: new Uint8Array(0) }, randomBytes);
  const receipt = sealEnvelope(mallory.id, me.id, { kind: 'receipt', id: randomBytes(16), time: 3, body: encodeReceipt({ type: 'read', ids: [randomBytes(16)] }) }, randomBytes);
  const r = await processEnvelopes(store, me.id, [item(typing), item(receipt)], opts);
  expect(r).toMatchObject({ typing: [], receipts: [], quarantined: [], ignored: 2 });
  expect(store.listContacts().map((c) => c.label)).toEqual(['bob']); // mallory not pinned
  expect(r.ackEids).toHaveLength(2);
});

it('names the rows a batch stored: exactly its new messages, in order, after rows other writers stored before it', async () => {
  const t0 = 1_700_000_000_000;
  const msg = (i: number, id = randomBytes(16)) => sealEnvelope(bob.id, me.id, { kind: 'msg', id, time: t0 + i, body: new TextEncoder().encode(`m${i}`) }, randomBytes);
  // Another reader of the home stored one of them (and one of ours) before this batch.
  const seenId = randomBytes(16);
  const seen = msg(1, seenId);
  expect((await processEnvelopes(store, me.id, [item(seen)], opts)).messages).toHaveLength(1);
  store.addMessages([{ msgId: randomBytes(16), contactId: 1, direction: 'out', time: t0, body: 'ours', status: 'sent' }]);
  const before = store.lastMessageRow();
  const r = await processEnvelopes(store, me.id, [item(msg(3)), item(seen), item(msg(2))], opts);
  expect(r.duplicates).toBe(1);
  expect(r.messages.map((m) => m.body)).toEqual(['m2', 'm3']);
  expect(r.stored).toEqual({ after: before, last: before + 2 });
  const rows = store.incomingAfter(r.stored!.after, 1000, r.stored!.last);
  expect(rows.map((x) => [Buffer.from(x.msgId).toString('hex'), typeof x.body === 'string' ? x.body : new TextDecoder().decode(x.body)])).toEqual(
    r.messages.map((m) => [m.id, m.body]),
  );
  // A batch that stores nothing names no rows.
  expect((await processEnvelopes(store, me.id, [item(seen)], opts)).stored).toBeUndefined();
});
