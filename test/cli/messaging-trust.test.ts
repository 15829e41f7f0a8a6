/**
 * Trust and hostile mail through the real binary and real relay processes:
 * - a relay that serves another key for a pinned name (send refuses, exit 5; that sender's
 *   mail is quarantined, never shown);
 * - a tampered envelope, a replayed one, one sealed to another identity, one from a key
 *   nobody registered: injected with a real RelayClient authenticated as a third identity.
 *
 * How the changed key is simulated: the relay lets only the same identity key replace a name,
 * so one relay never maps "bob" to a second key. A second relay (its own data directory) on
 * which another home registered the name "bob" is exactly what alice sees when a relay, or
 * whoever runs it, swaps bob's key: the directory answers "bob" with a key she did not pin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, makeUser, type RelayProc, seal, startRelayProcess, type User } from '../integration/helpers.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { sealEnvelope } from '../../src/crypto/seal.js';
import { utf8 } from '../../src/protocol/encoding.js';
import { reprocessQuarantine } from '../../src/client/messenger.js';
import { HushStore } from '../../src/store/db.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { PASS, historyOf, jsonOf, newUser, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let other: RelayProc;
let alice: TestUser;
let bob: TestUser;
let mallory: User;

beforeAll(async () => {
  [relay, other] = await Promise.all([startRelayProcess(), startRelayProcess()]);
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  mallory = makeUser('mallory');
  const c = await mallory.connect(relay.url);
  await c.register(mallory.bundle);
  await c.close();
});

afterAll(async () => {
  await Promise.all([relay?.stop(), other?.stop()]);
  cleanupTmp();
});

/** bob's public keys as the relay serves them. */
async function bobKeys(): Promise<User> {
  const c = await mallory.connect(relay.url);
  const b = await c.lookup({ name: 'bob' });
  await c.close();
  return { name: 'bob', id: { signPk: b.signPk, boxPk: b.boxPk } } as unknown as User; // public keys only: enough to seal to
}

async function inject(from: User, to: Uint8Array, env: Uint8Array): Promise<void> {
  const c = await from.connect(relay.url);
  await c.send(to, env);
  await c.close();
}

describe('hostile mail', () => {
  it('a replayed envelope is dropped as a duplicate; a tampered one is quarantined, never shown', async () => {
    const bobPk = await bobKeys();
    const env = seal(mallory, bobPk, 'hello from mallory');
    await inject(mallory, bobPk.id.signPk, env);
    const first = await bob.run(['pull', '--json']);
    expect(first.exitCode).toBe(0);
    expect(first.stderr).toMatch(/^hush: pinned mallory's key on first use/);
    expect(jsonOf(first.stdout)).toMatchObject([{ event: 'message', from: 'mallory', body: 'hello from mallory' }]);

    // the same bytes again (the relay deleted them after the ack, so it stores them anew)
    await inject(mallory, bobPk.id.signPk, env);
    const replay = await bob.run(['pull', '--json']);
    expect(replay).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });

    const tampered = seal(mallory, bobPk, 'pay mallory 100');
    tampered[tampered.length - 40]! ^= 0x01;
    await inject(mallory, bobPk.id.signPk, tampered);
    const t = await bob.run(['pull', '--json']);
    expect(t.exitCode).toBe(0);
    const events = jsonOf(t.stdout);
    expect(events).toHaveLength(1);
    expect(Object.keys(events[0]!).sort()).toEqual(['eid', 'event', 'from', 'reason']);
    expect(events[0]).toMatchObject({ event: 'quarantined', reason: 'TAMPERED', from: null });
    expect(t.stderr).toBe('hush: warning: 1 message could not be opened (may be corrupted or tampered with); kept in quarantine\n');
    // human mode says the same on stderr and shows nothing
    const again = await bob.run(['pull']);
    expect(again).toMatchObject({ exitCode: 0, stdout: '' });
    expect((await historyOf(bob.home)).map((m) => m.body)).toEqual(['hello from mallory']);
  });

  it('mail sealed to another identity but dropped in our mailbox is quarantined, not shown', async () => {
    const bobPk = await bobKeys();
    const carol = makeUser('carol');
    await inject(mallory, bobPk.id.signPk, seal(mallory, carol, 'for carol only'));
    const r = await bob.run(['pull', '--json']);
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)).toMatchObject([{ event: 'quarantined', reason: 'TAMPERED' }]);
    expect(r.stderr).toMatch(/could not be opened/);
  });

  it('mail from a key nobody registered is quarantined as UNKNOWN_SENDER', async () => {
    const bobPk = await bobKeys();
    const ghost = makeUser('ghost'); // never registered
    const env = sealEnvelope(ghost.id, { signPk: bobPk.id.signPk, boxPk: bobPk.id.boxPk }, { kind: 'msg', id: randomBytes(16), time: Date.now(), body: utf8('boo') }, randomBytes);
    await inject(ghost, bobPk.id.signPk, env);
    const r = await bob.run(['pull', '--json']);
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)).toMatchObject([{ event: 'quarantined', reason: 'UNKNOWN_SENDER', from: null }]);
    expect(r.stderr).toBe('hush: warning: 1 message from a key unknown to you and to the relay kept in quarantine\n');
  });
});

