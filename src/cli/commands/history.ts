/**
 * hush history [NAME] [--limit N] [--since TIME]: the decrypted local history, both
 * directions, oldest first of the newest N (default 50). No relay needed.
 *
 * Human output on stdout, one message per line (continuation lines indented):
 *   2026-11-23 20:40  -> bob    sent       deploy is done
 *   2026-11-23 20:41  <- bob               thanks!
 * Bodies are sanitised (control characters other than newline and tab become U+FFFD).
 * --json, one object per message: {"id","peer","direction","time","status","body"}:
 *   id hex (16 bytes), peer the contact name, direction "in" | "out", time ms (the sender's
 *   clock), status "queued" | "sent" | "delivered" | "read" for out, "received" | "read" for
 *   in, body the text (a body that is not UTF-8 is shown with U+FFFD replacements).
 * Errors: bad --limit / --since, unknown NAME: exit 2.
 */
import { toHex } from '../../protocol/encoding.js';
import type { StoredMessage } from '../../store/db.js';
import { formatTime, openLocal, pad, parseLimit, parseSince, safeName, safeText, unknownContact } from '../format.js';
import { queueReadReceipts } from '../../client/receipts.js';
import { parseReceiptDelay } from '../receipt-delay.js';
import { randomBytes } from '../../crypto/nacl.js';
import { readConfig } from '../../store/config.js';
import { homePaths } from '../common.js';
import { bodyForDisplay } from '../file-view.js';
import type { CommandRun } from './index.js';
import { printGroupHistory } from '../group-history.js';

const lossy = new TextDecoder('utf-8');

function bodyText(m: StoredMessage): string {
  return bodyForDisplay(typeof m.body === 'string' ? m.body : lossy.decode(m.body)); // a file: its name and size, never its key
}

export const run: CommandRun = async (ctx, args, opts) => {
  // Options first: a bad one fails before any passphrase is asked.
  const limit = opts.limit === undefined ? 50 : parseLimit(String(opts.limit));
  const since = opts.since === undefined ? undefined : parseSince(String(opts.since));
  const name = typeof args.name === 'string' ? args.name : undefined;

  const local = await openLocal(ctx);
  try {
    const { store } = local;
    // Shown now: incoming messages (and group posts) not read before get a read receipt (queued
    // in the outbox, sent by the next send, pull, listen or chat once their random delay has
    // passed: config receiptDelay, default 5-60 s) unless read receipts are off; never to strangers.
    const readReceipts = async (unread: Uint8Array[]): Promise<void> => {
      if (unread.length === 0) return;
      const cfg = await readConfig(await homePaths(ctx));
      const delay = parseReceiptDelay(cfg.receiptDelay);
      queueReadReceipts(store, { identity: local.identity, random: randomBytes, now: Date.now, delay }, unread, opts.readReceipts !== false && cfg.readReceipts !== false);
    };
    if (name?.startsWith('@')) return await readReceipts(printGroupHistory(ctx.out, store, local, name, limit, since));
    const contacts = new Map(store.listContacts().map((c) => [c.id, c]));
    let contactId: number | undefined;
    if (name !== undefined) {
      const c = store.findContactByLabel(name);
      if (!c) throw unknownContact(name);
      contactId = c.id;
    }
    const msgs = store.history({ limit, ...(contactId === undefined ? {} : { contactId }), ...(since === undefined ? {} : { since }) });
    if (msgs.length === 0) {
      if (!ctx.out.json) ctx.out.info(name === undefined ? 'no messages' : `no messages with ${name}`);
      return;
    }
    const peerOf = (m: StoredMessage): string => contacts.get(m.contactId)?.label ?? `#${m.contactId}`;
    const peerWidth = Math.max(...msgs.map((m) => safeName(peerOf(m)).length));
    const c = ctx.out.c;
    for (const m of msgs) {
      const peer = peerOf(m);
      const body = bodyText(m);
      ctx.out.data({ id: toHex(m.msgId), peer, direction: m.direction, time: m.time, status: m.status, body }, () => {
        const out = m.direction === 'out';
        const arrow = out ? '->' : '<-';
        const status = out ? m.status : '';
        const head = `${formatTime(m.time)}  ${arrow} ${pad(safeName(peer), peerWidth)}  ${pad(status, 9)}  `;
        const lines = safeText(body).split('\n');
        const statusText = status === 'queued' ? c.yellow(pad(status, 9)) : c.dim(pad(status, 9));
        const first = `${c.dim(formatTime(m.time))}  ${out ? c.cyan(arrow) : c.green(arrow)} ${c.bold(pad(safeName(peer), peerWidth))}  ${statusText}  ${lines[0]}`;
        return [first, ...lines.slice(1).map((l) => ' '.repeat(head.length) + l)].join('\n');
      });
    }
    await readReceipts(msgs.filter((m) => m.direction === 'in' && m.status === 'received').map((m) => m.msgId));
  } finally {
    local.close();
  }
};
