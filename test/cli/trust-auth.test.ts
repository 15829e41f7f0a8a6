/**
 * "What unauthenticated input may change: nothing" (docs/SECURITY.md), through the real binary
 * and real relay processes, with the hostile review's attacks:
 * - junk envelopes (a valid outer layer, a garbage inner box) claiming a key registered as
 *   "bob" on another relay, claiming the pinned bob's own key, claiming alice's own key, and
 *   from a key nobody registered: each is quarantined with its reason, reported with
 *   `from: null`, and no contact, pin, trust state or history changes; sending to bob still works;
 * - the one real key-changed signal (bob's own relay serves a new key and that key's mail
 *   authenticates): the verified pinned key stays verified, sending waits for a decision,
 *   `hush trust bob --reject` keeps the pinned key, discards the refused key's mail and refuses
 *   its later mail;
 * - `register --relay` on a home with a default relay keeps the default unless --default;
 * - sending to yourself is refused.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, makeUser, type RelayProc, startRelayProcess, type User } from '../integration/helpers.js';
import type { Identity } from '../../src/crypto/identity.js';
import { boxBefore, NONCE_BYTES, randomBytes, secretbox, signDetached, x25519KeyPair } from '../../src/crypto/nacl.js';
import { makeBundle } from '../../src/crypto/bundle.js';
import { RelayClient } from '../../src/client/relay-client.js';
import { concatBytes } from '../../src/protocol/encoding.js';
import { ENVELOPE_VERSION, INNER_VERSION } from '../../src/protocol/envelope.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { historyOf, jsonOf, newUser, PASS, type TestUser } from './messaging-helpers.js';

let relayA: RelayProc;
let relayB: RelayProc;
let alice: TestUser;
let bob: TestUser;
let aliceId: Identity;
let mallory: User; // registered as "bob" on relay B
let bobFp: string;
let bobSignPk: Uint8Array;

async function signPkOf(u: TestUser): Promise<Uint8Array> {
  return Uint8Array.from(Buffer.from(jsonOf((await u.run(['whoami', '--json'])).stdout)[0]!.signPk as string, 'base64'));
}

const b64 = (k: Uint8Array): string => Buffer.from(k).toString('base64');

/** A valid outer layer to `to` around a garbage inner box that claims `claimed` as its sender. */
function junk(to: Identity, claimed: Uint8Array): Uint8Array {
  const inner = concatBytes(Uint8Array.of(INNER_VERSION), claimed, randomBytes(24), randomBytes(16 + 256));
  const eph = x25519KeyPair(randomBytes);
  const nonce = randomBytes(NONCE_BYTES);
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION), eph.publicKey, nonce, secretbox(inner, nonce, boxBefore(to.boxPk, eph.secretKey)));
}

async function inject(url: string, from: User, to: Uint8Array, env: Uint8Array): Promise<void> {
  const c = await from.connect(url);
  await c.send(to, env);
  await c.close();
}

