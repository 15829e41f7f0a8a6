/**
 * hush contacts: the pinned contacts of this home, with their fingerprint, trust state and
 * when the key was pinned. No relay needed.
 *
 * Human output on stdout: a header and one row per contact,
 *   NAME   FINGERPRINT                          TRUST        PINNED
 *   bob    12345 67890 12345 67890 12345 67890  unverified   2026-11-23 20:40
 * plus, under a contact whose key changed, `       new key: <fingerprint>  (hush trust bob)`, and
 * under one whose name looks like an EARLIER pinned contact's (src/client/lookalike.ts),
 * `       ≈ looks like bob: compare fingerprints (hush verify bob_)` (`~` without colour).
 * --json, one object per contact:
 *   {"name","fingerprint","trust","pinnedAt","newFingerprint","verified","relay","rejected","lookalikeOf"}
 *   name: the label you use in commands (the relay's name, or name@host:port for a second
 *   contact of the same name from another relay); trust: "verified" | "unverified" | "changed";
 *   pinnedAt ms; newFingerprint: the key waiting for `hush trust` (string) or null; verified:
 *   the PINNED key was compared (stays true while a change waits); relay: the relay the key was
 *   pinned from (null for contacts pinned before hush recorded it); rejected: how many keys
 *   `hush trust NAME --reject` refused for it; lookalikeOf: the label of the earlier pinned
 *   contact this one's name looks like (for bob_ pinned after bob: "bob"), else null.
 */
import { looksAlike } from '../../client/lookalike.js';
import type { Contact } from '../../store/db.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { formatTime, openLocal, pad, pendingFingerprint, safeName, trustLabel, trustText } from '../format.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx) => {
  const local = await openLocal(ctx);
  try {
    const all = local.store.listContacts();
    // The look-alike is the LATER pin (contact ids grow with each pin): it is the suspect one.
    const byPin = all.slice().sort((a, b) => a.id - b.id);
    const like = new Map<number, Contact | undefined>(all.map((x) => [x.id, byPin.find((y) => y.id < x.id && looksAlike(x.name, y.name))]));
    const list = all.sort((a, b) => a.label.localeCompare(b.label));
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
      const lk = like.get(x.id);
      ctx.out.data(
        {
          name: x.label,
          fingerprint: fp,
          trust: trustLabel(x),
          pinnedAt: x.pinnedAt,
          newFingerprint: next ?? null,
          verified: x.verified,
          relay: x.relay ?? null,
          rejected: x.rejected?.length ?? 0,
          lookalikeOf: lk?.label ?? null,
        },
        () => {
          const label = trustLabel(x);
          const t = pad(trustText(x), trustW);
          const colored = label === 'changed' ? c.red.bold(t) : label === 'verified' ? c.green(t) : c.yellow(t);
          const lines = [`${c.bold(pad(safeName(x.label), nameW))}  ${fp}  ${colored}  ${formatTime(x.pinnedAt)}`];
          if (next !== undefined)
            lines.push(
              `${' '.repeat(nameW + 2)}${c.red(`new key: ${next}`)}  (verify it, then hush trust ${safeName(x.label)}, or refuse it: hush trust ${safeName(x.label)} --reject)`,
            );
          if (lk)
            lines.push(
              `${' '.repeat(nameW + 2)}${c.yellow.bold(`${c.level > 0 ? '≈' : '~'} looks like ${safeName(lk.label)}: compare fingerprints (hush verify ${safeName(x.label)})`)}`,
            );
          return lines.join('\n');
        },
      );
    }
  } finally {
    local.close();
  }
};
