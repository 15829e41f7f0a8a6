/**
 * hush verify NAME: what to compare with NAME out of band (in person, or on a call where you
 * recognise the voice): your fingerprint, theirs, and the safety number made of both, which
 * is the same on both sides. No relay needed; nothing is changed (hush trust records it).
 *
 * Human output on stdout:
 *   you (alice)      12345 67890 12345 67890 12345 67890
 *   bob              12345 67890 12345 67890 12345 67890   unverified
 *   safety number    12345 67890 12345 67890
 *                    12345 67890 12345 67890
 *                    12345 67890 12345 67890
 * then how to compare and the `hush trust NAME --fingerprint '...'` line to run when they
 * match. For a contact whose key changed, the new key's fingerprint and safety number too.
 * --json, one object:
 *   {"name","fingerprint","trust","safetyNumber","myName","myFingerprint","newFingerprint","newSafetyNumber","verified","relay"}
 *   trust: "verified" | "unverified" | "changed"; newFingerprint / newSafetyNumber: for the key
 *   waiting for `hush trust` (strings) or null; verified: the PINNED key was compared; relay:
 *   the relay the key was pinned from, or null.
 * Errors: unknown NAME: exit 2.
 */
import { fingerprint, safetyNumber } from '../../crypto/fingerprint.js';
import { openLocal, pad, safeName, safetyRows, trustLabel, trustText, unknownContact } from '../format.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, args) => {
  const name = String(args.name);
  const local = await openLocal(ctx);
  try {
    const x = local.store.findContactByLabel(name);
    if (!x) throw unknownContact(name);
    const mine = local.identity.signPk;
    const myFp = fingerprint(mine);
    const fp = fingerprint(x.signPk);
    const sn = safetyNumber(mine, x.signPk);
    const pending = x.pendingBundle;
    const newFp = pending ? fingerprint(pending.signPk) : undefined;
    const newSn = pending ? safetyNumber(mine, pending.signPk) : undefined;
    ctx.out.data(
      {
        name: x.label,
        fingerprint: fp,
        trust: trustLabel(x),
        safetyNumber: sn,
        myName: local.myName,
        myFingerprint: myFp,
        newFingerprint: newFp ?? null,
        newSafetyNumber: newSn ?? null,
        verified: x.verified,
        relay: x.relay ?? null,
      },
      () => {
        const c = ctx.out.c;
        const them = safeName(x.label);
        const me = `you (${safeName(local.myName)})`;
        const w = Math.max(me.length, them.length, 'safety number'.length, pending ? 'new safety number'.length : 0) + 2;
        const rows = (label: string, value: string): string[] => safetyRows(value).map((r, i) => `${pad(i === 0 ? label : '', w)}${c.cyan(r)}`);
        const lines = [`${pad(me, w)}${myFp}`, `${pad(them, w)}${c.bold(fp)}   ${trustText(x)}`, ...rows('safety number', sn)];
        if (pending && newFp && newSn) {
          lines.push('', c.red(`${them}'s key has CHANGED since you pinned it; the new key:`), `${pad('new key', w)}${c.bold(newFp)}`, ...rows('new safety number', newSn));
          lines.push(
            '',
            `Compare the new safety number (or ${them}'s new fingerprint) with ${them} out of band: in person, or on a call`,
            'where you recognise the voice; never over hush itself. If they match, accept the new key with:',
            `  hush trust ${them} --fingerprint '${newFp}'`,
            `If ${them} did not change keys, refuse it and keep the pinned one with:`,
            `  hush trust ${them} --reject`,
          );
        } else {
          lines.push(
            '',
            `Compare the safety number with ${them} out of band: in person, or on a call where you recognise the voice;`,
            `never over hush itself. ${them} sees the same number with hush verify ${safeName(local.myName)}. If it matches, run:`,
            `  hush trust ${them} --fingerprint '${fp}'`,
          );
        }
        return lines.join('\n');
      },
    );
  } finally {
    local.close();
  }
};
