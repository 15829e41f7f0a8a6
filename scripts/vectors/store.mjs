// Local store record vectors (docs/PROTOCOL.md §8.2): the sealed contact record, message record,
// outbox ref and quarantine info, the msg_tag and the store check value, under alice's
// historyKey, plus records a reader must refuse. The plaintexts are what hush's own sealing
// functions produce; the nonces come from the seeded stream so the sealed bytes are fixed.
// Called from scripts/make-vectors.mjs; writes test/vectors/store.json.
import { codeOf } from './lib.mjs';
import { writeFileSync } from 'node:fs';

export async function writeStoreVectors({ root, dist, drbg, ids, secrets, T0 }) {
  const codec = await import(dist('store/db-codec.js'));
  const { secretbox, secretboxOpen } = await import(dist('crypto/nacl.js'));
  const { makeBundle } = await import(dist('crypto/bundle.js'));
  const { bundleToJson } = await import(dist('protocol/bundle.js'));
  const { envelopeId } = await import(dist('protocol/envelope.js'));
  const { toHex: hex, concatBytes, fromUtf8, u64be: u64 } = await import(dist('protocol/encoding.js'));
  const key = secrets.alice.slice(64, 96);
  const otherKey = secrets.bob.slice(64, 96);
  const code = codeOf;
  /** hush's sealing gives nonce || box with a random nonce: keep its plaintext, seal it again with a seeded nonce. */
  const reseal = (sealedByHush, label, k = key) => {
    const plain = secretboxOpen(sealedByHush.subarray(24), sealedByHush.subarray(0, 24), k);
    if (!plain) throw new Error(`${label}: hush's own record does not open`);
    const nonce = drbg(`store/${label}`).random(24);
    return { plaintext: plain, nonce, sealed: concatBytes(nonce, secretbox(plain, nonce, k)) };
  };
  const sealRaw = (plain, label, k = key) => {
    const nonce = drbg(`store/${label}`).random(24);
    return concatBytes(nonce, secretbox(plain, nonce, k));
  };

  // --- check value and tags ------------------------------------------------------------------
  const chk = reseal(codec.makeCheck(key), 'check');
  if (!codec.checkMatches(chk.sealed, key) || codec.checkMatches(chk.sealed, otherKey)) throw new Error('check value');
  const check = { plaintext: hex(chk.plaintext), text: fromUtf8(chk.plaintext.subarray(0, -1)) + '\\0', nonce: hex(chk.nonce), sealed: hex(chk.sealed) };
  const wrongKeyCheck = hex(sealRaw(chk.plaintext, 'check-other-key', otherKey));
  const badCheck = hex(sealRaw(new TextEncoder().encode('hush/v1/store-check'), 'check-no-nul'));
  if (codec.checkMatches(Buffer.from(badCheck, 'hex'), key)) throw new Error('check without NUL accepted');

  const msgIds = drbg('store/msg-ids');
  const tags = [new Uint8Array(16), Uint8Array.from({ length: 16 }, (_, i) => i), msgIds.random(16), msgIds.random(16)].map((id) => ({
    msgId: hex(id),
    tag: hex(codec.msgTag(id, key)),
  }));

  // --- contacts ------------------------------------------------------------------------------
  const bundle = (n, t) => makeBundle(ids[n], n, t);
  const contactOf = (rowId, n, extra = {}) => {
    const b = bundle(n, T0);
    return {
      id: rowId,
      label: n,
      name: n,
      relay: 'ws://127.0.0.1:7070',
      signPk: b.signPk,
      boxPk: b.boxPk,
      bundle: b,
      pinnedAt: T0 + 60000,
      verified: false,
      state: 'trusted',
      ...extra,
    };
  };
  // A second "bob" (carol's key) pinned from another relay, with a refused key: label name@host.
  const otherBob = makeBundle(ids.carol, 'bob', T0);
  const bobElsewhere = {
    id: 4,
    label: 'bob@relay.example:7443',
    name: 'bob',
    relay: 'wss://relay.example:7443',
    signPk: otherBob.signPk,
    boxPk: otherBob.boxPk,
    bundle: otherBob,
    pinnedAt: T0 + 180000,
    verified: false,
    state: 'trusted',
    rejected: [ids.dave.signPk],
  };
  const contacts = [
    ['bob-unverified', contactOf(1, 'bob')],
    ['carol-verified', contactOf(2, 'carol', { verified: true, pinnedAt: T0 + 120000 })],
    ['dave-changed', contactOf(3, 'dave', { state: 'changed', pendingBundle: makeBundle(ids.bob, 'dave', T0 + 3600000), pendingSeenAt: T0 + 7200000 })],
    ['bob-other-relay-rejected', bobElsewhere],
  ].map(([name, c]) => {
    const r = reseal(codec.sealContact(c, key), `contact/${name}`);
    const back = codec.openContact(c.id, r.sealed, key);
    if (back.name !== c.name || back.label !== c.label || back.relay !== c.relay || back.state !== c.state || back.verified !== c.verified) throw new Error(`contact ${name}`);
    return { name, rowId: c.id, record: fromUtf8(r.plaintext), nonce: hex(r.nonce), sealed: hex(r.sealed) };
  });
  // Version 1 message records (unpadded, written before hush padded them) still open.
  const legacyMessages = [['in-text-v1', { msgId: msgIds.random(16), direction: 'in', contactId: 1, time: T0 + 500, body: 'hello from the past' }]].map(([name, m]) => {
    const plain = concatBytes(Uint8Array.of(1), m.msgId, Uint8Array.of(0), u64(m.contactId), u64(m.time), Uint8Array.of(0), new TextEncoder().encode(m.body));
    const sealed = sealRaw(plain, `message-v1/${name}`);
    const row = { tag: codec.msgTag(m.msgId, key), direction: m.direction, contactId: m.contactId, time: m.time };
    if (codec.openMessage(sealed, key, row).body !== m.body) throw new Error(`legacy message ${name}`);
    return { name, row: { msgTag: hex(row.tag), direction: m.direction, contactId: m.contactId, time: m.time }, text: m.body, plaintext: hex(plain), sealed: hex(sealed) };
  });
  // Version 1 records (written before labels and relays) still open: label = bundle name, no relay.
  const legacyContacts = [['bob-v1', 1, { v: 1, id: 1, bundle: bundleToJson(bundle('bob', T0)), pinnedAt: T0 + 60000, verified: true, state: 'trusted' }]].map(
    ([name, rowId, j]) => {
      const record = JSON.stringify(j);
      const sealed = sealRaw(new TextEncoder().encode(record), `contact-v1/${name}`);
      const back = codec.openContact(rowId, sealed, key);
      if (back.label !== 'bob' || back.relay !== undefined) throw new Error(`legacy contact ${name}`);
      return { name, rowId, record, sealed: hex(sealed), label: back.label, relay: null };
    },
  );

  // --- messages ------------------------------------------------------------------------------
  const messages = [
    ['in-text', { msgId: msgIds.random(16), direction: 'in', contactId: 1, time: T0 + 1000, body: 'hello alice' }],
    ['out-text', { msgId: msgIds.random(16), direction: 'out', contactId: 1, time: T0 + 2000, body: 'grüße, 🌍' }],
    ['out-empty', { msgId: msgIds.random(16), direction: 'out', contactId: 2, time: 0, body: '' }],
    ['in-bytes', { msgId: msgIds.random(16), direction: 'in', contactId: 2, time: Number.MAX_SAFE_INTEGER, body: Uint8Array.of(0xff, 0x00, 0xfe) }],
  ].map(([name, m]) => {
    const r = reseal(codec.sealMessage(m, key), `message/${name}`);
    const row = { tag: codec.msgTag(m.msgId, key), direction: m.direction, contactId: m.contactId, time: m.time };
    const back = codec.openMessage(r.sealed, key, row);
    if (hex(back.msgId) !== hex(m.msgId)) throw new Error(`message ${name}`);
    const text = typeof m.body === 'string';
    return {
      name,
      row: { msgTag: hex(row.tag), direction: m.direction, contactId: m.contactId, time: m.time },
      msgId: hex(m.msgId),
      bodyType: text ? 0 : 1,
      ...(text ? { text: m.body } : {}),
      body: hex(text ? new TextEncoder().encode(m.body) : m.body),
      plaintext: hex(r.plaintext),
      nonce: hex(r.nonce),
      sealed: hex(r.sealed),
    };
  });

  // --- outbox --------------------------------------------------------------------------------
  const outbox = [1, 2].map((contactId, i) => {
    const msgId = msgIds.random(16);
    const eid = envelopeId(drbg(`store/outbox-env/${i}`).random(402));
    const r = reseal(codec.sealOutboxRef(msgId, contactId, eid, key), `outbox/${i}`);
    if (hex(codec.openOutboxRef(r.sealed, key, { contactId, eid })) !== hex(msgId)) throw new Error('outbox');
    return { name: `outbox-${i}`, row: { contactId, eid }, msgId: hex(msgId), plaintext: hex(r.plaintext), nonce: hex(r.nonce), sealed: hex(r.sealed) };
  });

  // --- quarantine ----------------------------------------------------------------------------
  const quarantine = [
    ['key-changed', 'KEY_CHANGED', ids.dave.signPk],
    ['unknown-sender', 'UNKNOWN_SENDER', ids.carol.signPk],
    ['tampered-no-sender', 'TAMPERED', undefined],
  ].map(([name, reason, pk], i) => {
    const eid = envelopeId(drbg(`store/quarantine-env/${i}`).random(402));
    const r = reseal(codec.sealQuarantineInfo(eid, reason, pk, key), `quarantine/${name}`);
    const back = codec.openQuarantineInfo(r.sealed, key, eid);
    if (back.reason !== reason) throw new Error(`quarantine ${name}`);
    return { name, row: { eid }, reason, ...(pk ? { senderSignPk: hex(pk) } : {}), info: fromUtf8(r.plaintext), nonce: hex(r.nonce), sealed: hex(r.sealed) };
  });

  // --- records a reader refuses (each STORE_CORRUPT) -------------------------------------------
  const invalid = [];
  const u8 = (h) => new Uint8Array(Buffer.from(h, 'hex'));
  const enc = (s) => new TextEncoder().encode(s);
  const refuse = (name, record, row, sealed, note) => {
    const open = {
      contact: () => codec.openContact(row.rowId, sealed, key),
      message: () => codec.openMessage(sealed, key, { ...row, tag: u8(row.msgTag) }),
      outbox: () => codec.openOutboxRef(sealed, key, row),
      quarantine: () => codec.openQuarantineInfo(sealed, key, row.eid),
    }[record];
    const got = code(open);
    if (got !== 'STORE_CORRUPT') throw new Error(`store case ${name}: expected STORE_CORRUPT, got ${got}`);
    invalid.push({ name, record, row, sealed: hex(sealed), expect: got, ...(note ? { note } : {}) });
  };
  const c0 = contacts[0];
  refuse('contact-other-row', 'contact', { rowId: 2 }, u8(c0.sealed), 'a record moved to another row: its id says 1');
  refuse('contact-other-key', 'contact', { rowId: 1 }, sealRaw(enc(c0.record), 'bad/contact-other-key', otherKey), 'sealed under another history key');
  refuse(
    'contact-flipped',
    'contact',
    { rowId: 1 },
    (() => {
      const s = u8(c0.sealed);
      s[30] ^= 1;
      return s;
    })(),
  );
  refuse('contact-version-3', 'contact', { rowId: 1 }, sealRaw(enc(c0.record.replace('{"v":2,', '{"v":3,')), 'bad/contact-v3'));
  refuse('contact-v2-no-label', 'contact', { rowId: 1 }, sealRaw(enc(c0.record.replace('"label":"bob",', '')), 'bad/contact-no-label'));
  refuse('contact-bad-state', 'contact', { rowId: 1 }, sealRaw(enc(c0.record.replace('"state":"trusted"', '"state":"blocked"')), 'bad/contact-state'));
  refuse('contact-not-json', 'contact', { rowId: 1 }, sealRaw(enc('{"v":1,'), 'bad/contact-json'));
  const m0 = messages[0];
  const p0 = u8(m0.plaintext);
  const withByte = (p, i, v) => {
    const q = new Uint8Array(p);
    q[i] = v;
    return q;
  };
  refuse('message-direction', 'message', { ...m0.row, direction: 'out' }, u8(m0.sealed), 'the row says out, the record in');
  refuse('message-contact', 'message', { ...m0.row, contactId: 2 }, u8(m0.sealed));
  refuse('message-time', 'message', { ...m0.row, time: m0.row.time + 1 }, u8(m0.sealed));
  refuse('message-tag', 'message', { ...m0.row, msgTag: messages[1].row.msgTag }, u8(m0.sealed), "the row's tag is of another id");
  // v2 record: 0x02 || msgId || dir || contact || time || bodyType (offset 34) || u32be len (35) || body (39) || zeros
  const v2 = (type, len, body, size) => {
    const q = new Uint8Array(size);
    q.set(p0.subarray(0, 34));
    q[34] = type;
    new DataView(q.buffer).setUint32(35, len);
    q.set(body, 39);
    return q;
  };
  refuse('message-version-3', 'message', m0.row, sealRaw(withByte(p0, 0, 3), 'bad/message-v3'));
  refuse('message-body-type-2', 'message', m0.row, sealRaw(withByte(p0, 34, 2), 'bad/message-type'));
  refuse('message-bad-utf8', 'message', m0.row, sealRaw(v2(0, 2, Uint8Array.of(0xc3, 0x28), 256), 'bad/message-utf8'), 'bodyType 0 but not UTF-8');
  refuse('message-short', 'message', m0.row, sealRaw(p0.subarray(0, 34), 'bad/message-short'), 'shorter than the 35-byte header');
  refuse('message-length-past-end', 'message', m0.row, sealRaw(v2(0, 300, new Uint8Array(0), 256), 'bad/message-len'), 'the body length runs past the record');
  refuse('message-not-padded', 'message', m0.row, sealRaw(v2(0, 11, p0.subarray(39, 50), 50), 'bad/message-pad'), 'not padded to padme(39 + length)');
  refuse('message-padding-not-zero', 'message', m0.row, sealRaw(withByte(p0, 255, 1), 'bad/message-pad-byte'), 'a padding byte is not 0x00');
  const o0 = outbox[0];
  refuse('outbox-eid', 'outbox', { ...o0.row, eid: outbox[1].row.eid }, u8(o0.sealed));
  refuse('outbox-contact', 'outbox', { ...o0.row, contactId: 2 }, u8(o0.sealed));
  refuse('outbox-version-2', 'outbox', o0.row, sealRaw(withByte(u8(o0.plaintext), 0, 2), 'bad/outbox-v2'));
  const q0 = quarantine[0];
  refuse('quarantine-eid', 'quarantine', { eid: quarantine[1].row.eid }, u8(q0.sealed));
  refuse('quarantine-version-2', 'quarantine', q0.row, sealRaw(enc(q0.info.replace('{"v":1,', '{"v":2,')), 'bad/quarantine-v2'));
  refuse(
    'quarantine-sender-31',
    'quarantine',
    q0.row,
    sealRaw(enc(JSON.stringify({ v: 1, eid: q0.row.eid, reason: 'KEY_CHANGED', senderSignPk: Buffer.alloc(31).toString('base64') })), 'bad/quarantine-pk'),
  );

  const json = {
    description: "hush local store records (docs/PROTOCOL.md §8.2), sealed under alice's historyKey (identities as in envelope.json); generated by scripts/vectors/store.mjs",
    historyKey: hex(key),
    otherHistoryKey: hex(otherKey),
    check: { ...check, otherKey: wrongKeyCheck, withoutNul: badCheck },
    msgTags: tags,
    contacts,
    legacyContacts,
    legacyMessages,
    messages,
    outbox,
    quarantine,
    invalid,
  };
  writeFileSync(`${root}test/vectors/store.json`, JSON.stringify(json, null, 2) + '\n');
  return `store.json (${contacts.length + messages.length + outbox.length + quarantine.length} records, ${invalid.length} invalid)`;
}
