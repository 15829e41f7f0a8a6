/**
 * How group events are printed (pull, listen, history @NAME) and how a group fan-out is sent
 * and reported (group create/add/remove/leave, send @NAME).
 *
 *   2026-11-23 20:40  @team bob: text
 *   2026-11-23 20:40  @team alice added dave
 */
import { RelayError } from '../errors.js';
import { type FanOut, type GroupEvent, reannounceChange } from '../client/groups.js';
import { MessengerGroupSender } from '../client/group-sender.js';
import { randomBytes } from '../crypto/nacl.js';
import type { DrainResult, QueuedMessage } from '../client/messenger.js';
import { unreachable } from '../client/messenger.js';
import { formatTime, plural, safeName, safeText } from './format.js';
import type { Output } from './output.js';
import type { Session } from './messaging.js';

const VERB = { create: 'created the group', add: 'added', remove: 'removed', leave: 'left' } as const;

/** A change as words: `alice added dave, erin`, `bob left`. */
export function changeText(from: string, op: keyof typeof VERB, targets: readonly string[]): string {
  return `${safeName(from)} ${VERB[op]}${targets.length > 0 ? ` ${targets.map(safeName).join(', ')}` : ''}`;
}

/** One group event: human `2026-11-23 20:40  @team bob: text`, or its JSON line. */
export function printGroupEvent(out: Output, e: GroupEvent): void {
  if (e.type === 'post') {
    out.data({ event: 'message', id: e.id, from: e.from, group: e.group, time: e.time, body: e.text }, () => {
      const head = `${formatTime(e.time)}  @${e.group} ${e.from}: `;
      const lines = safeText(e.text).split('\n');
      return [
        out.c.dim(formatTime(e.time)) + `  ${out.c.bold(`@${safeName(e.group)}`)} ${out.c.bold(safeName(e.from))}: ${lines[0]}`,
        ...lines.slice(1).map((l) => ' '.repeat(head.length) + l),
      ].join('\n');
    });
    return;
  }
  out.data({ event: 'group', group: e.group, from: e.from, op: e.op, targets: e.targets, epoch: e.epoch, time: e.time }, () => {
    return out.c.dim(formatTime(e.time)) + `  ${out.c.bold(`@${safeName(e.group)}`)} ${changeText(e.from, e.op, e.targets)}`;
  });
}

/** Says who was left out of a fan-out, and why (stderr). */
export function warnExcluded(out: Output, f: FanOut): void {
  for (const x of f.excluded) {
    if (x.reason === 'KEY_CHANGED')
      out.warn(
        `${safeName(x.name)} in @${safeName(f.group)} was left out: their key changed; compare it (hush verify ${safeName(x.name)}), then hush trust ${safeName(x.name)} to include them again`,
      );
    else out.warn(`${safeName(x.name)} in @${safeName(f.group)} was left out: the relay knows no key for them`);
  }
}

/**
 * Sends queued fan-out copies on the session's pipeline. Returns what failed; the caller throws
 * groupSendFailed() after printing, so that exit 0 means the relay accepted every copy.
 */
export async function sendCopies(s: Session, copies: readonly QueuedMessage[]): Promise<DrainResult> {
  const pipe = s.m.sendPipeline();
  for (const q of copies) await pipe.submit(q);
  return pipe.drain();
}

/** The error after copies were refused or the relay went away (they stay in the outbox). */
export function groupSendFailed(s: Session, failed: DrainResult['failed']): RelayError {
  const kept = s.m.store.listOutbox().length;
  const first = failed[0]!.error;
  if (first instanceof RelayError && ['RELAY_UNREACHABLE', 'RELAY_TIMEOUT', 'RELAY_CLOSED', 'SHUTTING_DOWN'].includes(first.code)) return unreachable(s.relay.url, kept, first);
  return new RelayError(
    first instanceof RelayError ? first.code : 'RELAY_REFUSED',
    `${first.message} (a copy to ${failed[0]!.to}); ${plural(kept, 'envelope')} kept in the outbox`,
    {
      hint: 'they go out with the next hush send, pull or listen',
      cause: first,
    },
  );
}

/**
 * Re-announces the changes that members we added concurrently missed (src/client/groups.ts
 * missedBy), as changes of our own; what the relay does not take stays in the outbox.
 */
export async function reannounceMissed(out: Output, s: Session, events: readonly GroupEvent[]): Promise<void> {
  for (const e of events) {
    if (e.type !== 'change' || !e.reannounce || e.reannounce.targets.length === 0) continue;
    const sender = new MessengerGroupSender(s.m);
    const o = { me: { signPk: s.unlocked.identity.signPk, name: s.m.name }, random: randomBytes, now: Date.now, maxMembers: 1000 };
    const fan = await reannounceChange(s.m.store, sender, o, e.group, e.reannounce);
    warnExcluded(out, fan);
    const r = await sendCopies(s, sender.queued);
    if (r.failed.length > 0) out.warn(`@${safeName(e.group)}: ${plural(r.failed.length, 'copy', 'copies')} of a re-announced change still in the outbox`);
  }
}
