/**
 * hush history @NAME: the group's posts, both directions, the newest N shown oldest first.
 *
 *   2026-11-23 20:40  -> @team  you: deploy is done
 *   2026-11-23 20:41  <- @team  bob: thanks!
 * --json, one object per post: {"id","group","from","direction","time","body"} (`from` is your
 * own name for what you sent).
 */
import { toHex } from '../protocol/encoding.js';
import { findGroup, memberName } from '../client/groups.js';
import type { HushStore } from '../store/db.js';
import type { Identity } from '../crypto/identity.js';
import { formatTime, safeName, safeText } from './format.js';
import type { Output } from './output.js';

export function printGroupHistory(out: Output, store: HushStore, me: { identity: Identity; myName: string }, label: string, limit: number, since: number | undefined): void {
  const g = findGroup(store, label);
  const posts = store.groups.posts(g.row, limit).filter((p) => since === undefined || p.time >= since);
  if (posts.length === 0) {
    if (!out.json) out.info(`no messages in @${safeName(g.label)}`);
    return;
  }
  const c = out.c;
  for (const p of posts) {
    const from = memberName(store, { signPk: p.author, name: '?' }, { signPk: me.identity.signPk, name: me.myName });
    out.data({ id: toHex(p.postId), group: g.label, from, direction: p.direction, time: p.time, body: p.text }, () => {
      const arrow = p.direction === 'out' ? c.cyan('->') : c.green('<-');
      const head = `${formatTime(p.time)}  -> @${safeName(g.label)}  ${safeName(from)}: `;
      const lines = safeText(p.text).split('\n');
      return [
        `${c.dim(formatTime(p.time))}  ${arrow} ${c.bold(`@${safeName(g.label)}`)}  ${c.bold(safeName(from))}: ${lines[0]}`,
        ...lines.slice(1).map((l) => ' '.repeat(head.length) + l),
      ].join('\n');
    });
  }
}
