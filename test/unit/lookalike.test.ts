// Look-alike contact names (src/client/lookalike.ts), in process: the skeleton rules the
// module comment and docs/SECURITY.md state, and which earlier contact a name is taken for.
import { describe, expect, it } from 'vitest';
import { lookalikeOf, looksAlike, skeleton } from '../../src/client/lookalike.js';

describe('skeleton', () => {
  it('drops . _ - and trailing digits, and maps 0/o, 1/l/i, 5/s, rn/m, vv/w', () => {
    expect(['bob', 'bob.', 'bob_', 'bob-', 'bob0', 'bob42', 'b.o.b', 'b0b', 'b_0-b7'].map(skeleton)).toEqual(Array(9).fill('bob'));
    expect(skeleton('alice')).toBe('allce');
    expect(skeleton('al1ce')).toBe('allce');
    expect(skeleton('aiice')).toBe('allce');
    expect(skeleton('sam')).toBe(skeleton('5am'));
    expect(skeleton('sam')).toBe(skeleton('sarn'));
    expect(skeleton('wes')).toBe(skeleton('vves'));
  });

  it('keeps the digits of an all-digit name instead of leaving nothing', () => {
    expect(skeleton('007')).toBe('oo7');
    expect(skeleton('0-0-7')).toBe('oo7');
    expect(skeleton('42')).toBe('42');
  });
});

describe('looksAlike / lookalikeOf', () => {
  it('flags different names with one skeleton, never a name against itself', () => {
    expect(looksAlike('bob_', 'bob')).toBe(true);
    expect(looksAlike('b0b', 'bob')).toBe(true);
    expect(looksAlike('bob', 'bob')).toBe(false);
    expect(looksAlike('bobby', 'bob')).toBe(false);
    expect(looksAlike('alice', 'carol')).toBe(false);
    expect(looksAlike('alice-work', 'alice')).toBe(false); // a different word, not punctuation only
  });

  it('answers the first earlier contact in the order given, or undefined', () => {
    expect(lookalikeOf('bob_', ['alice', 'bob', 'b0b'])).toBe('bob');
    expect(lookalikeOf('bob_', ['alice', 'carol'])).toBeUndefined();
    expect(lookalikeOf('bob', ['bob'])).toBeUndefined();
    expect(lookalikeOf('bob', [])).toBeUndefined();
  });
});
