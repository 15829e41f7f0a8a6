// Prekey relay vectors (docs/PROTOCOL.md §9.2 "Upload", §7.2 "Prekeys"): test/vectors/prekey-relay.json,
// from the built code in dist/. Called by scripts/vectors/v2.mjs with Bob's identity and the
// prekeys of pqxdh.json, so the bundle answers here are the bundles of its handshakes.
// Checked by test/unit/prekey-relay-vectors.test.ts.
import { codeOf } from './lib.mjs';

export async function makePrekeyRelayVectors({ dist, out, ids, prekeys: pk, T0 }) {
  const relayDist = (p) => new URL(`../../dist/relay/${p}`, import.meta.url).href;
  const { encodePrekeyUpload, parsePrekeyUpload, prekeyStatusJson } = await import(dist('protocol/prekey-upload.js'));
  const { encodePrekeyBundle } = await import(dist('protocol/prekey-bundle.js'));
  const { encodeFrame } = await import(dist('protocol/frames.js'));
  const { toHex, toB64 } = await import(dist('protocol/encoding.js'));
  const { uploadSignatureProblem } = await import(relayDist('prekeys.js'));
  const hex = (b) => toHex(b);
  const B = ids.bob;
  const { spk, kemOne, kemLast, opk } = pk;

  // What the relay answers for an upload from Bob's authenticated connection at T0 (§7.2): the
  // layout, then the signed prekey's expiry, then the signatures over Bob's registered keys.
  const verdict = (bytes, now = T0) => {
    let u;
    try {
      u = parsePrekeyUpload(bytes);
    } catch {
      return 'BAD_PREKEYS';
    }
    if (u.spk && u.spk.expires <= now) return 'BAD_PREKEYS';
    return uploadSignatureProblem(u, B.signPk, B.boxPk) ? 'BAD_PREKEYS' : 'OK';
  };

  const upload = { spk, lastResort: kemLast, opks: [opk], kems: [kemOne] };
  const bytes = encodePrekeyUpload(upload);
  if (verdict(bytes) !== 'OK') throw new Error('prekey-relay: the good upload is refused');
  const status = { opks: 1, kems: 1, spk: { id: spk.id, expires: spk.expires }, lastResort: { id: kemLast.id } };
  const frame = encodeFrame({ t: 'prekeys', id: '1', upload: toB64(bytes) });

  const flip = (b, i, x = 1) => {
    const c = Uint8Array.from(b);
    c[i] ^= x;
    return c;
  };
  const SPK_AT = 2; // the signed prekey starts after version and flags
  const LR_AT = SPK_AT + 108;
  const OPK_AT = LR_AT + 1252 + 2;
  const KEM_AT = OPK_AT + 36 + 2;
  const invalid = [
    { name: 'version-2', upload: flip(bytes, 0, 3), parse: 'UNSUPPORTED_VERSION' },
    { name: 'unknown-flag', upload: flip(bytes, 1, 4), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'spk-flag-cleared', upload: flip(bytes, 1, 1), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'truncated', upload: bytes.slice(0, -1), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'trailing-byte', upload: Uint8Array.of(...bytes, 0), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'opk-count-201', upload: Uint8Array.of(1, 0, 0, 201, ...new Uint8Array(201 * 36), 0, 0), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'opk-id-twice', upload: encodeTwice(), parse: 'BAD_PREKEY_UPLOAD' },
    { name: 'spk-sig-flipped', upload: flip(bytes, SPK_AT + 44 + 7), parse: 'OK' },
    { name: 'spk-pk-flipped', upload: flip(bytes, SPK_AT + 12 + 3), parse: 'OK' },
    { name: 'spk-expires-changed', upload: flip(bytes, SPK_AT + 4 + 7), parse: 'OK' },
    { name: 'last-resort-sig-flipped', upload: flip(bytes, LR_AT + 4 + 1184 + 9), parse: 'OK' },
    { name: 'last-resort-id-changed', upload: flip(bytes, LR_AT + 3), parse: 'OK' },
    { name: 'kem-pk-flipped', upload: flip(bytes, KEM_AT + 4 + 600), parse: 'OK' },
    { name: 'kem-sig-flipped', upload: flip(bytes, KEM_AT + 4 + 1184 + 1), parse: 'OK' },
    { name: 'last-resort-signature-as-one-time', upload: encodePrekeyUpload({ kems: [{ id: kemLast.id, pk: kemLast.pk, sig: kemLast.sig }] }), parse: 'OK' },
    { name: 'spk-expired', upload: bytes, now: spk.expires, parse: 'OK' },
  ].map((c) => ({ name: c.name, upload: hex(c.upload), ...(c.now === undefined ? {} : { now: c.now }), parse: c.parse, expect: verdict(c.upload, c.now) }));
  function encodeTwice() {
    const b = encodePrekeyUpload({ opks: [opk, { id: opk.id + 1, pk: opk.pk }] });
    b.set(b.slice(4, 8), 4 + 36); // the second OPK's id := the first's
    return b;
  }
  for (const c of invalid) {
    if (codeOf(() => parsePrekeyUpload(Buffer.from(c.upload, 'hex'))) !== c.parse) throw new Error(`prekey-relay: ${c.name} parses unexpectedly`);
    if (c.expect !== 'BAD_PREKEYS') throw new Error(`prekey-relay: the relay would take ${c.name}`);
  }

  // The relay's answers to three fetch-prekeys of Bob after the upload: the one-time keys once,
  // then the last-resort KEM prekey without OPK; and the status left.
  const sign = { signPk: B.signPk, boxPk: B.boxPk };
  const first = encodePrekeyBundle({ ...sign, spk, kem: kemOne, opk: { id: opk.id, pk: opk.pk } });
  const second = encodePrekeyBundle({ ...sign, spk, kem: kemLast });
  const answers = [
    { request: encodeFrame({ t: 'fetch-prekeys', id: '2', signPk: toB64(B.signPk) }), answer: encodeFrame({ t: 'prekey-bundle', id: '2', bundle: toB64(first) }) },
    { request: encodeFrame({ t: 'fetch-prekeys', id: '3', signPk: toB64(B.signPk) }), answer: encodeFrame({ t: 'prekey-bundle', id: '3', bundle: toB64(second) }) },
    {
      request: encodeFrame({ t: 'prekeys', id: '4' }),
      answer: encodeFrame({ t: 'prekey-status', id: '4', ...prekeyStatusJson({ opks: 0, kems: 0, spk: status.spk, lastResort: status.lastResort }) }),
    },
  ];

  out('prekey-relay.json', {
    description:
      'hush protocol v2 prekey upload and relay answers (docs/PROTOCOL.md §9.2 "Upload", §7.2 "Prekeys"); generated by scripts/vectors/prekey-relay.mjs. Owner: bob of pqxdh.json, with its prekeys (spk, kem[0] one-time, kem[1] last-resort, opk). `expect` is the relay\'s answer to the upload from bob\'s connection at `now` (default T0); `parse` is parsePrekeyUpload\'s outcome.',
    T0,
    owner: 'bob',
    upload: { bytes: hex(bytes), frame, status: { frame: encodeFrame({ t: 'prekey-status', id: '1', ...prekeyStatusJson(status) }), ...status } },
    invalid,
    fetch: answers,
  });
  return `prekey-relay.json (${invalid.length} refused uploads, ${answers.length} answers)`;
}
