/** The v2 envelope (docs/PROTOCOL.md §9.5): the outer box around inner v2 messages. */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { openEnvelopeV2, sealEnvelopeV2 } from '../../src/crypto/envelope-v2.js';
import { randomBytes, secretbox, secretboxInto } from '../../src/crypto/nacl.js';
import { startSession } from '../../src/crypto/session.js';
import { isValidEnvelopeV2Length, MAX_ENVELOPE_V2_BYTES, MIN_ENVELOPE_V2_BYTES } from '../../src/protocol/session-wire.js';
import { codeOf, Party, T0, withPrekeys } from './v2-helpers.js';

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
