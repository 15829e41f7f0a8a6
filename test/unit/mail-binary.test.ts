/**
 * Binary mail pages (docs/PROTOCOL.md §7.2.1) against test/vectors/mail-pages.json: each page
 * written again by hand from its JSON form (the layout as the spec states it, not through
 * src/protocol/mail-binary.ts), encoded and parsed back by the code; every refused page gives
 * its code and request id. And the `bin` field of a `pull` frame.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeMailBin, parseMailBin } from '../../src/protocol/mail-binary.js';
import { MAX_RELAY_FRAME_BYTES, parseClientFrame } from '../../src/protocol/frames.js';
import { hex, unhex } from './helpers.js';

interface JsonItem {
  seq: number;
  eid: string;
  env: string;
  time: number;
}
interface Vectors {
  pages: { name: string; frame: string; json: { v: 1; t: 'mail'; id: string; items: JsonItem[]; more: boolean } }[];
  invalid: { name: string; frame: string; expect: string; id?: string }[];
}
const v = JSON.parse(readFileSync(new URL('../vectors/mail-pages.json', import.meta.url), 'utf8')) as Vectors;

/** The page as §7.2.1 lays it out, from the JSON frame it stands for. */
function byHand(j: Vectors['pages'][number]['json']): Buffer {
  const h = Buffer.alloc(9);
  h[0] = 1;
  h[1] = 3;
  h.writeUInt32BE(Number(j.id), 2);
  h[6] = j.more ? 1 : 0;
  h.writeUInt16BE(j.items.length, 7);
  const parts = [h];
  for (const it of j.items) {
    const env = Buffer.from(it.env, 'base64');
    const ih = Buffer.alloc(36);
    ih.writeBigUInt64BE(BigInt(it.seq), 0);
    ih.writeBigUInt64BE(BigInt(it.time), 8);
    Buffer.from(it.eid, 'hex').copy(ih, 16);
    ih.writeUInt32BE(env.length, 32);
    parts.push(ih, env);
  }
  return Buffer.concat(parts);
}

describe('binary mail pages (§7.2.1)', () => {
  it('each vector page is its JSON frame laid out by hand; the code encodes and parses the same', () => {
    expect(v.pages.map((p) => p.name)).toEqual(['empty', 'one', 'three-more']);
    for (const p of v.pages) {
      expect(hex(byHand(p.json)), p.name).toBe(p.frame);
      const items = p.json.items.map((i) => ({ ...i, env: new Uint8Array(Buffer.from(i.env, 'base64')) }));
      expect(hex(encodeMailBin(Number(p.json.id), p.json.more, items)), p.name).toBe(p.frame);
      const r = parseMailBin(unhex(p.frame));
      if (!r.ok) throw new Error(`${p.name}: ${r.message}`);
      expect({ ...r.frame, items: r.frame.items.map((i) => ({ ...i, env: Buffer.from(i.env).toString('base64') })) }, p.name).toEqual(p.json);
    }
    // The largest seq (2^53 - 1), the largest time (2^48) and an empty envelope are in the pages.
    const last = v.pages[2]!.json.items;
    expect(last.map((i) => [i.seq, i.time, i.env.length === 0])).toEqual([
      [41, expect.any(Number), false],
      [42, expect.any(Number), true],
      [2 ** 53 - 1, 2 ** 48, false],
    ]);
  });

  it('refuses every malformed page with its code, and names the request when the header holds one', () => {
    expect(v.invalid.length).toBe(16);
    for (const bad of v.invalid) {
      const r = parseMailBin(unhex(bad.frame));
      expect({ name: bad.name, code: r.ok ? 'OK' : r.code, id: r.ok ? undefined : r.id }).toEqual({ name: bad.name, code: bad.expect, id: bad.id });
    }
  });

  it('parses without copying: each envelope is a view into the received message', () => {
    const frame = unhex(v.pages[1]!.frame);
    const r = parseMailBin(frame);
    if (!r.ok) throw new Error(r.message);
    expect(r.frame.items[0]!.env.buffer).toBe(frame.buffer);
  });

  it('encodeMailBin throws RangeError for what no relay stores (a caller bug, never a page)', () => {
    const ok = { seq: 1, eid: '00'.repeat(16), env: new Uint8Array(3), time: 5 };
    expect(() => encodeMailBin(0, false, [ok])).toThrow(RangeError);
    expect(() => encodeMailBin(2 ** 32, false, [ok])).toThrow(RangeError);
    expect(() => encodeMailBin(1, false, [{ ...ok, seq: 2 ** 53 }])).toThrow(RangeError);
    expect(() => encodeMailBin(1, false, [{ ...ok, time: 2 ** 48 + 1 }])).toThrow(RangeError);
    expect(() => encodeMailBin(1, false, [{ ...ok, eid: 'AB'.repeat(16) }])).toThrow(RangeError);
    expect(() =>
      encodeMailBin(
        1,
        false,
        Array.from({ length: 501 }, () => ok),
      ),
    ).toThrow(RangeError);
  });

  it('a pull frame takes "bin":1 only with a decimal request id of 1..2^32-1', () => {
    const parse = (o: Record<string, unknown>): string => {
      const r = parseClientFrame(JSON.stringify({ v: 1, t: 'pull', ...o }), MAX_RELAY_FRAME_BYTES);
      return r.ok ? `OK${r.frame.t === 'pull' && r.frame.bin === 1 ? ' bin' : ''}` : r.code;
    };
    expect(parse({ id: '12', bin: 1 })).toBe('OK bin');
    expect(parse({ id: '4294967295', bin: 1, after: 3, limit: 500 })).toBe('OK bin');
    expect(parse({ id: 'p12' })).toBe('OK');
    expect(parse({ id: 'p12', bin: 1 })).toBe('BAD_FRAME');
    expect(parse({ id: '0', bin: 1 })).toBe('BAD_FRAME');
    expect(parse({ id: '012', bin: 1 })).toBe('BAD_FRAME');
    expect(parse({ id: '4294967296', bin: 1 })).toBe('BAD_FRAME');
    expect(parse({ id: '12', bin: 2 })).toBe('BAD_FRAME');
    expect(parse({ id: '12', bin: true })).toBe('BAD_FRAME');
  });
});
