/**
 * Who a `hush send NAME --file PATH` goes to: one contact, or with `@NAME` every current member
 * of a group but us (docs/PROTOCOL.md §11.6). A group file is uploaded once, with every member
 * as a recipient of the blob (at most 16, the relay's cap per blob), and its file message is
 * fanned out like a group post: sealed to each member pairwise. A member whose key changed is
 * left out and reported (as for posts), one the relay knows no key for likewise.
 */
import { UsageError } from '../errors.js';
import { MessengerGroupSender } from '../client/group-sender.js';
import { findGroup, fold, type FanOut } from '../client/groups.js';
import type { Messenger } from '../client/messenger.js';
import { bytesEqual, toHex } from '../protocol/encoding.js';
import { MAX_BLOB_RECIPIENTS } from '../protocol/blob-frames.js';
import type { Contact } from '../store/db.js';

export interface FileTargets {
  /** What the output names: the contact, or `@group`. */
  label: string;
  contacts: Contact[];
  /** Members left out (a group), for warnExcluded. */
  fan?: FanOut;
}

export async function fileTargets(m: Messenger, me: Uint8Array, name: string): Promise<FileTargets> {
  if (!name.startsWith('@')) return { label: name, contacts: [await m.resolveRecipient(name)] };
  const g = findGroup(m.store, name);
  const state = fold(g.log);
  if (g.left || !state.members.has(toHex(me))) throw new UsageError('NOT_A_MEMBER', `you are no longer a member of ${g.label}`, { hint: 'a member can add you again' });
  const sender = new MessengerGroupSender(m);
  const contacts: Contact[] = [];
  const excluded: FanOut['excluded'] = [];
  for (const member of state.members.values()) {
    if (bytesEqual(member.signPk, me)) continue;
    const c = await sender.contactFor(member);
    if (!c) excluded.push({ name: member.name, reason: 'NOT_FOUND' });
    else if (c.state === 'changed') excluded.push({ name: c.label, reason: 'KEY_CHANGED' });
    else contacts.push(c);
  }
  const fan: FanOut = { group: g.label, to: contacts, excluded, id: '', epoch: state.epoch };
  if (contacts.length === 0)
    throw new UsageError('NO_RECIPIENTS', `nobody in @${g.label} can receive the file`, {
      hint: excluded.length > 0 ? 'the other members were left out (hush group show shows why)' : 'add members with hush group add',
    });
  if (contacts.length > MAX_BLOB_RECIPIENTS)
    throw new UsageError(
      'FILE_GROUP_TOO_LARGE',
      `@${g.label} has ${contacts.length} other members; a file goes to at most ${MAX_BLOB_RECIPIENTS} (one upload, the relay's cap per blob)`,
      {
        hint: 'send it to a smaller group, or to members one by one',
      },
    );
  return { label: `@${g.label}`, contacts, fan };
}
