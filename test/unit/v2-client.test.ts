/**
 * The v2 session layer of the client in process (src/client/sessions.ts, src/client/prekeys.ts,
 * the v2 path of src/client/inbound.ts), on real SQLite stores (schema 3) with a fake relay that
 * hands out bob's published prekeys: sessions start from a bundle, messages open through the
 * real judgement, states and consumed prekeys commit with the messages, replays are dropped by
 * the session even in a wiped history, a copied home opens nothing already read (forward
 * secrecy) and nothing sent after a round trip (post-compromise security), simultaneous starts
 * converge, a batch whose session another writer stored meanwhile is opened again, out-of-order
 * delivery with loss and duplicates, the skip cap, prekey exhaustion,
 * signed-prekey rotation and its grace period, and requireForwardSecrecy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AheadChains } from '../../src/client/ahead-chains.js';
import { anchorsOf } from '../../src/client/ahead-ratchet.js';
import { type InboundItem, processEnvelopes, type ProcessOptions } from '../../src/client/inbound.js';
import { reprocessQuarantine } from '../../src/client/quarantine-reopen.js';
import { DEFAULT_PREKEY_POLICY, maintainPrekeys, type PrekeyPolicy } from '../../src/client/prekeys.js';
import { ensureSession, sealFor, sendingSession, sessionsFor } from '../../src/client/sessions.js';
import { parseRatchetLimits } from '../../src/cli/ratchet-limits.js';
import { makePrekeyBundle } from '../../src/crypto/prekeys.js';
import { DEFAULT_RATCHET_LIMITS } from '../../src/crypto/ratchet.js';
import { openEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { boxBefore, randomBytes } from '../../src/crypto/nacl.js';
import { openInner, openOuter, sealEnvelope } from '../../src/crypto/seal.js';
import { sealMessageEnvelope, startSession } from '../../src/crypto/session.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { utf8 } from '../../src/protocol/encoding.js';
import { encodePayloadV2 } from '../../src/protocol/session-wire.js';
import type { PrekeyBundle } from '../../src/protocol/prekey-bundle.js';
import { type Contact, HushStore, STORE_SCHEMA_VERSION } from '../../src/store/db.js';
import type { StoredSession } from '../../src/store/db-sessions.js';
import { seededRandom } from '../seed.js';
import { key, person, removeHome, tempHome } from './store-helpers.js';

const RELAY = 'ws://127.0.0.1:7070';
const DAY = 86_400_000;
const homes: string[] = [];
afterAll(() => homes.forEach(removeHome));

type Person = ReturnType<typeof person> & { store: HushStore; home: string; hkey: Uint8Array; clock: { t: number } };

function newPerson(name: string): Person {
  const p = person(name);
  const home = tempHome();
  homes.push(home);
  const hkey = key();
  const clock = { t: 1_800_000_000_000 };
  return { ...p, home, hkey, clock, store: HushStore.open(home, hkey, { now: () => clock.t }) };
}

/** The relay's part: hands out each one-time prekey once, then the last-resort KEM key. */
function fakeRelay(owner: Person) {
  const given = new Set<string>();
  return {
    fetchBundle: async (): Promise<PrekeyBundle | null> => {
      const v2 = owner.store.v2;
      const spk = v2.signedPrekeys()[0];
      if (!spk) return null;
      const pick = <T extends { id: number }>(kind: string, ids: T[]): T | undefined => {
        const k = ids.find((x) => !given.has(`${kind}${x.id}`));
        if (k) given.add(`${kind}${k.id}`);
        return k;
      };
      const all = v2.unpublished(); // nothing is published in this test: all are "on the relay"
      const kem = pick('k', all.kem) ?? all.lastResort[0]!;
      const opk = pick('o', all.opk);
      return makePrekeyBundle(owner.id, spk, kem, opk);
    },
  };
}

const SMALL: PrekeyPolicy = { ...DEFAULT_PREKEY_POLICY, oneTime: 3, refillBelow: 1, kemOneTime: 3, kemRefillBelow: 1 };

function contactOf(p: Person, other: Person): Contact {
  return p.store.findContactBySignPk(other.id.signPk) ?? p.store.pinContact(other.bundle, undefined, RELAY).contact;
}

function opts(p: Person, peers: Person[], extra: Partial<ProcessOptions> = {}): ProcessOptions {
  return {
    myName: p.bundle.name,
    relay: RELAY,
    now: () => p.clock.t,
    deliveryReceipts: false,
    lookup: async (pk) => peers.find((x) => Buffer.from(x.id.signPk).equals(pk))?.bundle,
    ...extra,
  };
}

