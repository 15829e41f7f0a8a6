/**
 * Protocol v2 handshake and formats (docs/PROTOCOL.md §9.2-9.7), in process: prekey bundles
 * (signatures, lengths, expiry), one-time prekey exhaustion, signed-prekey rotation, tampering
 * of every byte of a first and a later message, and the session state encoding.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../src/crypto/nacl.js';
import { verifyPrekeyBundle } from '../../src/crypto/prekeys.js';
import { openMessage, startSession } from '../../src/crypto/session.js';
import { encodePrekeyBundle, parsePrekeyBundle, PREKEY_BUNDLE_BYTES_NO_OPK, PREKEY_BUNDLE_BYTES_WITH_OPK } from '../../src/protocol/prekey-bundle.js';
import { encodeSessionState, parseSessionState } from '../../src/protocol/session-state.js';
import { encodeInnerPrefix, INIT_HEADER_BYTES, RATCHET_HEADER_BYTES } from '../../src/protocol/session-wire.js';
import { codeOf, DAY, Party, T0, withPrekeys } from './v2-helpers.js';

const flip = (b: Uint8Array, i: number, mask = 1): Uint8Array => {
  const c = new Uint8Array(b);
  c[i]! ^= mask;
  return c;
};

describe('prekey bundle', () => {
  const bob = withPrekeys(new Party());
  const b = bob.prekeys.bundle(1);

  it('round-trips byte-exact with and without a one-time prekey, at the documented sizes', () => {
    const bytes = encodePrekeyBundle(b);
    expect(bytes.length).toBe(PREKEY_BUNDLE_BYTES_WITH_OPK);
    expect(bytes.length).toBe(1463);
    expect(encodePrekeyBundle(parsePrekeyBundle(bytes))).toEqual(bytes);
    const { opk: _o, ...noOpk } = b;
    const bytes2 = encodePrekeyBundle(noOpk);
    expect(bytes2.length).toBe(PREKEY_BUNDLE_BYTES_NO_OPK);
    expect(parsePrekeyBundle(bytes2).opk).toBeUndefined();
    expect(verifyPrekeyBundle(parsePrekeyBundle(bytes), bob.pub, T0)).toBeDefined();
  });

  it('refuses wrong lengths, a bad version, an unknown KEM kind and a bad OPK flag', () => {
    const bytes = encodePrekeyBundle(b);
    expect(codeOf(() => parsePrekeyBundle(bytes.subarray(0, bytes.length - 1)))).toBe('BAD_PREKEY_BUNDLE');
    expect(codeOf(() => parsePrekeyBundle(new Uint8Array([...bytes, 0])))).toBe('BAD_PREKEY_BUNDLE');
    expect(codeOf(() => parsePrekeyBundle(flip(bytes, 0, 3)))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => parsePrekeyBundle(flip(bytes, 1 + 64 + 108, 0xff)))).toBe('BAD_PREKEY_BUNDLE'); // kemKind
    expect(codeOf(() => parsePrekeyBundle(flip(bytes, 1 + 64 + 108 + 1 + 4 + 1184 + 64, 2)))).toBe('BAD_PREKEY_BUNDLE'); // opkFlag
    expect(codeOf(() => parsePrekeyBundle(new Uint8Array(0)))).toBe('BAD_PREKEY_BUNDLE');
    expect(codeOf(() => parsePrekeyBundle(flip(bytes, 69, 0xff)))).toBe('BAD_PREKEY_BUNDLE'); // expiry above 2^53
  });

  it('refuses every flipped bit of a signed region, another identity, and an expired signed prekey', () => {
    const bytes = encodePrekeyBundle(b);
    const signedEnd = 1 + 64 + 108 + 1 + 4 + 1184 + 64; // the OPK after it is unsigned
    for (let i = 1; i < signedEnd; i += 7) {
      const got = codeOf(() => verifyPrekeyBundle(parsePrekeyBundle(flip(bytes, i)), bob.pub, T0));
      expect(['BAD_PREKEY_SIGNATURE', 'PREKEY_IDENTITY_MISMATCH', 'BAD_PREKEY_BUNDLE'], `byte ${i}`).toContain(got);
    }
    const carol = new Party();
    expect(codeOf(() => verifyPrekeyBundle(b, carol.pub, T0))).toBe('PREKEY_IDENTITY_MISMATCH');
    expect(codeOf(() => verifyPrekeyBundle(b, bob.pub, b.spk.expires))).toBe('OK');
    expect(codeOf(() => verifyPrekeyBundle(b, bob.pub, b.spk.expires + 1))).toBe('PREKEY_EXPIRED');
    const alice = new Party();
    expect(codeOf(() => startSession(alice.id, bob.pub, b, b.spk.expires + 1, randomBytes))).toBe('PREKEY_EXPIRED');
  });
});

describe('PQXDH handshake', () => {
  it('uses and consumes one-time prekeys, then falls back to no OPK and the last-resort KEM key', () => {
    const bob = withPrekeys(new Party(), 2, 1);
    const used: unknown[] = [];
    for (let k = 0; k < 4; k++) {
      const alice = new Party();
      const bundle = bob.prekeys.bundle(1);
      alice.sessions.push(startSession(alice.id, bob.pub, bundle, T0, randomBytes));
      const o = bob.receive(alice, alice.send(`hello ${k}`));
      expect(o.index).toBe(-1);
      used.push(o.used);
      // The session works both ways whatever prekeys it used.
      expect(new TextDecoder().decode(alice.receive(bob, bob.send(`hi ${k}`, T0, bob.sessions.length - 1)).payload.body)).toBe(`hi ${k}`);
    }
    expect(used).toEqual([
      { spkId: 1, kemId: 200, kemKind: 'one-time', opkId: 300 },
      { spkId: 1, kemId: 100, kemKind: 'last-resort', opkId: 301 },
      { spkId: 1, kemId: 100, kemKind: 'last-resort' },
      { spkId: 1, kemId: 100, kemKind: 'last-resort' },
    ]);
    expect(bob.prekeys.opks.size).toBe(0);
    expect(bob.prekeys.kems.size).toBe(1);
    // Bob's sessions ratcheted away from the SPK at once: its secret is in none of their states.
    const spkSk = Buffer.from(bob.prekeys.spk(1)!.sk).toString('hex');
    for (const s of bob.sessions) expect(Buffer.from(encodeSessionState(s)).toString('hex')).not.toContain(spkSk);
  });

  it('a replayed first message whose one-time prekey is gone fails clearly and changes nothing', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const first = alice.send('hello');
    bob.receive(alice, first);
    // The same bytes again open in the session they made: a duplicate.
    expect(codeOf(() => bob.receive(alice, first))).toBe('DUPLICATE_MESSAGE');
    // Without that session (say Bob's store lost it) the deleted OPK stops a second handshake.
    const before = bob.prekeys.opks.size;
    expect(codeOf(() => openMessage(bob.id, alice.pub, first, [], bob.prekeys, T0, randomBytes))).toBe('PREKEY_NOT_FOUND');
    expect(bob.prekeys.opks.size).toBe(before);
  });

  it('signed-prekey rotation: the current SPK opens past its expiry; a replaced one within its grace still completes a session, past it or deleted it fails', () => {
    const bob = withPrekeys(new Party(), 0, 0);
    const old = bob.prekeys.bundle(1); // spk 1 expires at T0 + 30 days
    const start = (bundle = old) => {
      const alice = new Party();
      alice.sessions.push(startSession(alice.id, bob.pub, bundle, T0, randomBytes));
      return { alice, inner: alice.send('hello') };
    };
    // Bob offline past spk 1's expiry: still his current key, so what waited for him opens.
    const waited = start();
    expect(new TextDecoder().decode(bob.receive(waited.alice, waited.inner, T0 + 45 * DAY).payload.body)).toBe('hello');
    bob.prekeys.addSpk(2, T0 + 75 * DAY, T0 + 45 * DAY); // back online: spk 2 replaces spk 1
    const inGrace = start();
    expect(new TextDecoder().decode(bob.receive(inGrace.alice, inGrace.inner, T0 + 52 * DAY).payload.body)).toBe('hello');
    const late = start();
    const n = bob.sessions.length;
    expect(codeOf(() => bob.receive(late.alice, late.inner, T0 + 52 * DAY + 1))).toBe('PREKEY_EXPIRED');
    bob.prekeys.deleteSpk(1);
    expect(codeOf(() => bob.receive(late.alice, late.inner, T0 + 46 * DAY))).toBe('PREKEY_EXPIRED');
    expect(bob.sessions).toHaveLength(n);
    const fresh = start(bob.prekeys.bundle(2));
    expect(bob.receive(fresh.alice, fresh.inner, T0 + 46 * DAY).used?.spkId).toBe(2);
  });
});

describe('tampering', () => {
  /** Every byte of `inner` flipped in turn: it must fail, and Bob's sessions and prekeys must not change. */
  function everyByte(alice: Party, bob: Party, inner: Uint8Array, indexes = [...inner.keys()]): Map<string, number> {
    const codes = new Map<string, number>();
    const sessions = bob.snapshot();
    const prekeys = `${bob.prekeys.opks.size}/${bob.prekeys.kems.size}`;
    for (const i of indexes) {
      for (const mask of [0x01, 0x80]) {
        const code = codeOf(() => bob.receive(alice, flip(inner, i, mask)));
        expect(code, `byte ${i} mask ${mask}`).not.toBe('OK');
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(bob.snapshot()).toBe(sessions);
    expect(`${bob.prekeys.opks.size}/${bob.prekeys.kems.size}`).toBe(prekeys);
    return codes;
  }

  it('every region of a first (prekey) message: version, sender, type, init header, KEM ciphertext, ratchet header, ciphertext, tag', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const inner = alice.send('hello');
    expect(inner.length).toBe(34 + INIT_HEADER_BYTES + RATCHET_HEADER_BYTES + 256 + 16);
    // Each handshake attempt costs an ML-KEM decapsulation: every byte of the fixed fields
    // (version, sender, type, init header up to the KEM ciphertext, ratchet header, tag), the
    // first and last 8 bytes of the KEM ciphertext and of the payload ciphertext, every 29th between.
    const kemAt = 34 + 46;
    const ctAt = 34 + INIT_HEADER_BYTES + RATCHET_HEADER_BYTES;
    const indexes = [...inner.keys()].filter((i) => i < kemAt + 8 || (i >= ctAt - 8 - RATCHET_HEADER_BYTES && i < ctAt + 8) || i >= inner.length - 24 || i % 29 === 0);
    const codes = everyByte(alice, bob, inner, indexes);
    expect(codes.get('TAMPERED')).toBeGreaterThan(300);
    expect(codes.get('UNSUPPORTED_VERSION')).toBe(2); // byte 0
    expect(codes.get('PREKEY_NOT_FOUND')).toBeGreaterThan(0); // spkId, kemId, opk flag/id
    for (const c of codes.keys()) expect(['TAMPERED', 'UNSUPPORTED_VERSION', 'PREKEY_NOT_FOUND', 'TOO_MANY_SKIPPED']).toContain(c);
    expect(new TextDecoder().decode(bob.receive(alice, inner).payload.body)).toBe('hello');
  });

  it('every byte of a later message', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    bob.receive(alice, alice.send('hello'));
    alice.receive(bob, bob.send('hi'));
    alice.send('skipped, so that a lower counter is a key Bob holds');
    const inner = alice.send('later');
    const codes = everyByte(alice, bob, inner);
    expect(codes.get('TAMPERED')).toBeGreaterThan(2 * inner.length - 20);
    // Pre-authentication refusals, by design: a counter moved back onto a used key, or so far
    // ahead that it would skip more than MAX_SKIP keys; a version byte we do not know.
    for (const c of codes.keys()) expect(['TAMPERED', 'UNSUPPORTED_VERSION', 'DUPLICATE_MESSAGE', 'TOO_MANY_SKIPPED']).toContain(c);
    // Truncated and extended copies fail too.
    for (const bad of [inner.subarray(0, inner.length - 1), new Uint8Array([...inner, 0]), inner.subarray(0, 40)]) {
      expect(codeOf(() => bob.receive(alice, bad))).toBe('TAMPERED');
    }
    expect(new TextDecoder().decode(bob.receive(alice, inner).payload.body)).toBe('later');
    // Once opened, the same header is a duplicate whatever follows it.
    expect(codeOf(() => bob.receive(alice, flip(inner, inner.length - 1)))).toBe('DUPLICATE_MESSAGE');
  });

  it('a header naming the SPK before any reply (no receiving chain yet) is TAMPERED, not a crash', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const spkPk = bob.prekeys.spk(1)!.pk;
    for (const n of [0, 3]) {
      const forged = new Uint8Array([...encodeInnerPrefix(bob.id.signPk, { dhPk: spkPk, pn: 0, n }), ...new Uint8Array(256 + 16)]);
      const before = alice.snapshot();
      expect(codeOf(() => alice.receive(bob, forged))).toBe('TAMPERED');
      expect(alice.snapshot()).toBe(before);
    }
  });

  it('a message from one contact does not open as from another', () => {
    const alice = new Party();
    const carol = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const inner = alice.send('hello');
    expect(codeOf(() => bob.receive(carol, inner))).toBe('TAMPERED');
  });
});

