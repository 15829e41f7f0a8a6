/**
 * Protocol v2 sessions (PQXDH + Double Ratchet, docs/PROTOCOL.md §9), in process: whole
 * conversations, loss/reordering/duplicates, the skip caps, forward secrecy, post-compromise
 * security, key-compromise impersonation and simultaneous starts.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes, x25519, x25519KeyPair } from '../../src/crypto/nacl.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import * as nodeCrypto from 'node:crypto';
import { hkdfSha256, hkdfSha256TwoBlocks, hmacSha256 } from '../../src/crypto/kdf.js';
import { PQXDH_F } from '../../src/crypto/pqxdh.js';
import { DOMAIN, domainBytes } from '../../src/protocol/domains.js';
import { concatBytes, isAllZero, u32be, u64be } from '../../src/protocol/encoding.js';
import { capSkippedTotal, kdfRk, ratchetEncrypt, wipeReplaced } from '../../src/crypto/ratchet.js';
import { converge, openMessage, sealMessage, startSession } from '../../src/crypto/session.js';
import { encodeSessionState, parseSessionState, type SessionState } from '../../src/protocol/session-state.js';
import { encodeInnerPrefix, encodePayloadV2, encodeRatchetHeader, parseInnerV2, parsePayloadV2, parseRatchetHeader } from '../../src/protocol/session-wire.js';
import { codeOf, DAY, Party, shuffle, T0, withPrekeys } from './v2-helpers.js';

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Alice starts a session with Bob from his bundle; returns both parties. */
function pair(opks = 3, kems = 3): { alice: Party; bob: Party } {
  const alice = new Party();
  const bob = withPrekeys(new Party(), opks, kems);
  alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
  return { alice, bob };
}

