/** The v2 envelope (docs/PROTOCOL.md §9.5): the outer box around inner v2 messages. */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { openEnvelopeV2, sealEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { randomBytes, type Random, secretbox, secretboxInto, secretboxPadded } from '../../src/crypto/nacl.js';
import { ratchetEncryptInto } from '../../src/crypto/ratchet.js';
import { sealMessage, sealMessageEnvelope, startSession } from '../../src/crypto/session.js';
import { encodeSessionState } from '../../src/protocol/session-state.js';
import { encodeInnerPrefix, writeInnerPrefix } from '../../src/protocol/session-wire.js';
import { isValidEnvelopeV2Length, MAX_ENVELOPE_V2_BYTES, MIN_ENVELOPE_V2_BYTES } from '../../src/protocol/session-wire.js';
import { codeOf, Party, T0, withPrekeys } from './v2-helpers.js';

const hex2 = (a: Uint8Array) => Buffer.from(a).toString('hex');

const sodium = createRequire(import.meta.url)('libsodium-wrappers') as {
  ready: Promise<void>;
  crypto_box_open_easy(c: Uint8Array, n: Uint8Array, pk: Uint8Array, sk: Uint8Array): Uint8Array;
};
beforeAll(async () => {
  await sodium.ready;
});

describe('v2 envelope', () => {
  it('carries first and later messages; libsodium opens the outer box; every outer byte is checked', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    alice.sessions.push(startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes));
    const first = alice.send('hello');
    const env = sealEnvelopeV2(bob.id.boxPk, first, randomBytes);
    expect(env[0]).toBe(2);
    expect(env.length).toBe(73 + first.length);
    expect(sodium.crypto_box_open_easy(env.subarray(57), env.subarray(33, 57), env.subarray(1, 33), bob.id.boxSk)).toEqual(first);
    const inner = openEnvelopeV2(bob.id.boxSk, env);
    expect(new TextDecoder().decode(bob.receive(alice, inner).payload.body)).toBe('hello');
    alice.receive(bob, openEnvelopeV2(alice.id.boxSk, sealEnvelopeV2(alice.id.boxPk, bob.send('hi'), randomBytes)));
    const later = sealEnvelopeV2(bob.id.boxPk, alice.send('later'), randomBytes);
    expect(later.length).toBe(420);
    for (let i = 0; i < 73; i++) {
      const bad = new Uint8Array(later);
      bad[i]! ^= 1;
      expect(
        codeOf(() => openEnvelopeV2(bob.id.boxSk, bad)),
        `byte ${i}`,
      ).toBe(i === 0 ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
    }
    expect(codeOf(() => openEnvelopeV2(alice.id.boxSk, later))).toBe('TAMPERED'); // not to her
    expect(codeOf(() => openEnvelopeV2(bob.id.boxSk, later.subarray(0, later.length - 1)))).toBe('TAMPERED');
  });

  it("secretboxInto writes secretbox's bytes at its offset and leaves every other byte of the array as it was", () => {
    for (const [len, offset] of [
      [0, 16],
      [1, 57],
      [347, 57],
      [1000, 20],
    ] as const) {
      const msg = randomBytes(len);
      const nonce = randomBytes(24);
      const key = randomBytes(32);
      const out = randomBytes(offset + 16 + len + 7);
      const before = new Uint8Array(out);
      secretboxInto(out, offset, msg, nonce, key);
      expect(Buffer.from(out.subarray(offset, offset + 16 + len))).toEqual(Buffer.from(secretbox(msg, nonce, key)));
      expect(Buffer.from(out.subarray(0, offset))).toEqual(Buffer.from(before.subarray(0, offset)));
      expect(Buffer.from(out.subarray(offset + 16 + len))).toEqual(Buffer.from(before.subarray(offset + 16 + len)));
    }
    expect(codeOf(() => secretboxInto(new Uint8Array(64), 15, new Uint8Array(1), randomBytes(24), randomBytes(32)))).toBe('BAD_LENGTH');
    expect(codeOf(() => secretboxInto(new Uint8Array(64), 40, new Uint8Array(9), randomBytes(24), randomBytes(32)))).toBe('BAD_LENGTH');
  });
  it('sealMessageEnvelope gives the bytes, draws and state of sealMessage then sealEnvelopeV2, and leaves the padded scratch zero', () => {
    const alice = new Party();
    const bob = withPrekeys(new Party());
    const seeded = (bytes: Uint8Array): Random => {
      let pos = 0;
      return (n) => bytes.slice(pos, (pos += n));
    };
    const hex = (a: Uint8Array) => Buffer.from(a).toString('hex');
    const scratchIsZero = () => secretboxPadded(100).every((b) => b === 0);
    let state = startSession(alice.id, bob.pub, bob.prekeys.bundle(1), T0, randomBytes);
    // The first (prekey, 1209-byte prefix) and later messages, with short and long bodies.
    for (const [seq, len] of [
      [1, 0],
      [2, 200],
      [3, 5000],
      [4, 9000], // inner above the kept scratch: a padded array of its own
    ] as const) {
      const payload = { kind: 'msg' as const, id: randomBytes(16), time: T0 + seq, seq, body: randomBytes(len) };
      const draws = randomBytes(56);
      const a = sealMessage(state, payload);
      const envA = sealEnvelopeV2(bob.id.boxPk, a.inner, seeded(draws));
      const b = sealMessageEnvelope(state, payload, bob.id.boxPk, seeded(draws));
      expect(hex(b.envelope)).toBe(hex(envA));
      expect(hex(encodeSessionState(b.state))).toBe(hex(encodeSessionState(a.state)));
      expect(scratchIsZero()).toBe(true);
      state = b.state;
    }
    // A throw after the ratchet wrote its inner (a bad recipient key) leaves the scratch zero
    // too, and the state given unchanged.
    const before = hex(encodeSessionState(state));
    const payload = { kind: 'msg' as const, id: randomBytes(16), time: T0, seq: 9, body: randomBytes(100) };
    expect(codeOf(() => sealMessageEnvelope(state, payload, randomBytes(31), randomBytes))).toBe('BAD_KEY');
    expect(scratchIsZero()).toBe(true);
    expect(hex(encodeSessionState(state))).toBe(before);
    // ratchetEncryptInto refuses an array without room and writes nothing.
    const small = new Uint8Array(100);
    expect(codeOf(() => ratchetEncryptInto(state, new Uint8Array(256), small, 0))).toBe('BAD_LENGTH');
    expect(small.every((b) => b === 0)).toBe(true);
    expect(hex(encodeSessionState(state))).toBe(before);
  });

  it('writeInnerPrefix at an offset writes encodeInnerPrefix there and nothing else', () => {
    const header = { dhPk: randomBytes(32), pn: 7, n: 70000 };
    const signPk = randomBytes(32);
    const out = randomBytes(200);
    const copy = new Uint8Array(out);
    writeInnerPrefix(out, signPk, header, undefined, 40);
    expect(hex2(out.subarray(40, 115))).toBe(hex2(encodeInnerPrefix(signPk, header)));
    expect(hex2(out.subarray(0, 40)) + hex2(out.subarray(115))).toBe(hex2(copy.subarray(0, 40)) + hex2(copy.subarray(115)));
    expect(codeOf(() => writeInnerPrefix(out, signPk, header, undefined, 126))).toBe('BAD_LENGTH');
  });

  it('length rule: only plain or prekey messages with a canonical padded payload', () => {
    expect(MIN_ENVELOPE_V2_BYTES).toBe(420);
    expect(isValidEnvelopeV2Length(420)).toBe(true);
    expect(isValidEnvelopeV2Length(421)).toBe(false);
    expect(isValidEnvelopeV2Length(420 + 1134)).toBe(true);
    expect(isValidEnvelopeV2Length(MAX_ENVELOPE_V2_BYTES)).toBe(true);
    expect(isValidEnvelopeV2Length(MAX_ENVELOPE_V2_BYTES + 1)).toBe(false);
    expect(isValidEnvelopeV2Length(419)).toBe(false);
  });
});