describe('session state encoding', () => {
  it('round-trips byte-exact at every step of a conversation, and the parsed state keeps working', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const rt = (p: Party) => {
      p.sessions = p.sessions.map((s) => {
        const bytes = encodeSessionState(s);
        const back = parseSessionState(bytes);
        expect(encodeSessionState(back)).toEqual(bytes);
        return back;
      });
    };
    for (let k = 0; k < 6; k++) {
      const a1 = alice.send(`a${k}`);
      alice.send(`lost ${k}`);
      rt(alice);
      bob.receive(alice, a1);
      rt(bob);
      alice.receive(bob, bob.send(`b${k}`));
      rt(alice);
    }
    const s = bob.sessions[0]!;
    expect(s.skipped.length).toBeGreaterThan(0);
    expect(s.retired.length).toBeGreaterThan(0);
  });

  it('refuses a bad version, role, flags, truncation and trailing bytes', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    const bytes = encodeSessionState(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    expect(codeOf(() => parseSessionState(flip(bytes, 0, 2)))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => parseSessionState(flip(bytes, 1, 4)))).toBe('BAD_SESSION_STATE');
    const flagsAt = 1 + 1 + 16 + 128 + 8 + 96;
    expect(bytes[flagsAt]).toBe(0b1011); // dhr, cks, pendingInit
    expect(codeOf(() => parseSessionState(flip(bytes, flagsAt, 0x10)))).toBe('BAD_SESSION_STATE');
    expect(codeOf(() => parseSessionState(flip(bytes, flagsAt, 0x02)))).toBe('BAD_SESSION_STATE'); // cks present, flag clear
    expect(codeOf(() => parseSessionState(bytes.subarray(0, bytes.length - 1)))).toBe('BAD_SESSION_STATE');
    expect(codeOf(() => parseSessionState(new Uint8Array([...bytes, 0])))).toBe('BAD_SESSION_STATE');
    expect(codeOf(() => parseSessionState(flip(bytes, 146, 0xff)))).toBe('BAD_SESSION_STATE'); // created above 2^53
  });
});
