/**
 * The drawing helpers of `hush chat` (src/cli/chat-view.ts) in-process, beside the tmux tests
 * of test/cli/chat-tty.test.ts: the header fitted to the width, message times, entry rows.
 */
import { describe, expect, it } from 'vitest';
import type { ChatView, Entry } from '../../src/client/chat-session.js';
import { cut, entryRows, headerParts, headerText, when } from '../../src/cli/chat-view.js';
import { createOutput } from '../../src/cli/output.js';

const plain = createOutput({ color: false }).c;
const PARTS = ['hush chat', 'bob', 'unverified', 'connected'];
const width = (parts: string[]): number => Array.from(parts.join(' · ')).length;

function view(over: Partial<ChatView> = {}): ChatView {
  return { peer: 'bob', me: 'alice', trust: 'unverified', connection: 'connected', peerTyping: false, entries: [], ...over };
}

describe('chat header', () => {
  it('keeps everything when it fits, drops the title first, then shortens the longest part', () => {
    expect(headerParts(PARTS, 40)).toEqual(PARTS);
    expect(headerParts(PARTS, 39)).toEqual(['bob', 'unverified', 'connected']);
    expect(headerParts(PARTS, 28)).toEqual(['bob', 'unverified', 'connected']);
    expect(headerParts(PARTS, 27)).toEqual(['bob', 'unverifi…', 'connected']);
    expect(headerParts(PARTS, 26)).toEqual(['bob', 'unverif…', 'connected']);
    expect(headerParts(PARTS, 20)).toEqual(['bob', 'unve…', 'conne…']);
  });

  it('fits every width from 20 to 80 with a prefix of each part, never shorter than 3 characters, whatever the name', () => {
    for (const name of ['bob', 'a-very-long-name.with_32_chars.x', 'zoë']) {
      for (const trust of ['verified', 'unverified', 'KEY CHANGED']) {
        for (const conn of ['connected', 'connecting…', 'reconnecting…']) {
          for (let cols = 20; cols <= 80; cols++) {
            const whole = [name, trust, conn];
            const parts = headerParts(['hush chat', ...whole], cols);
            const what = `${name} ${trust} ${conn} @${cols}`;
            expect(width(parts), what).toBeLessThanOrEqual(cols);
            const fitted = parts.slice(-3);
            fitted.forEach((p, i) => {
              const full = whole[i]!;
              expect(p === full || (p.endsWith('…') && full.startsWith(p.slice(0, -1))), what).toBe(true);
              expect(Array.from(p).length, what).toBeGreaterThanOrEqual(Math.min(3, Array.from(full).length));
            });
          }
        }
      }
    }
  });

  it('headerText without colour is the fitted parts joined', () => {
    expect(headerText(view(), 100, plain)).toBe('hush chat · bob · unverified · connected');
    expect(headerText(view({ trust: 'changed', connection: 'reconnecting' }), 20, plain)).toBe('bob · KEY… · recon…');
    expect(cut('abcdef', 4)).toBe('abc…');
    expect(cut('abc', 4)).toBe('abc');
  });
});

describe('chat times and rows', () => {
  it('HH:MM for today, the date for another day', () => {
    const now = new Date(2026, 10, 30, 12, 0).getTime();
    expect(when(new Date(2026, 10, 30, 0, 5).getTime(), now)).toBe('00:05');
    expect(when(new Date(2026, 10, 29, 23, 59).getTime(), now)).toBe('2026-11-29 23:59');
    expect(when(new Date(2025, 10, 30, 9, 1).getTime(), now)).toBe('2025-11-30 09:01');
  });

  it('an entry: time, sender, body, tick; wrapped to the width; control characters neutralised', () => {
    const time = Date.now();
    const hhmm = when(time);
    const out: Entry = { t: 'msg', id: '00', dir: 'out', who: 'alice', time, body: 'hi\x1b[2J', status: 'delivered' };
    expect(entryRows(out, 80, plain, false)).toEqual([`${hhmm} alice: hi\ufffd[2J [delivered]`]);
    const long: Entry = { t: 'msg', id: '01', dir: 'in', who: 'bob', time, body: 'x'.repeat(30), status: 'read' };
    const rows = entryRows(long, 20, plain, false);
    expect(rows.join('')).toBe(`${hhmm} bob: ${'x'.repeat(30)}`);
    expect(rows.every((r) => r.length <= 20)).toBe(true);
  });
});