function seal(from: Person, to: Person, text: string): { eid: string; env: Uint8Array } {
  from.clock.t += 1;
  const env = sealFor({ store: from.store, identity: from.id, random: randomBytes, now: () => from.clock.t }, contactOf(from, to), {
    kind: 'msg',
    id: randomBytes(16),
    time: from.clock.t,
    body: utf8(text),
  }).envelope;
  return { eid: envelopeId(env), env };
}

async function start(from: Person, to: Person): Promise<void> {
  const r = await ensureSession({ store: from.store, identity: from.id, now: () => from.clock.t, random: randomBytes }, contactOf(from, to), async () => fakeRelay(to));
  expect(r).toEqual({ v2: true });
}

const bodies = (r: { messages: { body: string }[] }): string[] => r.messages.map((m) => m.body);

describe('v2 sessions through the store and the judgement', () => {
  let alice: Person;
  let bob: Person;
  beforeEach(() => {
    alice = newPerson('alice');
    bob = newPerson('bob');
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, SMALL);
    contactOf(alice, bob);
    contactOf(bob, alice);
  });

  it('schema 3 holds the prekeys sealed; a session starts, opens, consumes its one-time prekey and answers', async () => {
    expect(bob.store.schemaVersion()).toBe(STORE_SCHEMA_VERSION);
    expect(bob.store.v2.count('opk')).toBe(3);
    expect(bob.store.v2.count('lastResort')).toBe(1);
    await start(alice, bob);
    const first = [seal(alice, bob, 'one'), seal(alice, bob, 'two')];
    const r = await processEnvelopes(bob.store, bob.id, first, opts(bob, [alice]));
    expect(bodies(r)).toEqual(['one', 'two']);
    expect(first.every((i) => i.env[0] === 2)).toBe(true);
    expect(bob.store.v2.count('opk')).toBe(2); // consumed in the same commit
    expect(bob.store.v2.count('kem')).toBe(2);
    // The raw file holds no prekey or session secret in clear.
    const raw = fs.readFileSync(path.join(bob.home, 'hush.db'));
    const spk = bob.store.v2.signedPrekeys()[0]!;
    expect(raw.indexOf(Buffer.from(spk.sk))).toBe(-1);
    // bob answers in the session alice started; alice opens it and stops sending the PQXDH header.
    const back = seal(bob, alice, 'hi alice');
    expect(back.env[0]).toBe(2);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [back], opts(alice, [bob])))).toEqual(['hi alice']);
    const again = seal(alice, bob, 'three');
    expect(again.env.length).toBeLessThan(1000); // no init header any more
    expect(bodies(await processEnvelopes(bob.store, bob.id, [again], opts(bob, [alice])))).toEqual(['three']);
  });

  it('a replay is dropped by the session, even into a home whose history was wiped', async () => {
    await start(alice, bob);
    const sent = [seal(alice, bob, 'a'), seal(alice, bob, 'b')];
    expect(bodies(await processEnvelopes(bob.store, bob.id, sent, opts(bob, [alice])))).toEqual(['a', 'b']);
    bob.store.close();
    const db = new Database(path.join(bob.home, 'hush.db'));
    db.exec('DELETE FROM messages');
    db.close();
    bob.store = HushStore.open(bob.home, bob.hkey, { now: () => bob.clock.t });
    const r = await processEnvelopes(bob.store, bob.id, sent, opts(bob, [alice]));
    expect(r.messages).toEqual([]);
    expect(r.duplicates).toBe(2);
    expect(r.quarantined).toEqual([]);
    expect(bob.store.countMessages()).toBe(0);
  });

  it('forward secrecy: a copy of bob’s home taken after he read the messages opens none of the captured envelopes', async () => {
    await start(alice, bob);
    const captured = [seal(alice, bob, 'secret 1'), seal(alice, bob, 'secret 2')];
    await processEnvelopes(bob.store, bob.id, captured, opts(bob, [alice]));
    const stolen = tempHome();
    homes.push(stolen);
    bob.store.close();
    fs.copyFileSync(path.join(bob.home, 'hush.db'), path.join(stolen, 'hush.db'));
    bob.store = HushStore.open(bob.home, bob.hkey, { now: () => bob.clock.t });
    // The thief holds bob's identity, history key and every stored state and prekey.
    const copy = HushStore.open(stolen, bob.hkey, { now: () => bob.clock.t });
    copy.transaction(() => copy.history().forEach(() => undefined));
    const db = new Database(path.join(stolen, 'hush.db'));
    db.exec('DELETE FROM messages');
    db.close();
    const r = await processEnvelopes(copy, bob.id, captured, opts(bob, [alice]));
    expect(r.messages).toEqual([]);
    copy.close();
  });

  it('post-compromise security: one round trip after a copy of bob’s home, new messages do not open with the copy', async () => {
    await start(alice, bob);
    await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'before')], opts(bob, [alice]));
    const stolen = tempHome();
    homes.push(stolen);
    bob.store.close();
    fs.copyFileSync(path.join(bob.home, 'hush.db'), path.join(stolen, 'hush.db'));
    bob.store = HushStore.open(bob.home, bob.hkey, { now: () => bob.clock.t });
    // Healing: bob sends with a ratchet key made AFTER the copy (he makes one on reading alice's
    // answer to him), and alice's next message uses it. A copy that read along still fails then.
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'pong')], opts(alice, [bob])))).toEqual(['pong']);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'ping')], opts(bob, [alice])))).toEqual(['ping']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'pong 2')], opts(alice, [bob])))).toEqual(['pong 2']);
    const later = seal(alice, bob, 'after healing');
    const copy = HushStore.open(stolen, bob.hkey, { now: () => bob.clock.t });
    const r = await processEnvelopes(copy, bob.id, [later], opts(bob, [alice]));
    expect(r.messages).toEqual([]);
    expect(r.quarantined.map((q) => q.reason)).toEqual(['TAMPERED']);
    copy.close();
    expect(bodies(await processEnvelopes(bob.store, bob.id, [later], opts(bob, [alice])))).toEqual(['after healing']);
  });

  it('impersonation: bob’s keyring alone forges nothing bob shows as alice’s once alice has written in v2 (v1 after v2 is a DOWNGRADE)', async () => {
    // Before any v2 from alice, v1 from her still opens (migration, §9.10).
    const early = sealEnvelope(alice.id, bob.id, { kind: 'msg', id: randomBytes(16), time: 5, body: utf8('v1 before v2') }, randomBytes);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [{ eid: envelopeId(early), env: early }], opts(bob, [alice])))).toEqual(['v1 before v2']);
    await start(alice, bob);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'real')], opts(bob, [alice])))).toEqual(['real']);
    // The forger holds bob's identity keys (his keyring), not alice's, and not bob's store.
    // v1: the inner box key X25519(alice.boxSk, bob.boxPk) equals X25519(bob.boxSk, alice.boxPk).
    const asAlice = { signPk: alice.id.signPk, boxPk: alice.id.boxPk, boxSk: randomBytes(32) }; // boxSk unused: the cache holds the pair's key
    const pairKey = new Map([[Buffer.from(alice.id.boxPk).toString('base64') + Buffer.from(bob.id.boxPk).toString('base64'), boxBefore(alice.id.boxPk, bob.id.boxSk)]]);
    const v1 = sealEnvelope(asAlice, bob.id, { kind: 'msg', id: randomBytes(16), time: alice.clock.t + 1, body: utf8('forged v1') }, randomBytes, pairKey);
    // It does authenticate as v1 (the reason the rule exists): bob's own open would accept it.
    expect(new TextDecoder().decode(openInner(bob.id, openOuter(bob.id, v1), alice.id, pairKey).body)).toBe('forged v1');
    // v2: a new session claiming alice, from bob's published bundle, without alice's box secret.
    const mallory = newPerson('mallory');
    const fakeAlice = { ...alice.id, boxSk: mallory.id.boxSk };
    const bundle = await fakeRelay(bob).fetchBundle();
    const state = startSession(fakeAlice, bob.id, bundle!, alice.clock.t, randomBytes);
    const v2 = sealMessageEnvelope(state, { kind: 'msg', id: randomBytes(16), time: alice.clock.t + 2, seq: 99, body: utf8('forged v2') }, bob.id.boxPk, randomBytes).envelope;
    const sessionsBefore = bob.store.v2.sessionsOf(contactOf(bob, alice).id).map((x) => x.rev);
    const r = await processEnvelopes(
      bob.store,
      bob.id,
      [
        { eid: envelopeId(v1), env: v1 },
        { eid: envelopeId(v2), env: v2 },
      ],
      opts(bob, [alice]),
    );
    expect(r.messages).toEqual([]);
    expect(r.quarantined.map((q) => [q.reason, q.authenticated])).toEqual([
      ['DOWNGRADE', false],
      ['TAMPERED', false],
    ]);
    expect(bob.store.v2.sessionsOf(contactOf(bob, alice).id).map((x) => x.rev)).toEqual(sessionsBefore);
    // Trusting alice again does not let the v1 one out of quarantine.
    expect(reprocessQuarantine(bob.store, bob.id, contactOf(bob, alice)).opened).toEqual([]);
    // alice's real messages go on.
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'still alice')], opts(bob, [alice])))).toEqual(['still alice']);
  });

  it('a recipient offline past its signed prekey’s expiry and grace still opens what waited; a session it could never open loses to the one it starts', async () => {
    maintainPrekeys(alice.store, alice.id, alice.clock.t, randomBytes, SMALL);
    await start(alice, bob);
    const waited = seal(alice, bob, 'sent before bob went away');
    // 40 days later (spk made at t0: expires at 14 d, the old rule deleted it at 21 d).
    bob.clock.t += 40 * DAY;
    alice.clock.t += 40 * DAY;
    expect(bodies(await processEnvelopes(bob.store, bob.id, [waited], opts(bob, [alice])))).toEqual(['sent before bob went away']);
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, SMALL); // back: rotates now
    expect(bob.store.v2.signedPrekeys()).toHaveLength(2); // the old one kept for its grace
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'and after')], opts(bob, [alice])))).toEqual(['and after']);

    // carol started a session with bob's first key, but her first message waited in her
    // outbox until after bob replaced that key and its grace ran out (he deleted it).
    // carol's signPk is the smaller: the rule before "heard first" kept her on her dead session.
    let carol = newPerson('carol');
    while (Buffer.compare(Buffer.from(carol.id.signPk), Buffer.from(bob.id.signPk)) > 0) carol = newPerson('carol');
    maintainPrekeys(carol.store, carol.id, carol.clock.t, randomBytes, SMALL);
    contactOf(bob, carol); // a contact of bob's (a stranger's failed first message is only TAMPERED)
    const oldSpk = bob.store.v2.signedPrekeys()[1]!;
    const bundleOld = makePrekeyBundle(bob.id, oldSpk, bob.store.v2.unpublished().lastResort[0]!);
    const st = await ensureSession({ store: carol.store, identity: carol.id, now: () => carol.clock.t, random: randomBytes }, contactOf(carol, bob), async () => ({
      fetchBundle: async () => bundleOld,
    }));
    expect(st).toEqual({ v2: true });
    const late = seal(carol, bob, 'waited in carol’s outbox');
    bob.clock.t += 8 * DAY;
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, SMALL);
    expect(bob.store.v2.signedPrekeys().map((k) => k.id)).not.toContain(oldSpk.id);
    const r = await processEnvelopes(bob.store, bob.id, [late], opts(bob, [carol]));
    expect(r.messages).toEqual([]);
    expect(r.quarantined.map((q) => q.reason)).toEqual(['PREKEY_EXPIRED']); // said, not dropped
    // bob writes: his session reaches carol, and carol answers in it, not in hers bob cannot open.
    carol.clock.t = bob.clock.t;
    maintainPrekeys(carol.store, carol.id, carol.clock.t, randomBytes, SMALL);
    await start(bob, carol);
    expect(bodies(await processEnvelopes(carol.store, carol.id, [seal(bob, carol, 'bob here')], opts(carol, [bob])))).toEqual(['bob here']);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(carol, bob, 'carol answers')], opts(bob, [carol])))).toEqual(['carol answers']);
  });

  it('both starting at once converge on one sending session', async () => {
    await start(alice, bob);
    maintainPrekeys(alice.store, alice.id, alice.clock.t, randomBytes, SMALL);
    await start(bob, alice);
    const a1 = seal(alice, bob, 'from alice');
    const b1 = seal(bob, alice, 'from bob');
    expect(bodies(await processEnvelopes(bob.store, bob.id, [a1], opts(bob, [alice])))).toEqual(['from alice']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [b1], opts(alice, [bob])))).toEqual(['from bob']);
    const sending = (): [StoredSession, StoredSession] => [
      sendingSession(sessionsFor(alice.store, alice.id, contactOf(alice, bob)))!,
      sendingSession(sessionsFor(bob.store, bob.id, contactOf(bob, alice)))!,
    ];
    // Neither side's own session is answered yet: each answers in the one the other started.
    const [a1s, b1s] = sending();
    expect([a1s.state.role, b1s.state.role]).toEqual(['responder', 'responder']);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'a2')], opts(bob, [alice])))).toEqual(['a2']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'b2')], opts(alice, [bob])))).toEqual(['b2']);
    // Both sessions are now heard on both sides: one and the same sends from here on.
    const [sa, sb] = sending();
    expect(Buffer.from(sa.state.sessionId).equals(Buffer.from(sb.state.sessionId))).toBe(true);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'a3')], opts(bob, [alice])))).toEqual(['a3']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'b3')], opts(alice, [bob])))).toEqual(['b3']);
    expect(Buffer.from(sending()[0].state.sessionId).equals(Buffer.from(sa.state.sessionId))).toBe(true);
  });

  it('a batch whose session another writer stored while it was opened (it yields every 250) is opened again: nothing lost, both changes kept', async () => {
    await start(alice, bob);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'start')], opts(bob, [alice])))).toEqual(['start']);
    const batch = Array.from({ length: 300 }, (_, i) => seal(alice, bob, `m${i}`));
    const revs = (): number[] => bob.store.v2.sessionsOf(contactOf(bob, alice).id).map((x) => x.rev);
    const before = revs();
    let reply: { eid: string; env: Uint8Array } | undefined;
    setImmediate(() => (reply = seal(bob, alice, 'sent while the batch was opened'))); // runs at the batch's first yield
    const r = await processEnvelopes(bob.store, bob.id, batch, opts(bob, [alice]));
    expect(reply?.env[0]).toBe(2); // a v2 send: it stored bob's session while the batch held it
    expect(bodies(r)).toEqual(batch.map((_, i) => `m${i}`));
    expect(revs()).toEqual(before.map((x) => x + 2)); // the send's write, then the batch's
    // Both stood: the reply opens at alice, alice's next message at bob, and bob's next send
    // (its sending chain moved on from the reply's) at alice.
    expect(bodies(await processEnvelopes(alice.store, alice.id, [reply!], opts(alice, [bob])))).toEqual(['sent while the batch was opened']);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'after')], opts(bob, [alice])))).toEqual(['after']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'next')], opts(alice, [bob])))).toEqual(['next']);
  });

  it('messages opened ahead (the pull thread’s receiving chains): an answer that is the session’s next step is taken, any other is opened here, and the chain stored is the one the thread reaches', async () => {
    await start(alice, bob);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'start')], opts(bob, [alice])))).toEqual(['start']);
    expect(bodies(await processEnvelopes(alice.store, alice.id, [seal(bob, alice, 'reply')], opts(alice, [bob])))).toEqual(['reply']);
    const chains = new AheadChains(anchorsOf(bob.store.v2.allSessions())); // as the pull's thread starts
    const sent = Array.from({ length: 30 }, (_, i) => seal(alice, bob, `m${i}`));
    const items: InboundItem[] = sent.map((x) => {
      const inner = openEnvelopeV2(bob.id.boxSk, x.env);
      const ahead = chains.open(inner);
      return ahead ? { ...x, outer: inner, ahead } : { ...x, outer: inner };
    });
    expect(items.filter((i) => i.ahead).length).toBe(29); // all but the first of alice's new chain
    // m10's answer carries another payload under the right chain keys: shown as is, so taken
    // (the thread is our own code in our own process); m20 carries m21's answer: not its step, opened here.
    const other = encodePayloadV2({ kind: 'msg', id: randomBytes(16), time: alice.clock.t, seq: 11, body: utf8('from the thread') });
    items[10] = { ...items[10]!, ahead: { ...items[10]!.ahead!, plaintext: other } };
    items[20] = { ...items[20]!, ahead: items[21]!.ahead! };
    const r = await processEnvelopes(bob.store, bob.id, items, opts(bob, [alice]));
    expect(bodies(r).filter((b) => b !== 'from the thread')).toEqual(sent.map((_, i) => `m${i}`).filter((b) => b !== 'm10'));
    expect(bodies(r).filter((b) => b === 'from the thread')).toHaveLength(1); // shown in its own time order
    // A thread started from what was stored agrees with it on the next message.
    const st = bob.store.v2.sessionsOf(contactOf(bob, alice).id)[0]!.state;
    const chains2 = new AheadChains(anchorsOf(bob.store.v2.allSessions()));
    const next = seal(alice, bob, 'after');
    const a = chains2.open(openEnvelopeV2(bob.id.boxSk, next.env));
    expect(a?.ckBefore).toEqual(st.ckr);
    expect(st.nr).toBe(30);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [next], opts(bob, [alice])))).toEqual(['after']);
    chains.close();
    chains2.close();
  });

  it('200 messages out of order, 50 dropped, 20 duplicated: the 150 open once each', async () => {
    await start(alice, bob);
    const all = Array.from({ length: 200 }, (_, i) => seal(alice, bob, `m${i}`));
    const kept = all.filter((_, i) => i % 4 !== 3); // 50 lost
    // A Fisher-Yates shuffle from the run's seed (test/seed.ts: HUSH_TEST_SEED replays it).
    const rnd = seededRandom('v2-client/out-of-order');
    const shuffled = [...kept, ...kept.slice(0, 20)];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = rnd.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    // The first message starts bob's session: it must be in the first batch for the rest to open.
    const first = shuffled.splice(shuffled.indexOf(all[0]!), 1);
    let shown = 0;
    let dup = 0;
    const batches = [first];
    for (let i = 0; i < shuffled.length; i += 40) batches.push(shuffled.slice(i, i + 40));
    for (const batch of batches) {
      const r = await processEnvelopes(bob.store, bob.id, batch, opts(bob, [alice]));
      shown += r.messages.length;
      dup += r.duplicates;
      expect(r.quarantined).toEqual([]);
    }
    expect(shown).toBe(150);
    expect(dup).toBe(20);
  });

  it('--ratchet-limits max-skip: a longer gap changes no stored state, and the next message within the cap opens', async () => {
    const limits = { ratchetLimits: { maxSkip: 3, maxStoredSkipped: 10, maxSkippedTotal: 10, skippedMaxAgeMs: DAY } };
    await start(alice, bob);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'start')], opts(bob, [alice], limits)))).toEqual(['start']);
    const held = [1, 2, 3, 4].map((i) => seal(alice, bob, `held ${i}`));
    const far = seal(alice, bob, 'far'); // n = 5: four keys past bob's nr = 1
    const rows = (): string => {
      const db = new Database(path.join(bob.home, 'hush.db'), { readonly: true });
      try {
        return JSON.stringify(db.prepare('SELECT id, rev, hex(state) AS s FROM sessions').all());
      } finally {
        db.close();
      }
    };
    const before = rows();
    const r = await processEnvelopes(bob.store, bob.id, [far], opts(bob, [alice], limits));
    expect(r.quarantined.map((q) => [q.reason, q.authenticated])).toEqual([['TOO_MANY_SKIPPED', false]]);
    expect(rows()).toBe(before); // not a byte of any session moved
    // held 2 skips one key (within 3): it opens, and so do held 1 (its stored key) and held 4.
    const back = await processEnvelopes(bob.store, bob.id, [held[1]!, held[0]!, held[3]!], opts(bob, [alice], limits));
    expect(bodies(back)).toEqual(['held 1', 'held 2', 'held 4']);
    expect(back.quarantined).toEqual([]);
    expect(bob.store.v2.sessionsOf(contactOf(bob, alice).id)[0]!.state.skipped.map((k) => k.n)).toEqual([3]); // held 3's key
  });

  it('--ratchet-limits total: the device-wide cap evicts the oldest skipped keys, also of sessions outside the batch', async () => {
    const carol = newPerson('carol');
    contactOf(carol, bob);
    contactOf(bob, carol);
    const relay = fakeRelay(bob); // one relay: each one-time prekey handed out once
    for (const p of [alice, carol]) {
      const r = await ensureSession({ store: p.store, identity: p.id, now: () => p.clock.t, random: randomBytes }, contactOf(p, bob), async () => relay);
      expect(r).toEqual({ v2: true });
    }
    const limits = { ratchetLimits: { maxSkip: 4, maxStoredSkipped: 4, maxSkippedTotal: 4, skippedMaxAgeMs: DAY } };
    const fromAlice = [0, 1, 2, 3].map((i) => seal(alice, bob, `a${i}`));
    bob.clock.t += 10;
    await processEnvelopes(bob.store, bob.id, [fromAlice[3]!], opts(bob, [alice, carol], limits)); // a0, a1, a2 skipped
    const fromCarol = [0, 1, 2, 3].map((i) => seal(carol, bob, `c${i}`));
    bob.clock.t += 10;
    await processEnvelopes(bob.store, bob.id, [fromCarol[3]!], opts(bob, [alice, carol], limits)); // c0, c1, c2 skipped
    const held = bob.store.v2.allSessions().map((s) => s.state.skipped.map((k) => k.n));
    expect(held).toEqual([[2], [0, 1, 2]]); // 4 in all: alice's two oldest went, though her session was not in the batch
    const late = await processEnvelopes(bob.store, bob.id, [...fromAlice.slice(0, 3), ...fromCarol.slice(0, 3)], opts(bob, [alice, carol], limits));
    expect(bodies(late)).toEqual(['a2', 'c0', 'c1', 'c2']);
    expect(late.duplicates).toBe(2); // a0 and a1: their keys were evicted, dropped unseen
    carol.store.close();
  });

  it('with every one-time prekey handed out, sessions start on the last-resort KEM key and no OPK', async () => {
    const relay = fakeRelay(bob);
    for (let i = 0; i < 3; i++) await relay.fetchBundle();
    const b = (await relay.fetchBundle())!;
    expect(b.opk).toBeUndefined();
    expect(b.kem.kind).toBe('last-resort');
    const r = await ensureSession({ store: alice.store, identity: alice.id, now: () => alice.clock.t, random: randomBytes }, contactOf(alice, bob), async () => ({
      fetchBundle: async () => b,
    }));
    expect(r.v2).toBe(true);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'last resort')], opts(bob, [alice])))).toEqual(['last resort']);
    expect(bob.store.v2.count('lastResort')).toBe(1); // never consumed
  });

  it('replay: a first message made without a one-time prekey is not shown again once its session is gone and the history wiped', async () => {
    const relay = fakeRelay(bob);
    for (let i = 0; i < 3; i++) await relay.fetchBundle();
    const b = (await relay.fetchBundle())!;
    expect(b.opk).toBeUndefined(); // nothing is consumed by it on bob's side: no one-time key marks it used
    await ensureSession({ store: alice.store, identity: alice.id, now: () => alice.clock.t, random: randomBytes }, contactOf(alice, bob), async () => ({
      fetchBundle: async () => b,
    }));
    const first = seal(alice, bob, 'pay carol 100');
    expect(bodies(await processEnvelopes(bob.store, bob.id, [first], opts(bob, [alice])))).toEqual(['pay carol 100']);
    // bob's session for it is dropped (as four newer ones would) and his history wiped.
    for (const x of bob.store.v2.sessionsOf(contactOf(bob, alice).id)) bob.store.v2.deleteSession(x.row);
    const db = new Database(path.join(bob.home, 'hush.db'));
    db.exec('DELETE FROM messages');
    db.close();
    const r = await processEnvelopes(bob.store, bob.id, [first], opts(bob, [alice]));
    expect(r.messages).toEqual([]);
    expect([r.duplicates, r.quarantined.length]).toEqual([1, 0]);
    // Once the signed prekey it used is deleted, the record goes with it (PREKEY_EXPIRED from then on).
    const spkId = bob.store.v2.signedPrekeys()[0]!.id;
    expect(bob.store.getValue(`v2.started.${spkId}`)).toBeDefined();
    bob.clock.t += 8 * 86_400_000;
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, SMALL); // replaced now
    bob.clock.t += 8 * 86_400_000;
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, SMALL); // and deleted, past its grace
    expect(bob.store.v2.signedPrekeys().map((k) => k.id)).not.toContain(spkId);
    expect(bob.store.getValue(`v2.started.${spkId}`)).toBeUndefined();
  });

  it('a first message naming a one-time prekey this home dropped is kept as PREKEY_EXPIRED (naming no one); a replay of an opened one stays a duplicate', async () => {
    // The opened case: its session dropped and the history wiped, the replay is still a duplicate
    // (the record, not the used one-time prekey, says so).
    await start(alice, bob);
    const first = seal(alice, bob, 'with a one-time prekey');
    expect(bodies(await processEnvelopes(bob.store, bob.id, [first], opts(bob, [alice])))).toEqual(['with a one-time prekey']);
    for (const x of bob.store.v2.sessionsOf(contactOf(bob, alice).id)) bob.store.v2.deleteSession(x.row);
    const again = await processEnvelopes(bob.store, bob.id, [first], opts(bob, [alice]));
    expect([again.messages.length, again.duplicates, again.quarantined.length]).toEqual([0, 1, 0]);
    // carol's first message names one-time prekeys bob trimmed meanwhile (a drained pool).
    const carol = newPerson('carol');
    contactOf(bob, carol);
    const bundle = (await fakeRelay(bob).fetchBundle())!;
    expect(bundle.opk).toBeDefined();
    await ensureSession({ store: carol.store, identity: carol.id, now: () => carol.clock.t, random: randomBytes }, contactOf(carol, bob), async () => ({
      fetchBundle: async () => bundle,
    }));
    bob.store.v2.deletePrekey('opk', bundle.opk!.id);
    const late = await processEnvelopes(bob.store, bob.id, [seal(carol, bob, 'late')], opts(bob, [carol]));
    expect(late.messages).toEqual([]);
    expect(late.quarantined.map((q) => [q.reason, q.authenticated, q.claimedName])).toEqual([['PREKEY_EXPIRED', false, undefined]]); // names no one: nothing in it is authenticated
  });

  it('signed-prekey rotation: a message started before rotation opens within the grace period, and not after it', async () => {
    const policy: PrekeyPolicy = { ...SMALL, rotateMs: 1000, graceMs: 5000 };
    bob = newPerson('bob');
    alice = newPerson('alice');
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, policy);
    contactOf(bob, alice);
    await start(alice, bob);
    const early = seal(alice, bob, 'sent before bob rotated');
    bob.clock.t += 2500; // past the rotation period: a new signed prekey, the old one kept
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, policy);
    expect(bob.store.v2.signedPrekeys()).toHaveLength(2);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [early], opts(bob, [alice])))).toEqual(['sent before bob rotated']);
    // A second sender starts with the old prekey too late: past expires + grace it is deleted.
    const carol = newPerson('carol');
    contactOf(bob, carol);
    carol.clock.t = alice.clock.t;
    const oldBundle = makePrekeyBundle(bob.id, bob.store.v2.signedPrekeys()[1]!, bob.store.v2.unpublished().lastResort[0]!);
    await ensureSession({ store: carol.store, identity: carol.id, now: () => carol.clock.t, random: randomBytes }, contactOf(carol, bob), async () => ({
      fetchBundle: async () => oldBundle,
    }));
    const late = seal(carol, bob, 'too late');
    bob.clock.t += 10_000;
    maintainPrekeys(bob.store, bob.id, bob.clock.t, randomBytes, policy);
    const r = await processEnvelopes(bob.store, bob.id, [late], opts(bob, [alice, carol]));
    expect(r.messages).toEqual([]);
  });

  it('a key change: the new key’s v2 mail waits in quarantine, opens after hush trust, and the old sessions are gone', async () => {
    await start(alice, bob);
    await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'old key')], opts(bob, [alice]));
    const bobsAlice = contactOf(bob, alice);
    expect(bob.store.v2.sessionsOf(bobsAlice.id)).toHaveLength(1);
    // alice re-initialises: a new identity under her name.
    const alice2 = newPerson('alice');
    await start(alice2, bob);
    const mail = [seal(alice2, bob, 'new key 1'), seal(alice2, bob, 'new key 2')];
    const r = await processEnvelopes(bob.store, bob.id, mail, opts(bob, [alice2]));
    expect(r.messages).toEqual([]);
    expect(r.quarantined.map((q) => [q.reason, q.authenticated])).toEqual([
      ['KEY_CHANGED', true],
      ['KEY_CHANGED', true],
    ]);
    expect(bob.store.v2.sessionsOf(bobsAlice.id)).toHaveLength(1); // nothing kept for the new key yet
    bob.store.acceptNewKey(bobsAlice.id);
    expect(bob.store.v2.sessionsOf(bobsAlice.id)).toHaveLength(0); // the old key's session is gone
    const re = reprocessQuarantine(bob.store, bob.id, bob.store.getContact(bobsAlice.id)!, 'bob');
    expect(re.opened.map((m) => m.body)).toEqual(['new key 1', 'new key 2']);
    expect(bob.store.v2.sessionsOf(bobsAlice.id)).toHaveLength(1);
    // and the new session answers
    expect(bodies(await processEnvelopes(alice2.store, alice2.id, [seal(bob, alice2, 'welcome back')], opts(alice2, [bob])))).toEqual(['welcome back']);
  });

  it('requireForwardSecrecy: v1 from a contact is quarantined as NO_FORWARD_SECRECY; v2 still opens', async () => {
    const v1 = sealEnvelope(alice.id, bob.id, { kind: 'msg', id: randomBytes(16), time: 5, body: utf8('old style') }, randomBytes);
    const r = await processEnvelopes(bob.store, bob.id, [{ eid: envelopeId(v1), env: v1 }], opts(bob, [alice], { requireForwardSecrecy: true }));
    expect(r.messages).toEqual([]);
    expect(r.quarantined.map((q) => q.reason)).toEqual(['NO_FORWARD_SECRECY']);
    await start(alice, bob);
    expect(bodies(await processEnvelopes(bob.store, bob.id, [seal(alice, bob, 'new style')], opts(bob, [alice], { requireForwardSecrecy: true })))).toEqual(['new style']);
  });
});

describe('--ratchet-limits', () => {
  it('parses any subset over the defaults', () => {
    expect(parseRatchetLimits(undefined)).toEqual(DEFAULT_RATCHET_LIMITS);
    expect(DEFAULT_RATCHET_LIMITS).toEqual({ maxSkip: 1000, maxStoredSkipped: 2000, maxSkippedTotal: 20_000, skippedMaxAgeMs: 30 * DAY });
    expect(parseRatchetLimits('max-skip=5,per-session=10,total=100,age=2h')).toEqual({ maxSkip: 5, maxStoredSkipped: 10, maxSkippedTotal: 100, skippedMaxAgeMs: 2 * 3600 * 1000 });
    expect(parseRatchetLimits('max-skip=0').maxSkip).toBe(0);
  });

  it.each(['max-skip', 'max-skip=', 'skip=3', 'max-skip=5k', 'age=5', 'age=0s', 'per-session=65537,total=70000', 'max-skip=3000', 'total=100', 'max-skip=-1'])(
    'refuses %s with BAD_RATCHET_LIMITS',
    (spec) => {
      expect(() => parseRatchetLimits(spec)).toThrow(expect.objectContaining({ code: 'BAD_RATCHET_LIMITS', exitCode: 2 }));
    },
  );
});