describe('a v2 conversation', () => {
  it('runs 60 round trips, 1-3 messages per turn, every payload field and seq intact', () => {
    const { alice, bob } = pair();
    let t = T0;
    for (let round = 0; round < 60; round++) {
      for (let k = 0; k <= round % 3; k++) {
        const inner = alice.send(`a${round}.${k}`, ++t);
        const o = bob.receive(alice, inner, t);
        expect(dec(o.payload.body)).toBe(`a${round}.${k}`);
        expect(o.payload.time).toBe(t);
        expect(o.payload.kind).toBe('msg');
        expect(o.payload.id.length).toBe(16);
      }
      for (let k = 0; k <= (round + 1) % 3; k++) alice.receive(bob, bob.send(`b${round}.${k}`, ++t), t);
    }
    expect(bob.sessions).toHaveLength(1);
    expect(alice.sessions).toHaveLength(1);
    expect(bob.received.map((r) => r.seq)).toEqual(bob.received.map((_r, i) => i + 1));
    expect(alice.received.map((r) => r.seq)).toEqual(alice.received.map((_r, i) => i + 1));
    expect(alice.sessions[0]!.sessionId).toEqual(bob.sessions[0]!.sessionId);
  });

  it('repeats the PQXDH header until the first reply, then sends plain messages', () => {
    const { alice, bob } = pair();
    const m1 = alice.send('one');
    const m2 = alice.send('two');
    expect(m1[33]).toBe(1); // type: prekey message
    expect(m2[33]).toBe(1);
    // Bob gets the second first: it still sets the session up, the first then decrypts in it.
    bob.receive(alice, m2);
    const o1 = bob.receive(alice, m1);
    expect(o1.index).toBe(0);
    expect(bob.sessions).toHaveLength(1);
    alice.receive(bob, bob.send('reply'));
    const m3 = alice.send('three');
    expect(m3[33]).toBe(2);
    expect(dec(bob.receive(alice, m3).payload.body)).toBe('three');
  });

  it('delivers 200 messages shuffled, 50 dropped, 30 duplicated: each once, duplicates refused without a state change', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    // Three sending chains from Alice (80, 70, 50 messages): the first of each chain reaches
    // Bob at once and he answers, so Alice's next chain uses a new ratchet key; the other 197
    // arrive shuffled, 50 of them never, 30 of them twice.
    const sent: { i: number; inner: Uint8Array }[] = [];
    const seen = new Set<number>();
    let i = 0;
    for (const n of [80, 70, 50]) {
      for (let k = 0; k < n; k++, i++) sent.push({ i, inner: alice.send(`m${i}`) });
      const first = sent[sent.length - n]!;
      bob.receive(alice, first.inner);
      seen.add(first.i);
      alice.receive(bob, bob.send('ack'));
    }
    const rest = sent.filter((m) => !seen.has(m.i));
    const dropped = new Set(
      shuffle(
        rest.map((m) => m.i),
        7,
      ).slice(0, 50),
    );
    const kept = rest.filter((m) => !dropped.has(m.i));
    const dups = [...shuffle(kept, 11).slice(0, 27), ...sent.filter((m) => seen.has(m.i))];
    const delivery = shuffle([...kept, ...dups], 13);
    let refused = 0;
    for (const m of delivery) {
      if (seen.has(m.i)) {
        const before = bob.snapshot();
        expect(codeOf(() => bob.receive(alice, m.inner))).toBe('DUPLICATE_MESSAGE');
        expect(bob.snapshot()).toBe(before);
        refused++;
        continue;
      }
      const o = bob.receive(alice, m.inner);
      expect(dec(o.payload.body)).toBe(`m${m.i}`);
      seen.add(m.i);
    }
    expect(seen.size).toBe(150);
    expect(refused).toBe(30);
    // What remains stored are keys of dropped messages only (none for drops after the last
    // delivered message of the last chain: those keys were never derived).
    const left = bob.sessions[0]!.skipped.length;
    expect(left).toBeGreaterThan(40);
    expect(left).toBeLessThanOrEqual(50);
  });

  it('refuses a gap over MAX_SKIP (1000) and keeps the state; a gap of exactly 1000 opens', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    for (let k = 0; k < 1000; k++) alice.send(`lost ${k}`);
    const at1000 = alice.send('n=1000');
    alice.send('n=1001 lost');
    const at1002 = alice.send('n=1002');
    const before = bob.snapshot();
    expect(codeOf(() => bob.receive(alice, at1002))).toBe('TOO_MANY_SKIPPED');
    expect(bob.snapshot()).toBe(before);
    expect(dec(bob.receive(alice, at1000).payload.body)).toBe('n=1000');
    expect(bob.sessions[0]!.skipped.length).toBe(1000);
  });

  it('caps stored skipped keys per session (oldest dropped) and expires them by age', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    const lost = [...Array(30).keys()].map((k) => alice.send(`lost ${k}`));
    const last = alice.send('last');
    const limits = { maxSkip: 1000, maxStoredSkipped: 20, skippedMaxAgeMs: DAY, maxSkippedTotal: 20_000, spkGraceMs: 0 };
    let o = openMessage(bob.id, alice.pub, last, bob.sessions, bob.prekeys, T0, randomBytes, limits);
    bob.sessions[0] = o.state;
    expect(o.state.skipped.map((k) => k.n)).toEqual([...Array(20).keys()].map((k) => k + 10));
    expect(codeOf(() => openMessage(bob.id, alice.pub, lost[5]!, bob.sessions, bob.prekeys, T0, randomBytes, limits))).toBe('DUPLICATE_MESSAGE');
    o = openMessage(bob.id, alice.pub, lost[15]!, bob.sessions, bob.prekeys, T0 + DAY, randomBytes, limits);
    bob.sessions[0] = o.state;
    expect(o.state.skipped).toHaveLength(19);
    // One day and a millisecond after they were stored, the keys are gone.
    expect(codeOf(() => openMessage(bob.id, alice.pub, lost[16]!, bob.sessions, bob.prekeys, T0 + DAY + 1, randomBytes, limits))).toBe('DUPLICATE_MESSAGE');
  });

  it('caps skipped keys over all sessions of a device, oldest first, without touching the inputs', () => {
    const bob = withPrekeys(new Party(), 0, 0);
    const alices = [new Party(), new Party()];
    for (const [k, a] of alices.entries()) {
      a.sessions.push(startSession(a.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
      const msgs = [...Array(6).keys()].map((j) => a.send(`m${j}`));
      bob.receive(a, msgs[5]!, T0 + k); // five skipped keys per session, stored at T0 + k
    }
    const before = bob.snapshot();
    const capped = capSkippedTotal(bob.sessions, 7);
    expect(bob.snapshot()).toBe(before);
    expect(capped.map((s) => s.skipped.length)).toEqual([2, 5]);
    expect(capped[0]!.skipped.map((k) => k.n)).toEqual([3, 4]);
    expect(capSkippedTotal(bob.sessions, 100).map((s) => s.skipped.length)).toEqual([5, 5]);
  });
});

