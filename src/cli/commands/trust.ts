/**
 * hush trust NAME [--fingerprint FP]: records what you compared out of band (hush verify NAME).
 *
 * - NAME's key CHANGED (a different key was seen for the name and waits): shows the old and the
 *   new fingerprint and accepts the new key. With --fingerprint it must be the NEW key's
 *   fingerprint (the key is then also marked verified); without it, on a terminal, asks for a
 *   confirmation on /dev/tty (the key is then pinned but unverified); without a terminal it
 *   refuses (exit 5) with a hint: a script must say which key it accepts.
 * - Otherwise marks the pinned key verified. With --fingerprint it must match (exit 5 if not);
 *   without it, a terminal is asked to confirm, and a script is taken at its word.
 * Then re-opens NAME's quarantined mail (kept while the key was not accepted) and prints the
 * messages that now open, like pull does.
 *
 * Output: messages on stdout (human `2026-11-23 20:40  bob: text`, --json
 * {"event":"message","id","from","to","time","body"}), a summary on stderr; with --json a last
 * line {"event":"trusted","name","fingerprint","trust","keyChanged","reopened","quarantined"}:
 * fingerprint of the key now pinned, trust "verified" | "unverified", keyChanged true when a
 * new key was accepted, reopened how many quarantined messages now opened, quarantined how many
 * of NAME's envelopes stay in quarantine.
 * With --reject (only while a changed key waits): keeps the pinned key (verified or not, as it
 * was), refuses the new one for good (a relay serving it again, or mail signed by it, changes
 * nothing: its mail is quarantined as REJECTED_KEY), discards the new key's quarantined mail,
 * and sending to NAME works again. --json: {"event":"rejected","name","fingerprint",
 * "rejectedFingerprint","discarded","trust"}.
 * Exit codes: 2 unknown NAME, malformed FP, --reject with nothing to reject or with
 * --fingerprint; 5 FP mismatch, refused or declined change.
 */
import { isHushError, TrustError, UsageError } from '../../errors.js';
import { reprocessQuarantine } from '../../client/messenger.js';
import { queueReadReceipts, queueReceipts, receiptsAllowed } from '../../client/receipts.js';
import { parseReceiptDelay } from '../receipt-delay.js';
import { randomBytes } from '../../crypto/nacl.js';
import { fromHex } from '../../protocol/encoding.js';
import { revokeTokens } from '../../client/delivery-tokens.js';
import { readConfig } from '../../store/config.js';
import { fingerprint, normaliseFingerprint } from '../../crypto/fingerprint.js';
import type { Contact } from '../../store/db.js';
import { openTerminal } from '../../store/passphrase.js';
import { homePaths } from '../common.js';
import { openLocal, safeName, trustLabel, unknownContact } from '../format.js';
import { plural } from '../format.js';
import { prekeyPolicy, printMessage } from '../messaging.js';
import { parseRatchetLimits } from '../ratchet-limits.js';
import type { CommandRun } from './index.js';

/**
 * Asks a yes/no question on the controlling terminal (even when stdin is piped). Returns
 * undefined when there is no terminal.
 */
async function confirmOnTerminal(message: string): Promise<boolean | undefined> {
  const term = openTerminal();
  if (!term) return undefined;
  try {
    const { confirm } = await import('@inquirer/prompts');
    return await confirm({ message, default: false }, { input: term.input, output: term.output, clearPromptOnDone: false });
  } catch (err) {
    if (err instanceof Error && err.name === 'ExitPromptError') return false;
    throw err;
  } finally {
    term.close();
  }
}

function checkFingerprintSyntax(given: string): string {
  const n = normaliseFingerprint(given);
  if (!/^\d{30}$/.test(n)) {
    throw new UsageError('BAD_FINGERPRINT', 'a fingerprint is 30 digits (six groups of five)', {
      hint: 'copy it from hush verify NAME, e.g. --fingerprint "12345 67890 12345 67890 12345 67890"',
    });
  }
  return n;
}

function mismatch(name: string, which: string): TrustError {
  return new TrustError('FINGERPRINT_MISMATCH', `the fingerprint you gave does not match ${name}'s ${which}`, {
    hint: `compare again with hush verify ${name}; if ${name} really reads out another one, someone may be in the middle: do not trust this key`,
  });
}

