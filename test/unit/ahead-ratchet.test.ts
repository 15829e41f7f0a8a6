/**
 * The receiving chains a long pull runs ahead on its second thread (src/client/ahead-ratchet.ts),
 * in process: an answer the main thread takes gives exactly the state and payload
 * ratchetDecrypt gives; anything else (a new chain, a gap, a tampered message, a moved state,
 * a skipped key due to be pruned) gets no answer or is refused, and the main thread opens it.
 */
import { describe, expect, it } from 'vitest';
import { AheadChains, type AheadOpened } from '../../src/client/ahead-chains.js';
import { anchorsOf, takeAhead } from '../../src/client/ahead-ratchet.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { DEFAULT_RATCHET_LIMITS } from '../../src/crypto/ratchet.js';
import { openMessage, startSession } from '../../src/crypto/session.js';
import { encodeSessionState, type SessionState } from '../../src/protocol/session-state.js';
import { parseInnerV2, parsePayloadV2 } from '../../src/protocol/session-wire.js';
import { DAY, Party, T0, withPrekeys } from './v2-helpers.js';

const hex = (s: SessionState): string => Buffer.from(encodeSessionState(s)).toString('hex');
const text = (b: Uint8Array): string => new TextDecoder().decode(parsePayloadV2(b).body);

/** Alice and Bob after one round trip: Alice's next messages are ordinary ones on a new chain. */
function talking(): { alice: Party; bob: Party } {
  const alice = new Party();
  const bob = withPrekeys(new Party());
  alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
  bob.receive(alice, alice.send('hello'));
  alice.receive(bob, bob.send('hi'));
  return { alice, bob };
}

/** What the main thread does with a message: the answer when takeAhead accepts it, else openMessage. */
function mainOpens(bob: Party, alice: Party, inner: Uint8Array, a: AheadOpened | undefined, now = T0): { took: boolean; body: string } {
  const r = a ? takeAhead(bob.sessions[0]!, parseInnerV2(inner), a, now, DEFAULT_RATCHET_LIMITS) : undefined;
  if (r) {
    // The same state and payload as the main thread's own open.
    const own = openMessage(bob.id, alice.pub, inner, bob.sessions, bob.prekeys, now, randomBytes);
    expect(hex(r.state)).toBe(hex(own.state));
    bob.sessions[0] = r.state;
    return { took: true, body: text(r.plaintext) };
  }
  return { took: false, body: new TextDecoder().decode(bob.receive(alice, inner, now).payload.body) };
}