describe('security properties', () => {
  it('forward secrecy: once decrypted, the stored state cannot decrypt the message again', () => {
    const { alice, bob } = pair();
    const m1 = alice.send('first');
    bob.receive(alice, m1);
    const m2 = alice.send('second');
    const m3 = alice.send('third');
    bob.receive(alice, m3); // m2's key is now stored as skipped
    bob.receive(alice, m2); // and deleted once used
    for (const m of [m1, m2, m3]) expect(codeOf(() => bob.receive(alice, m))).toBe('DUPLICATE_MESSAGE');
    expect(bob.sessions[0]!.skipped).toHaveLength(0);
    // Not even a fresh parse of the stored bytes opens them.
    const stored = parseSessionState(encodeSessionState(bob.sessions[0]!));
    expect(codeOf(() => openMessage(bob.id, alice.pub, m2, [stored], bob.prekeys, T0, randomBytes))).toBe('DUPLICATE_MESSAGE');
  });

  it("post-compromise: a copy of Alice's state stops decrypting once she has sent with a key made after the theft", () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    bob.receive(alice, alice.send('how are you'));
    // The thief copies Alice's whole state: it holds her current ratchet secret.
    const stolen = parseSessionState(encodeSessionState(alice.sessions[0]!));
    const readable = (m: Uint8Array) => codeOf(() => openMessage(alice.id, bob.pub, m, [stolen], alice.prekeys, T0, randomBytes));
    // Until Alice makes a new ratchet key, Bob's messages are readable with the copy...
    const before = bob.send('still readable by the thief');
    expect(readable(before)).toBe('OK');
    alice.receive(bob, before); // Alice ratchets: a new key the thief does not have
    // ...one round trip later (Alice sends with it, Bob answers), they are not.
    bob.receive(alice, alice.send('fresh key'));
    const later = [bob.send('after healing 1'), bob.send('after healing 2')];
    for (const m of later) {
      expect(readable(m)).toBe('TAMPERED');
      expect(dec(alice.receive(bob, m).payload.body)).toMatch(/^after healing/);
    }
  });

  it("KCI: Bob's long-term and prekey secrets alone cannot forge a non-first message from Alice", () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    bob.receive(alice, alice.send('established'));
    // The attacker holds everything of Bob's except the session state: identity and prekeys.
    // It runs PQXDH "as Alice" with its own ephemeral key (DH1 = X25519(spkSk_B, IK_A) is
    // computable from Bob's side) and makes a sending chain from that.
    const spk = bob.prekeys.spk(1)!;
    const kem = bob.prekeys.kem(100)!; // the last-resort KEM key, still held
    const ek = x25519KeyPair(randomBytes);
    const { cipherText: _ct, sharedSecret } = ml_kem768.encapsulate(kem.pk);
    const ikm = concatBytes(PQXDH_F, x25519(spk.sk, alice.id.boxPk), x25519(ek.secretKey, bob.id.boxPk), x25519(ek.secretKey, spk.pk), sharedSecret);
    const sk = hkdfSha256(ikm, new Uint8Array(32), domainBytes(DOMAIN.pqxdh), 32);
    const dhs = x25519KeyPair(randomBytes);
    const [rk, cks] = kdfRk(sk, x25519(dhs.secretKey, spk.pk));
    const forged: SessionState = {
      ...bob.sessions[0]!,
      role: 'initiator',
      rk,
      cks,
      dhsSk: dhs.secretKey,
      dhsPk: dhs.publicKey,
      dhr: spk.pk,
      ns: 0,
      nr: 0,
      pn: 0,
      retired: [],
      skipped: [],
    };
    delete forged.pendingInit;
    const payload = encodePayloadV2({ kind: 'msg', id: randomBytes(16), time: T0, seq: 99, body: new TextEncoder().encode('forged') });
    for (let n = 0; n < 3; n++) {
      const { inner } = ratchetEncrypt({ ...forged, ns: n }, payload);
      const before = bob.snapshot();
      expect(codeOf(() => bob.receive(alice, inner))).toBe('TAMPERED');
      expect(bob.snapshot()).toBe(before);
    }
    // A forged header naming Bob's current receiving key but a later counter fails the same way.
    const cur = bob.sessions[0]!;
    const { inner } = ratchetEncrypt({ ...forged, dhsPk: cur.dhr!, ns: cur.nr + 1, pn: 0 }, payload);
    expect(codeOf(() => bob.receive(alice, inner))).toBe('TAMPERED');
  });
});

