/**
 * ratchet.json replayed by the independent implementation of test/unit/v2-crosscheck-lib.ts
 * (docs/PROTOCOL.md §9.4, §9.5, §9.7, §9.8 with libsodium; nothing from src/): the KDF known
 * answers, then the whole conversation. Alice's session is rebuilt from pqxdh.json's draws
 * (not parsed from the vector's state), Bob's made from her first prekey message to arrive; at
 * each step every KDF_RK / KDF_CK / message-key derivation, ratchet header and AEAD associated
 * data is ours. Each send must give the vector's inner byte for byte; each receive must open to
 * the payload bytes the sender encoded and leave a state whose §9.7 bytes hash to the vector's
 * (so the skipped keys, retired keys and counters agree too); each refused step must be refused
 * with the vector's code, for the cause the test names (the AEAD, or the key already used),
 * leaving the state as it was. The a2 message's v2 outer envelope is opened with libsodium.
 *
 * Not covered by ratchet.json (so not here): TOO_MANY_SKIPPED, the age and count limits of
 * skipped keys, the 8 retired keys' limit, a low-order ratchet key (all §9.8).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type BobPrekeys,
  cat,
  encodePayload,
  hex,
  identity,
  loadVectors,
  openEnvelope,
  parseBundle,
  parsePayload,
  pqxdhInitiate,
  refusal,
  sessionAd,
  sessionIdOf,
  sha256,
  sodium,
  tape,
  unhex,
} from './v2-crosscheck-lib.js';
import { encodeState, encrypt, kdfCk, kdfRk, messageKeys, openInner, type Session } from './v2-crosscheck-session.js';

beforeAll(async () => {
  await sodium.ready;
});

const pv = loadVectors('pqxdh');
const rv = loadVectors('ratchet');
const who = (n: string) => identity(pv.identities[n].secrets);
const pub = (n: string) => ({ signPk: who(n).signPk, boxPk: who(n).boxPk });

/** Alice's session from pqxdh.json's handshake the conversation starts from (§9.3, §9.4 "Initialisation"). */
function aliceStart(): Session {
  const c = pv.handshake.find((h: { name: string }) => h.name === rv.start.handshake);
  const b = parseBundle(unhex(c.bundle));
  const r = tape(c.random);
  const x = pqxdhInitiate(who('alice'), b, r);
  const dhsSk = r(32);
  const [rk, cks] = kdfRk(x.sk, sodium.crypto_scalarmult(dhsSk, b.spkPk));
  const sessionId = sessionIdOf(sessionAd(pub('alice'), pub('bob')), x.init);
  const dhsPk = sodium.crypto_scalarmult_base(dhsSk);
  return {
    role: 1,
    sessionId,
    initiator: pub('alice'),
    responder: pub('bob'),
    created: c.now,
    rk,
    dhsSk,
    dhsPk,
    dhr: b.spkPk,
    cks,
    ns: 0,
    nr: 0,
    pn: 0,
    pendingInit: x.init,
    retired: [],
    skipped: [],
  };
}
const P = pv.prekeys;
const bobPrekeys: BobPrekeys = {
  spk: { id: P.spk.id, sk: unhex(P.spk.sk), pk: unhex(P.spk.pk) },
  kem: P.kem.map((k: { id: number; kind: string; seed: string }) => ({ id: k.id, kind: k.kind, seed: unhex(k.seed) })),
  opk: [{ id: P.opk.id, sk: unhex(P.opk.sk) }],
};

// Why each refused step is refused, by the independent implementation (the reason of its Refused).
const WHY: Record<string, string> = {
  DUPLICATE_MESSAGE: 'its key was used', // §9.4 step 3: n < nr on the current chain, the skipped key gone
  TAMPERED: 'the AEAD does not open',
};

