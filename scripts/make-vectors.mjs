// Regenerates test/vectors/*.json from the built code in dist/ (run: npm run vectors).
//
// Every random byte comes from a deterministic stream (see drbg below and
// test/vectors/README.md), and every case records the exact bytes it consumed, so the
// vectors can be checked without re-implementing the stream. Running this twice gives
// byte-identical files; `git diff test/vectors` after a code change shows what moved.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => new URL(`../dist/src/${p}`, import.meta.url).href;

const { identityFromSecrets } = await import(dist('crypto/identity.js'));
const { sealEnvelope, openEnvelope } = await import(dist('crypto/seal.js'));
const { makeBundle, verifyBundle } = await import(dist('crypto/bundle.js'));
const { fingerprint, safetyNumber } = await import(dist('crypto/fingerprint.js'));
const { sealKeyring, openKeyring, rewrapKeyring, deriveWrappingKey } = await import(dist('crypto/keyring.js'));
const { boxBefore, secretbox, secretboxOpen, x25519Base, x25519 } = await import(dist('crypto/nacl.js'));
const { concatBytes, u32be, u64be, bytesEqual, toHex } = await import(dist('protocol/encoding.js'));
const { bundleSignedBytes, bundleToJson, parseBundle } = await import(dist('protocol/bundle.js'));
const { envelopeId, paddedLength, PAYLOAD_HEADER_BYTES, KIND } = await import(dist('protocol/envelope.js'));
const { keyringToJson, keyringHeaderBytes, parseKeyring } = await import(dist('protocol/keyring-file.js'));
const { DOMAIN, domainBytes } = await import(dist('protocol/domains.js'));

const hex = (b) => toHex(b);
const unhex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const utf8 = (s) => new TextEncoder().encode(s);

/**
 * The deterministic Random of the vectors: block i = SHA-512(utf8("hush-vectors/" + label)
 * || u32be(i)), i = 0, 1, ...; the stream is block 0 || block 1 || ..., read front to back.
 * Each draw is recorded (hex) so a case lists exactly the random bytes it used.
 */
function drbg(label) {
  const seed = utf8(`hush-vectors/${label}`);
  let buf = new Uint8Array(0);
  let counter = 0;
  const draws = [];
  const random = (n) => {
    while (buf.length < n) {
      const block = createHash('sha512').update(seed).update(u32be(counter++)).digest();
      buf = concatBytes(buf, new Uint8Array(block));
    }
    const out = buf.slice(0, n);
    buf = buf.slice(n);
    draws.push(hex(out));
    return out;
  };
  return { random, draws };
}

/** A Random that replays recorded draws (what the unit tests do too). */
function tape(draws) {
  let i = 0;
  return (n) => {
    const d = unhex(draws[i++]);
    if (d.length !== n) throw new Error(`tape: wanted ${n} bytes, recorded ${d.length}`);
    return d;
  };
}

const T0 = 1763900000000; // 2025-11-23T12:13:20Z

// --- identities ---------------------------------------------------------------------------

const names = ['alice', 'bob', 'carol', 'dave'];
const secrets = Object.fromEntries(names.map((n) => [n, drbg(`identity/${n}`).random(96)]));
const ids = Object.fromEntries(names.map((n) => [n, identityFromSecrets(secrets[n])]));
const identitiesJson = Object.fromEntries(names.map((n) => [n, { secrets: hex(secrets[n]), signPk: hex(ids[n].signPk), boxPk: hex(ids[n].boxPk) }]));

// --- envelopes ----------------------------------------------------------------------------

const sealCases = [];
function seal(name, from, to, kind, body, time, text) {
  const idRand = drbg(`envelope/${name}/id`);
  const id = idRand.random(16);
  const r = drbg(`envelope/${name}`);
  const env = sealEnvelope(ids[from], ids[to], { kind, id, time, body }, r.random);
  const c = {
    name,
    from,
    to,
    kind,
    id: hex(id),
    time,
    ...(text !== undefined ? { text } : {}),
    body: hex(body),
    random: r.draws,
    payloadLength: paddedLength(PAYLOAD_HEADER_BYTES + body.length),
    envelope: hex(env),
    envelopeId: envelopeId(env),
  };
  // Self-check: the tape reproduces it and it opens.
  const again = sealEnvelope(ids[from], ids[to], { kind, id, time, body }, tape(r.draws));
  if (!bytesEqual(again, env)) throw new Error(`seal ${name} is not reproducible`);
  const opened = openEnvelope(ids[to], env, (pk) => (bytesEqual(pk, ids[from].signPk) ? ids[from] : undefined));
  if (!bytesEqual(opened.body, body) || opened.kind !== kind || opened.time !== time) throw new Error(`seal ${name} does not open`);
  sealCases.push(c);
  return { env, id, draws: r.draws };
}

