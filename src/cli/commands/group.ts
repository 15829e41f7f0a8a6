/**
 * hush group create NAME MEMBER... | add NAME MEMBER... | remove NAME MEMBER... | leave NAME |
 * list | show NAME: groups by fan-out over the pairwise sessions (src/client/groups.ts,
 * docs/PROTOCOL.md §10). Members must be pinned contacts (verified or not).
 *
 * Output: human on stderr (`created @team with bob, carol (epoch 1)`); --json on stdout:
 *   create/add/remove/leave: {"event":"group","group","op","epoch","id","to":[...],"excluded":[...]}
 *   list: one {"group","members","epoch","left"} per group
 *   show: one {"group","name","fingerprint","trust","addedBy","you"} per member
 * Errors: BAD_GROUP_NAME, UNKNOWN_GROUP, GROUP_EXISTS, NOT_A_CONTACT, ALREADY_MEMBER,
 * NOT_A_MEMBER, GROUP_TOO_LARGE, BAD_MAX_MEMBERS (exit 2); a changed key (exit 5); the relay
 * refused or went away (exit 4, the copies stay in the outbox).
 */
import { UsageError } from '../../errors.js';
import { fingerprint } from '../../crypto/fingerprint.js';
import { randomBytes } from '../../crypto/nacl.js';
import { toHex } from '../../protocol/encoding.js';
import { changeGroup, createGroup, DEFAULT_MAX_MEMBERS, type FanOut, findGroup, fold, type GroupOptions, memberName } from '../../client/groups.js';
import { MessengerGroupSender } from '../../client/group-sender.js';
import type { Contact, HushStore } from '../../store/db.js';
import { openLocal, plural, safeName, trustLabel, trustText } from '../format.js';
import { openSession } from '../messaging.js';
import { changeText, groupSendFailed, sendCopies, warnExcluded } from '../group-output.js';
import { homePaths } from '../common.js';
import { readConfig } from '../../store/config.js';
import type { CommandContext, CommandRun } from './index.js';

const ACTIONS = ['create', 'add', 'remove', 'leave', 'list', 'show'] as const;
type Action = (typeof ACTIONS)[number];

/**
 * The member cap: --max-members N, else config.json `maxGroupMembers`, else 100; 2..1000 (the
 * wire bound); UsageError BAD_MAX_MEMBERS naming where the bad value came from.
 */
export function parseMaxMembers(raw: unknown, fromConfig?: unknown): number {
  const [value, what] = raw !== undefined ? [raw, '--max-members'] : [fromConfig, 'maxGroupMembers in config.json'];
  if (value === undefined) return DEFAULT_MAX_MEMBERS;
  const n = /^\d{1,4}$/.test(String(value)) ? Number(value) : NaN;
  if (!(n >= 2 && n <= 1000))
    throw new UsageError('BAD_MAX_MEMBERS', `${what} must be a whole number from 2 to 1000, not '${String(value).slice(0, 20)}'`, {
      hint: raw !== undefined ? `the default is ${DEFAULT_MAX_MEMBERS}` : `fix maxGroupMembers in config.json, or give --max-members N (the default is ${DEFAULT_MAX_MEMBERS})`,
    });
  return n;
}

function pinned(store: HushStore, label: string): Contact {
  const c = store.findContactByLabel(label);
  if (!c)
    throw new UsageError('NOT_A_CONTACT', `${safeName(label)} is not one of your contacts`, {
      hint: `pin their key first: hush send ${safeName(label)} TEXT (or have them write to you)`,
    });
  return c;
}