describe('ratchet.json, independently (§9.4, §9.5, §9.7)', () => {
  it('KDF_RK, KDF_CK and the message key expansion', () => {
    const k = rv.kdf;
    expect(kdfRk(unhex(k.kdfRk.rk), unhex(k.kdfRk.dh)).map(hex)).toEqual([k.kdfRk.rkOut, k.kdfRk.ck]);
    expect(kdfCk(unhex(k.kdfCk.ck)).map(hex)).toEqual([k.kdfCk.ckOut, k.kdfCk.mk]);
    const m = messageKeys(unhex(k.messageKeys.mk));
    expect([hex(m.key), hex(m.nonce)]).toEqual([k.messageKeys.key, k.messageKeys.nonce]);
  });

  it('Alice starts where the vector says: her state from pqxdh.json is the one ratchet.json starts from', () => {
    expect(hex(encodeState(aliceStart()))).toBe(rv.start.alice);
  });

  it('replays the conversation: every inner, payload, state hash, refusal and the a2 envelope', () => {
    const sessions: Record<string, Session[]> = { alice: [aliceStart()], bob: [] };
    const peer: Record<string, string> = { alice: 'bob', bob: 'alice' };
    const sent: Uint8Array[] = [];
    const payloads: Uint8Array[] = [];
    const seen = { send: 0, ok: 0, refused: new Set<string>(), envelopes: 0 };
    for (const [i, st] of (rv.steps as Record<string, never>[]).entries()) {
      const s = st as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const at = `step ${i}`;
      if (s.op === 'send') {
        const payload = encodePayload(s.payload);
        const r = encrypt(sessions[s.from]![0]!, payload);
        expect(hex(r.inner), at).toBe(s.inner);
        expect(r.inner[33], `${at}: type`).toBe(sessions[s.from]![0]!.pendingInit ? 1 : 2);
        sessions[s.from]![0] = r.state;
        expect(s.msg).toBe(sent.length);
        sent.push(r.inner);
        payloads.push(payload);
        seen.send++;
        if (s.envelope) {
          // §9.5: the outer box to the peer, from the recorded ephSk and nonce.
          const e = s.envelope;
          const to = who(e.to);
          expect(e.to).toBe(peer[s.from]);
          const env = unhex(e.bytes);
          const [ephSk, nonce] = e.random.map(unhex);
          expect(hex(openEnvelope(to.boxSk, env)), at).toBe(s.inner);
          expect(hex(cat(Uint8Array.of(2), sodium.crypto_scalarmult_base(ephSk), nonce, sodium.crypto_box_easy(r.inner, nonce, to.boxPk, ephSk))), at).toBe(e.bytes);
          expect([env.length, e.length], at).toEqual([73 + r.inner.length, 73 + 34 + 41 + 16 + payload.length]);
          seen.envelopes++;
        }
        continue;
      }
      const inner: Uint8Array = s.inner ? unhex(s.inner) : sent[s.msg]!;
      const before = sessions[s.to]!.map((x) => hex(encodeState(x))).join();
      const r = tape(s.random);
      let opened: ReturnType<typeof openInner> | undefined;
      const refused = refusal(() => (opened = openInner(who(s.to), pub(peer[s.to]!), inner, sessions[s.to]!, bobPrekeys, s.now, r)));
      expect(r.left(), `${at}: draws`).toBe(0);
      expect(refused?.code ?? 'OK', at).toBe(s.expect);
      if (refused) {
        expect(refused.reason, at).toContain(WHY[s.expect]);
        expect(sessions[s.to]!.map((x) => hex(encodeState(x))).join(), `${at}: state changed`).toBe(before);
        seen.refused.add(s.expect);
        continue;
      }
      const o = opened!;
      expect(hex(o.payload), at).toBe(hex(payloads[s.msg]!));
      const p = parsePayload(o.payload);
      expect([p.seq, p.body], at).toEqual([s.got.seq, s.got.body]);
      expect(hex(sha256(encodeState(o.state))), at).toBe(s.stateSha256);
      if (o.index < 0) sessions[s.to]!.push(o.state);
      else sessions[s.to]![o.index] = o.state;
      seen.ok++;
    }
    expect([seen.send, seen.ok, [...seen.refused].sort(), seen.envelopes]).toEqual([9, 9, ['DUPLICATE_MESSAGE', 'TAMPERED'], 1]);
    expect([sessions.alice!.length, sessions.bob!.length]).toEqual([1, 1]);
    expect(hex(encodeState(sessions.alice![0]!))).toBe(rv.final.alice);
    expect(hex(encodeState(sessions.bob![0]!))).toBe(rv.final.bob);
  });
});
