// The documented passphrase strength estimate (README "Passphrase strength") and the errno
// words of store errors, in process.
import { describe, expect, it } from 'vitest';
import { errnoWords, fsError } from '../../src/store/fsutil.js';
import { estimateBits, FLOOR_BITS, GOOD_BITS } from '../../src/store/strength.js';

describe('estimateBits', () => {
  it('gives the figures the README quotes', () => {
    expect(estimateBits('password')).toBe(34);
    expect(estimateBits('correct horse battery staple')).toBe(79);
    expect([FLOOR_BITS, GOOD_BITS]).toEqual([40, 60]);
  });

  it('follows the formula: log2(pool) x length, repeats counting 1/4', () => {
    expect(estimateBits('')).toBe(0);
    expect(estimateBits('a')).toBe(Math.floor(Math.log2(26)));
    expect(estimateBits('aaaa')).toBe(Math.floor(1.75 * Math.log2(26)));
    expect(estimateBits('aB3!')).toBe(Math.floor(4 * Math.log2(26 + 26 + 10 + 32)));
    expect(estimateBits('a b')).toBe(Math.floor(3 * Math.log2(27)));
    expect(estimateBits('ééé')).toBe(Math.floor(1.5 * Math.log2(100)));
  });

  it('ranks the short and the repetitive below the floor', () => {
    for (const weak of ['pw', 'hunter22', 'aaaaaaaaaaaaaaaaaaaa', '12345678901234']) expect(estimateBits(weak), weak).toBeLessThan(FLOOR_BITS);
    for (const ok of ['Tr0ub4dor&3', 'a much longer phrase']) expect(estimateBits(ok), ok).toBeGreaterThanOrEqual(GOOD_BITS);
  });
});

describe('file errors in words', () => {
  const err = (code: string, errno?: number): NodeJS.ErrnoException => Object.assign(new Error(code), { code, ...(errno === undefined ? {} : { errno }) });

  it('never shows a raw errno code', () => {
    expect(errnoWords(err('EACCES'))).toBe('permission denied');
    expect(errnoWords(err('EROFS'))).toBe('the file system is read-only');
    expect(errnoWords(err('ENOENT'))).toBe('no such file or directory');
    expect(errnoWords(err('EXDEV', -18))).toBe('cross-device link not permitted');
    const e = fsError(err('EACCES'), 'write', '/some/dir/file');
    expect(e.message).toBe('cannot write /some/dir/file: permission denied');
    expect((e as { exitCode?: number }).exitCode).toBe(2);
  });
});