export const run: CommandRun = async (ctx, args, opts) => {
  const name = String(args.name);
  if (opts.reject === true && opts.fingerprint !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--reject and --fingerprint do not go together', {
      hint: `hush trust ${name} --reject refuses the new key; --fingerprint accepts it`,
    });
  }
  const given = opts.fingerprint === undefined ? undefined : checkFingerprintSyntax(String(opts.fingerprint));
  // What re-opening the quarantine may keep and accept (config ratchetLimits, the prekey grace),
  // checked before anything is asked or changed.
  const settings = await readConfig(await homePaths(ctx));
  const openLimits = { ...parseRatchetLimits(settings.ratchetLimits), spkGraceMs: prekeyPolicy(ctx, settings).graceMs };
  const local = await openLocal(ctx);
  try {
    const { store } = local;
    let x: Contact | undefined = store.findContactByLabel(name);
    if (!x) throw unknownContact(name);
    const who = safeName(x.label);
    let keyChanged = false;

    if (opts.reject === true) {
      if (x.state !== 'changed' || !x.pendingBundle) {
        throw new UsageError('NOTHING_TO_REJECT', `no new key is waiting for ${who}; there is nothing to reject`, { hint: `hush contacts shows ${who}'s state` });
      }
      const { contact, rejected } = store.rejectPendingKey(x.id);
      // The delivery token this contact held is revoked (removed from the relay at the next
      // pull, listen or send); the pinned key gets a new one when you next write to it.
      revokeTokens(store, x.id);
      const discarded = store.discardQuarantineFrom(rejected.signPk);
      const fp = fingerprint(contact.signPk);
      const rfp = fingerprint(rejected.signPk);
      ctx.out.info(`kept ${who}'s pinned key ${fp} (${trustLabel(contact)}); refused the new key ${rfp}`);
      ctx.out.info(
        discarded > 0
          ? `discarded ${plural(discarded, 'message')} signed by the refused key (never shown); its future mail is kept in quarantine, never shown`
          : 'nothing signed by the refused key was waiting; its future mail is kept in quarantine, never shown',
      );
      ctx.out.info(`sending to ${who} works again (to the pinned key)`);
      if (ctx.out.json) ctx.out.data({ event: 'rejected', name: contact.label, fingerprint: fp, rejectedFingerprint: rfp, discarded, trust: trustLabel(contact) }, '');
      return;
    }

    if (x.state === 'changed' && x.pendingBundle) {
      const oldFp = fingerprint(x.signPk);
      const newFp = fingerprint(x.pendingBundle.signPk);
      ctx.out.info(`${who}'s key has changed since you pinned it\n  pinned key: ${oldFp}\n  new key:    ${newFp}`);
      let verified = false;
      if (given !== undefined) {
        if (given !== normaliseFingerprint(newFp)) throw mismatch(who, 'new key');
        verified = true;
      } else {
        const ok = await confirmOnTerminal(`Accept ${who}'s new key ${newFp}? Only if ${who} confirmed it out of band`);
        if (ok === undefined) {
          throw new TrustError('CONFIRMATION_NEEDED', `not accepting ${who}'s new key without a confirmation`, {
            hint: `compare the new fingerprint with ${who} (hush verify ${who}), then run hush trust ${who} --fingerprint FP`,
          });
        }
        if (!ok) throw new TrustError('KEY_NOT_ACCEPTED', `kept ${who}'s old key; the new key was not accepted`, { hint: `run hush trust ${who} again once you have compared it` });
      }
      x = store.acceptNewKey(x.id);
      revokeTokens(store, x.id); // the old key's delivery token (and the one it gave us) are void
      if (verified) x = store.markVerified(x.id);
      keyChanged = true;
      ctx.out.info(verified ? `accepted ${who}'s new key and marked it verified` : `accepted ${who}'s new key; it is not verified: compare it with hush verify ${who}`);
    } else {
      const fp = fingerprint(x.signPk);
      if (given !== undefined) {
        if (given !== normaliseFingerprint(fp)) throw mismatch(who, 'key');
      } else {
        ctx.out.info(`${who}'s fingerprint: ${fp}`);
        const ok = await confirmOnTerminal(`Did ${who} confirm this fingerprint (or your safety number) out of band?`);
        if (ok === false) throw new TrustError('NOT_VERIFIED', `${who} was not marked verified`, { hint: `compare it with hush verify ${who} first` });
      }
      const was = x.verified;
      x = store.markVerified(x.id);
      ctx.out.info(was ? `${who} was already verified` : `marked ${who} verified (fingerprint ${fp})`);
    }

    let reopened = 0;
    let remaining = 0;
    try {
      const r = reprocessQuarantine(store, local.identity, x, local.myName, openLimits);
      for (const m of r.opened) printMessage(ctx.out, m);
      reopened = r.opened.length;
      remaining = r.remaining;
      if (reopened > 0) {
        // Stored and shown now, as a pull would have: delivered and read receipts (unless turned
        // off; never to strangers) wait in the outbox for a later send, pull, listen or chat
        // once their random delay has passed.
        const ids = r.opened.map((m) => fromHex(m.id));
        const seal = { identity: local.identity, random: randomBytes, now: Date.now, delay: parseReceiptDelay(settings.receiptDelay) };
        // Receipts as for any received mail: contacts only (not strangers), unless turned off.
        const cur = store.getContact(x.id) ?? x;
        if (settings.deliveryReceipts !== false && receiptsAllowed(store, cur)) store.transaction(() => queueReceipts(store, seal, cur, 'delivered', ids));
        queueReadReceipts(store, seal, ids, settings.readReceipts !== false);
      }
    } catch (e) {
      // The trust decision is stored; failing to re-open is reported, not undone.
      if (!isHushError(e)) throw e;
      ctx.out.warn(`could not re-open ${who}'s quarantined mail: ${e.message}`);
    }
    if (reopened > 0) ctx.out.info(`opened ${plural(reopened, 'message')} from ${who} that had been kept in quarantine`);
    if (remaining > 0) ctx.out.warn(`${plural(remaining, 'message')} from ${who} still cannot be opened (may be corrupted or tampered with); kept in quarantine`);
    if (ctx.out.json) {
      ctx.out.data({ event: 'trusted', name: x.label, fingerprint: fingerprint(x.signPk), trust: trustLabel(x), keyChanged, reopened, quarantined: remaining }, '');
    }
  } finally {
    local.close();
  }
};