describe('receiving chains run ahead', () => {
  it('after a new chain (answered by the main thread), every next message is answered with exactly the step ratchetDecrypt takes', () => {
    const { alice, bob } = talking();
    const chains = new AheadChains(anchorsOf([{ row: 1, state: bob.sessions[0]! }]));
    const inners = Array.from({ length: 20 }, (_, i) => alice.send(`m${i}`));
    const answers = inners.map((m) => chains.open(m));
    // The first opens a new chain (the thread takes its DH step but leaves the message to the main thread).
    expect(answers[0]).toBeUndefined();
    expect(answers.slice(1).every((a) => a?.row === 1)).toBe(true);
    const got = inners.map((m, i) => mainOpens(bob, alice, m, answers[i]));
    expect(got.map((g) => g.body)).toEqual(inners.map((_m, i) => `m${i}`));
    expect(got.filter((g) => g.took)).toHaveLength(19);
    chains.close();
  });

  it('a tampered message gets no answer and moves no chain; after it, the main thread opens the gap and the answers fit again', () => {
    const { alice, bob } = talking();
    bob.receive(alice, alice.send('new chain'));
    const chains = new AheadChains(anchorsOf([{ row: 1, state: bob.sessions[0]! }]));
    const inners = Array.from({ length: 6 }, (_, i) => alice.send(`m${i}`));
    const bad = new Uint8Array(inners[2]!);
    bad[bad.length - 1]! ^= 1; // the AEAD tag
    const answers = [inners[0]!, inners[1]!, bad, inners[3]!, inners[4]!, inners[5]!].map((m) => chains.open(m));
    expect(answers.map((a) => a !== undefined)).toEqual([true, true, false, false, true, true]);
    const before = hex(bob.sessions[0]!);
    expect(() => bob.receive(alice, bad)).toThrow(); // the main thread refuses it: no state change
    expect(hex(bob.sessions[0]!)).toBe(before);
    expect(mainOpens(bob, alice, inners[0]!, answers[0]).took).toBe(true);
    expect(mainOpens(bob, alice, inners[1]!, answers[1]).took).toBe(true);
    // m2 was lost (only its tampered copy came): m3 skips it, on the main thread.
    expect(mainOpens(bob, alice, inners[3]!, answers[3])).toEqual({ took: false, body: 'm3' });
    expect(bob.sessions[0]!.skipped).toHaveLength(1);
    // With a skipped key held (not due to expire), the next answers are taken again.
    expect(mainOpens(bob, alice, inners[4]!, answers[4])).toEqual({ took: true, body: 'm4' });
    expect(mainOpens(bob, alice, inners[5]!, answers[5])).toEqual({ took: true, body: 'm5' });
    // The late m2 opens with its skipped key, on the main thread.
    expect(mainOpens(bob, alice, inners[2]!, chains.open(inners[2]!))).toEqual({ took: false, body: 'm2' });
  });

  it('an answer is refused when the state moved, the chain key differs, a skipped key is due to be pruned, or the message is a prekey message', () => {
    const { alice, bob } = talking();
    bob.receive(alice, alice.send('new chain'));
    const chains = new AheadChains(anchorsOf([{ row: 1, state: bob.sessions[0]! }]));
    const m0 = alice.send('m0');
    const m1 = alice.send('m1');
    const a0 = chains.open(m0)!;
    const a1 = chains.open(m1)!;
    const s = bob.sessions[0]!;
    // m1's answer before m0 was opened: n is not the state's next index.
    expect(takeAhead(s, parseInnerV2(m1), a1, T0, DEFAULT_RATCHET_LIMITS)).toBeUndefined();
    // A chain key that is not the state's.
    const wrong = { ...a0, ckBefore: new Uint8Array(a0.ckBefore).map((b, i) => (i === 0 ? b ^ 1 : b)) };
    expect(takeAhead(s, parseInnerV2(m0), wrong, T0, DEFAULT_RATCHET_LIMITS)).toBeUndefined();
    expect(takeAhead(s, parseInnerV2(m0), a0, T0, DEFAULT_RATCHET_LIMITS)).toBeDefined();
    // A skipped key older than the limit: ratchetDecrypt would prune it, so the main thread opens the message.
    const old = { ...s, skipped: [{ dhPk: new Uint8Array(32), n: 0, at: T0 - 31 * DAY, mk: new Uint8Array(32) }] };
    expect(takeAhead(old, parseInnerV2(m0), a0, T0, DEFAULT_RATCHET_LIMITS)).toBeUndefined();
    // Too many skipped keys for the cap.
    const many = { ...s, skipped: [{ dhPk: new Uint8Array(32), n: 0, at: T0, mk: new Uint8Array(32) }] };
    expect(takeAhead(many, parseInnerV2(m0), a0, T0, { ...DEFAULT_RATCHET_LIMITS, maxStoredSkipped: 0 })).toBeUndefined();
    // A prekey message (Alice before her first reply) is never taken.
    const carol = new Party();
    const dave = withPrekeys(new Party());
    carol.sessions.push(startSession(carol.id, dave.pub, dave.prekeys.bundle(1), T0, randomBytes));
    dave.receive(carol, carol.send('first'));
    const again = carol.send('second, still a prekey message');
    const fromDave = new AheadChains(anchorsOf([{ row: 2, state: dave.sessions[0]! }]));
    const a = fromDave.open(again);
    expect(a).toBeDefined(); // the thread opens it (same chain, next index)...
    expect(takeAhead(dave.sessions[0]!, parseInnerV2(again), a!, T0, DEFAULT_RATCHET_LIMITS)).toBeUndefined(); // ...the main thread does not take it
  });

  it('a chain reaches past 1,000 steps only as far as the envelopes the thread did not see, and a far reach that does not authenticate is not tried again', () => {
    const { alice, bob } = talking();
    bob.receive(alice, alice.send('new chain'));
    const anchors = () => anchorsOf([{ row: 1, state: bob.sessions[0]! }]);
    const m = Array.from({ length: 1102 }, (_, i) => alice.send(`m${i}`));
    // Nothing unseen: 1,100 steps is too far; the chain did not move (m0 is still its next).
    const a = new AheadChains(anchors());
    expect(a.open(m[1100]!)).toBeUndefined();
    expect(a.open(m[0]!)?.row).toBe(1);
    // 1,100 envelopes opened by the main thread: the thread follows (no answer for the one after the gap).
    const b = new AheadChains(anchors());
    b.passed(1100);
    expect(b.open(m[1100]!)).toBeUndefined();
    expect(b.open(m[1101]!)?.row).toBe(1);
    // A forged far header first: that reach fails, and no far reach is tried again on the chain.
    const c = new AheadChains(anchors());
    c.passed(1100);
    const forged = new Uint8Array(m[1100]!);
    forged[forged.length - 1]! ^= 1;
    expect(c.open(forged)).toBeUndefined();
    expect(c.open(m[1100]!)).toBeUndefined();
    expect(c.open(m[1101]!)).toBeUndefined();
    expect(c.open(m[0]!)?.row).toBe(1); // near ones still open
  });

  it('a sender with no session, and bytes that are not an inner v2, get no answer', () => {
    const { alice, bob } = talking();
    const chains = new AheadChains(anchorsOf([{ row: 1, state: bob.sessions[0]! }]));
    const stranger = new Party();
    const bobToo = withPrekeys(new Party());
    stranger.sessions.push(startSession(stranger.id, bobToo.pub, bobToo.prekeys.bundle(1), T0, randomBytes));
    expect(chains.open(stranger.send('who?'))).toBeUndefined();
    expect(chains.open(Uint8Array.of(1, 2, 3))).toBeUndefined();
    expect(chains.open(alice.send('still fine'))).toBeUndefined(); // a new chain: the main thread's
    expect(chains.open(alice.send('next'))?.row).toBe(1);
  });
});
