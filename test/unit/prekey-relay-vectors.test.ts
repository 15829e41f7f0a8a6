/**
 * Prekey relay vectors (test/vectors/prekey-relay.json, made by scripts/vectors/prekey-relay.mjs):
 * the upload and the relay's answers are rebuilt byte for byte from pqxdh.json's prekeys, every
 * refused upload is refused by the parser and the relay's checks as recorded, and the bundles
 * the relay hands out are the bundles of pqxdh.json's two handshakes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/**
 * The upload read as an outside implementer of docs/PROTOCOL.md §9.2 "Upload" would: the layout
 * walked by hand from the table (no hush parser), every signature checked with libsodium over
 * bytes built from the document, and the relay's bundle answers compared with pqxdh.json.
 */
describe('prekey-relay.json, independently', () => {
  interface Sodium {
    ready: Promise<void>;
    crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  }
  const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;
  const cat = (...a: Uint8Array[]) => new Uint8Array(Buffer.concat(a));
  const D = (s: string) => cat(new TextEncoder().encode(s), Uint8Array.of(0));
  const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

  it('walks the upload by hand and verifies its signatures with libsodium over the documented bytes', async () => {
    await sodium.ready;
    const signPk = unhex(pv.identities.bob.signPk);
    const boxPk = unhex(pv.identities.bob.boxPk);
    const u = unhex(rv.upload.bytes);
    let o = 0;
    const take = (n: number) => u.subarray(o, (o += n));
    const be = (b: Uint8Array) => b.reduce((acc, x) => acc * 256 + x, 0);
    expect(take(1)[0]).toBe(1);
    expect(take(1)[0]).toBe(3); // SPK and last resort
    const spkIdB = take(4);
    const spkExp = take(8);
    const spkPk = take(32);
    const spkSig = take(64);
    expect(be(spkIdB)).toBe(rv.upload.status.spk.id);
    expect(be(spkExp)).toBe(rv.upload.status.spk.expires);
    expect(sodium.crypto_sign_verify_detached(spkSig, cat(D('hush/v2/signed-prekey'), Uint8Array.of(1), signPk, boxPk, spkIdB, spkExp, spkPk), signPk)).toBe(true);
    const lrId = take(4);
    const lrPk = take(1184);
    const lrSig = take(64);
    expect(sodium.crypto_sign_verify_detached(lrSig, cat(D('hush/v2/kem-prekey'), Uint8Array.of(1), signPk, boxPk, Uint8Array.of(2), lrId, lrPk), signPk)).toBe(true);
    const nOpk = be(take(2));
    const opks = Array.from({ length: nOpk }, () => ({ id: be(take(4)), pk: take(32) }));
    const nKem = be(take(2));
    const kems = Array.from({ length: nKem }, () => ({ idB: take(4), pk: take(1184), sig: take(64) }));
    expect(o).toBe(u.length);
    for (const k of kems)
      expect(sodium.crypto_sign_verify_detached(k.sig, cat(D('hush/v2/kem-prekey'), Uint8Array.of(1), signPk, boxPk, Uint8Array.of(1), k.idB, k.pk), signPk)).toBe(true);
    // The same signature under the other kind byte does not verify (the kind is bound).
    expect(sodium.crypto_sign_verify_detached(lrSig, cat(D('hush/v2/kem-prekey'), Uint8Array.of(1), signPk, boxPk, Uint8Array.of(1), lrId, lrPk), signPk)).toBe(false);

    // The first bundle answer, assembled from the upload by the documented layout.
    const first = cat(
      Uint8Array.of(1),
      signPk,
      boxPk,
      spkIdB,
      spkExp,
      spkPk,
      spkSig,
      Uint8Array.of(1),
      kems[0]!.idB,
      kems[0]!.pk,
      kems[0]!.sig,
      Uint8Array.of(1),
      u32(opks[0]!.id),
      opks[0]!.pk,
    );
    const second = cat(Uint8Array.of(1), signPk, boxPk, spkIdB, spkExp, spkPk, spkSig, Uint8Array.of(2), lrId, lrPk, lrSig, Uint8Array.of(0));
    expect(JSON.parse(rv.fetch[0].answer).bundle).toBe(Buffer.from(first).toString('base64'));
    expect(JSON.parse(rv.fetch[1].answer).bundle).toBe(Buffer.from(second).toString('base64'));
    expect([first.length, second.length]).toEqual([1463, 1427]);
  });
});