export const run: CommandRun = async (ctx, args, opts) => {
  const action = String(args.action) as Action;
  if (!ACTIONS.includes(action)) throw new UsageError('BAD_ACTION', `unknown group action "${String(args.action).slice(0, 40)}"`, { hint: `use one of: ${ACTIONS.join(', ')}` });
  const name = typeof args.group === 'string' ? args.group.replace(/^@/, '') : undefined;
  const members = (args.members as string[] | undefined) ?? [];
  const capped = action === 'create' || action === 'add';
  const maxMembers = parseMaxMembers(opts.maxMembers, capped && opts.maxMembers === undefined ? (await readConfig(await homePaths(ctx))).maxGroupMembers : undefined);
  if (action !== 'list' && name === undefined)
    throw new UsageError('MISSING_GROUP', `hush group ${action} needs a group name`, {
      hint: `hush group ${action} NAME${action === 'leave' || action === 'show' ? '' : ' MEMBER...'}`,
    });
  if ((action === 'add' || action === 'remove' || action === 'create') && members.length === 0) {
    throw new UsageError('MISSING_MEMBERS', `hush group ${action} needs at least one member`, { hint: `hush group ${action} ${name} MEMBER...` });
  }
  if ((action === 'leave' || action === 'show' || action === 'list') && members.length > 0)
    throw new UsageError('TOO_MANY_ARGUMENTS', `hush group ${action} takes no members`, { hint: `hush group ${action}${name ? ` ${name}` : ''}` });
  if (action === 'list' || action === 'show') return show(ctx, action, name);

  const s = await openSession(ctx);
  let fan: FanOut;
  const sender = new MessengerGroupSender(s.m);
  try {
    const o: GroupOptions = { me: { signPk: s.unlocked.identity.signPk, name: s.m.name }, random: randomBytes, now: Date.now, maxMembers };
    const contacts = members.map((l) => pinned(s.m.store, l));
    for (const c of contacts) if (c.state === 'changed' && action !== 'remove') await s.m.resolveRecipient(c.label); // exit 5, as a send would
    fan = action === 'create' ? await createGroup(s.m.store, sender, o, name!, contacts) : await changeGroup(s.m.store, sender, o, name!, action, contacts);
  } catch (e) {
    await s.close();
    throw e;
  }
  let failed;
  try {
    if (ctx.env.HUSH_TEST_CRASH === 'mid-fanout' && sender.queued.length > 1) {
      await sendCopies(s, sender.queued.slice(0, 1)); // test only: the first copy reaches the relay, then the process dies (README)
      process.kill(process.pid, 'SIGKILL');
    }
    failed = (await sendCopies(s, sender.queued)).failed;
  } finally {
    await s.close();
  }
  warnExcluded(ctx.out, fan);
  const to = fan.to.map((c) => c.label);
  ctx.out.data({ event: 'group', group: fan.group, op: action, epoch: fan.epoch, id: fan.id, to, excluded: fan.excluded.map((x) => x.name) }, '');
  if (!ctx.out.json) {
    const what =
      action === 'create'
        ? `created @${safeName(fan.group)} with ${members.map(safeName).join(', ')}`
        : action === 'leave'
          ? `left @${safeName(fan.group)}`
          : `@${safeName(fan.group)}: ${changeText('you', action, members)}`;
    ctx.out.info(`${what} (epoch ${fan.epoch}; told ${plural(to.length, 'member')})`);
  }
  if (failed.length > 0) throw groupSendFailed(s, failed);
};

async function show(ctx: CommandContext, action: 'list' | 'show', name: string | undefined): Promise<void> {
  const local = await openLocal(ctx);
  try {
    const { store } = local;
    const me = { signPk: local.identity.signPk, name: local.myName };
    if (action === 'list') {
      const all = store.groups.list();
      if (all.length === 0 && !ctx.out.json) ctx.out.info('no groups; create one with hush group create NAME MEMBER...');
      for (const g of all) {
        const st = fold(g.log);
        const names = [...st.members.values()].map((m) => memberName(store, m, me));
        ctx.out.data(
          { group: g.label, members: names, epoch: st.epoch, left: g.left },
          () => `@${safeName(g.label)}  ${g.left ? '(left)  ' : ''}${plural(names.length, 'member')}: ${names.map(safeName).join(', ')}`,
        );
      }
      return;
    }
    const g = findGroup(store, name!);
    const st = fold(g.log);
    if (!ctx.out.json) ctx.out.info(`@${safeName(g.label)}: ${plural(st.members.size, 'member')}, epoch ${st.epoch}${g.left ? ', you are no longer a member' : ''}`);
    for (const m of st.members.values()) {
      const c = store.findContactBySignPk(m.signPk);
      const you = toHex(m.signPk) === toHex(me.signPk);
      const trust = you ? 'you' : c ? trustText(c) : 'not pinned';
      const addedBy = memberName(store, { signPk: m.addedBy, name: '?' }, me);
      const who = memberName(store, m, me);
      ctx.out.data(
        { group: g.label, name: who, fingerprint: fingerprint(m.signPk), trust: you ? 'you' : c ? trustLabel(c) : 'unpinned', addedBy, you },
        () => `${safeName(who).padEnd(16)} ${trust.padEnd(11)} added by ${safeName(addedBy)}`,
      );
    }
  } finally {
    local.close();
  }
}
