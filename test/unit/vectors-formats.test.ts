/**
 * Vectors of the formats around the envelope (test/vectors/relay-auth.json, receipts.json,
 * store.json; made by scripts/vectors/*.mjs): each expected byte string is recomputed here
 * from the layout in docs/PROTOCOL.md AND by the code, and every bad case must fail with its
 * `expect` code. A change to any of these formats fails here until the vectors (and the
 * protocol version) change with it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeReceipt, encodeReceipt, MAX_RECEIPT_IDS } from '../../src/client/receipts.js';
import { type Identity, identityFromSecrets } from '../../src/crypto/identity.js';
import { secretbox, secretboxOpen, sha512, signDetached, verifyDetached } from '../../src/crypto/nacl.js';
import { concatBytes, u32be, u64be } from '../../src/protocol/encoding.js';
import { paddedLength, PAYLOAD_HEADER_BYTES } from '../../src/protocol/envelope.js';
import { authSignedBytes, canonicalRelayUrl } from '../../src/protocol/frames.js';
import { encodeTransfer, parseTransfer, transferSignedBytes } from '../../src/protocol/name-transfer.js';
import * as codec from '../../src/store/db-codec.js';
import { codeOfSync, hex, unhex, utf8, vectors } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Case = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (name: string): any => JSON.parse(readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8'));
const rows = (arr: Case[], ...keys: string[]): Case[][] => arr.map((c) => [...keys.map((k) => c[k]), c]);
const ids: Record<string, Identity> = Object.fromEntries(
  Object.entries(vectors('envelope').identities as Record<string, { secrets: string }>).map(([n, v]) => [n, identityFromSecrets(unhex(v.secrets))]),
);
const D = (s: string): Uint8Array => concatBytes(utf8(s), Uint8Array.of(0));

describe('relay auth vectors (§7.3)', () => {
  const v = load('relay-auth');

  it.each(rows(v.urls, 'input', 'expect'))('canonical url of %j -> %s', (input, expected, c) => {
    let got: string | undefined;
    expect(codeOfSync(() => (got = canonicalRelayUrl(input)))).toBe(expected);
    if (expected === 'OK') {
      expect(got).toBe(c.canonical);
      expect(canonicalRelayUrl(c.canonical)).toBe(c.canonical);
    }
  });

  it.each(
    rows(
      v.auth.filter((c: Case) => c.signedBytes),
      'name',
    ),
  )('%s: signed bytes = D(relayAuth) || challenge || lp(url) || u64be(time), and the signature', (_n, c) => {
    const url = utf8(c.canonicalUrl);
    const spec = concatBytes(D('hush/v1/relay-auth'), unhex(v.challenge), u32be(url.length), url, u64be(c.time));
    expect(hex(spec)).toBe(c.signedBytes);
    expect(hex(authSignedBytes(unhex(v.challenge), c.canonicalUrl, c.time))).toBe(c.signedBytes);
    expect(hex(signDetached(spec, ids[c.identity]!.signSk))).toBe(c.sig);
  });

  it.each(rows(v.auth, 'name', 'expect'))('auth %s -> %s (what the relay concludes, clock aside)', (_n, expected, c) => {
    let got: string;
    let claimed: string | undefined;
    if (codeOfSync(() => (claimed = canonicalRelayUrl(c.url))) !== 'OK' || claimed !== v.relay) got = 'AUTH_WRONG_URL';
    else got = verifyDetached(authSignedBytes(unhex(v.challenge), v.relay, c.time), unhex(c.sig), unhex(c.signPk)) ? 'OK' : 'AUTH_FAILED';
    expect(got).toBe(expected);
  });

  it('a challenge that is not 32 bytes is refused', () => {
    expect(codeOfSync(() => authSignedBytes(unhex(v.badChallenge.challenge), v.relay, 0))).toBe(v.badChallenge.expect);
  });
});

describe('receipt vectors (§5.6)', () => {
  const v = load('receipts');

  it('the id limit is the one the vectors were made for', () => {
    expect(MAX_RECEIPT_IDS).toBe(v.maxIds);
  });

  it.each(rows(v.valid, 'name'))('%s: body = version || type || u16be(count) || ids, and its padded size', (_n, c) => {
    const body = unhex(c.body);
    const idList = Array.from({ length: c.count }, (_, i) => body.slice(4 + 16 * i, 20 + 16 * i));
    if (c.ids) expect(idList.map(hex)).toEqual(c.ids);
    const spec = concatBytes(Uint8Array.of(1, c.typeCode, c.count >>> 8, c.count & 0xff), ...idList);
    expect(hex(spec)).toBe(c.body);
    expect(body.length).toBe(c.bodyLength);
    expect(hex(encodeReceipt({ type: c.type, ids: idList }))).toBe(c.body);
    const back = decodeReceipt(body);
    expect(back.type).toBe(c.type);
    expect(back.ids.map(hex)).toEqual(idList.map(hex));
    expect(paddedLength(PAYLOAD_HEADER_BYTES + body.length)).toBe(c.payloadLength);
  });

  it('7 ids fit the 256-byte bucket, 8 do not', () => {
    const byName = Object.fromEntries(v.valid.map((c: Case) => [c.name, c]));
    expect(byName['delivered-7'].payloadLength).toBe(256);
    expect(byName['read-8'].payloadLength).toBe(272);
  });

  it.each(rows(v.invalid, 'name', 'expect'))('malformed %s -> %s', (_n, expected, c) => {
    expect(codeOfSync(() => decodeReceipt(unhex(c.body)))).toBe(expected);
  });
});

describe('local store record vectors (§8.2)', () => {
  const v = load('store');
  const key = unhex(v.historyKey);
  const other = unhex(v.otherHistoryKey);
  /** sealed = nonce[24] || crypto_secretbox(plaintext, nonce, historyKey) */
  const sealAs = (plain: Uint8Array, nonce: string): string => hex(concatBytes(unhex(nonce), secretbox(plain, unhex(nonce), key)));
  const plainOf = (sealed: Uint8Array): Uint8Array => {
    const p = secretboxOpen(sealed.subarray(24), sealed.subarray(0, 24), key);
    if (!p) throw new Error('does not open');
    return p;
  };

  it("historyKey is alice's identity secrets [64, 96)", () => {
    expect(hex(ids.alice!.historyKey)).toBe(v.historyKey);
  });

  it('check value: sealed D("hush/v1/store-check"); another key or a missing NUL does not match', () => {
    expect(v.check.plaintext).toBe(hex(D('hush/v1/store-check')));
    expect(sealAs(unhex(v.check.plaintext), v.check.nonce)).toBe(v.check.sealed);
    expect(codec.checkMatches(unhex(v.check.sealed), key)).toBe(true);
    expect(codec.checkMatches(unhex(v.check.sealed), other)).toBe(false);
    expect(codec.checkMatches(unhex(v.check.otherKey), key)).toBe(false);
    expect(codec.checkMatches(unhex(v.check.withoutNul), key)).toBe(false);
    expect(hex(plainOf(codec.makeCheck(key)))).toBe(v.check.plaintext);
  });

  it.each(rows(v.msgTags, 'msgId'))('msg_tag of %s = SHA-512(D("hush/v1/store-msgid") || historyKey || msgId)[0, 16)', (id, c) => {
    expect(hex(sha512(concatBytes(D('hush/v1/store-msgid'), key, unhex(id))).subarray(0, 16))).toBe(c.tag);
    expect(hex(codec.msgTag(unhex(id), key))).toBe(c.tag);
  });

  it.each(rows(v.contacts, 'name'))('contact record %s: sealed JSON, opened and re-sealed to the same plaintext', (_n, c) => {
    expect(sealAs(utf8(c.record), c.nonce)).toBe(c.sealed);
    const contact = codec.openContact(c.rowId, unhex(c.sealed), key);
    const j = JSON.parse(c.record);
    expect(contact.id).toBe(j.id);
    expect(contact.name).toBe(j.bundle.name);
    expect(contact.state).toBe(j.state);
    expect(contact.verified).toBe(j.verified);
    expect(contact.pinnedAt).toBe(j.pinnedAt);
    expect(contact.pendingBundle?.name).toBe(j.pending?.name);
    expect(j.v).toBe(2);
    expect(contact.label).toBe(j.label);
    expect(contact.relay).toBe(j.relay);
    expect((contact.rejected ?? []).map((k) => Buffer.from(k).toString('base64'))).toEqual(j.rejected ?? []);
    expect(new TextDecoder().decode(plainOf(codec.sealContact(contact, key)))).toBe(c.record);
  });

  it.each(rows(v.legacyMessages, 'name'))('version 1 message record %s (unpadded) still opens', (_n, c) => {
    const m = codec.openMessage(unhex(c.sealed), key, { ...c.row, tag: unhex(c.row.msgTag) });
    expect(m.body).toBe(c.text);
  });

  it.each(rows(v.legacyContacts, 'name'))('version 1 contact record %s still opens: label = bundle name, no relay', (_n, c) => {
    const contact = codec.openContact(c.rowId, unhex(c.sealed), key);
    expect(JSON.parse(c.record).v).toBe(1);
    expect(contact.label).toBe(c.label);
    expect(contact.relay ?? null).toBe(c.relay);
  });

  it.each(rows(v.messages, 'name'))('message record %s: 0x02 || msgId || dir || u64be(contact) || u64be(time) || bodyType || u32be(len) || body || zeros to padme', (_n, c) => {
    const head = concatBytes(
      Uint8Array.of(2),
      unhex(c.msgId),
      Uint8Array.of(c.row.direction === 'in' ? 0 : 1),
      u64be(c.row.contactId),
      u64be(c.row.time),
      Uint8Array.of(c.bodyType),
      u32be(unhex(c.body).length),
      unhex(c.body),
    );
    const spec = new Uint8Array(paddedLength(head.length));
    spec.set(head);
    expect(hex(spec)).toBe(c.plaintext);
    expect(sealAs(spec, c.nonce)).toBe(c.sealed);
    expect(hex(codec.msgTag(unhex(c.msgId), key))).toBe(c.row.msgTag);
    const m = codec.openMessage(unhex(c.sealed), key, { ...c.row, tag: unhex(c.row.msgTag) });
    expect(hex(m.msgId)).toBe(c.msgId);
    if (c.bodyType === 0) expect(m.body).toBe(c.text);
    else expect(hex(m.body as Uint8Array)).toBe(c.body);
    const again = codec.sealMessage({ msgId: unhex(c.msgId), direction: c.row.direction, contactId: c.row.contactId, time: c.row.time, body: m.body }, key);
    expect(hex(plainOf(again))).toBe(c.plaintext);
  });

  it('message records of every size, one after another, are the layout above (sealMessage builds them in one kept array, zeroed after each seal)', () => {
    const id = unhex('00112233445566778899aabbccddeeff');
    const bodies: (string | Uint8Array)[] = ['x'.repeat(9000), '', 'é'.repeat(100), new Uint8Array(8200).fill(7), 'short', new Uint8Array(0)];
    for (const [i, body] of bodies.entries()) {
      const bytes = typeof body === 'string' ? utf8(body) : body;
      const m = { msgId: id, direction: i % 2 ? ('out' as const) : ('in' as const), contactId: 2 ** 40 + i, time: 1_800_000_000_000 + i, body };
      const head = concatBytes(
        Uint8Array.of(2),
        id,
        Uint8Array.of(i % 2),
        u64be(m.contactId),
        u64be(m.time),
        Uint8Array.of(typeof body === 'string' ? 0 : 1),
        u32be(bytes.length),
        bytes,
      );
      const spec = new Uint8Array(paddedLength(head.length));
      spec.set(head);
      expect(hex(plainOf(codec.sealMessage(m, key)))).toBe(hex(spec));
    }
    expect(codeOfSync(() => codec.sealMessage({ msgId: new Uint8Array(17), direction: 'in', contactId: 1, time: 1, body: 'x' }, key))).toBe('BAD_LENGTH');
  });

  it.each(rows(v.outbox, 'name'))('outbox ref %s: 0x01 || msgId || u64be(contact) || utf8(eid)', (_n, c) => {
    const spec = concatBytes(Uint8Array.of(1), unhex(c.msgId), u64be(c.row.contactId), utf8(c.row.eid));
    expect(hex(spec)).toBe(c.plaintext);
    expect(sealAs(spec, c.nonce)).toBe(c.sealed);
    expect(hex(codec.openOutboxRef(unhex(c.sealed), key, c.row))).toBe(c.msgId);
    expect(hex(plainOf(codec.sealOutboxRef(unhex(c.msgId), c.row.contactId, c.row.eid, key)))).toBe(c.plaintext);
  });

  it.each(rows(v.quarantine, 'name'))('quarantine info %s: sealed JSON {v, eid, reason, senderSignPk?}', (_n, c) => {
    const j = JSON.parse(c.info);
    expect(j).toEqual({ v: 1, eid: c.row.eid, reason: c.reason, ...(c.senderSignPk ? { senderSignPk: Buffer.from(unhex(c.senderSignPk)).toString('base64') } : {}) });
    expect(sealAs(utf8(c.info), c.nonce)).toBe(c.sealed);
    const q = codec.openQuarantineInfo(unhex(c.sealed), key, c.row.eid);
    expect(q.reason).toBe(c.reason);
    expect(q.senderSignPk ? hex(q.senderSignPk) : undefined).toBe(c.senderSignPk);
    const again = codec.sealQuarantineInfo(c.row.eid, c.reason, c.senderSignPk ? unhex(c.senderSignPk) : undefined, key);
    expect(new TextDecoder().decode(plainOf(again))).toBe(c.info);
  });

  it.each(rows(v.invalid, 'name', 'expect'))('refused %s -> %s', (_n, expected, c) => {
    const sealed = unhex(c.sealed);
    const open = {
      contact: () => codec.openContact(c.row.rowId, sealed, key),
      message: () => codec.openMessage(sealed, key, { ...c.row, tag: unhex(c.row.msgTag) }),
      outbox: () => codec.openOutboxRef(sealed, key, c.row),
      quarantine: () => codec.openQuarantineInfo(sealed, key, c.row.eid),
    }[c.record as 'contact' | 'message' | 'outbox' | 'quarantine'];
    expect(codeOfSync(open)).toBe(expected);
  });
});

