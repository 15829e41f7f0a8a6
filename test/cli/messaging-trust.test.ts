/**
 * Trust and hostile mail through the real binary and real relay processes:
 * - another relay on which someone else holds a pinned contact's name: a separate identity
 *   (`bob@host:port`), never a key change of the pinned bob;
 * - a tampered envelope, a replayed one, one sealed to another identity, one from a key
 *   nobody registered: injected with a real RelayClient authenticated as a third identity.
 *
 * Names are what a relay says: a second relay (its own data directory) on which another home
 * registered the name "bob" answers "bob" with a key alice did not pin. That is not bob's key
 * changing (the one real signal is bob's own relay serving a new key: contacts-trust.test.ts).
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
import { PASS, historyOf, jsonOf, newUser, outboxSize, type TestUser } from './messaging-helpers.js';

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
    expect(Object.keys(events[0]!).sort()).toEqual(['authenticated', 'claimedKey', 'claimedName', 'eid', 'event', 'from', 'reason']);
    // from: nobody authenticated it; the key it claims is reported as a claim only
    expect(events[0]).toMatchObject({ event: 'quarantined', reason: 'TAMPERED', from: null, claimedName: null, authenticated: false });
    expect(t.stderr).toBe('hush: warning: 1 message could not be opened or authenticated (may be corrupted, tampered with, or forged); kept in quarantine, not shown\n');
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
    expect(r.stderr).toMatch(/could not be opened or authenticated/);
  });

  it('mail from a key nobody registered is quarantined as UNKNOWN_SENDER', async () => {
    const bobPk = await bobKeys();
    const ghost = makeUser('ghost'); // never registered
    const env = sealEnvelope(ghost.id, { signPk: bobPk.id.signPk, boxPk: bobPk.id.boxPk }, { kind: 'msg', id: randomBytes(16), time: Date.now(), body: utf8('boo') }, randomBytes);
    await inject(ghost, bobPk.id.signPk, env);
    const r = await bob.run(['pull', '--json']);
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)).toMatchObject([{ event: 'quarantined', reason: 'UNKNOWN_SENDER', from: null, claimedKey: Buffer.from(ghost.id.signPk).toString('base64') }]);
    expect(r.stderr).toBe('hush: warning: 1 message from a key unknown to you and to the relay kept in quarantine, not shown\n');
  });
});

describe('a pinned name claimed on another relay', () => {
  it('is a separate, unverified contact name@host:port; the pinned bob keeps working', async () => {
    expect((await alice.run(['send', 'bob', 'first contact'])).exitCode).toBe(0); // pins bob
    const bobFp = jsonOf((await alice.run(['contacts', '--json'])).stdout)[0]!.fingerprint;

    // another identity holds the name "bob" on the other relay
    const bob2 = await newUser('bob', other.url);
    const reg = await alice.run(['register', '--relay', other.url]);
    expect(reg.exitCode).toBe(0);
    expect(reg.stderr).toContain(`your default relay stays ${relay.url}; pass --default to make ${other.url} the default`);

    // "bob" on the other relay is the pinned bob, sent through that relay: no lookup, no change.
    // The pinned bob's key is not registered there, so that relay refuses it (UNKNOWN_RECIPIENT,
    // exit 4) rather than store mail nobody will fetch; it waits in the outbox.
    const r = await alice.run(['send', 'bob', '--relay', other.url, 'are you there?']);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain(`bob was pinned from ${relay.url}`);
    expect(r.stderr).toContain('hush: error: the relay does not know bob (that key is not registered there); 1 message kept in the outbox');

    // the other relay's bob writes: authenticated, pinned as a separate identity
    const host = other.url.replace('ws://', '');
    expect((await bob2.run(['send', 'alice', 'it is me, really'])).exitCode).toBe(0);
    const p = await alice.run(['pull', '--relay', other.url, '--json']);
    expect(p.exitCode).toBe(0);
    expect(jsonOf(p.stdout)).toMatchObject([{ event: 'message', from: `bob@${host}`, body: 'it is me, really' }]);
    expect(p.stderr).toMatch(new RegExp(`^hush: pinned bob@${host.replace(/[.]/g, '\\.')}'s key on first use`, 'm'));

    const contacts = jsonOf((await alice.run(['contacts', '--json'])).stdout);
    expect(contacts).toMatchObject([
      { name: 'bob', fingerprint: bobFp, trust: 'unverified', newFingerprint: null, relay: relay.url },
      { name: `bob@${host}`, trust: 'unverified', relay: other.url },
    ]);
    // both can be written to, each by its own label (through its own relay, the refused message too)
    expect((await alice.run(['send', 'bob', 'still you'])).exitCode).toBe(0);
    expect(await outboxSize(alice.home)).toBe(0);
    expect((await alice.run(['send', `bob@${host}`, '--relay', other.url, 'and you are?'])).exitCode).toBe(0);
    expect((await bob2.run(['pull', '--json'])).stdout).toContain('and you are?');
    expect((await historyOf(alice.home)).filter((m) => m.direction === 'in').map((m) => m.body)).toEqual(['it is me, really']);

    // reprocessQuarantine opens nothing for a contact with nothing quarantined
    const u = await unlock(hushPaths(alice.home), { env: { HUSH_PASSPHRASE: PASS } });
    const store = HushStore.open(alice.home, u.identity.historyKey);
    try {
      expect(reprocessQuarantine(store, u.identity, store.findContactByLabel('bob')!, 'alice')).toEqual({ opened: [], remaining: 0 });
    } finally {
      store.close();
    }
  });
});
