// Group message vectors (docs/PROTOCOL.md §10): posts and the four changes, byte-exact, the
// membership each change log folds to (§10.2, concurrent changes included), and malformed
// bodies with the code a reader reaches (`expect`).
// Called from scripts/make-vectors.mjs; writes test/vectors/groups.json.
import { codeOf } from './lib.mjs';
import { writeFileSync } from 'node:fs';

export async function writeGroupVectors({ root, dist, drbg }) {
  const { encodeGroupMessage, decodeGroupMessage } = await import(dist('protocol/group-wire.js'));
  const { fold } = await import(dist('client/groups.js'));
  const { toHex: hex, concatBytes, u32be } = await import(dist('protocol/encoding.js'));
  const r = drbg('groups').random;
  const key = (name) => ({ name, signPk: r(32) });
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map(key);
  const groupId = r(16);
  const mem = (u, by) => ({ signPk: u.signPk, addedBy: by.signPk, name: u.name });

  const create = { type: 'change', groupId, epoch: 1, changeId: r(16), op: 'create', label: 'team', targets: [], members: [mem(alice, alice), mem(bob, alice), mem(carol, alice)] };
  const add = { type: 'change', groupId, epoch: 2, changeId: r(16), op: 'add', label: 'team', targets: [dave.signPk], members: [...create.members, mem(dave, alice)] };
  // Concurrent with add (epoch 2 too): bob removes carol without having seen dave's add.
  const remove = { type: 'change', groupId, epoch: 2, changeId: r(16), op: 'remove', label: 'team', targets: [carol.signPk], members: [mem(alice, alice), mem(bob, alice)] };
  const leave = { type: 'change', groupId, epoch: 3, changeId: r(16), op: 'leave', label: 'team', targets: [], members: [mem(alice, alice), mem(dave, alice)] };
  const post = { type: 'post', groupId, epoch: 2, text: 'standup at 10 ✓' };
  const messages = [
    ['post', post, alice],
    ['create', create, alice],
    ['add', add, alice],
    ['remove-concurrent', remove, bob],
    ['leave', leave, bob],
  ].map(([name, m, author]) => {
    const bytes = encodeGroupMessage(m);
    const back = decodeGroupMessage(bytes);
    if (hex(encodeGroupMessage(back)) !== hex(bytes)) throw new Error(`group ${name} does not round-trip`);
    return { name, author: author.name, bytes, json: { name, author: author.name, body: hex(bytes), length: bytes.length } };
  });
  const by = Object.fromEntries(messages.map((m) => [m.name, m]));
  const keys = { alice: hex(alice.signPk), bob: hex(bob.signPk), carol: hex(carol.signPk), dave: hex(dave.signPk) };
  const names = new Map(Object.entries(keys).map(([n, k]) => [k, n]));
  const entry = (n) => ({ author: { alice, bob }[by[n].author].signPk, change: by[n].bytes });
  const folds = [
    ['create'],
    ['create', 'add'],
    ['create', 'add', 'remove-concurrent'],
    ['create', 'remove-concurrent', 'add'],
    ['create', 'add', 'remove-concurrent', 'leave'],
  ].map((log) => {
    const st = fold(log.map(entry));
    return { log, epoch: st.epoch, members: [...st.members.keys()].map((k) => names.get(k)).sort() };
  });
  if (JSON.stringify(folds[2].members) !== JSON.stringify(folds[3].members)) throw new Error('fold depends on arrival order');

  const invalid = [];
  const bad = (name, body, expect, note) => {
    const got = codeOf(() => decodeGroupMessage(body));
    if (got !== expect) throw new Error(`group ${name}: expected ${expect}, got ${got}`);
    invalid.push({ name, body: hex(body), expect, ...(note ? { note } : {}) });
  };
  const postBytes = by.post.bytes;
  const createBytes = by.create.bytes;
  bad('empty', new Uint8Array(0), 'BAD_GROUP_MESSAGE', 'shorter than the 22-byte header');
  bad('version-2', concatBytes(Uint8Array.of(2), postBytes.subarray(1)), 'UNSUPPORTED_VERSION');
  bad('type-3', concatBytes(Uint8Array.of(1, 3), postBytes.subarray(2)), 'BAD_GROUP_MESSAGE', 'unknown type');
  bad('post-trailing-byte', concatBytes(postBytes, Uint8Array.of(0)), 'BAD_GROUP_MESSAGE');
  bad('post-truncated', postBytes.subarray(0, postBytes.length - 1), 'BAD_GROUP_MESSAGE');
  bad('post-empty-text', concatBytes(postBytes.subarray(0, 22), u32be(0)), 'BAD_GROUP_MESSAGE');
  bad('post-not-utf8', concatBytes(postBytes.subarray(0, 22), u32be(2), Uint8Array.of(0xc3, 0x28)), 'BAD_GROUP_MESSAGE');
  bad('post-nul', concatBytes(postBytes.subarray(0, 22), u32be(2), Uint8Array.of(0x61, 0)), 'BAD_GROUP_MESSAGE');
  const op = (b, code) => {
    const c = b.slice();
    c[38] = code;
    return c;
  };
  bad('change-op-5', op(createBytes, 5), 'BAD_GROUP_MESSAGE', 'unknown op');
  bad('create-as-add', op(createBytes, 2), 'BAD_GROUP_MESSAGE', 'an add at epoch 1 without a target');
  const epochOf = (b, e) => concatBytes(b.subarray(0, 18), u32be(e), b.subarray(22));
  bad('create-epoch-2', epochOf(createBytes, 2), 'BAD_GROUP_MESSAGE', 'create is epoch 1');
  bad('add-epoch-1', epochOf(by.add.bytes, 1), 'BAD_GROUP_MESSAGE', 'a change after create has epoch 2 or more');
  bad(
    'label-uppercase',
    (() => {
      const c = createBytes.slice();
      c[40] = 0x54;
      return c;
    })(),
    'BAD_GROUP_MESSAGE',
    'label "Team"',
  );
  const dup = { ...create, members: [create.members[0], create.members[1], create.members[1]] };
  bad('member-twice', raw(dup), 'BAD_GROUP_MESSAGE');
  bad('add-target-not-listed', raw({ ...add, members: create.members }), 'BAD_GROUP_MESSAGE');
  bad('remove-target-still-listed', raw({ ...remove, members: create.members }), 'BAD_GROUP_MESSAGE');
  bad('leave-with-target', raw({ ...leave, targets: [bob.signPk] }), 'BAD_GROUP_MESSAGE');

  // Encodes without the encoder's checks (the layout of §10.1), for the malformed cases.
  function raw(m) {
    const parts = [
      Uint8Array.of(1, 2),
      m.groupId,
      u32be(m.epoch),
      m.changeId,
      Uint8Array.of({ create: 1, add: 2, remove: 3, leave: 4 }[m.op], m.label.length),
      new TextEncoder().encode(m.label),
    ];
    parts.push(Uint8Array.of(m.targets.length >> 8, m.targets.length & 0xff), ...m.targets);
    parts.push(Uint8Array.of(m.members.length >> 8, m.members.length & 0xff));
    for (const x of m.members) parts.push(x.signPk, x.addedBy, Uint8Array.of(x.name.length), new TextEncoder().encode(x.name));
    return concatBytes(...parts);
  }

  const out = {
    description:
      'Group messages (docs/PROTOCOL.md §10): the payload body of kind 8. `messages` are valid bodies; `folds` the membership a change log folds to (§10.2); `invalid` bodies a reader refuses, with the code it reaches.',
    keys,
    groupId: hex(groupId),
    messages: messages.map((m) => m.json),
    folds,
    invalid,
  };
  writeFileSync(`${root}/test/vectors/groups.json`, JSON.stringify(out, null, 2) + '\n');
  return 'groups.json';
}
