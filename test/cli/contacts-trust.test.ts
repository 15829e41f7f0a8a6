/**
 * contacts, verify and trust through the real binary and real relay processes: the listing,
 * fingerprints and a safety number equal on both sides, trust with a matching / mismatching /
 * malformed --fingerprint, and an honest key change: bob re-creates his identity (init
 * --force) and registers on the relay alice pinned him from, which lost its directory (a fresh
 * data directory on the same URL), so the key that relay serves for "bob" is no longer the one
 * alice pinned: the one real "key changed" signal (a name from ANOTHER relay is a separate
 * contact, test/cli/trust-auth.test.ts). alice's pull quarantines his mail, send refuses (exit 5), trust
 * without a confirmation refuses, trust with the new fingerprint accepts and re-opens the
 * quarantined message, and send works again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { jsonOf, newUser, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let relay2: RelayProc | undefined;
let alice: TestUser;
let bob: TestUser;

const FP = /^(\d{5} ){5}\d{5}$/;

async function whoamiFp(u: TestUser): Promise<string> {
  const w = await u.run(['whoami', '--json']);
  expect(w.exitCode).toBe(0);
  const fp = jsonOf(w.stdout)[0]!.fingerprint as string;
  expect(fp).toMatch(FP);
  return fp;
}

async function contactsOf(u: TestUser): Promise<Record<string, unknown>[]> {
  const c = await u.run(['contacts', '--json']);
  expect(c.exitCode).toBe(0);
  return jsonOf(c.stdout);
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  const s = await alice.run(['send', 'bob', 'hello bob']);
  if (s.exitCode !== 0) throw new Error(`send failed: ${s.stderr}`);
  const p = await bob.run(['pull']);
  if (p.exitCode !== 0) throw new Error(`pull failed: ${p.stderr}`);
});

afterAll(async () => {
  await relay?.stop();
  await relay2?.stop();
  cleanupTmp();
});

describe('contacts and verify', () => {
  it('contacts lists the pinned key as unverified, human and --json', async () => {
    const bobFp = await whoamiFp(bob);
    const h = await alice.run(['contacts']);
    expect(h.exitCode).toBe(0);
    const lines = h.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +FINGERPRINT +TRUST +PINNED$/);
    expect(lines[1]).toMatch(new RegExp(`^bob {3}${bobFp} {2}unverified {3}\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d$`));
    expect(lines).toHaveLength(2);

    const [c] = await contactsOf(alice);
    expect(Object.keys(c!).sort()).toEqual(['fingerprint', 'lookalikeOf', 'name', 'newFingerprint', 'pinnedAt', 'rejected', 'relay', 'trust', 'verified']);
    expect(c).toMatchObject({ name: 'bob', fingerprint: bobFp, trust: 'unverified', newFingerprint: null, lookalikeOf: null });
    expect(Math.abs((c!.pinnedAt as number) - Date.now())).toBeLessThan(3_600_000);
  });

  it('an empty home has no contacts', async () => {
    const carol = await newUser('carol', relay.url);
    expect(await carol.run(['contacts', '--json'])).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const h = await carol.run(['contacts']);
    expect(h).toMatchObject({ exitCode: 0, stdout: '' });
    expect(h.stderr).toMatch(/^no contacts yet/);
  });

  it('verify shows both fingerprints and a safety number that is the same on both sides', async () => {
    const [aFp, bFp] = await Promise.all([whoamiFp(alice), whoamiFp(bob)]);
    const a = await alice.run(['verify', 'bob', '--json']);
    const b = await bob.run(['verify', 'alice', '--json']);
    expect(a.exitCode).toBe(0);
    expect(b.exitCode).toBe(0);
    const [va] = jsonOf(a.stdout);
    const [vb] = jsonOf(b.stdout);
    expect(Object.keys(va!).sort()).toEqual(['fingerprint', 'myFingerprint', 'myName', 'name', 'newFingerprint', 'newSafetyNumber', 'relay', 'safetyNumber', 'trust', 'verified']);
    expect(va).toMatchObject({ name: 'bob', fingerprint: bFp, myName: 'alice', myFingerprint: aFp, trust: 'unverified', newFingerprint: null, newSafetyNumber: null });
    expect(vb).toMatchObject({ name: 'alice', fingerprint: aFp, myName: 'bob', myFingerprint: bFp });
    expect(va!.safetyNumber).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(va!.safetyNumber).toBe(vb!.safetyNumber);

    const h = await alice.run(['verify', 'bob']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toContain(`you (alice)    ${aFp}`);
    expect(h.stdout).toContain(`bob            ${bFp}   unverified`);
    const groups = (va!.safetyNumber as string).split(' ');
    expect(h.stdout).toContain(`safety number  ${groups.slice(0, 4).join(' ')}\n               ${groups.slice(4, 8).join(' ')}\n`);
    expect(h.stdout).toContain(`hush trust bob --fingerprint '${bFp}'`);
    expect(h.stdout).toContain('out of band');
  });

  it('verify of an unknown name is a usage error', async () => {
    const r = await alice.run(['verify', 'mallory']);
    expect(r).toMatchObject({ exitCode: 2, stdout: '' });
    expect(r.stderr).toMatch(/^hush: error: mallory is not one of your contacts\n/);
  });
});

describe('trust', () => {
  it('refuses a mismatching fingerprint (exit 5) and a malformed one (exit 2); nothing changes', async () => {
    const bFp = await whoamiFp(bob);
    const wrong = bFp.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    const r = await alice.run(['trust', 'bob', '--fingerprint', wrong]);
    expect(r).toMatchObject({ exitCode: 5, stdout: '' });
    expect(r.stderr).toMatch(/^hush: error: the fingerprint you gave does not match bob's key\nhush: hint: compare again with hush verify bob/);
    const bad = await alice.run(['trust', 'bob', '--fingerprint', '12345']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^hush: error: a fingerprint is 30 digits/);
    expect((await contactsOf(alice))[0]!.trust).toBe('unverified');
  });

  it('marks the contact verified with the matching fingerprint (spaces optional)', async () => {
    const bFp = await whoamiFp(bob);
    const r = await alice.run(['trust', 'bob', '--fingerprint', bFp.replace(/ /g, ''), '--json']);
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)).toEqual([{ event: 'trusted', name: 'bob', fingerprint: bFp, trust: 'verified', keyChanged: false, reopened: 0, quarantined: 0 }]);
    expect(r.stderr).toBe(`marked bob verified (fingerprint ${bFp})\n`);
    expect((await contactsOf(alice))[0]).toMatchObject({ name: 'bob', trust: 'verified' });
    const h = await alice.run(['contacts']);
    expect(h.stdout).toMatch(/\nbob +[\d ]+ {2}verified {5}\d{4}-/);
    const again = await alice.run(['trust', 'bob', '--fingerprint', bFp]);
    expect(again).toMatchObject({ exitCode: 0, stderr: 'bob was already verified\n' });
  });

  it("without a terminal and without --fingerprint, an unchanged key is taken at the script's word", async () => {
    const r = await bob.run(['trust', 'alice']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/^alice's fingerprint: (\d{5} ){5}\d{5}\nmarked alice verified/);
    expect((await contactsOf(bob))[0]).toMatchObject({ name: 'alice', trust: 'verified' });
  });

  it('trust of an unknown name is a usage error', async () => {
    const r = await alice.run(['trust', 'mallory', '--fingerprint', '12345 12345 12345 12345 12345 12345']);
    expect(r).toMatchObject({ exitCode: 2, stdout: '' });
  });
});

describe('a changed key', () => {
  it('is quarantined, refused by send, shown by contacts/verify, accepted only with the new fingerprint, and its mail re-opened', async () => {
    const oldFp = await whoamiFp(bob);
    // bob starts over: a new identity under the same name (init --force sets the old keyring
    // and the old store aside), on the same relay URL after that relay lost its directory (it
    // would refuse the name otherwise: it is taken by the old key).
    const port = new URL(relay.url).port;
    expect(await relay.stop()).toBe(0);
    relay2 = await startRelayProcess({ args: ['--port', port] });
    expect(relay2.url).toBe(relay.url);
    const i = await bob.run(['init', '--name', 'bob', '--force']);
    expect(i.exitCode).toBe(0);
    const newFp = await whoamiFp(bob);
    expect(newFp).not.toBe(oldFp);
    expect((await bob.run(['register', '--relay', relay2.url])).exitCode).toBe(0);
    expect((await alice.run(['register'])).exitCode).toBe(0);

    const s = await bob.run(['send', 'alice', 'sent with my new key']);
    expect(s.exitCode).toBe(0);

    // alice pulls: the mail is kept in quarantine, never shown.
    const p = await alice.run(['pull']);
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toBe('');
    expect(p.stderr).toMatch(
      /1 message signed by a NEW key claiming to be bob kept in quarantine, not shown; compare it \(hush verify bob\), then hush trust bob to accept it, or hush trust bob --reject/,
    );

    // send refuses with the trust exit code.
    const refused = await alice.run(['send', 'bob', 'are you really bob?']);
    expect(refused).toMatchObject({ exitCode: 5, stdout: '' });
    expect(refused.stderr).toBe("hush: error: bob's key has changed since you pinned it\nhush: hint: verify the new fingerprint with bob, then run hush trust bob\n");

    // contacts and verify show both keys; the new safety number equals bob's.
    expect((await contactsOf(alice))[0]).toMatchObject({ name: 'bob', fingerprint: oldFp, trust: 'changed', newFingerprint: newFp });
    const ch = await alice.run(['contacts']);
    expect(ch.stdout).toContain('KEY CHANGED');
    expect(ch.stdout).toContain(`new key: ${newFp}`);
    const va = jsonOf((await alice.run(['verify', 'bob', '--json'])).stdout)[0]!;
    const vb = jsonOf((await bob.run(['verify', 'alice', '--json'])).stdout)[0]!;
    expect(va).toMatchObject({ trust: 'changed', fingerprint: oldFp, newFingerprint: newFp });
    expect(va.newSafetyNumber).toBe(vb.safetyNumber);
    expect(va.safetyNumber).not.toBe(vb.safetyNumber);
    const vh = await alice.run(['verify', 'bob']);
    expect(vh.stdout).toContain(`hush trust bob --fingerprint '${newFp}'`);

    // No terminal and no --fingerprint: refused with a hint.
    const noTty = await alice.run(['trust', 'bob']);
    expect(noTty).toMatchObject({ exitCode: 5, stdout: '' });
    expect(noTty.stderr).toContain(`  pinned key: ${oldFp}\n  new key:    ${newFp}\n`);
    expect(noTty.stderr).toContain(
      "hush: error: not accepting bob's new key without a confirmation\nhush: hint: compare the new fingerprint with bob (hush verify bob), then run hush trust bob --fingerprint FP\n",
    );
    // The OLD fingerprint does not accept the new key.
    const old = await alice.run(['trust', 'bob', '--fingerprint', oldFp]);
    expect(old.exitCode).toBe(5);
    expect(old.stderr).toContain("hush: error: the fingerprint you gave does not match bob's new key");
    expect((await contactsOf(alice))[0]!.trust).toBe('changed');
    expect((await alice.run(['send', 'bob', 'still refused'])).exitCode).toBe(5);

    // The new fingerprint accepts it, marks it verified and re-opens the quarantined message.
    const t = await alice.run(['trust', 'bob', '--fingerprint', newFp, '--json']);
    expect(t.exitCode).toBe(0);
    const events = jsonOf(t.stdout);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ event: 'message', from: 'bob', to: 'alice', body: 'sent with my new key' });
    expect(events[1]).toEqual({ event: 'trusted', name: 'bob', fingerprint: newFp, trust: 'verified', keyChanged: true, reopened: 1, quarantined: 0 });
    expect(t.stderr).toContain("accepted bob's new key and marked it verified\nopened 1 message from bob that had been kept in quarantine\n");
    expect((await contactsOf(alice))[0]).toMatchObject({ name: 'bob', fingerprint: newFp, trust: 'verified', newFingerprint: null });
    // The re-opened message is acknowledged like a pulled one: trust queued delivered and read
    // receipts, which go out with alice's next pull (before she looks at her history).
    expect((await alice.run(['pull'])).exitCode).toBe(0);
    expect(await bob.run(['pull'])).toMatchObject({ exitCode: 0, stdout: '' });
    const bh = jsonOf((await bob.run(['history', 'alice', '--json'])).stdout);
    expect(bh.find((m) => m.body === 'sent with my new key')).toMatchObject({ direction: 'out', status: 'read' });

    const h = jsonOf((await alice.run(['history', 'bob', '--json'])).stdout);
    expect(h.map((m) => m.body)).toEqual(['hello bob', 'sent with my new key']);
    expect(h[1]!.id).toBe(events[0]!.id);

    // A second pull shows nothing again; send works; bob reads it.
    expect(await alice.run(['pull'])).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    const ok = await alice.run(['send', 'bob', 'welcome back']);
    expect(ok.exitCode).toBe(0);
    const bp = await bob.run(['pull', '--json']);
    expect(jsonOf(bp.stdout).map((m) => m.body)).toEqual(['welcome back']);
  });
});
