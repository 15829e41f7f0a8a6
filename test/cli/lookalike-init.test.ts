/**
 * Look-alike names and what `init --force` does to a name (issue #13), through real homes,
 * the real binary and a real relay process:
 * - pinning `bob_` (on send) or `b0b` (on receive) while `bob` is a contact prints one loud
 *   warning naming both, and `hush contacts` marks them (`lookalikeOf` in --json, a line under
 *   the row in the human table); `bob` itself is not marked, and the names stay usable;
 * - `init --force` over a registered identity says on stderr that the old key still holds its
 *   name on the relay and a new key of that name cannot register there; register then proves it,
 *   and the hint, followed (`register --release` from the kept old keyring), frees the name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { makeHome } from './helpers.js';
import { jsonOf, newUser, type TestUser, userIn } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let bobU: TestUser;
let b0b: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, bobU, b0b] = (await Promise.all(['alice', 'bob', 'bob_', 'b0b'].map((n) => newUser(n, relay.url)))) as [TestUser, TestUser, TestUser, TestUser];
}, 120_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('hush: warning:'));

describe('look-alike names', () => {
  it('warns when a look-alike is pinned on send and on receive, and hush contacts marks it', async () => {
    const first = await alice.run(['send', 'bob', 'hi bob']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(warnings(first.stderr)).toEqual([]); // the first contact looks like nobody

    const s = await alice.run(['send', 'bob_', 'are you bob?']);
    expect(s.exitCode, s.stderr).toBe(0); // names stay allowed
    expect(warnings(s.stderr)).toEqual(['hush: warning: bob_ looks like your contact bob; compare fingerprints (hush verify bob_)']);

    expect((await b0b.run(['send', 'alice', 'it is me, bob'])).exitCode).toBe(0);
    const p = await alice.run(['pull']);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.stdout).toContain('b0b: it is me, bob');
    expect(warnings(p.stderr)).toEqual(['hush: warning: b0b looks like your contact bob; compare fingerprints (hush verify b0b)']);

    const j = await alice.run(['contacts', '--json']);
    expect(j.exitCode, j.stderr).toBe(0);
    expect(Object.fromEntries(jsonOf(j.stdout).map((c) => [c.name, c.lookalikeOf]))).toEqual({ b0b: 'bob', bob: null, bob_: 'bob' });

    const h = await alice.run(['contacts']);
    expect(h.exitCode, h.stderr).toBe(0);
    const lines = h.stdout.split('\n');
    const under = (name: string): string => lines[lines.findIndex((l) => l.startsWith(`${name} `)) + 1] ?? '';
    expect(under('bob_').trim()).toBe('~ looks like bob: compare fingerprints (hush verify bob_)');
    expect(under('b0b').trim()).toBe('~ looks like bob: compare fingerprints (hush verify b0b)');
    expect(under('bob').trim()).toMatch(/^bob_ /); // bob itself carries no mark

    // A second message to the look-alike does not warn again (the warning is at pin time).
    const again = await alice.run(['send', 'bob_', 'still there?']);
    expect(warnings(again.stderr)).toEqual([]);
    expect((await bobU.run(['pull'])).stdout).toContain('alice: are you bob?');
    expect((await bob.run(['pull'])).stdout).toContain('alice: hi bob');
  });
});

describe('init --force and the old name', () => {
  it('says the old key keeps the name on the relay and the new key cannot register it; register agrees', async () => {
    const zed = await newUser('zed', relay.url);
    const r = await zed.run(['init', '--force', '--name', 'zed']);
    expect(r.exitCode, r.stderr).toBe(0);
    const w = warnings(r.stderr);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(
      /^hush: warning: your old identity zed \(fingerprint [0-9 ]+\) still holds the name zed on the relays it registered on \(ws:\/\/127\.0\.0\.1:\d+ and any other\) \(its keyring was kept as .+\); this new key cannot register zed there \(the relay answers NAME_TAKEN\), and mail sent to zed still goes to the old key$/,
    );
    expect(r.stderr).toMatch(
      /hush: hint: only the old key can give the name away: copy \S+keyring\.json\.replaced-\d+ as keyring\.json into an empty directory \(mode 0700\), run HUSH_HOME=that-directory hush register --transfer-to \S{44} > transfer\.json .*; or free the name there with hush register --release --relay URL and then hush register here/,
    );
    const reg = await zed.run(['register']);
    expect(reg.exitCode).toBe(4);
    expect(reg.stderr).toContain('the name zed is taken by another identity');
    // The new key cannot release a name it does not hold.
    const notMine = await zed.run(['register', '--release']);
    expect(notMine.exitCode).toBe(4);
    expect(notMine.stderr).toContain('the name zed is held by another identity; only its key can release it');

    // The hint, followed: the kept old keyring, alone in a home, releases the name.
    const kept = (await fsp.readdir(zed.home)).find((f) => f.startsWith('keyring.json.replaced-'));
    expect(kept).toBeDefined();
    const oldHome = await makeHome('hush-old-zed-');
    await fsp.copyFile(path.join(zed.home, kept!), path.join(oldHome, 'keyring.json'));
    await fsp.chmod(path.join(oldHome, 'keyring.json'), 0o600);
    const rel = await userIn('zed', oldHome).run(['register', '--release', '--relay', relay.url, '--json']);
    expect(rel.exitCode, rel.stderr).toBe(0);
    expect(jsonOf(rel.stdout)[0]).toMatchObject({ event: 'released', name: 'zed', relay: relay.url });
    const twice = await userIn('zed', oldHome).run(['register', '--release', '--relay', relay.url]);
    expect(twice.exitCode).toBe(4);
    expect(twice.stderr).toContain('no identity is registered under the name zed');
    const mine = await zed.run(['register', '--json']);
    expect(mine.exitCode, mine.stderr).toBe(0);
    const fp = String(jsonOf((await zed.run(['whoami', '--json'])).stdout)[0]!.fingerprint);
    expect(jsonOf(mine.stdout)[0]).toMatchObject({ event: 'registered', name: 'zed', fingerprint: fp });

    const other = await zed.run(['init', '--force', '--name', 'zed2']);
    expect(other.exitCode, other.stderr).toBe(0);
    expect(warnings(other.stderr)).toEqual([]);
    expect(other.stderr).toMatch(
      /hush: note: your old identity still holds the name zed on the relays it registered on .*; mail sent to zed still goes to the old key, so give your contacts your new name zed2 and its fingerprint/,
    );
    expect((await zed.run(['register'])).exitCode).toBe(0);
    expect((await zed.run(['register', '--release', '--default'])).stderr).toContain('hush: error: --release and --default do not go together');
  });

  it('a first init says nothing about an old name', async () => {
    const fresh = await newUser('yan', relay.url);
    const r = await fresh.run(['whoami', '--json']);
    expect(jsonOf(r.stdout)[0]!.name).toBe('yan');
    const again = await fresh.run(['init', '--name', 'yan']);
    expect(again.exitCode).toBe(2); // a keyring exists: refused, nothing about names
    expect(again.stderr).not.toContain('still holds the name');
  });
});
