/**
 * Protocol v2 vectors (test/vectors/pqxdh.json, ratchet.json; made by scripts/vectors/v2.mjs):
 * the code must reproduce every byte from the recorded random draws and fail every bad case
 * with the expected code.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openEnvelopeV2, sealEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { identityFromSecrets, type Identity } from '../../src/crypto/identity.js';
import type { PrekeyLookup } from '../../src/crypto/pqxdh.js';
import { pqxdhInitiate } from '../../src/crypto/pqxdh.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey, verifyPrekeyBundle } from '../../src/crypto/prekeys.js';
import { kdfCk, kdfRk, messageKeys } from '../../src/crypto/ratchet.js';
import { openMessage, sealMessage, sealMessageEnvelope, startSession } from '../../src/crypto/session.js';
import { encodePrekeyBundle, kemSignedBytes, parsePrekeyBundle, spkSignedBytes } from '../../src/protocol/prekey-bundle.js';
import { encodeSessionState, parseSessionState, type SessionState } from '../../src/protocol/session-state.js';
import { codeOfSync, hex, tape, unhex } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (n: string): any => JSON.parse(readFileSync(new URL(`../vectors/${n}.json`, import.meta.url), 'utf8'));
const pv = load('pqxdh');
const rv = load('ratchet');
const ids: Record<string, Identity> = Object.fromEntries(Object.entries(pv.identities).map(([n, v]) => [n, identityFromSecrets(unhex((v as { secrets: string }).secrets))]));
const pub = (n: string) => ({ signPk: ids[n]!.signPk, boxPk: ids[n]!.boxPk });
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * A recorded v2 envelope (§9.5) of `inner`, sent in `state` with `payload`: sealEnvelopeV2 and
 * sealMessageEnvelope (the CLI's path: the same bytes, draws and new state as sealMessage then
 * sealEnvelopeV2) both make its bytes from its draws, and the recipient opens it to `inner`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function checkEnvelope(e: any, state: SessionState, payload: Parameters<typeof sealMessage>[1], inner: Uint8Array, where: string): void {
  const to = ids[e.to]!;
  const env = sealEnvelopeV2(to.boxPk, inner, tape(e.random));
  expect(hex(env), where).toBe(e.bytes);
  expect(env.length, where).toBe(e.length);
  const both = sealMessageEnvelope(state, payload, to.boxPk, tape(e.random));
  expect(hex(both.envelope), where).toBe(e.bytes);
  expect(hex(encodeSessionState(both.state)), where).toBe(hex(encodeSessionState(sealMessage(state, payload).state)));
  expect(hex(openEnvelopeV2(to.boxSk, env)), where).toBe(hex(inner));
}

const P = pv.prekeys;
const bob = ids.bob!;
const spk = generateSignedPrekey(bob, P.spk.id, P.spk.expires, tape(P.spk.random));
const kems = P.kem.map((k: { id: number; kind: 'one-time' | 'last-resort'; random: string[] }) => generateKemPrekey(bob, k.id, k.kind, tape(k.random)));
const opk = generateOneTimePrekey(P.opk.id, tape(P.opk.random));
// `c.spkRetiredAt`: a newer SPK replaced it then; `c.spkDeleted`: Bob made it and deleted it (§9.3).
const lookup = (used: string[] = [], c: { spkRetiredAt?: number; spkDeleted?: boolean } = {}): PrekeyLookup => ({
  spk: (id) => (id === spk.id && !c.spkDeleted ? (c.spkRetiredAt === undefined ? spk : { ...spk, retiredAt: c.spkRetiredAt }) : undefined),
  spkDeleted: (id) => id === spk.id && c.spkDeleted === true,
  kem: (id) => kems.find((k: { id: number }) => k.id === id && !used.includes(`kem${id}`)),
  opk: (id) => (id === opk.id && !used.includes('opk') ? opk : undefined),
});

describe('pqxdh.json', () => {
  it('identities and prekeys derive from the recorded draws, signatures byte for byte', () => {
    for (const n of Object.keys(pv.identities)) expect(hex(ids[n]!.boxPk)).toBe(pv.identities[n].boxPk);
    expect(hex(spk.sk)).toBe(P.spk.sk);
    expect(hex(spk.pk)).toBe(P.spk.pk);
    expect(hex(spkSignedBytes(bob.signPk, bob.boxPk, spk.id, spk.expires, spk.pk))).toBe(P.spk.signedBytes);
    expect(hex(spk.sig)).toBe(P.spk.sig);
    P.kem.forEach((k: { seed: string; pk: string; sig: string; kind: 'one-time' | 'last-resort'; id: number; signedBytesSha256: string }, i: number) => {
      expect(hex(kems[i].seed)).toBe(k.seed);
      expect(hex(kems[i].pk)).toBe(k.pk);
      expect(sha256(kemSignedBytes(bob.signPk, bob.boxPk, k.kind, k.id, kems[i].pk))).toBe(k.signedBytesSha256);
      expect(hex(kems[i].sig)).toBe(k.sig);
    });
    expect(hex(opk.pk)).toBe(P.opk.pk);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(pv.handshake.map((c: any) => [c.name, c]) as [string, any][])('handshake %s: bundle, init header, SK, first message, responder state', (_n, c) => {
    const bundle = parsePrekeyBundle(unhex(c.bundle));
    expect(hex(encodePrekeyBundle(bundle))).toBe(c.bundle);
    verifyPrekeyBundle(bundle, pub('bob'), c.now);
    const x = pqxdhInitiate(ids.alice!, pub('bob'), bundle, c.now, tape(c.random.slice(0, 2)));
    expect(hex(x.initBytes)).toBe(c.initHeader);
    expect(hex(x.sk)).toBe(c.sk);
    expect(hex(x.ad)).toBe(c.ad);
    expect(hex(x.sessionId)).toBe(c.sessionId);
    const r = tape(c.random);
    const state = startSession(ids.alice!, pub('bob'), bundle, c.now, r);
    expect(r.left()).toBe(0);
    expect(hex(encodeSessionState(state))).toBe(c.initiatorState);
    const p = c.first.payload;
    const payload = { kind: p.kind, id: unhex(p.id), time: p.time, seq: p.seq, body: unhex(p.body) };
    const sealed = sealMessage(state, payload);
    expect(hex(sealed.inner)).toBe(c.first.inner);
    checkEnvelope(c.first.envelope, state, payload, sealed.inner, 'first envelope');
    const o = openMessage(bob, pub('alice'), sealed.inner, [], lookup(), c.now, tape(c.open.random));
    expect(o.used).toEqual(c.open.used);
    expect(hex(o.payload.body)).toBe(p.body);
    expect(o.payload.seq).toBe(p.seq);
    expect(hex(encodeSessionState(o.state))).toBe(c.open.responderState);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(pv.bundleFail.map((c: any) => [c.name, c.expect, c]) as [string, string, any][])('bundle %s -> %s', (_n, expected, c) => {
    expect(codeOfSync(() => verifyPrekeyBundle(parsePrekeyBundle(unhex(c.bundle)), pub(c.pinned ?? 'bob'), c.now))).toBe(expected);
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  it.each(pv.firstFail.map((c: any) => [c.name, c.expect, c]) as [string, string, any][])('first message %s -> %s', (_n, expected, c) => {
    const r = (n: number) => new Uint8Array(n).fill(7);
    expect(codeOfSync(() => openMessage(bob, pub('alice'), unhex(c.inner), [], lookup(c.usedPrekeys, c), c.now, r))).toBe(expected);
  });
});

describe('ratchet.json', () => {
  it('KDF_RK, KDF_CK and the message key expansion', () => {
    const k = rv.kdf;
    const [rk, ck] = kdfRk(unhex(k.kdfRk.rk), unhex(k.kdfRk.dh));
    expect([hex(rk), hex(ck)]).toEqual([k.kdfRk.rkOut, k.kdfRk.ck]);
    const [ck2, mk] = kdfCk(unhex(k.kdfCk.ck));
    expect([hex(ck2), hex(mk)]).toEqual([k.kdfCk.ckOut, k.kdfCk.mk]);
    const m = messageKeys(unhex(k.messageKeys.mk));
    expect([hex(m.key), hex(m.nonce)]).toEqual([k.messageKeys.key, k.messageKeys.nonce]);
  });

  it('replays the conversation: every sealed byte (and the recorded envelope), every opened payload, every state hash and failure code', () => {
    const sessions: Record<string, SessionState[]> = { alice: [parseSessionState(unhex(rv.start.alice))], bob: [] };
    const peer: Record<string, string> = { alice: 'bob', bob: 'alice' };
    const sent: Uint8Array[] = [];
    let envelopes = 0;
    for (const [i, s] of (rv.steps as Record<string, never>[]).entries()) {
      const st = s as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      if (st.op === 'send') {
        const p = st.payload;
        const payload = { kind: p.kind, id: unhex(p.id), time: p.time, seq: p.seq, body: unhex(p.body) };
        const r = sealMessage(sessions[st.from]![0]!, payload);
        expect(hex(r.inner), `step ${i}`).toBe(st.inner);
        if (st.envelope) {
          checkEnvelope(st.envelope, sessions[st.from]![0]!, payload, r.inner, `step ${i} envelope`);
          envelopes++;
        }
        sessions[st.from]![0] = r.state;
        sent.push(r.inner);
        continue;
      }
      const before = sessions[st.to]!.map((x) => hex(encodeSessionState(x))).join();
      const inner = st.inner ? unhex(st.inner) : sent[st.msg]!;
      const code = codeOfSync(() => {
        const o = openMessage(ids[st.to]!, pub(peer[st.to]!), inner, sessions[st.to]!, lookup(), st.now, tape(st.random));
        if (o.index < 0) sessions[st.to]!.push(o.state);
        else sessions[st.to]![o.index] = o.state;
        expect(o.payload.seq, `step ${i}`).toBe(st.got.seq);
        expect(hex(o.payload.body), `step ${i}`).toBe(st.got.body);
        expect(sha256(encodeSessionState(o.state)), `step ${i}`).toBe(st.stateSha256);
      });
      expect(code, `step ${i}`).toBe(st.expect);
      if (st.expect !== 'OK') expect(sessions[st.to]!.map((x) => hex(encodeSessionState(x))).join(), `step ${i} changed state`).toBe(before);
    }
    expect(envelopes).toBe(1);
    expect(hex(encodeSessionState(sessions.alice![0]!))).toBe(rv.final.alice);
    expect(hex(encodeSessionState(sessions.bob![0]!))).toBe(rv.final.bob);
  });
});