describe('simultaneous starts', () => {
  it('both sides start at once, answer in each other’s session, then converge on the session of the smaller signPk', () => {
    const alice = withPrekeys(new Party());
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    bob.sessions.push(startSession(bob.id, alice.pub, alice.prekeys.bundle(1), T0, randomBytes));
    const fromA = alice.send('A first');
    const fromB = bob.send('B first');
    expect(dec(bob.receive(alice, fromA).payload.body)).toBe('A first');
    expect(dec(alice.receive(bob, fromB).payload.body)).toBe('B first');
    expect(alice.sessions).toHaveLength(2);
    expect(bob.sessions).toHaveLength(2);
    // Each side's own session is not yet answered: each sends in the one the other started.
    const aFirst = converge(alice.sessions).active;
    const bFirst = converge(bob.sessions).active;
    expect(aFirst.role).toBe('responder');
    expect(bFirst.role).toBe('responder');
    expect(dec(bob.receive(alice, alice.send('A second', T0, alice.sessions.indexOf(aFirst))).payload.body)).toBe('A second');
    expect(dec(alice.receive(bob, bob.send('B second', T0, bob.sessions.indexOf(bFirst))).payload.body)).toBe('B second');
    // Now both sessions are heard on both sides: the same one wins on both.
    const ca = converge(alice.sessions);
    const cb = converge(bob.sessions);
    expect(Buffer.from(ca.active.sessionId).equals(Buffer.from(cb.active.sessionId))).toBe(true);
    const smaller = Buffer.compare(Buffer.from(alice.id.signPk), Buffer.from(bob.id.signPk)) < 0 ? alice : bob;
    expect(Buffer.from(ca.active.initiatorSignPk).equals(Buffer.from(smaller.id.signPk))).toBe(true);
    // Both send on the active session from now on, and every message opens.
    const ia = alice.sessions.indexOf(ca.active);
    const ib = bob.sessions.indexOf(cb.active);
    for (let k = 0; k < 5; k++) {
      expect(dec(bob.receive(alice, alice.send(`a${k}`, T0, ia)).payload.body)).toBe(`a${k}`);
      expect(dec(alice.receive(bob, bob.send(`b${k}`, T0, ib)).payload.body)).toBe(`b${k}`);
    }
    // converge is order-independent.
    expect(converge([...alice.sessions].reverse()).active).toBe(alice.sessions[ia]);
  });

  it('a message still in flight on the losing session opens in the kept receive-only copy', () => {
    const alice = withPrekeys(new Party());
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    bob.sessions.push(startSession(bob.id, alice.pub, alice.prekeys.bundle(1), T0, randomBytes));
    const a1 = alice.send('a1');
    const a2 = alice.send('a2 in flight');
    const b1 = bob.send('b1');
    const b2 = bob.send('b2 in flight');
    bob.receive(alice, a1);
    alice.receive(bob, b1);
    expect(dec(bob.receive(alice, a2).payload.body)).toBe('a2 in flight');
    expect(dec(alice.receive(bob, b2).payload.body)).toBe('b2 in flight');
  });
});

describe('sealMessage input checks', () => {
  it('refuses seq 0, a short id and an oversize body before touching the state', () => {
    const { alice } = pair();
    const s = alice.sessions[0]!;
    const base = { kind: 'msg' as const, id: randomBytes(16), time: T0, seq: 1, body: new Uint8Array(1) };
    expect(codeOf(() => sealMessage(s, { ...base, seq: 0 }))).toBe('BAD_INTEGER');
    expect(codeOf(() => sealMessage(s, { ...base, id: new Uint8Array(15) }))).toBe('BAD_ID');
    expect(codeOf(() => sealMessage(s, { ...base, body: new Uint8Array(64 * 1024 + 1) }))).toBe('MESSAGE_TOO_LARGE');
    expect(s.ns).toBe(0);
  });
});