const fill = (n, label) => drbg(label).random(n);
const hello = seal('msg-short', 'alice', 'bob', 'msg', utf8('hello bob'), T0, 'hello bob');
seal('msg-utf8', 'bob', 'alice', 'msg', utf8('grüße, 🌍 — deploy is done'), T0 + 1000, 'grüße, 🌍 — deploy is done');
seal('receipt-empty-body', 'bob', 'alice', 'receipt', new Uint8Array(0), T0 + 2000);
seal('typing', 'alice', 'bob', 'typing', new Uint8Array(0), T0 + 3000);
seal('msg-130-fills-256', 'alice', 'bob', 'msg', fill(130, 'body/130'), T0 + 4000);
seal('msg-131-pads-to-272', 'alice', 'bob', 'msg', fill(131, 'body/131'), T0 + 5000);
seal('msg-1000-pads-to-1152', 'carol', 'bob', 'msg', fill(1000, 'body/1000'), T0 + 6000);
seal('msg-to-self', 'alice', 'alice', 'msg', utf8('note to self'), T0 + 7000, 'note to self');
seal('msg-time-zero', 'alice', 'bob', 'msg', utf8('epoch'), 0, 'epoch');
seal('msg-time-max', 'alice', 'bob', 'msg', utf8('far future'), Number.MAX_SAFE_INTEGER, 'far future');
const second = seal('msg-second', 'alice', 'bob', 'msg', utf8('second message'), T0 + 8000, 'second message');

/**
 * Builds an envelope from explicit parts, bypassing sealEnvelope's rules, to make envelopes
 * whose boxes are valid but whose bindings are not.
 */
function craft({
  envVersion = 1,
  innerVersion = 1,
  headerSender, // signPk in the inner header
  innerKeyFrom, // identity whose box sk makes the inner box
  to, // recipient identity (box pk)
  payload,
  label,
  ephSk,
}) {
  const r = drbg(`craft/${label}`).random;
  const eSk = ephSk ?? r(32);
  const ephPk = x25519Base(eSk);
  const p = typeof payload === 'function' ? payload(ephPk) : payload;
  const innerNonce = r(24);
  const innerBox = secretbox(p, innerNonce, boxBefore(to.boxPk, innerKeyFrom.boxSk));
  const inner = concatBytes(Uint8Array.of(innerVersion), headerSender, innerNonce, innerBox);
  const outerNonce = r(24);
  return concatBytes(Uint8Array.of(envVersion), ephPk, outerNonce, secretbox(inner, outerNonce, boxBefore(to.boxPk, eSk)));
}

function payloadBytes({ version = 1, kind = KIND.msg, sender, recipient, ephPk, id, time = T0, body, bodyLen, length, padByte }) {
  const len = length ?? paddedLength(PAYLOAD_HEADER_BYTES + body.length);
  const p = new Uint8Array(len);
  let o = 0;
  p[o++] = version;
  p[o++] = kind;
  p.set(sender, o);
  o += 32;
  p.set(recipient, o);
  o += 32;
  p.set(ephPk, o);
  o += 32;
  p.set(id, o);
  o += 16;
  if (typeof time === 'number') p.set(u64be(time), o);
  else p.set(time, o); // raw 8 bytes
  o += 8;
  p.set(u32be(bodyLen ?? body.length), o);
  o += 4;
  p.set(body, o);
  if (padByte !== undefined) p[p.length - 1] = padByte;
  return p;
}

const A = ids.alice,
  B = ids.bob,
  C = ids.carol,
  D = ids.dave;
const msgId = fill(16, 'craft/id');
const body = utf8('crafted');
const good =
  (over = {}) =>
  (ephPk) =>
    payloadBytes({ sender: A.signPk, recipient: B.signPk, ephPk, id: msgId, body, ...over });