describe('name-transfer vectors (§7.2 "Transfer")', () => {
  const v = load('name-transfer');
  const pk = (n: string): Uint8Array => unhex(v.signPk[n]);

  it.each(rows(v.valid, 'note'))('%s: signed bytes = D(nameTransfer) || u8(len) || name || from || to, the signature, the statement', (_n, c) => {
    const name = utf8(c.name);
    const spec = concatBytes(D('hush/v1/name-transfer'), Uint8Array.of(name.length), name, pk(c.from), pk(c.to));
    expect(hex(spec)).toBe(c.signedBytes);
    expect(hex(transferSignedBytes(c.name, pk(c.from), pk(c.to)))).toBe(c.signedBytes);
    expect(hex(signDetached(spec, ids[c.from]!.signSk))).toBe(c.sig);
    const text = `{"type":"hush-name-transfer","v":1,"name":"${c.name}","from":"${Buffer.from(pk(c.from)).toString('base64')}","to":"${Buffer.from(pk(c.to)).toString('base64')}","sig":"${Buffer.from(unhex(c.sig)).toString('base64')}"}`;
    expect(c.statement).toBe(text);
    expect(encodeTransfer(parseTransfer(text))).toBe(text);
  });

  it.each(rows(v.relay, 'note', 'expect'))('relay: %s -> %s', (_n, expected, c) => {
    const from = pk(c.from);
    const to = pk(c.to);
    let got: string;
    if (!verifyDetached(transferSignedBytes(c.name, from, to), unhex(c.sig), from)) got = 'BAD_TRANSFER';
    else if (c.holder === null) got = 'NOT_FOUND';
    else if (c.holder === c.to || c.holder === c.from) got = 'OK';
    else got = 'NAME_TAKEN';
    expect(got).toBe(expected);
  });

  it.each(rows(v.invalid, 'note', 'expect'))('statement %s -> %s', (_n, expected, c) => {
    expect(codeOfSync(() => parseTransfer(c.text))).toBe(expected);
  });
});