describe('the v2 wire codec (written in place, no temporaries)', () => {
  const body = randomBytes(200);
  const p = { kind: 'receipt' as const, id: randomBytes(16), time: 2 ** 53 - 1, seq: 2 ** 40 + 7, body };
  it('lays out payload, header and prefix exactly as docs/PROTOCOL.md §9.5 spells them', () => {
    const header = concatBytes(Uint8Array.of(2, 2), p.id, u64be(p.time), u64be(p.seq), u32be(200), body);
    const padded = new Uint8Array(256);
    padded.set(header);
    expect(Buffer.from(encodePayloadV2(p))).toEqual(Buffer.from(padded));
    expect(parsePayloadV2(padded)).toEqual({ ...p, id: new Uint8Array(p.id), body: new Uint8Array(body) });
    const h = { dhPk: randomBytes(32), pn: 0xffffffff, n: 0x01020304 };
    const hb = concatBytes(Uint8Array.of(1), h.dhPk, u32be(h.pn), u32be(h.n));
    expect(Buffer.from(encodeRatchetHeader(h))).toEqual(Buffer.from(hb));
    expect(parseRatchetHeader(hb)).toEqual(h);
    const sender = randomBytes(32);
    const init = randomBytes(1134);
    expect(Buffer.from(encodeInnerPrefix(sender, h))).toEqual(Buffer.from(concatBytes(Uint8Array.of(2), sender, Uint8Array.of(2), hb)));
    const prekeyPrefix = encodeInnerPrefix(sender, h, init);
    expect(Buffer.from(prekeyPrefix)).toEqual(Buffer.from(concatBytes(Uint8Array.of(2), sender, Uint8Array.of(1), init, hb)));
    const inner = parseInnerV2(concatBytes(encodeInnerPrefix(sender, h), randomBytes(256 + 16)));
    expect([inner.type, inner.header]).toEqual(['message', h]);
  });
  it('an opened message shares no bytes with the inner it came from; a failed open between two sessions of one pair changes neither', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    // A second session of the same pair, started by the same side (the same AD): messages of
    // both, and a failed open, interleave on Bob's side.
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    bob.receive(alice, alice.send('opens a second session', T0, 1));
    const inner = alice.send('first');
    const other = alice.send('on the second session', T0, 1);
    const before = bob.snapshot();
    const forged = new Uint8Array(inner);
    forged[forged.length - 1]! ^= 1;
    expect(codeOf(() => bob.receive(alice, forged))).toBe('TAMPERED');
    expect(bob.snapshot()).toBe(before);
    const o = bob.receive(alice, inner);
    inner.fill(0xee); // the caller reuses its buffer: what was opened must not change
    expect(dec(o.payload.body)).toBe('first');
    expect(dec(bob.receive(alice, other).payload.body)).toBe('on the second session');
    expect(dec(bob.receive(alice, alice.send('second')).payload.body)).toBe('second');
  });
  it('encodes a payload into a scratch array as into a new one, the padding written over what the scratch held', () => {
    const scratch = new Uint8Array(4096).fill(0xaa);
    const v = encodePayloadV2(p, scratch);
    expect(v.buffer).toBe(scratch.buffer);
    expect(Buffer.from(v)).toEqual(Buffer.from(encodePayloadV2(p)));
    const small = new Uint8Array(100);
    const w = encodePayloadV2(p, small);
    expect(w.buffer).not.toBe(small.buffer);
    expect(Buffer.from(w)).toEqual(Buffer.from(v));
  });
  it('refuses what the old encoders refused, with the same codes', () => {
    const ok = { dhPk: randomBytes(32), pn: 0, n: 0 };
    expect(codeOf(() => encodeRatchetHeader({ ...ok, n: 2 ** 32 }))).toBe('BAD_INTEGER');
    expect(codeOf(() => encodeRatchetHeader({ ...ok, pn: -1 }))).toBe('BAD_INTEGER');
    expect(codeOf(() => encodeRatchetHeader({ ...ok, dhPk: new Uint8Array(31) }))).toBe('BAD_KEY');
    expect(codeOf(() => encodeInnerPrefix(new Uint8Array(31), ok))).toBe('BAD_KEY');
    expect(codeOf(() => encodePayloadV2({ ...p, time: -1 }))).toBe('BAD_INTEGER');
    expect(codeOf(() => encodePayloadV2({ ...p, time: 2 ** 53 }))).toBe('BAD_INTEGER');
    expect(codeOf(() => encodePayloadV2({ ...p, seq: 1.5 }))).toBe('BAD_INTEGER');
  });
  it('reads every malformed payload as TAMPERED', () => {
    const good = encodePayloadV2(p);
    const bad = (edit: (b: Uint8Array) => void): Uint8Array => {
      const b = new Uint8Array(good);
      edit(b);
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['a non-zero padding byte', bad((b) => (b[255] = 1))],
      ['seq 0', bad((b) => b.fill(0, 26, 34))],
      ['a time above 2^53 - 1', bad((b) => (b[19] = 0x20))],
      ['a seq above 2^53 - 1', bad((b) => (b[27] = 0x20))],
      ['an unknown kind', bad((b) => (b[1] = 9))],
      ['another version', bad((b) => (b[0] = 1))],
      ['a body length past the padding', bad((b) => (b[37] = 219))],
      ['a body length above 64 KiB', bad((b) => b.set(u32be(64 * 1024 + 1), 34))],
      ['a non-canonical length', good.subarray(0, 255)],
      ['too short for the header', good.subarray(0, 37)],
    ];
    for (const [what, b] of cases) expect([what, codeOf(() => parsePayloadV2(b))]).toEqual([what, 'TAMPERED']);
  });
});