// The crafting function must agree with sealEnvelope when nothing is broken.
{
  const r = drbg('craft/control');
  const eSk = r.random(32);
  const viaCraft = craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good(), label: 'control', ephSk: eSk });
  const opened = openEnvelope(B, viaCraft, (pk) => (bytesEqual(pk, A.signPk) ? A : undefined));
  if (!bytesEqual(opened.body, body)) throw new Error('craft control does not open');
}

const E = hello.env;
const flip = (env, i, mask = 0x01) => {
  const out = new Uint8Array(env);
  out[i] ^= mask;
  return out;
};
const setByte = (env, i, v) => {
  const out = new Uint8Array(env);
  out[i] = v;
  return out;
};

const openCases = [];
const addOpen = (name, envelope, expect, extra = {}) => {
  const c = { name, to: extra.to ?? 'bob', contacts: extra.contacts ?? ['alice', 'carol'], envelope: hex(envelope), expect };
  if (extra.note) c.note = extra.note;
  // Self-check against the implementation.
  const me = ids[c.to];
  let got = 'OK';
  try {
    openEnvelope(me, envelope, (pk) => c.contacts.map((n) => ids[n]).find((p) => bytesEqual(p.signPk, pk)));
  } catch (e) {
    got = e.code ?? String(e);
  }
  if (got !== expect) throw new Error(`open case ${name}: expected ${expect}, got ${got}`);
  openCases.push(c);
};

// Regions of a v1 envelope (offsets): 0 version | 1..33 ephPk | 33..57 outer nonce |
// 57..73 outer MAC | 73 inner version | 74..106 inner sender | 106..130 inner nonce |
// 130..146 inner MAC | 146.. inner ciphertext (the payload).
addOpen('ok-control', E, 'OK', { note: 'the unmodified msg-short envelope opens' });
addOpen('version-2', setByte(E, 0, 2), 'UNSUPPORTED_VERSION', { note: 'unknown envelope version byte' });
addOpen('version-0', setByte(E, 0, 0), 'UNSUPPORTED_VERSION');
addOpen('version-255', setByte(E, 0, 255), 'UNSUPPORTED_VERSION');
addOpen('flip-ephPk', flip(E, 1), 'TAMPERED');
addOpen('flip-ephPk-last', flip(E, 32, 0x40), 'TAMPERED');
addOpen('flip-outer-nonce', flip(E, 40), 'TAMPERED');
addOpen('flip-outer-mac', flip(E, 60), 'TAMPERED');
addOpen('flip-inner-version', flip(E, 73), 'TAMPERED', { note: 'inside the outer ciphertext: the outer MAC fails' });
addOpen('flip-inner-sender', flip(E, 80), 'TAMPERED');
addOpen('flip-inner-nonce', flip(E, 110), 'TAMPERED');
addOpen('flip-inner-mac', flip(E, 135), 'TAMPERED');
addOpen('flip-inner-ct', flip(E, 200), 'TAMPERED');
addOpen('flip-last-byte', flip(E, E.length - 1, 0x80), 'TAMPERED');
addOpen('wrong-recipient', E, 'TAMPERED', { to: 'carol', contacts: ['alice', 'bob'], note: 'sealed to bob, opened by carol' });
addOpen('truncated-1', E.subarray(0, E.length - 1), 'TAMPERED');
addOpen('truncated-16', E.subarray(0, E.length - 16), 'TAMPERED');
addOpen('truncated-to-header', E.subarray(0, 57), 'TAMPERED');
addOpen('truncated-to-version', E.subarray(0, 1), 'TAMPERED');
addOpen('empty', new Uint8Array(0), 'TAMPERED');
addOpen('extended-1', concatBytes(E, Uint8Array.of(0)), 'TAMPERED');
addOpen('extended-16', concatBytes(E, new Uint8Array(16)), 'TAMPERED', { note: 'the length of a 272-byte payload: passes the length check, fails the MAC' });
{
  const big = sealCases.find((c) => c.name === 'msg-131-pads-to-272');
  const e = unhex(big.envelope);
  addOpen('truncated-to-valid-length', e.subarray(0, e.length - 16), 'TAMPERED', { note: 'msg-131 cut to the length of a 256-byte payload' });
}
addOpen('swapped-outer-headers', concatBytes(E.subarray(0, 57), second.env.subarray(57)), 'TAMPERED', { note: 'ephPk and nonce of msg-short with the outer box of msg-second' });
{
  // The recipient (bob) opens msg-short's outer layer and re-wraps its inner layer in a
  // fresh outer layer, to himself (replay under a new ephemeral key) and to carol (forwarding).
  const kOuter = boxBefore(E.subarray(1, 33), B.boxSk);
  const inner = secretboxOpen(E.subarray(57), E.subarray(33, 57), kOuter);
  const rewrap = (to, label) => {
    const r = drbg(`rewrap/${label}`).random;
    const eSk = r(32);
    const nonce = r(24);
    return concatBytes(Uint8Array.of(1), x25519Base(eSk), nonce, secretbox(inner, nonce, boxBefore(to.boxPk, eSk)));
  };
  addOpen('rewrapped-inner-same-recipient', rewrap(B, 'bob'), 'TAMPERED', { note: 'inner layer of msg-short in a new outer layer: payload ephPk differs' });
  addOpen('rewrapped-inner-forwarded', rewrap(C, 'carol'), 'TAMPERED', { to: 'carol', contacts: ['alice', 'bob'], note: 'inner layer of msg-short forwarded to carol' });
  // Reflection: alice->bob and bob->alice share one box key. Bob puts his own key in the inner
  // header and sends alice's inner box back to her, as if he had written it.
  const reflected = new Uint8Array(inner);
  reflected.set(B.signPk, 1);
  const r = drbg('rewrap/reflect').random;
  const eSk = r(32);
  const nonce = r(24);
  addOpen('reflected-to-sender', concatBytes(Uint8Array.of(1), x25519Base(eSk), nonce, secretbox(reflected, nonce, boxBefore(A.boxPk, eSk))), 'TAMPERED', {
    to: 'alice',
    contacts: ['bob', 'carol'],
    note: "alice's msg-short shown back to alice as if from bob: the box opens, the payload names alice as sender and bob as recipient",
  });
}

