/**
 * hush history @NAME: the group's posts, both directions, the newest N shown oldest first, with
 * the receipts per member of ours (docs/PROTOCOL.md §10.6):
 *
 *   2026-11-23 20:40  -> @team  ✓ 2/3 delivered, 1/3 read  you: deploy is done
 *   2026-11-23 20:41  <- @team  bob: thanks!
 * --json, one object per post: {"id","group","from","direction","time","body"}, and on ours
 * "receipts": [{"name","status"}] (one per member a copy went to; status queued, sent,
 * delivered or read), on incoming ones "status": "received" | "read".
 * Returns the ids of the incoming posts shown that were not read yet (for read receipts).
 */
import { toHex } from '../protocol/encoding.js';
import { findGroup, memberName } from '../client/groups.js';
import type { StoredCopy } from '../store/db-groups.js';
import type { HushStore } from '../store/db.js';
import type { Identity } from '../crypto/identity.js';
import { formatTime, safeName, safeText } from './format.js';
import type { Output } from './output.js';

/** `✓ 2/3 delivered, 1/3 read` (`, 1/3 queued` while copies wait in the outbox); '' without copies. */
export function receiptSummary(copies: readonly Pick<StoredCopy, 'status'>[]): string {
  const n = copies.length;
  if (n === 0) return '';
  const count = (s: readonly string[]): number => copies.filter((c) => s.includes(c.status)).length;
  const queued = count(['queued']);
  return `✓ ${count(['delivered', 'read'])}/${n} delivered, ${count(['read'])}/${n} read${queued > 0 ? `, ${queued}/${n} queued` : ''}`;
}

export function printGroupHistory(
  out: Output,
  store: HushStore,
  me: { identity: Identity; myName: string },
  label: string,
  limit: number,
  since: number | undefined,
): Uint8Array[] {
  const g = findGroup(store, label);
  const posts = store.groups.posts(g.row, limit).filter((p) => since === undefined || p.time >= since);
  if (posts.length === 0) {
    if (!out.json) out.info(`no messages in @${safeName(g.label)}`);
    return [];
  }
  const copies = store.groups.copies(posts.filter((p) => p.direction === 'out').map((p) => p.row));
  const c = out.c;
  for (const p of posts) {
    const from = memberName(store, { signPk: p.author, name: '?' }, { signPk: me.identity.signPk, name: me.myName });
    const mine = copies.get(p.row) ?? [];
    const receipts = mine.map((x) => ({ name: store.getContact(x.contactId)?.label ?? `#${x.contactId}`, status: x.status }));
    const json = {
      id: toHex(p.postId),
      group: g.label,
      from,
      direction: p.direction,
      time: p.time,
      body: p.text,
      ...(p.direction === 'out' ? { receipts } : { status: p.read ? 'read' : 'received' }),
    };
    out.data(json, () => {
      const arrow = p.direction === 'out' ? c.cyan('->') : c.green('<-');
      const summary = p.direction === 'out' ? receiptSummary(mine) : '';
      const shown = summary === '' ? '' : mine.every((x) => x.status === 'read') ? c.green(summary) : c.dim(summary);
      const head = `${formatTime(p.time)}  -> @${safeName(g.label)}  ${summary === '' ? '' : `${summary}  `}${safeName(from)}: `;
      const lines = safeText(p.text).split('\n');
      return [
        `${c.dim(formatTime(p.time))}  ${arrow} ${c.bold(`@${safeName(g.label)}`)}  ${shown === '' ? '' : `${shown}  `}${c.bold(safeName(from))}: ${lines[0]}`,
        ...lines.slice(1).map((l) => ' '.repeat(head.length) + l),
      ].join('\n');
    });
  }
  return posts.filter((p) => p.direction === 'in' && !p.read).map((p) => p.postId);
}
