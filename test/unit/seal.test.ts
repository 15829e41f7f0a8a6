/** Sealing and opening envelopes: round trips, every-byte tamper, each binding check of openInner. */
import { describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { openEnvelope, openInner, openOuter, type Peer, sealEnvelope, type SharedKeyCache } from '../../src/crypto/seal.js';
import { bytesEqual } from '../../src/protocol/encoding.js';
import {
  ENVELOPE_OVERHEAD,
  isValidEnvelopeLength,
  MAX_BODY_BYTES,
  MAX_ENVELOPE_BYTES,
  MIN_ENVELOPE_BYTES,
  MIN_PADDED,
  PAYLOAD_HEADER_BYTES,
  paddedLength,
} from '../../src/protocol/envelope.js';
import { codeOfSync, utf8, vectors } from './helpers.js';

const alice = generateIdentity(randomBytes);
const bob = generateIdentity(randomBytes);
const carol = generateIdentity(randomBytes);
const lookupIn =
  (...ps: Peer[]) =>
  (pk: Uint8Array) =>
    ps.find((p) => bytesEqual(p.signPk, pk));
const msg = (body: Uint8Array, kind: 'msg' | 'receipt' | 'typing' = 'msg') => ({ kind, id: randomBytes(16), time: 1763900000000, body });

describe('round trips', () => {
  it.each([0, 1, 10, 130, 131, 1000, 4096, 65_000, MAX_BODY_BYTES])('a %i-byte body comes back intact, padded per Padmé', (n) => {
    const body = randomBytes(n);
    const m = msg(body);
    const env = sealEnvelope(alice, bob, m, randomBytes);
    expect(env.length).toBe(ENVELOPE_OVERHEAD + paddedLength(PAYLOAD_HEADER_BYTES + n));
    const o = openEnvelope(bob, env, lookupIn(alice));
    expect(o.body).toEqual(body);
    expect(o.id).toEqual(m.id);
    expect(o.time).toBe(m.time);
    expect(o.kind).toBe('msg');
    expect(o.senderSignPk).toEqual(alice.signPk);
  });

  it('carries each kind', () => {
    for (const kind of ['msg', 'receipt', 'typing'] as const) {
      expect(openEnvelope(bob, sealEnvelope(alice, bob, msg(utf8('x'), kind), randomBytes), lookupIn(alice)).kind).toBe(kind);
    }
  });

  it('the largest envelope is MAX_ENVELOPE_BYTES and every short message is the same size', () => {
    expect(sealEnvelope(alice, bob, msg(new Uint8Array(MAX_BODY_BYTES)), randomBytes).length).toBe(MAX_ENVELOPE_BYTES);
    expect(sealEnvelope(alice, bob, msg(utf8('hi')), randomBytes).length).toBe(MIN_ENVELOPE_BYTES);
    expect(sealEnvelope(alice, bob, msg(new Uint8Array(MIN_PADDED - PAYLOAD_HEADER_BYTES)), randomBytes).length).toBe(MIN_ENVELOPE_BYTES);
  });

  it('two seals of the same message differ (fresh ephemeral key and nonces)', () => {
    const m = msg(utf8('same'));
    expect(sealEnvelope(alice, bob, m, randomBytes)).not.toEqual(sealEnvelope(alice, bob, m, randomBytes));
  });

  it('a shared-key cache gives the same bytes and results as no cache', () => {
    const cache: SharedKeyCache = new Map();
    const r1 = vectors('envelope').seal[0].random as string[];
    const rnd = () => {
      let i = 0;
      return (n: number) => new Uint8Array(Buffer.from(r1[i++]!, 'hex')).subarray(0, n);
    };
    const m = msg(utf8('cached'));
    const a = sealEnvelope(alice, bob, m, rnd(), cache);
    const b = sealEnvelope(alice, bob, m, rnd());
    expect(a).toEqual(b);
    expect(cache.size).toBe(1);
    const bobCache: SharedKeyCache = new Map();
    expect(openEnvelope(bob, a, lookupIn(alice), bobCache).body).toEqual(utf8('cached'));
    expect(openEnvelope(bob, a, lookupIn(alice), bobCache).body).toEqual(utf8('cached'));
    expect(bobCache.size).toBe(1);
  });
});

describe('tamper: every byte', () => {
  // Flip any byte of an envelope and it must be rejected (docs/PROTOCOL.md §5.3).
  // Each open is a few ms on a loaded CI box: every byte of a short envelope with two
  // masks, and for a longer one every header byte plus a stride through the ciphertext.
  it.each([
    ['short message', 10, [0x01, 0x80], 1],
    ['1000-byte message', 1000, [0xff], 11],
  ] as const)(
    '%s: every single-byte change is rejected',
    (_name, n, masks, stride) => {
      const env = sealEnvelope(alice, bob, msg(randomBytes(n)), randomBytes);
      const wrong: string[] = [];
      let checked = 0;
      for (let i = 0; i < env.length; i += i < ENVELOPE_OVERHEAD ? 1 : stride) {
        for (const mask of masks) {
          const t = new Uint8Array(env);
          t[i]! ^= mask;
          const code = codeOfSync(() => openEnvelope(bob, t, lookupIn(alice, carol)));
          if (code !== (i === 0 ? 'UNSUPPORTED_VERSION' : 'TAMPERED')) wrong.push(`byte ${i} mask ${mask}: ${code}`);
          checked++;
        }
      }
      expect(wrong).toEqual([]);
      expect(checked).toBeGreaterThan(ENVELOPE_OVERHEAD * masks.length);
      expect(openEnvelope(bob, env, lookupIn(alice)).body.length).toBe(n); // the original still opens
    },
    120_000,
  );

  it('every truncation and a few extensions are rejected', () => {
    const env = sealEnvelope(alice, bob, msg(utf8('cut me')), randomBytes);
    const wrong: number[] = [];
    for (let len = 0; len < env.length; len++) {
      if (codeOfSync(() => openEnvelope(bob, env.subarray(0, len), lookupIn(alice))) !== 'TAMPERED') wrong.push(len);
    }
    expect(wrong).toEqual([]);
    for (const extra of [1, 15, 16, 17, 256]) {
      const e = new Uint8Array(env.length + extra);
      e.set(env);
      expect(codeOfSync(() => openEnvelope(bob, e, lookupIn(alice)))).toBe('TAMPERED');
    }
  });
});

describe('openInner binding checks, one at a time', () => {
  const env = sealEnvelope(alice, bob, msg(utf8('bound')), randomBytes);

  it('opens with the right sender', () => {
    expect(openInner(bob, openOuter(bob, env), alice).body).toEqual(utf8('bound'));
  });

  it('the pinned sender must be the key named in the inner header', () => {
    expect(codeOfSync(() => openInner(bob, openOuter(bob, env), carol))).toBe('TAMPERED');
  });

  it("the inner box must open with the pinned sender's box key (a swapped box key fails)", () => {
    const fakeAlice: Peer = { signPk: alice.signPk, boxPk: carol.boxPk };
    expect(codeOfSync(() => openInner(bob, openOuter(bob, env), fakeAlice))).toBe('TAMPERED');
  });

  it('a low-order box key for the sender is rejected (all-zero shared secret)', () => {
    for (const boxPk of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      expect(codeOfSync(() => openInner(bob, openOuter(bob, env), { signPk: alice.signPk, boxPk }))).toBe('TAMPERED');
    }
  });

  it('the sender named inside the payload must equal the inner header (checked alone)', () => {
    // Claim the header said carol while keeping alice's box key: the box opens, the payload
    // still names alice, so only the payload-sender check can fail.
    const outer = { ...openOuter(bob, env), senderSignPk: carol.signPk };
    expect(codeOfSync(() => openInner(bob, outer, { signPk: carol.signPk, boxPk: alice.boxPk }))).toBe('TAMPERED');
  });

  it('the recipient named inside the payload must be us (checked alone)', () => {
    // Same box keys as bob, but another identity key: the box opens, the recipient differs.
    const notBob: Identity = { ...bob, signPk: carol.signPk };
    expect(codeOfSync(() => openInner(notBob, openOuter(bob, env), alice))).toBe('TAMPERED');
  });

  it('the ephemeral key inside the payload must be the outer one (checked alone)', () => {
    const outer = openOuter(bob, env);
    const eph = new Uint8Array(outer.ephPk);
    eph[0]! ^= 1;
    expect(codeOfSync(() => openInner(bob, { ...outer, ephPk: eph }, alice))).toBe('TAMPERED');
  });

  it('a changed inner nonce or box fails', () => {
    const outer = openOuter(bob, env);
    const nonce = new Uint8Array(outer.innerNonce);
    nonce[5]! ^= 1;
    expect(codeOfSync(() => openInner(bob, { ...outer, innerNonce: nonce }, alice))).toBe('TAMPERED');
    expect(codeOfSync(() => openInner(bob, { ...outer, innerBox: outer.innerBox.subarray(0, outer.innerBox.length - 16) }, alice))).toBe('TAMPERED');
  });

  it('an unknown sender is UNKNOWN_SENDER, not TAMPERED', () => {
    expect(codeOfSync(() => openEnvelope(bob, env, lookupIn(carol)))).toBe('UNKNOWN_SENDER');
  });

  it('every TAMPERED error carries the same message and a hint, whatever failed', () => {
    const errs: unknown[] = [];
    for (const f of [() => openInner(bob, openOuter(bob, env), carol), () => openOuter(carol, env)]) {
      try {
        f();
      } catch (e) {
        errs.push(e);
      }
    }
    expect(errs).toHaveLength(2);
    for (const e of errs as { message: string; hint: string; kind: string }[]) {
      expect(e.message).toBe('message may be corrupted or tampered with');
      expect(e.hint).toBeTruthy();
      expect(e.kind).toBe('data');
    }
  });
});

describe('sealEnvelope refuses bad input', () => {
  it.each([
    ['a body over the limit', { ...msg(new Uint8Array(MAX_BODY_BYTES + 1)) }, 'MESSAGE_TOO_LARGE'],
    ['a 15-byte id', { ...msg(utf8('x')), id: new Uint8Array(15) }, 'BAD_ID'],
    ['an unknown kind', { ...msg(utf8('x')), kind: 'ping' }, 'BAD_KIND'],
    ['an inherited property as kind', { ...msg(utf8('x')), kind: 'toString' }, 'BAD_KIND'],
    ['a negative time', { ...msg(utf8('x')), time: -1 }, 'BAD_INTEGER'],
    ['a fractional time', { ...msg(utf8('x')), time: 1.5 }, 'BAD_INTEGER'],
    ['a time above 2^53', { ...msg(utf8('x')), time: 2 ** 53 }, 'BAD_INTEGER'],
  ])('%s', (_n, m, code) => {
    expect(codeOfSync(() => sealEnvelope(alice, bob, m as never, randomBytes))).toBe(code);
  });

  it('a recipient with a low-order box key', () => {
    expect(codeOfSync(() => sealEnvelope(alice, { signPk: bob.signPk, boxPk: new Uint8Array(32) }, msg(utf8('x')), randomBytes))).toBe('LOW_ORDER_KEY');
  });

  it('keys of the wrong length', () => {
    expect(codeOfSync(() => sealEnvelope(alice, { signPk: bob.signPk, boxPk: new Uint8Array(31) }, msg(utf8('x')), randomBytes))).toBe('BAD_KEY');
    expect(codeOfSync(() => openOuter({ ...bob, boxSk: new Uint8Array(16) }, new Uint8Array(400)))).toBe('BAD_KEY');
  });
});

describe('Padmé padding and envelope lengths', () => {
  it('known values', () => {
    const cases: [number, number][] = [
      [0, 256],
      [1, 256],
      [256, 256],
      [257, 272],
      [272, 272],
      [273, 288],
      [1000, 1024],
      [1126, 1152],
      [65_662, 67_584],
    ];
    for (const [l, p] of cases) expect(paddedLength(l), String(l)).toBe(p);
  });

  it('never shrinks, is idempotent, and costs at most 12% above the minimum', () => {
    const wrong: number[] = [];
    for (let l = 0; l <= 70_000; l++) {
      const p = paddedLength(l);
      const ok = p >= l && p >= MIN_PADDED && paddedLength(p) === p && (l <= MIN_PADDED || p / l <= 1.12);
      if (!ok) wrong.push(l);
    }
    expect(wrong).toEqual([]);
  });

  it('isValidEnvelopeLength accepts exactly the lengths a sealed envelope can have', () => {
    let valid = 0;
    const wrong: number[] = [];
    for (let n = 0; n <= MAX_ENVELOPE_BYTES + 100; n++) {
      const p = n - ENVELOPE_OVERHEAD;
      const expected = n >= MIN_ENVELOPE_BYTES && n <= MAX_ENVELOPE_BYTES && paddedLength(p) === p;
      if (isValidEnvelopeLength(n) !== expected) wrong.push(n);
      if (expected) valid++;
    }
    expect(wrong).toEqual([]);
    expect(valid).toBeGreaterThan(100);
  });
});