describe('a changed key', () => {
  it('send refuses with exit 5 when a relay serves another key for a pinned name; that sender is quarantined', async () => {
    expect((await alice.run(['send', 'bob', 'first contact'])).exitCode).toBe(0); // pins bob

    // another identity holds the name "bob" on the other relay
    const bob2 = await newUser('bob', other.url);
    expect((await alice.run(['register', '--relay', other.url])).exitCode).toBe(0);

    const r = await alice.run(['send', 'bob', '--relay', other.url, 'are you there?']);
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("hush: error: bob's key has changed since you pinned it\nhush: hint: verify the new fingerprint with bob, then run hush trust bob\n");

    // refused from now on, even through the relay that still serves the old key
    const again = await alice.run(['send', 'bob', '--relay', relay.url, 'hello?']);
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toMatch(/^hush: error: bob's key has changed since you pinned it\n/);

    // mail from the new "bob" key is kept in quarantine until alice decides
    expect((await bob2.run(['send', 'alice', 'it is me, really'])).exitCode).toBe(0);
    const p = await alice.run(['pull', '--relay', other.url, '--json']);
    expect(p.exitCode).toBe(0);
    expect(jsonOf(p.stdout)).toMatchObject([{ event: 'quarantined', reason: 'KEY_CHANGED', from: 'bob' }]);
    expect(p.stderr).toBe("hush: warning: 1 message from bob kept in quarantine: bob's key has changed since you pinned it; verify it, then run hush trust bob\n");
    expect((await historyOf(alice.home)).map((m) => m.body)).toEqual(['first contact']);

    // what `hush trust bob` does after accepting the new key: the quarantined mail opens
    const u = await unlock(hushPaths(alice.home), { env: { HUSH_PASSPHRASE: PASS } });
    const store = HushStore.open(alice.home, u.identity.historyKey);
    try {
      const contact = store.findContactByName('bob')!;
      expect(contact.state).toBe('changed');
      expect(reprocessQuarantine(store, u.identity, contact, 'alice')).toEqual({ opened: [], remaining: 0 }); // still changed: nothing opens
      const accepted = store.acceptNewKey(contact.id);
      const r = reprocessQuarantine(store, u.identity, accepted, 'alice');
      expect(r.remaining).toBe(0);
      expect(r.opened).toMatchObject([{ from: 'bob', to: 'alice', body: 'it is me, really' }]);
      expect(store.listQuarantine({ senderSignPk: accepted.signPk })).toEqual([]);
    } finally {
      store.close();
    }
    expect((await historyOf(alice.home)).map((m) => m.body)).toEqual(['first contact', 'it is me, really']);
  });
});
