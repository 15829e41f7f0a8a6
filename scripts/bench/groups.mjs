// Rows of groups by fan-out (docs/PROTOCOL.md §10, docs/ARCHITECTURE.md "Groups"): one
// `send @NAME` post to a group of 10, 50 and 100 members through the real group layer
// (src/client/groups.ts postToGroup) on a real SQLite store: every copy sealed (v1 envelope,
// the pairwise seal of a member without a session) and queued in the outbox in ONE transaction.
// Baseline, same run: one pairwise message sealed and queued the same way. Reported: ms per
// post, ms per member, bytes per post. The relay and the CLI are not in these rows.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dist, fmtMs, now } from './lib.mjs';

async function world(n) {
  const nacl = await dist('src/crypto/nacl.js');
  const { generateIdentity } = await dist('src/crypto/identity.js');
  const { makeBundle } = await dist('src/crypto/bundle.js');
  const { sealEnvelope } = await dist('src/crypto/seal.js');
  const { envelopeId } = await dist('src/protocol/envelope.js');
  const { HushStore } = await dist('src/store/db.js');
  const groups = await dist('src/client/groups.js');
  const home = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-groups-'));
  const store = HushStore.open(home, nacl.randomBytes(32));
  const me = generateIdentity(nacl.randomBytes);
  const contacts = [];
  for (let i = 0; i < n; i++) {
    const id = generateIdentity(nacl.randomBytes);
    contacts.push(store.pinContact(makeBundle(id, `m${i}`, Date.now())).contact);
  }
  const cache = new Map();
  let bytes = 0;
  const sealQueue = (cs, body, local) =>
    store.transaction(() => {
      local?.();
      return cs.map((contact) => {
        const msgId = nacl.randomBytes(16);
        const env = sealEnvelope(me, contact, { kind: 'group', id: msgId, time: Date.now(), body }, nacl.randomBytes, cache);
        bytes += env.length;
        store.enqueueOutbox({ eid: envelopeId(env), contactId: contact.id, envelope: env, msgId, createdAt: Date.now() });
        return { contact, msgId };
      });
    });
  const sender = {
    contactFor: async (m) => contacts.find((c) => Buffer.compare(c.signPk, m.signPk) === 0),
    prepare: async () => undefined,
    queue: async (cs, body, local) => sealQueue(cs, body, local),
  };
  const o = { me: { signPk: me.signPk, name: 'me' }, random: nacl.randomBytes, now: Date.now, maxMembers: 1000 };
  await groups.createGroup(store, sender, o, 'g', contacts);
  return {
    text: 'x'.repeat(200),
    post: () => groups.postToGroup(store, sender, o, 'g', 'x'.repeat(200)),
    pairwise: () => sealQueue([contacts[0]], nacl.randomBytes(200)),
    bytes: () => bytes,
    resetBytes: () => (bytes = 0),
    close: () => {
      store.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function timeIt(fn, iters) {
  const per = [];
  for (let i = 0; i < iters; i++) {
    const t = now();
    await fn();
    per.push(now() - t);
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)];
}

function groupRow(n) {
  return async (opt) => {
    const w = await world(n);
    try {
      const iters = opt.quick ? 5 : 30;
      await timeIt(w.post, 3); // warm-up
      const pair = await timeIt(w.pairwise, iters * 5);
      w.resetBytes();
      const post = await timeIt(w.post, iters);
      const bytesPerPost = w.bytes() / iters;
      const perMember = post / n;
      const ratio = perMember / pair;
      return {
        baseline: `${fmtMs(pair)} (one pairwise message sealed + queued)`,
        ours: `${fmtMs(post)} per post to ${n} members, ${fmtMs(perMember)} per member; ${Math.round(bytesPerPost).toLocaleString('en')} B per post`,
        ratio,
        pass: ratio <= 1.5,
        target: '≤ 1.5x the pairwise cost per member',
        values: { members: n, pairMs: pair, postMs: post, perMemberMs: perMember, bytesPerPost },
      };
    } finally {
      w.close();
    }
  };
}

export const groups10 = groupRow(10);
export const groups50 = groupRow(50);
export const groups100 = groupRow(100);
