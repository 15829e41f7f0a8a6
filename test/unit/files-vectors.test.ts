/**
 * The file vectors (test/vectors/files.json, docs/PROTOCOL.md §11) against the code, and the
 * chunks recomputed by a second implementation from the spec alone: nonce and AD built here
 * byte by byte, ChaCha20-Poly1305 (IETF) from libsodium.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openBlob, openChunk, sealChunk } from '../../src/crypto/file-chunks.js';
import { chunkAd, chunkNonce } from '../../src/protocol/file-chunks.js';
import { encodeFileBody, parseFileBody, sanitiseFileName } from '../../src/protocol/file-descriptor.js';
import { type BlobBinType, encodeBlobBin, parseBlobBin } from '../../src/protocol/blob-binary.js';
import { hex, unhex } from './helpers.js';

interface Sodium {
  ready: Promise<void>;
  crypto_aead_chacha20poly1305_ietf_encrypt(m: Uint8Array, ad: Uint8Array, nsec: null, npub: Uint8Array, k: Uint8Array): Uint8Array;
}
const sodium = createRequire(import.meta.url)('libsodium-wrappers') as Sodium;
beforeAll(async () => {
  await sodium.ready;
});

interface Chunk {
  i: number;
  final: boolean;
  nonce: string;
  ad: string;
  plain: string;
  sealed: string;
}
interface FileVector {
  name: string;
  key: string;
  blobId: string;
  size: number;
  chunk: number;
  sha256: string;
  chunks: Chunk[];
}
const v = JSON.parse(readFileSync(new URL('../vectors/files.json', import.meta.url), 'utf8')) as {
  files: FileVector[];
  invalid: { name: string; file: string; size: number; chunks: string[]; expect: string; blobId?: string; sha256?: string }[];
  body: { bodyText: string; body: string; descriptor: Record<string, unknown> };
  invalidBodies: { name: string; body: string; expect: string }[];
  names: { input: string; output: string }[];
  binaryFrames: { name: string; type: BlobBinType; id: number; blob: string; i: number; data: string; frame: string }[];
  invalidBinaryFrames: { name: string; want: BlobBinType; frame?: string; header?: string; zeros?: number; expect: string; id?: string; maxData?: number }[];
  large: {
    key: string;
    blobId: string;
    size: number;
    chunk: number;
    sha256: string;
    chunks: { i: number; final: boolean; nonce: string; ad: string; sealedBytes: number; sealedSha256: string; sealed?: string }[];
    invalid: { name: string; order: number[]; size: number; expect: string }[];
  };
  bodyV2: { body: string; bodyText: string };
};

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

describe('file vectors', () => {
  it('seal and open every chunk exactly; nonce and AD as §11.1 builds them by hand; libsodium agrees', () => {
    expect(v.files.map((f) => f.chunks.length)).toEqual([3, 1, 3]);
    for (const f of v.files) {
      const key = unhex(f.key);
      const id = unhex(f.blobId);
      for (const c of f.chunks) {
        expect(hex(chunkNonce(c.i, c.final))).toBe(c.nonce);
        expect(hex(chunkAd(id, c.i, c.final))).toBe(c.ad);
        // By hand: u64be(i) || u32be(final); D(fileChunk) || blobId || u64be(i) || u8(final).
        const nonce = Buffer.alloc(12);
        nonce.writeBigUInt64BE(BigInt(c.i), 0);
        nonce.writeUInt32BE(c.final ? 1 : 0, 8);
        const idx = Buffer.alloc(8);
        idx.writeBigUInt64BE(BigInt(c.i));
        const ad = Buffer.concat([Buffer.from('hush/v1/file-chunk\0'), id, idx, Buffer.from([c.final ? 1 : 0])]);
        expect(hex(nonce)).toBe(c.nonce);
        expect(hex(ad)).toBe(c.ad);
        expect(hex(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(unhex(c.plain), ad, null, nonce, key))).toBe(c.sealed);
        expect(hex(sealChunk(key, id, c.i, c.final, unhex(c.plain)))).toBe(c.sealed);
        expect(hex(openChunk(key, id, c.i, c.final, unhex(c.sealed)))).toBe(c.plain);
      }
      expect(
        hex(
          openBlob(
            key,
            id,
            f.size,
            f.chunk,
            unhex(f.sha256),
            f.chunks.map((c) => unhex(c.sealed)),
          ),
        ),
      ).toBe(f.chunks.map((c) => c.plain).join(''));
    }
  });

  it(`refuses every failure case with its code`, () => {
    expect(v.invalid.length).toBeGreaterThanOrEqual(10);
    for (const bad of v.invalid) {
      const f = v.files.find((x) => x.name === bad.file)!;
      const got = codeOf(() => openBlob(unhex(f.key), unhex(bad.blobId ?? f.blobId), bad.size, f.chunk, unhex(bad.sha256 ?? f.sha256), bad.chunks.map(unhex)));
      expect({ name: bad.name, got }).toEqual({ name: bad.name, got: bad.expect });
    }
  });

  it('file message bodies: the example round-trips byte for byte; malformed ones are BAD_FILE_MESSAGE, text is no file', () => {
    const d = parseFileBody(v.body.bodyText)!;
    expect(hex(Buffer.from(encodeFileBody(d), 'utf8'))).toBe(v.body.body);
    expect(d.name).toBe('report.pdf');
    for (const b of v.invalidBodies)
      expect({ name: b.name, got: codeOf(() => parseFileBody(Buffer.from(b.body, 'hex').toString('utf8'))) }).toEqual({ name: b.name, got: b.expect });
  });

  it('binary blob frames (§7.9.1): built byte by byte from the table, parsed back without a copy; every failure case refused with its code', () => {
    expect(v.binaryFrames.map((f) => f.name)).toEqual(['put', 'chunk', 'chunk-high-index']);
    for (const f of v.binaryFrames) {
      // By hand: version 1, type (put 1, chunk 2), u32be id, 16-byte blob id, u64be index, data.
      const h = Buffer.alloc(30);
      h[0] = 1;
      h[1] = f.type === 'put' ? 1 : 2;
      h.writeUInt32BE(f.id, 2);
      Buffer.from(f.blob, 'hex').copy(h, 6);
      h.writeBigUInt64BE(BigInt(f.i), 22);
      expect(hex(Buffer.concat([h, unhex(f.data)]))).toBe(f.frame);
      expect(hex(encodeBlobBin(f.type, f.id, unhex(f.blob), f.i, unhex(f.data)))).toBe(f.frame);
      const r = parseBlobBin(unhex(f.frame), f.type);
      expect(r).toMatchObject({ ok: true, frame: { type: f.type, id: String(f.id), blob: f.blob, i: f.i } });
      if (r.ok) expect(hex(r.frame.data)).toBe(f.data);
    }
    // The put carries chunk 1 of the 3-chunk file exactly as sealed.
    expect(v.binaryFrames[0]!.data).toBe(v.files[0]!.chunks[1]!.sealed);
    expect(v.invalidBinaryFrames.length).toBeGreaterThanOrEqual(11);
    for (const bad of v.invalidBinaryFrames) {
      const bytes = bad.frame !== undefined ? unhex(bad.frame) : Buffer.concat([unhex(bad.header!), Buffer.alloc(bad.zeros!)]);
      const r = parseBlobBin(bytes, bad.want, bad.maxData);
      expect({ name: bad.name, code: r.ok ? 'OK' : r.code, id: r.ok ? undefined : r.id }).toEqual({ name: bad.name, code: bad.expect, id: bad.id });
    }
  });

  it('version 2: 1 MiB chunks sealed as §11.1 says (libsodium agrees), refused when swapped or cut; the version-2 body round-trips', () => {
    const L = v.large;
    expect(L.chunk).toBe(1048576);
    const key = unhex(L.key);
    const id = unhex(L.blobId);
    const plain = Buffer.alloc(L.size);
    for (let k = 0; k < L.size; k++) plain[k] = (31 * k + 7) % 256;
    expect(createHash('sha256').update(plain).digest('hex')).toBe(L.sha256);
    const sealed = L.chunks.map((c) => {
      const part = plain.subarray(c.i * L.chunk, Math.min((c.i + 1) * L.chunk, L.size));
      expect(hex(chunkNonce(c.i, c.final))).toBe(c.nonce);
      expect(hex(chunkAd(id, c.i, c.final))).toBe(c.ad);
      const mine = Buffer.from(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(part, unhex(c.ad), null, unhex(c.nonce), key));
      expect({ i: c.i, bytes: mine.length, sha: createHash('sha256').update(mine).digest('hex') }).toEqual({ i: c.i, bytes: c.sealedBytes, sha: c.sealedSha256 });
      if (c.sealed !== undefined) expect(hex(mine)).toBe(c.sealed);
      expect(sealChunk(key, id, c.i, c.final, part).equals(mine)).toBe(true);
      return mine;
    });
    expect(openBlob(key, id, L.size, L.chunk, unhex(L.sha256), sealed).equals(plain)).toBe(true);
    for (const bad of L.invalid)
      expect({
        name: bad.name,
        got: codeOf(() =>
          openBlob(
            key,
            id,
            bad.size,
            L.chunk,
            unhex(L.sha256),
            bad.order.map((i) => sealed[i]!),
          ),
        ),
      }).toEqual({
        name: bad.name,
        got: bad.expect,
      });
    const d = parseFileBody(v.bodyV2.bodyText)!;
    expect(d).toMatchObject({ size: L.size, chunk: L.chunk, name: 'disk.img' });
    expect(v.bodyV2.bodyText).toContain('"file":2');
    expect(hex(Buffer.from(encodeFileBody(d), 'utf8'))).toBe(v.bodyV2.body);
  });

  it('names: never a path, a dot name, a device, a control or bidi character, or over 255 bytes', () => {
    for (const n of v.names) {
      expect(sanitiseFileName(n.input)).toBe(n.output);
      // eslint-disable-next-line no-control-regex
      expect(n.output).not.toMatch(/[/\\\u0000-\u001f\u202e]/);
      expect(n.output).not.toMatch(/^\.|^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i);
      expect(Buffer.byteLength(n.output)).toBeLessThanOrEqual(255);
      expect(n.output.length).toBeGreaterThan(0);
      expect(sanitiseFileName(n.output)).toBe(n.output); // idempotent
    }
    expect(Object.fromEntries(v.names.slice(0, 8).map((n) => [n.input, n.output]))).toEqual({
      'report.pdf': 'report.pdf',
      '../../etc/passwd': 'passwd',
      'C:\\Windows\\system32\\cmd.exe': 'cmd.exe',
      '..': 'file',
      '.': 'file',
      '.bashrc': 'bashrc',
      CON: '_CON',
      'lpt1.txt': '_lpt1.txt',
    });
  });
});
