// Binary mail page vectors (docs/PROTOCOL.md §7.2.1): pages with their JSON `mail` form (the
// same items, envelopes in base64), and refused pages with the code a reader reaches (`expect`)
// and the request id it reports. The envelopes are drbg bytes (a page's layout does not look
// inside them). Called from scripts/make-vectors.mjs; writes test/vectors/mail-pages.json.
import { writeFileSync } from 'node:fs';

export async function writeMailPageVectors({ root, dist, drbg }) {
  const { encodeMailBin, parseMailBin } = await import(dist('protocol/mail-binary.js'));
  const { toHex: hex, toB64 } = await import(dist('protocol/encoding.js'));
  const { MAX_ENVELOPE_BYTES, MAX_TIME } = await import(dist('protocol/frames.js'));
  const r = drbg('mail-pages').random;
  const T = 1_767_225_600_000; // 2026-01-01
  const item = (seq, len, time = T + seq) => ({ seq, eid: hex(r(16)), env: r(len), time });
  const json = (id, more, items) => ({ v: 1, t: 'mail', id: String(id), items: items.map((i) => ({ seq: i.seq, eid: i.eid, env: toB64(i.env), time: i.time })), more });

  const pages = [
    { name: 'empty', id: 1, more: false, items: [] },
    { name: 'one', id: 7, more: false, items: [item(1, 188)] },
    { name: 'three-more', id: 4_294_967_295, more: true, items: [item(41, 420), item(42, 0), item(2 ** 53 - 1, 97, MAX_TIME)] },
  ].map((p) => {
    const bytes = encodeMailBin(p.id, p.more, p.items);
    const back = parseMailBin(bytes);
    if (!back.ok || JSON.stringify(json(p.id, p.more, back.frame.items)) !== JSON.stringify(json(p.id, p.more, p.items)) || back.frame.more !== p.more) {
      throw new Error(`mail page ${p.name} does not round-trip`);
    }
    return { name: p.name, frame: hex(bytes), json: json(p.id, p.more, p.items) };
  });

  const three = Buffer.from(pages[2].frame, 'hex');
  const edit = (fn, from = three) => {
    const b = Buffer.from(from);
    fn(b);
    return b;
  };
  // The first item of `three` starts at 9; its envelope (420 bytes) at 45.
  const invalid = [
    ['empty', Buffer.alloc(0), 'BAD_FRAME'],
    ['header-short', three.subarray(0, 8), 'BAD_FRAME'],
    ['version-2', edit((b) => (b[0] = 2)), 'UNSUPPORTED_VERSION'],
    ['type-chunk', edit((b) => (b[1] = 2)), 'UNKNOWN_TYPE'],
    ['type-4', edit((b) => (b[1] = 4)), 'UNKNOWN_TYPE'],
    ['request-id-0', edit((b) => b.writeUInt32BE(0, 2)), 'BAD_FRAME'],
    ['more-2', edit((b) => (b[6] = 2)), 'BAD_FRAME'],
    ['count-501', edit((b) => b.writeUInt16BE(501, 7)), 'BAD_FRAME'],
    ['count-4', edit((b) => b.writeUInt16BE(4, 7)), 'BAD_FRAME'],
    ['count-2', edit((b) => b.writeUInt16BE(2, 7)), 'BAD_FRAME'],
    ['item-header-cut', three.subarray(0, 9 + 35), 'BAD_FRAME'],
    ['seq-2^53', edit((b) => b.writeUInt32BE(2 ** 21, 9)), 'BAD_FRAME'],
    [
      'time-over-2^48',
      edit((b) => {
        b.writeUInt32BE(2 ** 16, 17); // time = 2^48 + 1
        b.writeUInt32BE(1, 21);
      }),
      'BAD_FRAME',
    ],
    ['length-over-max', edit((b) => b.writeUInt32BE(MAX_ENVELOPE_BYTES + 1, 41)), 'BAD_FRAME'],
    ['envelope-cut', three.subarray(0, 9 + 36 + 419), 'BAD_FRAME'],
    ['trailing-byte', Buffer.concat([three, Buffer.of(0)]), 'BAD_FRAME'],
  ].map(([name, bytes, expect]) => {
    const res = parseMailBin(bytes);
    const got = res.ok ? 'OK' : res.code;
    if (got !== expect) throw new Error(`mail page ${name}: expected ${expect}, got ${got}`);
    return { name, frame: hex(bytes), expect, ...(res.ok || res.id === undefined ? {} : { id: res.id }) };
  });

  const v = {
    about: 'binary mail pages (docs/PROTOCOL.md §7.2.1): each page as bytes and as the JSON mail frame it stands for; refused pages with the code and request id a reader reports',
    pages,
    invalid,
  };
  writeFileSync(`${root}test/vectors/mail-pages.json`, JSON.stringify(v, null, 2) + '\n');
  return 'mail-pages.json';
}