async function contactsOf(u: TestUser): Promise<Record<string, unknown>[]> {
  const r = await u.run(['contacts', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return jsonOf(r.stdout);
}

beforeAll(async () => {
  [relayA, relayB] = await Promise.all([startRelayProcess(), startRelayProcess()]);
  [alice, bob] = await Promise.all([newUser('alice', relayA.url), newUser('bob', relayA.url)]);
  expect((await alice.run(['send', 'bob', 'hi bob'])).exitCode).toBe(0);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
  bobFp = jsonOf((await bob.run(['whoami', '--json'])).stdout)[0]!.fingerprint as string;
  bobSignPk = await signPkOf(bob);
  expect((await alice.run(['trust', 'bob', '--fingerprint', bobFp])).exitCode).toBe(0);
  aliceId = (await unlock(hushPaths(alice.home), { env: { HUSH_PASSPHRASE: PASS } })).identity;
  mallory = makeUser('bob');
  const c = await mallory.connect(relayB.url);
  await c.register(mallory.bundle);
  await c.close();
});

afterAll(async () => {
  await Promise.all([relayA?.stop(), relayB?.stop()]);
  cleanupTmp();
});

describe('unauthenticated mail changes nothing', () => {
  it('junk with a valid outer layer is quarantined with from: null, and no contact or trust state moves', async () => {
    const before = await contactsOf(alice);
    expect(before).toMatchObject([{ name: 'bob', trust: 'verified', verified: true, newFingerprint: null }]);

    // the hostile review's envelope: from a key registered as "bob" on a second relay (where
    // alice registered too: a relay takes mail only for keys it knows)
    expect((await alice.run(['register', '--relay', relayB.url])).exitCode).toBe(0);
    await inject(relayB.url, mallory, aliceId.signPk, junk(aliceId, mallory.id.signPk));
    const pb = await alice.run(['pull', '--relay', relayB.url, '--json']);
    expect(pb.exitCode, pb.stderr).toBe(0);
    expect(jsonOf(pb.stdout)).toEqual([
      { event: 'quarantined', reason: 'TAMPERED', eid: expect.any(String), from: null, claimedKey: b64(mallory.id.signPk), claimedName: null, authenticated: false },
    ]);

    // on alice's own relay: claiming the pinned bob, claiming alice herself, and an unregistered key
    const ghost = makeUser('ghost');
    await inject(relayA.url, mallory, aliceId.signPk, junk(aliceId, bobSignPk));
    await inject(relayA.url, mallory, aliceId.signPk, junk(aliceId, aliceId.signPk));
    await inject(relayA.url, mallory, aliceId.signPk, junk(aliceId, ghost.id.signPk));
    const pa = await alice.run(['pull', '--json']);
    expect(pa.exitCode, pa.stderr).toBe(0);
    const events = jsonOf(pa.stdout);
    expect(events.map((e) => [e.reason, e.claimedKey, e.from, e.authenticated])).toEqual([
      ['TAMPERED', b64(bobSignPk), null, false],
      ['TAMPERED', b64(aliceId.signPk), null, false],
      ['UNKNOWN_SENDER', b64(ghost.id.signPk), null, false],
    ]);
    expect(pa.stderr).not.toMatch(/pinned/);

    // nothing moved: the same single, verified contact; no history; sending works
    expect(await contactsOf(alice)).toEqual(before);
    expect((await historyOf(alice.home)).map((m) => m.body)).toEqual(['hi bob']);
    const s = await alice.run(['send', 'bob', 'still talking to the real bob']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(jsonOf((await bob.run(['pull', '--json'])).stdout)).toMatchObject([{ event: 'message', from: 'alice', body: 'still talking to the real bob' }]);
  });
});

describe("a key change on the contact's own relay", () => {
  let bob3: TestUser;
  it('keeps the verified pinned key, holds the new key for a decision; --reject refuses it for good', async () => {
    // relay A loses its directory (same URL): another home registers "bob" there and writes
    const port = new URL(relayA.url).port;
    expect(await relayA.stop()).toBe(0);
    relayA = await startRelayProcess({ args: ['--port', port] });
    bob3 = await newUser('bob', relayA.url);
    expect((await alice.run(['register'])).exitCode).toBe(0);
    expect((await bob3.run(['send', 'alice', 'new bob here'])).exitCode).toBe(0);
    const newFp = jsonOf((await bob3.run(['whoami', '--json'])).stdout)[0]!.fingerprint;

    const p = await alice.run(['pull', '--json']);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(jsonOf(p.stdout)).toMatchObject([
      { event: 'quarantined', reason: 'KEY_CHANGED', from: null, claimedName: 'bob', authenticated: true, claimedKey: b64(await signPkOf(bob3)) },
    ]);
    expect(p.stderr).toContain('signed by a NEW key claiming to be bob kept in quarantine, not shown');
    expect(await contactsOf(alice)).toMatchObject([{ name: 'bob', fingerprint: bobFp, trust: 'changed', verified: true, newFingerprint: newFp }]);
    expect((await alice.run(['send', 'bob', 'who is this?'])).exitCode).toBe(5);

    const r = await alice.run(['trust', 'bob', '--reject', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(jsonOf(r.stdout)).toEqual([{ event: 'rejected', name: 'bob', fingerprint: bobFp, rejectedFingerprint: newFp, discarded: 1, trust: 'verified' }]);
    expect(r.stderr).toContain(`kept bob's pinned key ${bobFp} (verified); refused the new key ${newFp}`);
    expect(r.stderr).toContain('discarded 1 message signed by the refused key (never shown)');
    expect(await contactsOf(alice)).toMatchObject([{ name: 'bob', trust: 'verified', newFingerprint: null, rejected: 1 }]);

    // sending works again, to the pinned key, although the relay still serves the refused one.
    // The real bob's key must be registered on the new relay to get mail there; its name is
    // squatted, so it registers under another one.
    const bobId = (await unlock(hushPaths(bob.home), { env: { HUSH_PASSPHRASE: PASS } })).identity;
    const cb = await RelayClient.connect(relayA.url, { signPk: bobId.signPk, sign: (m) => signDetached(m, bobId.signSk) });
    await cb.register(makeBundle(bobId, 'bob-moved', Date.now()));
    await cb.close();
    const s = await alice.run(['send', 'bob', 'back to you, real bob']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(jsonOf((await bob.run(['pull', '--json', '--relay', relayA.url])).stdout)).toMatchObject([{ event: 'message', from: 'alice', body: 'back to you, real bob' }]);

    // the refused key's later mail is quarantined, never shown, and changes nothing
    expect((await bob3.run(['send', 'alice', 'let me in'])).exitCode).toBe(0);
    const p2 = await alice.run(['pull', '--json']);
    expect(jsonOf(p2.stdout)).toMatchObject([{ event: 'quarantined', reason: 'REJECTED_KEY', from: null, claimedName: 'bob', authenticated: true }]);
    expect(await contactsOf(alice)).toMatchObject([{ name: 'bob', trust: 'verified', newFingerprint: null }]);

    const none = await alice.run(['trust', 'bob', '--reject']);
    expect(none).toMatchObject({ exitCode: 2, stdout: '' });
    expect(none.stderr).toBe("hush: error: no new key is waiting for bob; there is nothing to reject\nhush: hint: hush contacts shows bob's state\n");
  });
});

describe('the default relay', () => {
  it('register --relay on a home with a default keeps it and says so; --default moves it', async () => {
    const cfg = (): unknown => JSON.parse(readFileSync(path.join(alice.home, 'config.json'), 'utf8')).relay;
    expect(cfg()).toBe(relayA.url);
    const r = await alice.run(['register', '--relay', relayB.url, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(jsonOf(r.stdout)).toMatchObject([{ event: 'registered', relay: relayB.url, defaultRelay: relayA.url, defaultChanged: false }]);
    expect(cfg()).toBe(relayA.url);
    const d = await alice.run(['register', '--relay', relayB.url, '--default']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stderr).toContain(`your default relay is now ${relayB.url} (was ${relayA.url})`);
    expect(cfg()).toBe(relayB.url);
  });

  it('sending to yourself is refused', async () => {
    const r = await alice.run(['send', 'alice', '--relay', relayA.url, 'me?']);
    expect(r).toMatchObject({ exitCode: 2, stdout: '' });
    expect(r.stderr).toMatch(/^hush: error: alice is you\n/);
  });
});
