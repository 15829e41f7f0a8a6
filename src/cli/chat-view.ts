/**
 * How `hush chat` draws (src/cli/commands/chat.ts): the header that fits the width, message
 * times, the rows of one transcript entry with its tick. Pure functions of the view, the
 * width and the colour styles; the command does the terminal I/O.
 */
import { bodyForDisplay } from './file-view.js';
import type { Colour as ChalkInstance } from './output.js';
import type { ChatView, Entry } from '../client/chat-session.js';
import { formatTime, safeText } from './format.js';

/** `20:40` for a message from today (local time), else `2026-11-23 20:40` as in hush history. */
export function when(ms: number, now: number = Date.now()): string {
  const t = formatTime(ms);
  return t.slice(0, 10) === formatTime(now).slice(0, 10) ? t.slice(11) : t;
}

/** `s` cut to at most `max` characters, ending in `…` when cut (no space before it). */
export function cut(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max
    ? s
    : chars
        .slice(0, Math.max(0, max - 1))
        .join('')
        .trimEnd() + '…';
}

/**
 * The header's plain parts for `cols` columns: `hush chat`, the name, the trust state and the
 * connection state, joined by ` · `. When they do not fit, the title goes first; then the
 * longest part loses a character at a time (ending in `…`) down to 4 characters each (the
 * first 3 and `…`); only then, on a very narrow terminal, do parts get shorter than that.
 */
export function headerParts(parts: string[], cols: number): string[] {
  const SEP = 3; // ' · '
  const width = (ps: string[]): number => ps.reduce((n, p) => n + Array.from(p).length, 0) + SEP * (ps.length - 1);
  if (width(parts) <= cols) return parts;
  const rest = parts.slice(1);
  const lens = rest.map((p) => Array.from(p).length);
  for (const floor of [4, 1]) {
    while (lens.reduce((a, b) => a + b, 0) + SEP * (lens.length - 1) > cols) {
      let longest = -1;
      for (let i = 0; i < lens.length; i++) if (lens[i]! > floor && (longest < 0 || lens[i]! > lens[longest]!)) longest = i;
      if (longest < 0) break;
      lens[longest]!--;
    }
  }
  return rest.map((p, i) => cut(p, lens[i]!));
}

export function oneLine(s: string): string {
  return safeText(s).replace(/[\n\t]/g, ' ');
}

/** Splits `s` into rows of at most `width` characters (hard wrap; newlines start a row). */
function wrap(s: string, width: number): string[] {
  const rows: string[] = [];
  for (const line of s.split('\n')) {
    const chars = Array.from(line);
    if (chars.length === 0) rows.push('');
    for (let i = 0; i < chars.length; i += width) rows.push(chars.slice(i, i + width).join(''));
  }
  return rows;
}

function tick(status: string, c: ChalkInstance, colour: boolean): string {
  if (!colour) return `[${status}]`;
  switch (status) {
    case 'queued':
      return c.yellow('·');
    case 'sent':
      return c.dim('✓');
    case 'delivered':
      return '✓✓';
    default:
      return c.cyan.bold('✓✓');
  }
}

const CONNECTION: Record<ChatView['connection'], string> = { connected: 'connected', connecting: 'connecting…', reconnecting: 'reconnecting…' };

/** The header row for `cols` columns, coloured: `hush chat · bob · unverified · connected`. */
export function headerText(v: ChatView, cols: number, c: ChalkInstance): string {
  const fitted = headerParts(['hush chat', oneLine(v.peer), v.trust === 'changed' ? 'KEY CHANGED' : v.trust, CONNECTION[v.connection]], cols);
  const [name, trust, conn] = fitted.slice(-3) as [string, string, string];
  const trustStyled = v.trust === 'changed' ? c.red.bold(trust) : v.trust === 'verified' ? c.green(trust) : c.yellow(trust);
  const connStyled = v.connection === 'connected' ? c.green(conn) : v.connection === 'connecting' ? c.dim(conn) : c.yellow(conn);
  return [...(fitted.length === 4 ? [fitted[0]!] : []), c.bold(name), trustStyled, connStyled].join(' · ');
}

/** The rows of one transcript entry, coloured, each at most `width` visible characters. */
export function entryRows(e: Entry, width: number, c: ChalkInstance, colour: boolean): string[] {
  if (e.t === 'note') {
    return wrap(`-- ${safeText(e.text)}`, width).map((r) => (e.level === 'warn' ? c.yellow(r) : c.dim(r)));
  }
  const head = `${when(e.time)} ${oneLine(e.who)}: `;
  const plainTick = e.dir === 'out' ? (colour ? (e.status === 'queued' ? '·' : e.status === 'sent' ? '✓' : '✓✓') : `[${e.status}]`) : '';
  const text = head + safeText(bodyForDisplay(e.body)) + (plainTick ? ` ${plainTick}` : '');
  const rows = wrap(text, width);
  // Colour the head on the first row and the tick on the last (both lie wholly inside them
  // when the width allows; otherwise the rows stay plain).
  if (rows[0]!.startsWith(head)) {
    const who = e.dir === 'out' ? c.cyan(oneLine(e.who)) : c.green.bold(oneLine(e.who));
    rows[0] = `${c.dim(when(e.time))} ${who}: ${rows[0]!.slice(head.length)}`;
  }
  const last = rows.length - 1;
  if (plainTick && rows[last]!.endsWith(plainTick) && (last > 0 || rows[0] !== undefined)) {
    rows[last] = rows[last]!.slice(0, rows[last]!.length - plainTick.length) + tick(e.status, c, colour);
  }
  return rows;
}