// Low-order X25519 points as the ephemeral key (libsodium's blocklist, plus the same u with
// bit 255 set, which X25519 ignores). Each gives an all-zero shared secret.
const lowOrder = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];
const lowOrderAllZero = [];
for (const [i, pt] of lowOrder.entries()) {
  let zero = false;
  try {
    x25519(B.boxSk, unhex(pt));
  } catch (e) {
    zero = e.code === 'LOW_ORDER_KEY';
  }
  if (zero) lowOrderAllZero.push(pt);
  const e = new Uint8Array(E);
  e.set(unhex(pt), 1);
  addOpen(`low-order-ephPk-${i}`, e, 'TAMPERED', { note: `ephPk = ${pt}` });
}

// Valid boxes, broken bindings (made with the sender's real keys).
addOpen('crafted-control', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good(), label: 'ok' }), 'OK', {
  note: 'the crafting code with nothing broken opens',
});
addOpen('bind-recipient', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ recipient: C.signPk }), label: 'recipient' }), 'TAMPERED', {
  note: 'payload names carol as recipient (surreptitious forwarding)',
});
addOpen('bind-payload-sender', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ sender: C.signPk }), label: 'psender' }), 'TAMPERED', {
  note: 'payload names carol as sender, inner header names alice',
});
addOpen(
  'bind-ephPk',
  craft({
    headerSender: A.signPk,
    innerKeyFrom: A,
    to: B,
    payload: () => payloadBytes({ sender: A.signPk, recipient: B.signPk, ephPk: x25519Base(fill(32, 'craft/other-eph')), id: msgId, body }),
    label: 'eph',
  }),
  'TAMPERED',
  { note: 'payload ephPk is not the outer ephemeral key' },
);
addOpen('bind-header-sender-contact', craft({ headerSender: C.signPk, innerKeyFrom: A, to: B, payload: good({ sender: C.signPk }), label: 'hsender' }), 'TAMPERED', {
  note: "inner header and payload say carol, but the inner box is from alice's box key",
});
addOpen('unknown-sender', craft({ headerSender: D.signPk, innerKeyFrom: D, to: B, payload: good({ sender: D.signPk }), label: 'unknown' }), 'UNKNOWN_SENDER', {
  note: "a valid message from dave, who is not among bob's contacts",
});
addOpen('inner-version-2', craft({ innerVersion: 2, headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good(), label: 'iv2' }), 'TAMPERED');
addOpen('payload-version-2', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ version: 2 }), label: 'pv2' }), 'TAMPERED');
addOpen('kind-0', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ kind: 0 }), label: 'k0' }), 'TAMPERED');
addOpen('kind-5', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ kind: 5 }), label: 'k5' }), 'TAMPERED');
addOpen('padding-nonzero', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ padByte: 1 }), label: 'pad' }), 'TAMPERED');
addOpen('padding-too-long', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ length: 512 }), label: 'padlen' }), 'TAMPERED', {
  note: 'a 7-byte body in a 512-byte payload (Padmé says 256)',
});
addOpen('body-length-overruns', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ bodyLen: 200 }), label: 'blen' }), 'TAMPERED');
addOpen('body-length-huge', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ bodyLen: 0xffffffff }), label: 'blen2' }), 'TAMPERED');
addOpen('time-above-2^53', craft({ headerSender: A.signPk, innerKeyFrom: A, to: B, payload: good({ time: unhex('0020000000000000') }), label: 'time' }), 'TAMPERED');
addOpen(
  'payload-short',
  craft({
    headerSender: A.signPk,
    innerKeyFrom: A,
    to: B,
    payload: (ephPk) => payloadBytes({ sender: A.signPk, recipient: B.signPk, ephPk, id: msgId, body, length: 200 }),
    label: 'short',
  }),
  'TAMPERED',
  {
    note: 'payload of 200 bytes: the envelope length is not that of a padded payload',
  },
);

