/**
 * hush contacts: the pinned contacts of this home, with their fingerprint, trust state and
 * when the key was pinned. No relay needed.
 *
 * Human output on stdout: a header and one row per contact,
 *   NAME   FINGERPRINT                          TRUST        PINNED
 *   bob    12345 67890 12345 67890 12345 67890  unverified   2026-11-23 20:40
 * plus, under a contact whose key changed, `       new key: <fingerprint>  (hush trust bob)`.
 * --json, one object per contact:
 *   {"name","fingerprint","trust","pinnedAt","newFingerprint","verified","relay","rejected"}
 *   name: the label you use in commands (the relay's name, or name@host:port for a second
 *   contact of the same name from another relay); trust: "verified" | "unverified" | "changed";
 *   pinnedAt ms; newFingerprint: the key waiting for `hush trust` (string) or null; verified:
 *   the PINNED key was compared (stays true while a change waits); relay: the relay the key was
 *   pinned from (null for contacts pinned before hush recorded it); rejected: how many keys
 *   `hush trust NAME --reject` refused for it.
 */
import { fingerprint } from '../../crypto/fingerprint.js';
import { formatTime, openLocal, pad, pendingFingerprint, safeName, trustLabel, trustText } from '../format.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx) => {
  const local = await openLocal(ctx);
  try {
    const list = local.store.listContacts().sort((a, b) => a.label.localeCompare(b.label));
    if (list.length === 0) {
      if (!ctx.out.json) ctx.out.info('no contacts yet; a key is pinned when you first send to or hear from someone');
      return;
    }
    const c = ctx.out.c;
    const nameW = Math.max(4, ...list.map((x) => safeName(x.label).length));
    const fpW = 35;
    const trustW = 11;
    ctx.out.text(c.dim(`${pad('NAME', nameW)}  ${pad('FINGERPRINT', fpW)}  ${pad('TRUST', trustW)}  PINNED`));
    for (const x of list) {
      const fp = fingerprint(x.signPk);
      const next = pendingFingerprint(x);
      ctx.out.data({ name: x.label, fingerprint: fp, trust: trustLabel(x), pinnedAt: x.pinnedAt, newFingerprint: next ?? null, verified: x.verified, relay: x.relay ?? null, rejected: x.rejected?.length ?? 0 }, () => {
        const label = trustLabel(x);
        const t = pad(trustText(x), trustW);
        const colored = label === 'changed' ? c.red.bold(t) : label === 'verified' ? c.green(t) : c.yellow(t);
        const row = `${c.bold(pad(safeName(x.label), nameW))}  ${fp}  ${colored}  ${formatTime(x.pinnedAt)}`;
        if (next === undefined) return row;
        return `${row}\n${' '.repeat(nameW + 2)}${c.red(`new key: ${next}`)}  (verify it, then hush trust ${safeName(x.label)}, or refuse it: hush trust ${safeName(x.label)} --reject)`;
      });
    }
  } finally {
    local.close();
  }
};
