// Protocol v2 vectors (docs/PROTOCOL.md §9): test/vectors/pqxdh.json and test/vectors/ratchet.json,
// from the built code in dist/. Called by scripts/make-vectors.mjs with its deterministic
// Random factory; every draw is recorded, so the unit test (test/unit/v2-vectors.test.ts)
// replays them without re-implementing the stream.
import { createHash } from 'node:crypto';

export async function makeV2Vectors({ dist, drbg, out, T0 }) {
  const { identityFromSecrets } = await import(dist('crypto/identity.js'));
  const { generateSignedPrekey, generateKemPrekey, generateOneTimePrekey, makePrekeyBundle } = await import(dist('crypto/prekeys.js'));
  const { pqxdhInitiate } = await import(dist('crypto/pqxdh.js'));
  const { startSession, sealMessage, sealMessageEnvelope, openMessage } = await import(dist('crypto/session.js'));
  const { sealEnvelopeV2, openEnvelopeV2 } = await import(dist('crypto/envelope-v2.js'));
  const { kdfRk, kdfCk, messageKeys } = await import(dist('crypto/ratchet.js'));
  const { encodePrekeyBundle, spkSignedBytes, kemSignedBytes } = await import(dist('protocol/prekey-bundle.js'));
  const { encodeSessionState } = await import(dist('protocol/session-state.js'));
  const { toHex } = await import(dist('protocol/encoding.js'));
  const hex = (b) => toHex(b);
  const utf8 = (s) => new TextEncoder().encode(s);
  const sha256 = (b) => createHash('sha256').update(b).digest('hex');
  const DAY = 86_400_000;
  const replay = (draws) => {
    let i = 0;
    return (n) => {
      const d = Buffer.from(draws[i++] ?? '', 'hex');
      if (d.length !== n) throw new Error(`replay: wanted ${n} bytes, recorded ${d.length}`);
      return new Uint8Array(d);
    };
  };
  // The v2 outer layer (§9.5) around an inner sent in `state` with `payload`, to `to`: drawn
  // from its own stream (ephSk, then the nonce). Self-checks: sealMessageEnvelope (the CLI's
  // path) makes the same bytes from the same state and draws, and the recipient opens it.
  const outer = (label, to, state, payload, inner) => {
    const r = drbg(label);
    const env = sealEnvelopeV2(ids[to].boxPk, inner, r.random);
    const again = sealMessageEnvelope(state, payload, ids[to].boxPk, replay(r.draws)).envelope;
    if (hex(again) !== hex(env)) throw new Error(`${label}: sealMessageEnvelope differs from sealMessage + sealEnvelopeV2`);
    if (hex(openEnvelopeV2(ids[to].boxSk, env)) !== hex(inner)) throw new Error(`${label}: the envelope does not open to its inner`);
    return { to, random: r.draws, bytes: hex(env), length: env.length };
  };

  // --- identities and Bob's prekeys -------------------------------------------------------
  const names = ['alice', 'bob', 'carol'];
  const secrets = Object.fromEntries(names.map((n) => [n, drbg(`v2/identity/${n}`).random(96)]));
  const ids = Object.fromEntries(names.map((n) => [n, identityFromSecrets(secrets[n])]));
  const identities = Object.fromEntries(names.map((n) => [n, { secrets: hex(secrets[n]), signPk: hex(ids[n].signPk), boxPk: hex(ids[n].boxPk) }]));
  const B = ids.bob;
  const rSpk = drbg('v2/prekeys/spk');
  const spk = generateSignedPrekey(B, 1, T0 + 30 * DAY, rSpk.random);
  const rKem1 = drbg('v2/prekeys/kem-one-time');
  const kemOne = generateKemPrekey(B, 200, 'one-time', rKem1.random);
  const rKemL = drbg('v2/prekeys/kem-last-resort');
  const kemLast = generateKemPrekey(B, 100, 'last-resort', rKemL.random);
  const rOpk = drbg('v2/prekeys/opk');
  const opk = generateOneTimePrekey(300, rOpk.random);
  const prekeys = {
    owner: 'bob',
    spk: {
      id: spk.id,
      expires: spk.expires,
      random: rSpk.draws,
      sk: hex(spk.sk),
      pk: hex(spk.pk),
      signedBytes: hex(spkSignedBytes(B.signPk, B.boxPk, spk.id, spk.expires, spk.pk)),
      sig: hex(spk.sig),
    },
    kem: [
      {
        kind: 'one-time',
        id: 200,
        random: rKem1.draws,
        seed: hex(kemOne.seed),
        pk: hex(kemOne.pk),
        signedBytesSha256: sha256(kemSignedBytes(B.signPk, B.boxPk, 'one-time', 200, kemOne.pk)),
        sig: hex(kemOne.sig),
      },
      {
        kind: 'last-resort',
        id: 100,
        random: rKemL.draws,
        seed: hex(kemLast.seed),
        pk: hex(kemLast.pk),
        signedBytesSha256: sha256(kemSignedBytes(B.signPk, B.boxPk, 'last-resort', 100, kemLast.pk)),
        sig: hex(kemLast.sig),
      },
    ],
    opk: { id: 300, random: rOpk.draws, sk: hex(opk.sk), pk: hex(opk.pk) },
  };
  // `c.spkRetiredAt`: a newer SPK replaced it then; `c.spkDeleted`: Bob made it and deleted it.
  const lookup = (used, c = {}) => ({
    spk: (id) => (id === spk.id && !c.spkDeleted ? (c.spkRetiredAt === undefined ? spk : { ...spk, retiredAt: c.spkRetiredAt }) : undefined),
    spkDeleted: (id) => id === spk.id && c.spkDeleted === true,
    kem: (id) => [kemOne, kemLast].find((k) => k.id === id && !used.has(`kem${id}`)),
    opk: (id) => (id === opk.id && !used.has('opk') ? opk : undefined),
  });

  // --- PQXDH cases ------------------------------------------------------------------------
  const A = ids.alice;
  const handshake = [];
  for (const [name, kem, withOpk] of [
    ['with-opk', kemOne, true],
    ['no-opk-last-resort', kemLast, false],
  ]) {
    const bundle = makePrekeyBundle(B, spk, kem, withOpk ? opk : undefined);
    const bundleBytes = encodePrekeyBundle(bundle);
    const rx = drbg(`v2/pqxdh/${name}`);
    const x = pqxdhInitiate(A, B, bundle, T0, rx.random);
    const rs = drbg(`v2/pqxdh/${name}`); // the same stream: startSession = pqxdhInitiate + one ratchet key
    const state = startSession(A, B, bundle, T0, rs.random);
    const payload = { kind: 'msg', id: drbg(`v2/pqxdh/${name}/id`).random(16), time: T0, seq: 1, body: utf8(`hello bob (${name})`) };
    const sealed = sealMessage(state, payload);
    const rOpen = drbg(`v2/pqxdh/${name}/open`);
    const opened = openMessage(B, A, sealed.inner, [], lookup(new Set()), T0, rOpen.random);
    handshake.push({
      name,
      bundle: hex(bundleBytes),
      bundleBytes: bundleBytes.length,
      now: T0,
      random: rs.draws,
      ekPk: hex(x.init.ekPk),
      kemCt: hex(x.init.kemCt),
      initHeader: hex(x.initBytes),
      ad: hex(x.ad),
      sk: hex(x.sk),
      sessionId: hex(x.sessionId),
      initiatorState: hex(encodeSessionState(state)),
      first: {
        payload: { kind: payload.kind, id: hex(payload.id), time: payload.time, seq: payload.seq, body: hex(payload.body) },
        inner: hex(sealed.inner),
        innerBytes: sealed.inner.length,
        envelope: outer(`v2/pqxdh/${name}/envelope`, 'bob', state, payload, sealed.inner),
      },
      open: { random: rOpen.draws, used: opened.used, responderState: hex(encodeSessionState(opened.state)) },
    });
  }

  // --- PQXDH failures ---------------------------------------------------------------------
  const good = handshake[0];
  const flipHex = (h, i, mask = 1) => {
    const b = Buffer.from(h, 'hex');
    b[i] ^= mask;
    return b.toString('hex');
  };
  const bundleFail = [
    { name: 'spk-sig-flipped', bundle: flipHex(good.bundle, 1 + 64 + 44 + 5), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'spk-pk-flipped', bundle: flipHex(good.bundle, 1 + 64 + 12), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'spk-expires-changed', bundle: flipHex(good.bundle, 1 + 64 + 4 + 7), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'kem-pk-flipped', bundle: flipHex(good.bundle, 1 + 64 + 108 + 5 + 600), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'kem-kind-changed', bundle: flipHex(good.bundle, 1 + 64 + 108, 3), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'kem-sig-flipped', bundle: flipHex(good.bundle, 1 + 64 + 108 + 5 + 1184 + 3), now: T0, expect: 'BAD_PREKEY_SIGNATURE' },
    { name: 'spk-expired', bundle: good.bundle, now: T0 + 30 * DAY + 1, expect: 'PREKEY_EXPIRED' },
    { name: 'other-identity', bundle: good.bundle, now: T0, pinned: 'carol', expect: 'PREKEY_IDENTITY_MISMATCH' },
    { name: 'version-2', bundle: flipHex(good.bundle, 0, 3), now: T0, expect: 'UNSUPPORTED_VERSION' },
    { name: 'truncated', bundle: good.bundle.slice(0, -2), now: T0, expect: 'BAD_PREKEY_BUNDLE' },
    { name: 'kem-kind-3', bundle: flipHex(good.bundle, 1 + 64 + 108, 2), now: T0, expect: 'BAD_PREKEY_BUNDLE' },
  ];
  const INIT_AT = 34;
  const firstFail = [
    { name: 'kem-ciphertext-flipped', inner: flipHex(good.first.inner, INIT_AT + 46 + 500), now: T0, expect: 'TAMPERED' },
    { name: 'ekPk-flipped', inner: flipHex(good.first.inner, INIT_AT + 1), now: T0, expect: 'TAMPERED' },
    { name: 'unknown-spk-id', inner: flipHex(good.first.inner, INIT_AT + 36), now: T0, expect: 'PREKEY_NOT_FOUND' },
    { name: 'unknown-kem-id', inner: flipHex(good.first.inner, INIT_AT + 40), now: T0, expect: 'PREKEY_NOT_FOUND' },
    { name: 'opk-dropped', inner: flipHex(good.first.inner, INIT_AT + 41), now: T0, expect: 'TAMPERED' },
    { name: 'opk-already-used', inner: good.first.inner, now: T0, usedPrekeys: ['opk'], expect: 'PREKEY_NOT_FOUND' },
    { name: 'spk-current-past-its-expiry', inner: good.first.inner, now: T0 + 60 * DAY, expect: 'OK' },
    { name: 'spk-replaced-in-grace', inner: good.first.inner, now: T0 + 30 * DAY, spkRetiredAt: T0 + 23 * DAY, expect: 'OK' },
    { name: 'spk-replaced-past-grace', inner: good.first.inner, now: T0 + 30 * DAY + 1, spkRetiredAt: T0 + 23 * DAY, expect: 'PREKEY_EXPIRED' },
    { name: 'spk-deleted', inner: good.first.inner, now: T0, spkDeleted: true, expect: 'PREKEY_EXPIRED' },
    { name: 'sender-changed', inner: flipHex(good.first.inner, 5), now: T0, expect: 'TAMPERED' },
    { name: 'inner-version-3', inner: flipHex(good.first.inner, 0, 1), now: T0, expect: 'UNSUPPORTED_VERSION' },
    { name: 'type-3', inner: flipHex(good.first.inner, 33, 2), now: T0, expect: 'TAMPERED' },
  ];
  for (const c of firstFail) {
    let code = 'OK';
    try {
      openMessage(B, A, Buffer.from(c.inner, 'hex'), [], lookup(new Set(c.usedPrekeys ?? []), c), c.now, drbg('v2/pqxdh/fail').random);
    } catch (e) {
      code = e.code;
    }
    if (code !== c.expect) throw new Error(`pqxdh vector ${c.name}: got ${code}, want ${c.expect}`);
  }

  out('pqxdh.json', {
    description: 'hush protocol v2 PQXDH vectors (docs/PROTOCOL.md §9.2-9.3, §9.8); generated by scripts/vectors/v2.mjs. Hex everywhere; random lists the draws in order.',
    identities,
    prekeys,
    handshake,
    bundleFail,
    firstFail,
  });

  // --- ratchet: KDF known answers ---------------------------------------------------------
  const kr = drbg('v2/ratchet/kdf');
  const rk0 = kr.random(32),
    dh0 = kr.random(32),
    ck0 = kr.random(32),
    mk0 = kr.random(32);
  const [rk1, ck1] = kdfRk(rk0, dh0);
  const [ck2, mk1] = kdfCk(ck0);
  const mkeys = messageKeys(mk0);
  const kdf = {
    kdfRk: { rk: hex(rk0), dh: hex(dh0), rkOut: hex(rk1), ck: hex(ck1) },
    kdfCk: { ck: hex(ck0), ckOut: hex(ck2), mk: hex(mk1) },
    messageKeys: { mk: hex(mk0), key: hex(mkeys.key), nonce: hex(mkeys.nonce) },
  };

  // --- ratchet: a conversation with loss, reordering, a duplicate and tampering -----------
  // Alice's session from the with-opk handshake; Bob's responder session opens her first message.
  const parse = (h) => Buffer.from(h, 'hex');
  const { parseSessionState } = await import(dist('protocol/session-state.js'));
  const sessions = { alice: [parseSessionState(parse(good.initiatorState))], bob: [] };
  const seqs = { alice: 0, bob: 0 };
  const peerOf = { alice: 'bob', bob: 'alice' };
  const sent = [];
  const steps = [];
  let t = T0;
  // withEnvelope: also record the v2 envelope of the message (to the peer, §9.5).
  const send = (from, text, withEnvelope = false) => {
    const idr = drbg(`v2/ratchet/id/${sent.length}`);
    const payload = { kind: 'msg', id: idr.random(16), time: ++t, seq: ++seqs[from], body: utf8(text) };
    const before = sessions[from][0];
    const r = sealMessage(before, payload);
    sessions[from][0] = r.state;
    sent.push(r.inner);
    const step = {
      op: 'send',
      from,
      msg: sent.length - 1,
      payload: { kind: 'msg', id: hex(payload.id), time: payload.time, seq: payload.seq, body: hex(payload.body) },
      inner: hex(r.inner),
    };
    if (withEnvelope) step.envelope = outer(`v2/ratchet/envelope/${sent.length - 1}`, peerOf[from], before, payload, r.inner);
    steps.push(step);
  };
  const recv = (to, msg, expect = 'OK', inner = sent[msg]) => {
    const rr = drbg(`v2/ratchet/recv/${steps.length}`);
    const step = { op: 'recv', to, msg, now: t, expect };
    if (inner !== sent[msg]) step.inner = hex(inner);
    try {
      const o = openMessage(ids[to], ids[peerOf[to]], inner, sessions[to], lookup(new Set()), t, rr.random);
      if (o.index < 0) sessions[to].push(o.state);
      else sessions[to][o.index] = o.state;
      step.got = { seq: o.payload.seq, body: hex(o.payload.body) };
      step.stateSha256 = sha256(encodeSessionState(o.state));
      if (expect !== 'OK') throw new Error(`ratchet step ${steps.length}: opened, want ${expect}`);
    } catch (e) {
      if (!e.code) throw e;
      if (e.code !== expect) throw new Error(`ratchet step ${steps.length}: ${e.code}, want ${expect}`);
    }
    step.random = rr.draws;
    steps.push(step);
  };
  const flipBytes = (b, i) => {
    const c = new Uint8Array(b);
    c[i] ^= 1;
    return c;
  };
  // Message numbers (msg) count sends in order: 0 a0, 1 a1, 2 b0, 3 b1, 4 a2, 5 a3, 6 a4, 7 b2, 8 a5.
  send('alice', 'a0'); // prekey message
  send('alice', 'a1'); // prekey message
  recv('bob', 1); // the second arrives first: the session is made from it
  recv('bob', 0);
  recv('bob', 0, 'DUPLICATE_MESSAGE');
  send('bob', 'b0');
  send('bob', 'b1');
  recv('alice', 2); // Alice ratchets; she stops repeating the PQXDH header
  send('alice', 'a2', true); // plain messages on a new ratchet key (this one with its v2 envelope)
  send('alice', 'a3');
  send('alice', 'a4');
  recv('bob', 6); // a2 and a3 skipped
  recv('bob', 4, 'TAMPERED', flipBytes(sent[4], sent[4].length - 1)); // tag
  recv('bob', 4, 'TAMPERED', flipBytes(sent[4], 34 + 10)); // ratchet header dhPk
  recv('bob', 4, 'TAMPERED', flipBytes(sent[4], 34 + 41 + 3)); // ciphertext
  recv('bob', 4); // from the skipped key
  recv('alice', 3); // b1 late, from a skipped key on Alice's side
  recv('alice', 3, 'DUPLICATE_MESSAGE');
  send('bob', 'b2');
  recv('alice', 7);
  send('alice', 'a5');
  recv('bob', 8);
  recv('bob', 5); // a3 turns up after two ratchet steps

  out('ratchet.json', {
    description:
      'hush protocol v2 Double Ratchet vectors (docs/PROTOCOL.md §9.4-9.8): KDF known answers, then a conversation replayed step by step; generated by scripts/vectors/v2.mjs. Starts from pqxdh.json handshake[0] (initiatorState); Bob starts with no session and the prekeys of pqxdh.json.',
    kdf,
    start: { alice: good.initiatorState, handshake: good.name },
    steps,
    final: { alice: hex(encodeSessionState(sessions.alice[0])), bob: hex(encodeSessionState(sessions.bob[0])) },
  });
  const { makePrekeyRelayVectors } = await import('./prekey-relay.mjs');
  const relayVectors = await makePrekeyRelayVectors({ dist, out, ids, prekeys: { spk, kemOne, kemLast, opk }, T0 });
  return `pqxdh.json (${handshake.length} handshakes, ${bundleFail.length} bundle + ${firstFail.length} first-message failures), ratchet.json (${steps.length} steps), ${relayVectors}`;
}