const envelopeJson = {
  description: 'hush envelope v1 known-answer and failure vectors (docs/PROTOCOL.md §5); generated by scripts/make-vectors.mjs',
  identities: identitiesJson,
  seal: sealCases,
  open: openCases,
  lowOrderPoints: lowOrderAllZero,
};

// --- bundles ------------------------------------------------------------------------------

const bundleCases = [];
for (const [n, created] of [
  ['alice', T0],
  ['bob', T0 + 1],
  ['carol', 0],
]) {
  const b = makeBundle(ids[n], n, created);
  bundleCases.push({ identity: n, name: n, created, signedBytes: hex(bundleSignedBytes(b)), sig: hex(b.sig), json: bundleToJson(b) });
}
const aliceJson = bundleCases[0].json;
const b64flip = (b64, i, mask = 1) => {
  const b = Buffer.from(b64, 'base64');
  b[i] ^= mask;
  return b.toString('base64');
};
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBig = (b) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const bigToLe = (n, len) => Uint8Array.from({ length: len }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const sigBytes = Buffer.from(aliceJson.sig, 'base64');
const malleated = concatBytes(sigBytes.subarray(0, 32), bigToLe(leToBig(sigBytes.subarray(32)) + ED25519_L, 32));

const bundleFail = [];
const addBundleFail = (name, json, expect, note) => {
  let got = 'OK';
  try {
    verifyBundle(parseBundle(json));
  } catch (e) {
    got = e.code ?? String(e);
  }
  if (got !== expect) throw new Error(`bundle case ${name}: expected ${expect}, got ${got}`);
  bundleFail.push({ name, json, expect, ...(note ? { note } : {}) });
};
addBundleFail('name-changed', { ...aliceJson, name: 'alicf' }, 'BAD_BUNDLE_SIGNATURE');
addBundleFail('boxPk-swapped', { ...aliceJson, boxPk: bundleCases[1].json.boxPk }, 'BAD_BUNDLE_SIGNATURE', 'a relay replacing the box key');
addBundleFail('signPk-swapped', { ...aliceJson, signPk: bundleCases[1].json.signPk }, 'BAD_BUNDLE_SIGNATURE');
addBundleFail('created-changed', { ...aliceJson, created: T0 + 1 }, 'BAD_BUNDLE_SIGNATURE');
addBundleFail('sig-R-flipped', { ...aliceJson, sig: b64flip(aliceJson.sig, 0) }, 'BAD_BUNDLE_SIGNATURE');
addBundleFail('sig-S-flipped', { ...aliceJson, sig: b64flip(aliceJson.sig, 40) }, 'BAD_BUNDLE_SIGNATURE');
addBundleFail('sig-S-plus-L', { ...aliceJson, sig: Buffer.from(malleated).toString('base64') }, 'BAD_BUNDLE_SIGNATURE', 'non-canonical S = S + L: refused (RFC 8032 §5.1.7)');
addBundleFail('all-zero-key-and-sig', { ...aliceJson, signPk: Buffer.alloc(32).toString('base64'), sig: Buffer.alloc(64).toString('base64') }, 'BAD_BUNDLE_SIGNATURE');
{
  const idPt = new Uint8Array(32);
  idPt[0] = 1;
  const forged = new Uint8Array(64);
  forged[0] = 1;
  addBundleFail(
    'small-order-key-forgery',
    { ...aliceJson, signPk: Buffer.from(idPt).toString('base64'), sig: Buffer.from(forged).toString('base64') },
    'BAD_BUNDLE_SIGNATURE',
    'signPk = identity point, R = identity, S = 0: verifies under bare RFC 8032, refused as small order',
  );
}
addBundleFail('version-2', { ...aliceJson, v: 2 }, 'UNSUPPORTED_VERSION');
addBundleFail('version-string', { ...aliceJson, v: '1' }, 'BAD_SHAPE');
addBundleFail('name-uppercase', { ...aliceJson, name: 'Alice' }, 'BAD_SHAPE');
addBundleFail('sig-63-bytes', { ...aliceJson, sig: Buffer.from(sigBytes.subarray(0, 63)).toString('base64') }, 'BAD_SHAPE');
addBundleFail(
  'signPk-noncanonical-base64',
  { ...aliceJson, signPk: aliceJson.signPk.slice(0, 42) + String.fromCharCode(aliceJson.signPk.charCodeAt(42) ^ 1) + '=' },
  'BAD_BASE64',
  'unused low bits set in the last base64 character',
);
addBundleFail('created-negative', { ...aliceJson, created: -1 }, 'BAD_SHAPE');
const bundleJson = {
  description: 'hush bundle v1 vectors (docs/PROTOCOL.md §3); identities as in envelope.json; generated by scripts/make-vectors.mjs',
  identities: identitiesJson,
  valid: bundleCases,
  invalid: bundleFail,
};

// --- fingerprints -------------------------------------------------------------------------

const fixedKeys = {
  zero: new Uint8Array(32),
  counting: Uint8Array.from({ length: 32 }, (_, i) => i),
};
const fpCases = [...names.map((n) => ({ label: n, signPk: hex(ids[n].signPk) })), ...Object.entries(fixedKeys).map(([label, k]) => ({ label, signPk: hex(k) }))].map((c) => {
  const pk = unhex(c.signPk);
  const h = createHash('sha512').update(domainBytes(DOMAIN.fingerprint)).update(pk).digest();
  return { ...c, hash: h.toString('hex'), fingerprint: fingerprint(pk) };
});
const snCases = [
  ['alice', 'bob'],
  ['bob', 'alice'],
  ['alice', 'carol'],
  ['alice', 'alice'],
].map(([a, b]) => ({
  a,
  b,
  safetyNumber: safetyNumber(ids[a].signPk, ids[b].signPk),
}));
const fingerprintJson = {
  description: 'hush fingerprints and safety numbers (docs/PROTOCOL.md §4); generated by scripts/make-vectors.mjs',
  fingerprints: fpCases,
  safetyNumbers: snCases,
};

// --- keyring ------------------------------------------------------------------------------

const kdf = async (pass, p) =>
  new Uint8Array(
    await argon2.hash(Buffer.from(pass), {
      type: argon2.argon2id,
      version: 0x13,
      memoryCost: p.m,
      timeCost: p.t,
      parallelism: p.p,
      salt: Buffer.from(p.salt),
      hashLength: 32,
      raw: true,
    }),
  );

const passphrase = 'correct horse battery staple';
const salt = drbg('keyring/salt').random(16);
const header = {
  type: 'hush-keyring',
  v: 1,
  name: 'alice',
  created: T0,
  signPk: A.signPk,
  boxPk: A.boxPk,
  kdf: { alg: 'argon2id', m: 8192, t: 1, p: 1, salt },
};
const wk = await deriveWrappingKey(kdf, utf8(passphrase), header.kdf);
const kr = drbg('keyring/seal');
const file = sealKeyring(header, A, wk, kr.random);
const fileText = keyringToJson(file);
const headerBytes = keyringHeaderBytes(header);
const headerHash = createHash('sha512').update(domainBytes(DOMAIN.keyringHeader)).update(headerBytes).digest().subarray(0, 32);
const openedKr = openKeyring(parseKeyring(fileText), wk);
if (!bytesEqual(openedKr.identity.boxSk, A.boxSk)) throw new Error('keyring does not open');

const newPass = 'tr0ub4dor&3';
const salt2 = drbg('keyring/salt2').random(16);
const kdf2 = { alg: 'argon2id', m: 8192, t: 2, p: 1, salt: salt2 };
const wk2 = await deriveWrappingKey(kdf, utf8(newPass), kdf2);
const rr = drbg('keyring/rewrap');
const file2 = rewrapKeyring(file, openedKr.dataKey, kdf2, wk2, rr.random);
const file2Text = keyringToJson(file2);
openKeyring(parseKeyring(file2Text), wk2);

const krFail = [];
const addKrFail = async (name, text, pass, expect, note) => {
  let got = 'OK';
  let kdfCalls = 0;
  try {
    const f = parseKeyring(text);
    const k = await deriveWrappingKey((pw, p) => (kdfCalls++, kdf(pw, p)), utf8(pass), f.kdf);
    openKeyring(f, k);
  } catch (e) {
    got = e.code ?? String(e);
  }
  if (got !== expect) throw new Error(`keyring case ${name}: expected ${expect}, got ${got}`);
  if (expect === 'KDF_PARAMS_REFUSED' && kdfCalls !== 0) throw new Error(`keyring case ${name}: the KDF ran`);
  krFail.push({ name, file: text, passphrase: pass, expect, ...(note ? { note } : {}) });
};
const mutate = (fn) => {
  const o = JSON.parse(fileText);
  fn(o);
  return JSON.stringify(o, null, 2) + '\n';
};
await addKrFail('ok-control', fileText, passphrase, 'OK');
await addKrFail('wrong-passphrase', fileText, 'correct horse battery stapler', 'WRONG_PASSPHRASE');
await addKrFail('empty-passphrase', fileText, '', 'WRONG_PASSPHRASE');
await addKrFail(
  'name-changed',
  mutate((o) => (o.name = 'mallory')),
  passphrase,
  'KEYRING_CORRUPT',
  'header bound by the hash inside the wrap',
);
await addKrFail(
  'created-changed',
  mutate((o) => (o.created += 1)),
  passphrase,
  'KEYRING_CORRUPT',
);
await addKrFail(
  'signPk-changed',
  mutate((o) => (o.signPk = Buffer.from(B.signPk).toString('base64'))),
  passphrase,
  'KEYRING_CORRUPT',
);
await addKrFail(
  'boxPk-changed',
  mutate((o) => (o.boxPk = Buffer.from(B.boxPk).toString('base64'))),
  passphrase,
  'KEYRING_CORRUPT',
);
await addKrFail(
  'salt-changed',
  mutate((o) => (o.kdf.salt = b64flip(o.kdf.salt, 3))),
  passphrase,
  'WRONG_PASSPHRASE',
  'a different salt derives a different key',
);
await addKrFail(
  't-changed',
  mutate((o) => (o.kdf.t = 2)),
  passphrase,
  'WRONG_PASSPHRASE',
);
await addKrFail(
  'm-changed',
  mutate((o) => (o.kdf.m = 8200)),
  passphrase,
  'WRONG_PASSPHRASE',
);
await addKrFail(
  'm-below-floor',
  mutate((o) => (o.kdf.m = 8191)),
  passphrase,
  'KDF_PARAMS_REFUSED',
  'refused before Argon2 runs',
);
await addKrFail(
  'm-zero',
  mutate((o) => (o.kdf.m = 0)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  't-zero',
  mutate((o) => (o.kdf.t = 0)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  'p-zero',
  mutate((o) => (o.kdf.p = 0)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  'm-above-ceiling',
  mutate((o) => (o.kdf.m = 1024 * 1024 + 1)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  'm-huge',
  mutate((o) => (o.kdf.m = 2 ** 32 - 1)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  't-above-ceiling',
  mutate((o) => (o.kdf.t = 17)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  'p-above-ceiling',
  mutate((o) => (o.kdf.p = 17)),
  passphrase,
  'KDF_PARAMS_REFUSED',
);
await addKrFail(
  'alg-argon2i',
  mutate((o) => (o.kdf.alg = 'argon2i')),
  passphrase,
  'BAD_SHAPE',
);
await addKrFail(
  'version-2',
  mutate((o) => (o.v = 2)),
  passphrase,
  'UNSUPPORTED_VERSION',
);
await addKrFail(
  'type-changed',
  mutate((o) => (o.type = 'age-keyring')),
  passphrase,
  'NOT_A_KEYRING',
);
await addKrFail(
  'wrap-ct-flipped',
  mutate((o) => (o.wrap.ct = b64flip(o.wrap.ct, 20))),
  passphrase,
  'WRONG_PASSPHRASE',
  'indistinguishable from a wrong passphrase',
);
await addKrFail(
  'wrap-nonce-flipped',
  mutate((o) => (o.wrap.nonce = b64flip(o.wrap.nonce, 0))),
  passphrase,
  'WRONG_PASSPHRASE',
);
await addKrFail(
  'secrets-ct-flipped',
  mutate((o) => (o.secrets.ct = b64flip(o.secrets.ct, 50))),
  passphrase,
  'KEYRING_CORRUPT',
);
await addKrFail(
  'secrets-nonce-flipped',
  mutate((o) => (o.secrets.nonce = b64flip(o.secrets.nonce, 23))),
  passphrase,
  'KEYRING_CORRUPT',
);
await addKrFail(
  'secrets-ct-short',
  mutate((o) => (o.secrets.ct = Buffer.from(o.secrets.ct, 'base64').subarray(0, 112).toString('base64'))),
  passphrase,
  'BAD_SHAPE',
);
await addKrFail(
  'salt-15-bytes',
  mutate((o) => (o.kdf.salt = Buffer.from(o.kdf.salt, 'base64').subarray(0, 15).toString('base64'))),
  passphrase,
  'BAD_SHAPE',
);
await addKrFail('truncated', fileText.slice(0, fileText.length / 2), passphrase, 'BAD_JSON');
await addKrFail('not-json', 'hello\n', passphrase, 'BAD_JSON');
await addKrFail('not-an-object', '[1,2,3]\n', passphrase, 'BAD_SHAPE');

const keyringJson = {
  description: 'hush keyring file v1 vectors (docs/PROTOCOL.md §6), Argon2id at the floor (m=8192 KiB, t=1, p=1) to stay fast; generated by scripts/make-vectors.mjs',
  identity: { name: 'alice', secrets: hex(secrets.alice), signPk: hex(A.signPk), boxPk: hex(A.boxPk) },
  seal: {
    passphrase,
    kdf: { alg: 'argon2id', m: 8192, t: 1, p: 1, salt: hex(salt) },
    created: T0,
    wrappingKey: hex(wk),
    headerBytes: hex(headerBytes),
    headerHash: hex(headerHash),
    random: kr.draws,
    dataKey: kr.draws[0],
    file: fileText,
  },
  rewrap: {
    passphrase: newPass,
    kdf: { alg: 'argon2id', m: 8192, t: 2, p: 1, salt: hex(salt2) },
    wrappingKey: hex(wk2),
    random: rr.draws,
    file: file2Text,
  },
  open: krFail,
};

// --- write ----------------------------------------------------------------------------------

const out = (name, v) => writeFileSync(`${root}test/vectors/${name}`, JSON.stringify(v, null, 2) + '\n');
console.log(`wrote test/vectors: ${await (await import('./vectors/v2.mjs')).makeV2Vectors({ dist, drbg, out, T0 })}`);
out('envelope.json', envelopeJson);
out('bundle.json', bundleJson);
out('fingerprint.json', fingerprintJson);
out('keyring.json', keyringJson);
console.log(
  `wrote test/vectors: envelope.json (${sealCases.length} seal, ${openCases.length} open), bundle.json (${bundleCases.length} valid, ${bundleFail.length} invalid), ` +
    `fingerprint.json (${fpCases.length} + ${snCases.length}), keyring.json (1 seal, 1 rewrap, ${krFail.length} open)`,
);
console.log(`wrote test/vectors/${await (await import('./vectors/relay-auth.mjs')).writeRelayAuthVectors({ root, dist, drbg, ids, secrets, T0 })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/name-transfer.mjs')).writeNameTransferVectors({ root, dist, ids })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/receipts.mjs')).writeReceiptVectors({ root, dist, drbg, ids, secrets, T0 })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/store.mjs')).writeStoreVectors({ root, dist, drbg, ids, secrets, T0 })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/files.mjs')).writeFileVectors({ root, dist, drbg })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/mail-pages.mjs')).writeMailPageVectors({ root, dist, drbg })}`);
console.log(`wrote ${await (await import('./vectors/examples.mjs')).writeExamples({ root, dist, drbg, ids, secrets, T0 })}`);
console.log(`wrote test/vectors/${await (await import('./vectors/groups.mjs')).writeGroupVectors({ root, dist, drbg })}`);
