/**
 * Prekey relay vectors (test/vectors/prekey-relay.json, made by scripts/vectors/prekey-relay.mjs):
 * the upload and the relay's answers are rebuilt byte for byte from pqxdh.json's prekeys, every
 * refused upload is refused by the parser and the relay's checks as recorded, and the bundles
 * the relay hands out are the bundles of pqxdh.json's two handshakes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { uploadSignatureProblem } from '../../relay/prekeys.js';
import { identityFromSecrets } from '../../src/crypto/identity.js';
import { generateKemPrekey, generateOneTimePrekey, generateSignedPrekey } from '../../src/crypto/prekeys.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { encodeFrame, parseClientFrame, parseRelayFrame } from '../../src/protocol/frames.js';
import { encodePrekeyBundle } from '../../src/protocol/prekey-bundle.js';
import { encodePrekeyUpload, parsePrekeyUpload, prekeyStatusJson } from '../../src/protocol/prekey-upload.js';
import { codeOfSync, hex, tape, unhex } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (n: string): any => JSON.parse(readFileSync(new URL(`../vectors/${n}.json`, import.meta.url), 'utf8'));
const pv = load('pqxdh');
const rv = load('prekey-relay');
const bob = identityFromSecrets(unhex(pv.identities.bob.secrets));
const P = pv.prekeys;
const spk = generateSignedPrekey(bob, P.spk.id, P.spk.expires, tape(P.spk.random));
const [kemOne, kemLast] = P.kem.map((k: { id: number; kind: 'one-time' | 'last-resort'; random: string[] }) => generateKemPrekey(bob, k.id, k.kind, tape(k.random)));
const opk = generateOneTimePrekey(P.opk.id, tape(P.opk.random));

/** The relay's verdict on an upload from bob's connection at `now` (docs/PROTOCOL.md §7.2 "Prekeys"). */
function verdict(bytes: Uint8Array, now: number): string {
  let u;
  try {
    u = parsePrekeyUpload(bytes);
  } catch {
    return 'BAD_PREKEYS';
  }
  if (u.spk && u.spk.expires <= now) return 'BAD_PREKEYS';
  return uploadSignatureProblem(u, bob.signPk, bob.boxPk) ? 'BAD_PREKEYS' : 'OK';
}

describe('prekey-relay.json', () => {
  it('rebuilds the upload and its frame byte for byte, and the relay takes it', () => {
    const bytes = encodePrekeyUpload({ spk, lastResort: kemLast, opks: [opk], kems: [kemOne] });
    expect(hex(bytes)).toBe(rv.upload.bytes);
    expect(encodeFrame({ t: 'prekeys', id: '1', upload: toB64(bytes) })).toBe(rv.upload.frame);
    const parsed = parseClientFrame(rv.upload.frame, 128 * 1024);
    expect(parsed.ok && parsed.frame.t === 'prekeys' && hex(parsed.frame.upload!)).toBe(rv.upload.bytes);
    expect(verdict(bytes, rv.T0)).toBe('OK');
    const status = parseRelayFrame(rv.upload.status.frame);
    expect(status.ok && status.frame.t === 'prekey-status' && status.frame.status).toEqual({
      opks: 1,
      kems: 1,
      spk: rv.upload.status.spk,
      lastResort: rv.upload.status.lastResort,
    });
  });

  it('refuses every bad upload as recorded (parse outcome and relay answer)', () => {
    expect(rv.invalid.length).toBeGreaterThanOrEqual(16);
    for (const c of rv.invalid) {
      const bytes = unhex(c.upload);
      expect(
        codeOfSync(() => parsePrekeyUpload(bytes)),
        c.name,
      ).toBe(c.parse);
      expect(verdict(bytes, c.now ?? rv.T0), c.name).toBe(c.expect);
    }
  });

  it('hands out the bundles of pqxdh.json: one-time keys once, then the last resort', () => {
    const [first, second, status] = rv.fetch;
    const keys = { signPk: bob.signPk, boxPk: bob.boxPk };
    const b1 = encodePrekeyBundle({ ...keys, spk, kem: kemOne, opk: { id: opk.id, pk: opk.pk } });
    const b2 = encodePrekeyBundle({ ...keys, spk, kem: kemLast });
    expect(hex(b1)).toBe(pv.handshake[0].bundle);
    expect(hex(b2)).toBe(pv.handshake[1].bundle);
    expect(first.request).toBe(encodeFrame({ t: 'fetch-prekeys', id: '2', signPk: toB64(bob.signPk) }));
    expect(first.answer).toBe(encodeFrame({ t: 'prekey-bundle', id: '2', bundle: toB64(b1) }));
    expect(second.answer).toBe(encodeFrame({ t: 'prekey-bundle', id: '3', bundle: toB64(b2) }));
    const f = parseRelayFrame(second.answer);
    expect(f.ok && f.frame.t === 'prekey-bundle' && hex(f.frame.bundle)).toBe(hex(b2));
    expect(status.answer).toBe(
      encodeFrame({ t: 'prekey-status', id: '4', ...prekeyStatusJson({ opks: 0, kems: 0, spk: { id: spk.id, expires: spk.expires }, lastResort: { id: kemLast.id } }) }),
    );
  });
});
