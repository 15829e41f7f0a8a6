/**
 * Groups in process (src/client/groups.ts, src/protocol/group-wire.ts, src/store/db-groups.ts):
 * the vectors of test/vectors/groups.json, and the client's judgement on a real SQLite store: a
 * group message changes state only when its pairwise-authenticated author is a member allowed to
 * make it (a change more than one epoch ahead: EPOCH_GAP); fan-out leaves out removed members and
 * changed keys; the member cap; receipts per member (each copy moved only by its own member).
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyGroupMessage, changeGroup, createGroup, fold, type GroupOptions, inEpochOrder, type PairwiseSender, postToGroup } from '../../src/client/groups.js';
import { postStatus } from '../../src/client/group-chat-session.js';
import { applyReceipt } from '../../src/client/receipts.js';
import { receiptSummary } from '../../src/cli/group-history.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { fromHex, toHex } from '../../src/protocol/encoding.js';
import { decodeGroupMessage, encodeGroupMessage } from '../../src/protocol/group-wire.js';
import { type Contact, HushStore } from '../../src/store/db.js';
import { key, person, removeHome, tempHome } from './store-helpers.js';

const V = JSON.parse(readFileSync(new URL('../vectors/groups.json', import.meta.url), 'utf8')) as {
  keys: Record<string, string>;
  messages: { name: string; author: string; body: string }[];
  folds: { log: string[]; epoch: number; members: string[] }[];
  invalid: { name: string; body: string; expect: string }[];
};

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

describe('group vectors', () => {
  it('every valid body decodes and encodes back byte for byte', () => {
    for (const m of V.messages) expect(toHex(encodeGroupMessage(decodeGroupMessage(fromHex(m.body)))), m.name).toBe(m.body);
  });
  it('every malformed body is refused with its code', () => {
    for (const b of V.invalid)
      expect(
        codeOf(() => decodeGroupMessage(fromHex(b.body))),
        b.name,
      ).toBe(b.expect);
  });
  it('change logs fold to the listed membership, whatever the arrival order', () => {
    const byName = new Map(V.messages.map((m) => [m.name, m]));
    const names = new Map(Object.entries(V.keys).map(([n, k]) => [k, n]));
    for (const f of V.folds) {
      const st = fold(f.log.map((n) => ({ author: fromHex(V.keys[byName.get(n)!.author]!), change: fromHex(byName.get(n)!.body) })));
      expect([...st.members.keys()].map((k) => names.get(k)).sort(), f.log.join(',')).toEqual(f.members);
      expect(st.epoch).toBe(f.epoch);
    }
  });
});

/** A PairwiseSender that records who each body would be sealed to. */
function recorder(contacts: Contact[]): PairwiseSender & { sent: { to: string[]; body: Uint8Array }[] } {
  const sent: { to: string[]; body: Uint8Array }[] = [];
  return {
    sent,
    contactFor: async (m) => contacts.find((c) => toHex(c.signPk) === toHex(m.signPk)),
    prepare: async () => undefined,
    queue: async (cs, body, local) => {
      local();
      sent.push({ to: cs.map((c) => c.label), body });
      return cs.map((contact) => ({ contact, msgId: randomBytes(16) }));
    },
  };
}

