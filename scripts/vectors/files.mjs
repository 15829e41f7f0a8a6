// File vectors (docs/PROTOCOL.md §11): a 3-chunk file with chunk size 1024 (every nonce, AD and
// sealed chunk), an empty file, a file message body, failure cases with the code a reader
// reaches (`expect`), and file names with their sanitised forms; since version-2 file messages,
// a 2-chunk file of 1 MiB chunks (`large`, its bytes by a rule, the sealed chunks by SHA-256),
// its version-2 body, and more refused bodies and binary frames (appended: the old ones stay).
// Called from scripts/make-vectors.mjs; writes test/vectors/files.json.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { codeOf } from './lib.mjs';

export async function writeFileVectors({ root, dist, drbg }) {
  const { sealChunk, openBlob } = await import(dist('crypto/file-chunks.js'));
  const { chunkAd, chunkNonce, chunkCount } = await import(dist('protocol/file-chunks.js'));
  const { encodeFileBody, parseFileBody, sanitiseFileName } = await import(dist('protocol/file-descriptor.js'));
  const { toHex: hex, toB64 } = await import(dist('protocol/encoding.js'));
  const { encodeBlobBin, parseBlobBin } = await import(dist('protocol/blob-binary.js'));
  const r = drbg('files').random;
  const sha = (b) => createHash('sha256').update(b).digest();
  const CH = 1024;

  const file = (label, size) => {
    const key = r(32);
    const blobId = r(16);
    const plain = Buffer.from(size === 0 ? new Uint8Array(0) : drbg(`files/${label}/plain`).random(size));
    const n = chunkCount(size, CH);
    const chunks = [];
    for (let i = 0; i < n; i++) {
      const final = i === n - 1;
      const part = plain.subarray(i * CH, Math.min((i + 1) * CH, size));
      chunks.push({ i, final, nonce: hex(chunkNonce(i, final)), ad: hex(chunkAd(blobId, i, final)), plain: hex(part), sealed: hex(sealChunk(key, blobId, i, final, part)) });
    }
    const back = openBlob(
      key,
      blobId,
      size,
      CH,
      sha(plain),
      chunks.map((c) => Buffer.from(c.sealed, 'hex')),
    );
    if (!back.equals(plain)) throw new Error(`file ${label} does not round-trip`);
    return { name: label, key: hex(key), blobId: hex(blobId), size, chunk: CH, sha256: hex(sha(plain)), chunks };
  };
  const three = file('three-chunks', 2 * CH + 300);
  const empty = file('empty', 0);
  const other = file('other-file', 2 * CH + 300);

  const bytes = (f) => ({ key: Buffer.from(f.key, 'hex'), blobId: Buffer.from(f.blobId, 'hex'), sha: Buffer.from(f.sha256, 'hex') });
  const sealedOf = (f) => f.chunks.map((c) => Buffer.from(c.sealed, 'hex'));
  const invalid = [];
  const bad = (name, f, size, chunks, expect, note) => {
    const b = bytes(f);
    const got = codeOf(() => openBlob(b.key, b.blobId, size, CH, b.sha, chunks));
    if (got !== expect) throw new Error(`files ${name}: expected ${expect}, got ${got}`);
    invalid.push({ name, file: f.name, size, chunks: chunks.map(hex), expect, note });
  };
  const s3 = sealedOf(three);
  const flipped = Buffer.from(s3[1]);
  flipped[5] ^= 1;
  bad('bit-flipped', three, three.size, [s3[0], flipped, s3[2]], 'CHUNK_TAMPERED', 'one ciphertext bit of chunk 1 changed');
  bad(
    'tag-flipped',
    three,
    three.size,
    [s3[0], s3[1], Buffer.concat([s3[2].subarray(0, -1), Buffer.from([s3[2].at(-1) ^ 0x80])])],
    'CHUNK_TAMPERED',
    'the tag of the last chunk changed',
  );
  bad('swapped', three, three.size, [s3[1], s3[0], s3[2]], 'CHUNK_TAMPERED', 'chunks 0 and 1 swapped: the index is bound');
  bad('truncated-count', three, three.size, [s3[0], s3[1]], 'CHUNK_COUNT', 'the blob cut after chunk 1: fewer chunks than the size says');
  bad('truncated-final-flag', three, 2 * CH, [s3[0], s3[1]], 'CHUNK_TAMPERED', 'cut after chunk 1 and a size of 2 chunks: chunk 1 was sealed non-final');
  {
    const b = bytes(three);
    const extra = sealChunk(b.key, b.blobId, 3, false, Buffer.alloc(10));
    bad('extended-count', three, three.size, [...s3, extra], 'CHUNK_COUNT', 'a chunk appended: more chunks than the size says');
    bad(
      'extended-final-flag',
      three,
      3 * CH + 10,
      [...s3.slice(0, 2), sealChunk(b.key, b.blobId, 2, false, Buffer.from(three.chunks[2].plain, 'hex')), extra],
      'CHUNK_TAMPERED',
      'with a size of 4 chunks, chunk 2 (sealed final) no longer is',
    );
  }
  bad('spliced', three, three.size, [s3[0], sealedOf(other)[1], s3[2]], 'CHUNK_TAMPERED', 'chunk 1 taken from another file (other key and blob id)');
  {
    const b = bytes(three);
    const lastNonFinal = sealChunk(b.key, b.blobId, 2, false, Buffer.from(three.chunks[2].plain, 'hex'));
    bad('last-not-final', three, three.size, [s3[0], s3[1], lastNonFinal], 'CHUNK_TAMPERED', 'the last chunk sealed with final flag 0');
    const firstFinal = sealChunk(b.key, b.blobId, 0, true, Buffer.from(three.chunks[0].plain, 'hex'));
    bad('early-final', three, three.size, [firstFinal, s3[1], s3[2]], 'CHUNK_TAMPERED', 'chunk 0 sealed with final flag 1');
  }
  {
    const b = bytes(three);
    const wrongId = Buffer.from(b.blobId);
    wrongId[0] ^= 1;
    const got = codeOf(() => openBlob(b.key, wrongId, three.size, CH, b.sha, s3));
    if (got !== 'CHUNK_TAMPERED') throw new Error(`files other-blob-id: ${got}`);
    invalid.push({
      name: 'other-blob-id',
      file: three.name,
      blobId: hex(wrongId),
      size: three.size,
      chunks: s3.map(hex),
      expect: 'CHUNK_TAMPERED',
      note: 'the right chunks under another blob id',
    });
  }
  {
    const b = bytes(three);
    const wrongSha = Buffer.from(b.sha);
    wrongSha[31] ^= 1;
    const got = codeOf(() => openBlob(b.key, b.blobId, three.size, CH, wrongSha, s3));
    if (got !== 'FILE_HASH_MISMATCH') throw new Error(`files wrong-sha256: ${got}`);
    invalid.push({
      name: 'wrong-sha256',
      file: three.name,
      sha256: hex(wrongSha),
      size: three.size,
      chunks: s3.map(hex),
      expect: 'FILE_HASH_MISMATCH',
      note: 'every chunk opens, the announced hash differs',
    });
  }

  const d = {
    blob: Buffer.from(three.blobId, 'hex'),
    key: Buffer.from(three.key, 'hex'),
    size: three.size,
    chunk: CH,
    sha256: Buffer.from(three.sha256, 'hex'),
    name: 'report.pdf',
    text: 'the Q3 report',
  };
  const body = encodeFileBody(d);
  const parsed = parseFileBody(body);
  if (parsed.name !== 'report.pdf' || toB64(parsed.key) !== toB64(d.key)) throw new Error('file body does not round-trip');
  const badBodies = [
    ['version-2', '\u0000' + JSON.stringify({ file: 2 }), 'BAD_FILE_MESSAGE'],
    ['not-json', '\u0000{file', 'BAD_FILE_MESSAGE'],
    ['key-31-bytes', body.replace(/"key":"[^"]+"/, `"key":"${toB64(new Uint8Array(31))}"`), 'BAD_FILE_MESSAGE'],
    ['chunk-too-large', body.replace('"chunk":1024', '"chunk":65537'), 'BAD_FILE_MESSAGE'],
    ['blob-uppercase', body.replace(/"blob":"([0-9a-f]+)"/, (_m, h) => `"blob":"${h.toUpperCase()}"`), 'BAD_FILE_MESSAGE'],
    ['text-body', 'hello', 'OK'],
    // Since version 2 (chunks up to 1 MiB):
    ['version-1-chunk-1mib', body.replace('"chunk":1024', '"chunk":1048576'), 'BAD_FILE_MESSAGE'],
    ['version-2-chunk-1mib', body.replace('"file":1', '"file":2').replace('"chunk":1024', '"chunk":1048576'), 'OK'],
    ['version-2-chunk-too-large', body.replace('"file":1', '"file":2').replace('"chunk":1024', '"chunk":1048577'), 'BAD_FILE_MESSAGE'],
    ['version-3', body.replace('"file":1', '"file":3'), 'BAD_FILE_MESSAGE'],
  ].map(([name, b, expect]) => {
    const got = codeOf(() => parseFileBody(b));
    if (got !== expect) throw new Error(`file body ${name}: expected ${expect}, got ${got}`);
    return { name, body: hex(Buffer.from(b, 'utf8')), expect };
  });

  const names = [
    'report.pdf',
    '../../etc/passwd',
    'C:\\Windows\\system32\\cmd.exe',
    '..',
    '.',
    '.bashrc',
    'CON',
    'lpt1.txt',
    'a\u0000b',
    'evil\u202Etxt.exe',
    'tab\there',
    ' spaced . ',
    'x'.repeat(300) + '.tar.gz',
    'é'.repeat(200),
    '',
    'a<b>c:d"e|f?g*h',
  ].map((input) => ({ input, output: sanitiseFileName(input) }));

  // Binary blob frames (§7.9.1): a put and a chunk carrying chunk 1 of the 3-chunk file, then
  // frames a reader must refuse, each with the code and (once the header holds it) the request id.
  const rb = drbg('files/binary').random;
  const binId = Buffer.from(rb(4)).readUInt32BE(0) || 1;
  const sealed1 = Buffer.from(three.chunks[1].sealed, 'hex');
  const blobBytes = Buffer.from(three.blobId, 'hex');
  const binFrames = [
    { name: 'put', type: 'put', id: binId, blob: three.blobId, i: 1, data: three.chunks[1].sealed },
    { name: 'chunk', type: 'chunk', id: 7, blob: three.blobId, i: 1, data: three.chunks[1].sealed },
    { name: 'chunk-high-index', type: 'chunk', id: 4294967295, blob: three.blobId, i: 2 ** 48 - 1, data: hex(Buffer.alloc(16)) },
  ].map((f) => {
    const bytes = encodeBlobBin(f.type, f.id, Buffer.from(f.blob, 'hex'), f.i, Buffer.from(f.data, 'hex'));
    const back = parseBlobBin(bytes, f.type);
    if (!back.ok || back.frame.id !== String(f.id) || back.frame.i !== f.i || hex(back.frame.data) !== f.data) throw new Error(`binary frame ${f.name} does not round-trip`);
    return { ...f, frame: hex(bytes) };
  });
  const put = Buffer.from(binFrames[0].frame, 'hex');
  const edit = (fn) => {
    const b = Buffer.from(put);
    fn(b);
    return b;
  };
  const invalidBinary = [
    ['empty', Buffer.alloc(0), 'put', 'BAD_FRAME'],
    ['stray-4-bytes', Buffer.from([0x00, 0xff, 0x7b, 0x7d]), 'put', 'BAD_FRAME'],
    ['version-2-short', edit((b) => (b[0] = 2)).subarray(0, 40), 'put', 'BAD_FRAME'],
    ['version-2', edit((b) => (b[0] = 2)), 'put', 'UNSUPPORTED_VERSION'],
    ['type-chunk-to-relay', edit((b) => (b[1] = 2)), 'put', 'UNKNOWN_TYPE'],
    ['type-3', edit((b) => (b[1] = 3)), 'put', 'UNKNOWN_TYPE'],
    ['request-id-0', edit((b) => b.writeUInt32BE(0, 2)), 'put', 'BAD_FRAME'],
    ['index-2^48', edit((b) => b.writeUInt32BE(0x10000, 22)), 'put', 'BAD_FRAME'],
    ['header-only', put.subarray(0, 30), 'put', 'BAD_FRAME'],
    ['data-15-bytes', put.subarray(0, 30 + 15), 'put', 'BAD_FRAME'],
    ['data-65553-bytes', Buffer.concat([put.subarray(0, 30), Buffer.alloc(65553)]), 'put', 'BAD_FRAME'],
    // Since large chunks: a reader that declared 1 MiB chunks (a relay's limits.blobChunk + 16, a client) takes up to 1,048,592 bytes.
    ['data-65553-bytes-large-chunks', Buffer.concat([put.subarray(0, 30), Buffer.alloc(65553)]), 'put', 'OK', 1048592],
    ['data-1048593-bytes-large-chunks', Buffer.concat([put.subarray(0, 30), Buffer.alloc(1048593)]), 'put', 'BAD_FRAME', 1048592],
  ].map(([name, bytes, want, expect, maxData]) => {
    const r = parseBlobBin(bytes, want, maxData);
    const got = r.ok ? 'OK' : r.code;
    if (got !== expect) throw new Error(`binary frame ${name}: expected ${expect}, got ${got}`);
    // The 65,553-byte case is stored as its length and header only (the data is zeros).
    return {
      name,
      want,
      ...(bytes.length > 4096 ? { header: hex(bytes.subarray(0, 30)), zeros: bytes.length - 30 } : { frame: hex(bytes) }),
      expect,
      ...(maxData === undefined ? {} : { maxData }),
      ...(r.ok || r.id === undefined ? {} : { id: r.id }),
    };
  });
  if (!blobBytes.equals(Buffer.from(put.subarray(6, 22))) || !sealed1.equals(put.subarray(30))) throw new Error('binary put layout');

  // Version 2: 1 MiB chunks. The plaintext by a rule (byte k = (31 k + 7) mod 256), the sealed
  // chunks by length and SHA-256 (the second, 300 bytes, in full), so the file stays small.
  const LARGE = 1048576;
  const rl = drbg('files/large').random;
  const lk = rl(32);
  const lb = rl(16);
  const lsize = LARGE + 300;
  const lplain = Buffer.alloc(lsize);
  for (let k = 0; k < lsize; k++) lplain[k] = (31 * k + 7) % 256;
  const lsealed = [0, 1].map((i) => sealChunk(lk, lb, i, i === 1, lplain.subarray(i * LARGE, Math.min((i + 1) * LARGE, lsize))));
  if (!openBlob(lk, lb, lsize, LARGE, sha(lplain), lsealed).equals(lplain)) throw new Error('large file does not round-trip');
  const largeInvalid = [
    ['swapped', [1, 0], lsize, 'CHUNK_TAMPERED'],
    ['cut-after-chunk-0', [0], LARGE, 'CHUNK_TAMPERED'],
  ].map(([name, order, size, expect]) => {
    const got = codeOf(() =>
      openBlob(
        lk,
        lb,
        size,
        LARGE,
        sha(lplain),
        order.map((i) => lsealed[i]),
      ),
    );
    if (got !== expect) throw new Error(`large ${name}: expected ${expect}, got ${got}`);
    return { name, order, size, expect };
  });
  const large = {
    name: 'two-1mib-chunks',
    key: hex(lk),
    blobId: hex(lb),
    size: lsize,
    chunk: LARGE,
    plainRule: 'byte k = (31 k + 7) mod 256',
    sha256: hex(sha(lplain)),
    chunks: lsealed.map((c, i) => ({
      i,
      final: i === 1,
      nonce: hex(chunkNonce(i, i === 1)),
      ad: hex(chunkAd(lb, i, i === 1)),
      sealedBytes: c.length,
      sealedSha256: hex(sha(c)),
      ...(c.length < 4096 ? { sealed: hex(c) } : {}),
    })),
    invalid: largeInvalid,
  };
  const bodyV2Text = encodeFileBody({ blob: lb, key: lk, size: lsize, chunk: LARGE, sha256: sha(lplain), name: 'disk.img' });
  if (!bodyV2Text.includes('"file":2') || parseFileBody(bodyV2Text).chunk !== LARGE) throw new Error('version-2 body');

  const v = {
    description:
      'File chunks (PROTOCOL.md §11.1), file message bodies (§11.2), binary blob frames (§7.9.1) and file names. Chunk size 1024 here; hush sends 65536 (version-1 file messages) or 1048576 (version 2, `large`).',
    files: [three, empty, other],
    invalid,
    body: { descriptor: { ...d, blob: three.blobId, key: three.key, sha256: three.sha256 }, body: hex(Buffer.from(body, 'utf8')), bodyText: body },
    large,
    bodyV2: { body: hex(Buffer.from(bodyV2Text, 'utf8')), bodyText: bodyV2Text },
    invalidBodies: badBodies,
    binaryFrames: binFrames,
    invalidBinaryFrames: invalidBinary,
    names,
  };
  writeFileSync(`${root}test/vectors/files.json`, JSON.stringify(v, null, 2) + '\n');
  return 'files.json';
}