describe('the KDF primitives', () => {
  it('hkdfSha256 and hmacSha256 (written out over createHmac) give node:crypto hkdfSync / createHmac bytes', () => {
    for (let i = 0; i < 64; i++) {
      const ikm = randomBytes(i % 70);
      const salt = i % 5 === 0 ? new Uint8Array(0) : randomBytes(1 + (i % 80));
      const info = randomBytes(i % 33);
      const len = 1 + ((i * 37) % 200);
      expect(Buffer.from(hkdfSha256(ikm, salt, info, len))).toEqual(Buffer.from(nodeCrypto.hkdfSync('sha256', ikm, salt, info, len)));
      expect(Buffer.from(hmacSha256(salt, ikm))).toEqual(nodeCrypto.createHmac('sha256', salt).update(ikm).digest());
    }
    expect(codeOf(() => hkdfSha256(randomBytes(32), randomBytes(32), randomBytes(8), 255 * 32 + 1))).toBe('BAD_KEY');
  });

  it('hkdfSha256TwoBlocks (the message keys, no arrays per call) gives the first 64 bytes of hkdfSync as T(1), T(2)', () => {
    for (let i = 0; i < 32; i++) {
      const ikm = randomBytes(i % 40);
      const salt = i % 4 === 0 ? new Uint8Array(32) : randomBytes(1 + (i % 50));
      const info = randomBytes(i % 25);
      const [t1, t2] = hkdfSha256TwoBlocks(ikm, salt, info);
      const want = Buffer.from(nodeCrypto.hkdfSync('sha256', ikm, salt, info, 64));
      expect([Buffer.from(t1).toString('hex'), Buffer.from(t2).toString('hex')]).toEqual([want.subarray(0, 32).toString('hex'), want.subarray(32).toString('hex')]);
    }
  });
});