describe('the client judgement and fan-out', () => {
  let home: string;
  let store: HushStore;
  const alice = person('alice');
  const bob = person('bob');
  const carol = person('carol');
  const erin = person('erin');
  const me = { signPk: alice.id.signPk, name: 'alice' };
  const o: GroupOptions = { me, random: randomBytes, now: () => 1_800_000_000_000 };
  let c: Record<string, Contact>;

  beforeEach(() => {
    home = tempHome();
    store = HushStore.open(home, key());
    c = Object.fromEntries([bob, carol, erin].map((p) => [p.bundle.name, store.pinContact(p.bundle).contact]));
  });
  afterEach(() => {
    store.close();
    removeHome(home);
  });

  it('create, remove: the removed member is told, then gets nothing; a post from her is quarantined and stores nothing', async () => {
    const s = recorder(Object.values(c));
    await createGroup(store, s, o, 'team', [c.bob!, c.carol!]);
    expect(s.sent[0]!.to).toEqual(['bob', 'carol']);
    const post = (from: Contact, epoch: number, text: string): ReturnType<typeof applyGroupMessage> =>
      store.transaction(() =>
        applyGroupMessage(store, me, from, randomBytes(16), 1, encodeGroupMessage({ type: 'post', groupId: store.groups.byLabel('team')!.groupId, epoch, text })),
      );
    expect(post(c.carol!, 1, 'hi')).toMatchObject({ ok: true, event: { type: 'post', group: 'team', from: 'carol', text: 'hi' } });
    expect(post(c.erin!, 1, 'let me in')).toEqual({ ok: false, reason: 'NOT_A_MEMBER' });

    await changeGroup(store, s, o, 'team', 'remove', [c.carol!]);
    expect(s.sent[1]!.to).toEqual(['bob', 'carol']); // she hears of her removal
    await postToGroup(store, s, o, 'team', 'after');
    expect(s.sent[2]!.to).toEqual(['bob']);
    const before = store.groups.posts(store.groups.byLabel('team')!.row, 100).length;
    expect(post(c.carol!, 1, 'stale epoch')).toEqual({ ok: false, reason: 'NOT_A_MEMBER' });
    expect(post(c.carol!, 2, 'new epoch')).toEqual({ ok: false, reason: 'NOT_A_MEMBER' });
    expect(store.groups.posts(store.groups.byLabel('team')!.row, 100)).toHaveLength(before);
  });

  it('a change from a non-member, for an unknown group, or malformed changes nothing', async () => {
    const s = recorder(Object.values(c));
    await createGroup(store, s, o, 'team', [c.bob!]);
    const g = store.groups.byLabel('team')!;
    const add = encodeGroupMessage({
      type: 'change',
      groupId: g.groupId,
      epoch: 2,
      changeId: randomBytes(16),
      op: 'add',
      label: 'team',
      targets: [erin.id.signPk],
      members: [...fold(g.log).members.values(), { signPk: erin.id.signPk, addedBy: erin.id.signPk, name: 'erin' }],
    });
    const apply = (from: Contact, body: Uint8Array): ReturnType<typeof applyGroupMessage> => store.transaction(() => applyGroupMessage(store, me, from, randomBytes(16), 1, body));
    expect(apply(c.erin!, add)).toEqual({ ok: false, reason: 'NOT_A_MEMBER' });
    expect(store.groups.byLabel('team')!.log).toHaveLength(1);
    expect(apply(c.bob!, encodeGroupMessage({ type: 'post', groupId: randomBytes(16), epoch: 1, text: 'x' }))).toEqual({ ok: false, reason: 'UNKNOWN_GROUP' });
    expect(apply(c.bob!, Uint8Array.of(1, 9))).toEqual({ ok: false, reason: 'BAD_GROUP_MESSAGE' });
    expect(apply(c.bob!, add)).toMatchObject({ ok: true, event: { type: 'change', op: 'add', targets: ['erin'] } }); // a member may add
    expect(apply(c.bob!, add)).toEqual({ ok: true }); // the same change twice: applied once
    expect(fold(store.groups.byLabel('team')!.log).members.size).toBe(3);
  });

  it('a change more than one epoch ahead is EPOCH_GAP and changes nothing; a batch is judged in epoch order', async () => {
    const s = recorder(Object.values(c));
    await createGroup(store, s, o, 'team', [c.bob!, c.carol!]);
    const g = store.groups.byLabel('team')!;
    const change = (epoch: number, targets: Contact[]): Uint8Array =>
      encodeGroupMessage({
        type: 'change',
        groupId: g.groupId,
        epoch,
        changeId: randomBytes(16),
        op: 'add',
        label: 'team',
        targets: targets.map((t) => t.signPk),
        members: [...fold(g.log).members.values(), ...targets.map((t) => ({ signPk: t.signPk, addedBy: c.bob!.signPk, name: t.name }))],
      });
    const ahead = change(3, [c.erin!]);
    const next = change(2, [c.erin!]);
    expect(store.transaction(() => applyGroupMessage(store, me, c.bob!, randomBytes(16), 1, ahead))).toEqual({ ok: false, reason: 'EPOCH_GAP', group: 'team' });
    expect(store.groups.byLabel('team')!.log).toHaveLength(1); // nothing changed
    // In one batch the epoch-2 change is judged first even when it arrived second (a post after a change of its epoch).
    const post = encodeGroupMessage({ type: 'post', groupId: g.groupId, epoch: 2, text: 'x' });
    expect(inEpochOrder(['a', 'b', 'c', 'd'], (x) => ({ a: ahead, b: post, c: undefined, d: next })[x])).toEqual(['d', 'b', 'c', 'a']);
  });

  it('receipts per member: each copy of a post moves forward only by a receipt from its own member', async () => {
    const s = recorder(Object.values(c));
    await createGroup(store, s, o, 'team', [c.bob!, c.carol!]);
    const ids = new Map<string, Uint8Array>();
    const sender: PairwiseSender = {
      ...s,
      queue: async (cs, body, local) =>
        store.transaction(() => {
          const row = local();
          return cs.map((contact) => {
            const msgId = randomBytes(16);
            ids.set(contact.name, msgId);
            if (typeof row === 'number') store.groups.addCopy(row, contact.id, msgId);
            return { contact, msgId };
          });
        }),
    };
    await postToGroup(store, sender, o, 'team', 'ping');
    const row = store.groups.posts(store.groups.byLabel('team')!.row, 1)[0]!.row;
    const statuses = (): string[] =>
      store.groups
        .copies([row])
        .get(row)!
        .map((x) => `${store.getContact(x.contactId)!.name} ${x.status}`);
    expect(statuses()).toEqual(['bob queued', 'carol queued']);
    // carol forges a read receipt for bob's copy: ignored; her own copy moves.
    expect(applyReceipt(store, c.carol!, { type: 'read', ids: [ids.get('bob')!, ids.get('carol')!] })).toMatchObject({ ids: [toHex(ids.get('carol')!)], ignored: 1 });
    expect(applyReceipt(store, c.bob!, { type: 'delivered', ids: [ids.get('bob')!] })).toMatchObject({ ignored: 0 });
    expect(applyReceipt(store, c.carol!, { type: 'delivered', ids: [ids.get('carol')!] })).toMatchObject({ ignored: 0 }); // late: never back
    expect(statuses()).toEqual(['bob delivered', 'carol read']);
    expect(receiptSummary(store.groups.copies([row]).get(row)!)).toBe('✓ 2/2 delivered, 1/2 read');
    expect(postStatus(store.groups.copies([row]).get(row)!)).toBe('delivered');
    expect(store.hasWrittenTo(c.carol!.id)).toBe(true); // a post counts as writing to its members
    expect(store.hasWrittenTo(c.erin!.id)).toBe(false);
  });

  it('a member whose key changed is left out of the fan-out and reported; the cap refuses a bigger group', async () => {
    const s = recorder(Object.values(c));
    await createGroup(store, s, o, 'team', [c.bob!, c.carol!]);
    store.recordKeyChange(c.carol!.id, person('carol').bundle);
    const changed = recorder(store.listContacts());
    const f = await postToGroup(store, changed, o, 'team', 'hello');
    expect(changed.sent[0]!.to).toEqual(['bob']);
    expect(f.excluded).toEqual([{ name: 'carol', reason: 'KEY_CHANGED' }]);
    await expect(createGroup(store, s, { ...o, maxMembers: 2 }, 'big', [c.bob!, c.carol!])).rejects.toMatchObject({ code: 'GROUP_TOO_LARGE', exitCode: 2 });
    expect(store.groups.byLabel('big')).toBeUndefined();
  });
});
