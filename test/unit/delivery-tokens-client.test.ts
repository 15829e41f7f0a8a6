/**
 * The client side of delivery tokens (src/client/delivery-tokens.ts) in process, with a real
 * store and a fake relay connection that records `tokens` frames: issued only once both sides
 * wrote, rotated per epoch (the previous token kept, older ones removed), revoked with a new
 * generation, and nothing issued by a relay that answers UNKNOWN_TYPE (an older relay: sends
 * stay identified). The same through the real CLI and relay: test/cli/sealed-sender.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelayError } from '../../src/errors.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { openEnvelope } from '../../src/crypto/seal.js';
import { decodeTokenBody, encodeTokenBody, tokenHash } from '../../src/protocol/delivery-token.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { HushStore } from '../../src/store/db.js';
import type { RelayClient } from '../../src/client/relay-client.js';
import { heldToken, markTokenDue, revokeTokens, storeHeldToken, syncTokens } from '../../src/client/delivery-tokens.js';
import { key, msgId, person, removeHome, tempHome } from './store-helpers.js';

const RELAY = 'ws://127.0.0.1:7070';
const L = 1000;
let home: string;
let store: HushStore;
let now: number;
let frames: { add: string[]; remove: string[] }[];
let answer: 'ok' | 'UNKNOWN_TYPE';
const me = person('me');
const bob = person('bob');

const fake = {
  tokens: async (add: { h: Uint8Array }[], remove: Uint8Array[]) => {
    if (answer !== 'ok') throw new RelayError(answer, 'relay refused: unknown frame type');
    frames.push({ add: add.map((a) => toB64(a.h)), remove: remove.map((h) => toB64(h)) });
  },
} as unknown as RelayClient;

const sync = () => syncTokens(async () => fake, { store, identity: me.id, relay: RELAY, lifetimeMs: L, now: () => now, random: randomBytes });

beforeEach(() => {
  home = tempHome();
  store = HushStore.open(home, key());
  now = 10 * L + 1;
  frames = [];
  answer = 'ok';
});
afterEach(() => {
  store.close();
  removeHome(home);
});

function tokenIn(out: { envelope: Uint8Array }): { token: Uint8Array; exp: number; relay: string } {
  const opened = openEnvelope(bob.id, out.envelope, () => ({ signPk: me.id.signPk, boxPk: me.id.boxPk }));
  expect(opened.kind).toBe('token');
  return decodeTokenBody(opened.body);
}

describe('issuing delivery tokens', () => {
  it('issues nothing until the contact has written too, then registers the hash, queues the token envelope and records it', async () => {
    const c = store.pinContact(bob.bundle, undefined, RELAY).contact;
    store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'out', time: 1, body: 'hi' });
    markTokenDue(store, c, RELAY);
    expect(await sync()).toEqual([]);
    expect(frames).toEqual([]);
    store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'in', time: 2, body: 'hi back' });
    const out = await sync();
    expect(out).toHaveLength(1);
    const t = tokenIn(out[0]!);
    expect(t).toMatchObject({ relay: RELAY, exp: 12 * L });
    expect(frames).toEqual([{ add: [toB64(tokenHash(t.token))], remove: [] }]);
    expect(store.listOutbox().map((e) => e.eid)).toEqual([out[0]!.eid]);
    expect(await sync()).toEqual([]); // same epoch: nothing new
  });

  it('rotates at the next epoch keeping the previous hash, then removes it one epoch later', async () => {
    const c = store.pinContact(bob.bundle, undefined, RELAY).contact;
    store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'in', time: 2, body: 'x' });
    markTokenDue(store, c, RELAY);
    const h1 = toB64(tokenHash(tokenIn((await sync())[0]!).token));
    now += L;
    const h2 = toB64(tokenHash(tokenIn((await sync())[0]!).token));
    expect(h2).not.toBe(h1);
    expect(frames[1]).toEqual({ add: [h2], remove: [] });
    now += L;
    const h3 = toB64(tokenHash(tokenIn((await sync())[0]!).token));
    expect(frames[2]).toEqual({ add: [h3], remove: [h1] });
  });

  it('revocation removes the current and previous hashes at the next sync and issues a new generation', async () => {
    const c = store.pinContact(bob.bundle, undefined, RELAY).contact;
    store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'in', time: 2, body: 'x' });
    markTokenDue(store, c, RELAY);
    const t1 = tokenIn((await sync())[0]!).token;
    storeHeldToken(store, c, encodeTokenBody({ token: randomBytes(32), exp: 20 * L, relay: RELAY }));
    expect(heldToken(store, c.id, RELAY, now)).toBeDefined();
    expect(revokeTokens(store, c.id)).toBe(true);
    expect(heldToken(store, c.id, RELAY, now)).toBeUndefined(); // what bob gave us is forgotten too
    const t2 = tokenIn((await sync())[0]!).token;
    expect(Buffer.from(t2).equals(Buffer.from(t1))).toBe(false); // same epoch, new generation
    expect(frames[1]).toEqual({ add: [toB64(tokenHash(t2))], remove: [toB64(tokenHash(t1))] });
  });

  it('an older relay (UNKNOWN_TYPE) gets no tokens: nothing queued, nothing recorded, no error', async () => {
    const c = store.pinContact(bob.bundle, undefined, RELAY).contact;
    store.addMessage({ msgId: msgId(), contactId: c.id, direction: 'in', time: 2, body: 'x' });
    markTokenDue(store, c, RELAY);
    answer = 'UNKNOWN_TYPE';
    expect(await sync()).toEqual([]);
    expect(store.listOutbox()).toEqual([]);
    answer = 'ok';
    expect(await sync()).toHaveLength(1); // still due: issued once a relay takes it
  });

  it('a held token is used only for its relay and until shortly before it expires', () => {
    const c = store.pinContact(bob.bundle, undefined, RELAY).contact;
    storeHeldToken(store, c, encodeTokenBody({ token: randomBytes(32), exp: 20 * L, relay: RELAY }));
    expect(heldToken(store, c.id, RELAY, 10 * L)).toBeDefined();
    expect(heldToken(store, c.id, 'ws://127.0.0.1:7071', 10 * L)).toBeUndefined();
    expect(heldToken(store, c.id, RELAY, 20 * L - 500)).toBeUndefined();
  });
});