describe('copy-on-write states (a ratchet step shares what it did not change; wipeReplaced)', () => {
  const hex = (s: SessionState) => Buffer.from(encodeSessionState(s)).toString('hex');
  const secrets = (s: SessionState) => [s.rk, s.dhsSk, s.cks, s.ckr, ...s.skipped.map((k) => k.mk)].filter((a): a is Uint8Array => a !== undefined);
  /** Every secret array of each replaced state that `kept` does not hold is zero; none of kept's is. */
  const checkWiped = (replaced: SessionState[], kept: SessionState) => {
    const live = secrets(kept);
    for (const a of live) expect(isAllZero(a)).toBe(false);
    let wiped = 0;
    for (const old of replaced) {
      for (const a of secrets(old)) {
        if (live.includes(a)) continue;
        expect(isAllZero(a)).toBe(true);
        wiped++;
      }
    }
    return wiped;
  };
  /** A deterministic random stream, so a reference run draws the same ratchet keys. */
  const seeded = (seed: string) => {
    let i = 0;
    return (n: number) => new Uint8Array(nodeCrypto.createHash('sha512').update(`${seed}/${i++}`).digest().subarray(0, n));
  };

  it('a seal chain wiped as sealManyFor wipes it: the kept and the loaded state keep every secret, each replaced chain key is zero', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    const loaded = alice.sessions[0]!;
    const loadedHex = hex(loaded);
    let ref = parseSessionState(encodeSessionState(loaded)); // the same seals, nothing wiped
    let state = loaded;
    const replaced: SessionState[] = [];
    const inners: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const p = { kind: 'msg' as const, id: new Uint8Array(16).fill(i), time: T0, seq: 10 + i, body: new TextEncoder().encode(`m${i}`) };
      const r = sealMessage(state, p);
      const rr = sealMessage(ref, p);
      expect(Buffer.from(r.inner).equals(Buffer.from(rr.inner))).toBe(true);
      ref = rr.state;
      if (state !== loaded) {
        wipeReplaced(state, r.state);
        replaced.push(state);
      }
      state = r.state;
      inners.push(r.inner);
    }
    expect(state.rk).toBe(loaded.rk); // shared, not copied
    expect(hex(state)).toBe(hex(ref));
    expect(hex(loaded)).toBe(loadedHex);
    expect(checkWiped(replaced, state)).toBe(4); // the four replaced sending chain keys
    for (const m of inners) bob.receive(alice, m);
    alice.sessions[0] = state;
    expect(dec(bob.receive(alice, alice.send('after')).payload.body)).toBe('after');
    expect(dec(alice.receive(bob, bob.send('reply')).payload.body)).toBe('reply');
  });

  it('an open chain across DH ratchets and skipped keys, wiped step by step: the same state as without wipes, and a failed open changes nothing', () => {
    const { alice, bob } = pair();
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    const loaded = bob.sessions[0]!;
    const loadedHex = hex(loaded);
    const rnd = seeded('bob');
    const rndRef = seeded('bob');
    let state = loaded;
    let ref = parseSessionState(encodeSessionState(loaded));
    const replaced: SessionState[] = [];
    const open = (inner: Uint8Array) => {
      const r = openMessage(bob.id, alice.pub, inner, [state], bob.prekeys, T0, rnd);
      const rr = openMessage(bob.id, alice.pub, inner, [ref], bob.prekeys, T0, rndRef);
      expect(dec(r.payload.body)).toBe(dec(rr.payload.body));
      ref = rr.state;
      if (state !== loaded) {
        wipeReplaced(state, r.state);
        replaced.push(state);
      }
      state = r.state;
      return dec(r.payload.body);
    };
    const seal = (text: string) => {
      const p = { kind: 'msg' as const, id: randomBytes(16), time: T0, seq: 100, body: new TextEncoder().encode(text) };
      const r = sealMessage(state, p);
      ref = sealMessage(ref, p).state;
      if (state !== loaded) {
        wipeReplaced(state, r.state);
        replaced.push(state);
      }
      state = r.state;
      return r.inner;
    };
    const [a1, a2, a3] = [alice.send('a1'), alice.send('a2'), alice.send('a3')];
    expect([open(a1), open(a3)]).toEqual(['a1', 'a3']); // a new chain (DH step), then a2's key skipped
    expect(state.skipped).toHaveLength(1);
    expect(open(a2)).toBe('a2');
    alice.receive(bob, seal('b1'));
    const [a4, a5, a6] = [alice.send('a4'), alice.send('a5'), alice.send('a6')];
    // A forged message that would start a new chain and skip a key: refused, nothing changed.
    const before = [hex(state), hex(loaded)];
    const forged = new Uint8Array(a5);
    forged[forged.length - 1]! ^= 1;
    expect(codeOf(() => openMessage(bob.id, alice.pub, forged, [state], bob.prekeys, T0, randomBytes))).toBe('TAMPERED');
    expect([hex(state), hex(loaded)]).toEqual(before);
    expect([open(a5), open(a4), open(a6)]).toEqual(['a5', 'a4', 'a6']);
    expect(hex(state)).toBe(hex(ref));
    expect(hex(loaded)).toBe(loadedHex);
    expect(checkWiped(replaced, state)).toBeGreaterThan(replaced.length);
    bob.sessions[0] = state;
    expect(dec(alice.receive(bob, bob.send('still in step')).payload.body)).toBe('still in step');
  });
});
