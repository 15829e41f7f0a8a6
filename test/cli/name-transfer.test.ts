/**
 * Name transfer through the real binary and a real relay (docs/PROTOCOL.md §7.2 "Transfer"):
 * bob replaces his identity (`init --force`, same name), the hint followed: the kept old keyring
 * signs the transfer to the new key (`register --transfer-to KEY`), the new home presents it
 * (`register --transfer-from FILE`). The relay moves the name in one step and the old key keeps
 * no name; carol, who pinned the old key, is told the key changed, never silently switched.
 * Refusals: a statement for another key or another name (exit 2), a damaged one (exit 6), a
 * forged signature or a name the signer does not hold (relay refusals, exit 4).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromB64 } from '../../src/protocol/encoding.js';
import { cleanupTmp, makeUser, type RelayProc, seal, startRelayProcess } from '../integration/helpers.js';
import { makeHome } from './helpers.js';
import { jsonOf, newUser, type TestUser, userIn } from './messaging-helpers.js';

let relay: RelayProc;
let bob: TestUser;
let carol: TestUser;
let oldKey: Uint8Array;
let statementFile: string;

const keyOf = async (u: TestUser): Promise<string> => String(jsonOf((await u.run(['whoami', '--json'])).stdout)[0]!.signPk);

beforeAll(async () => {
  relay = await startRelayProcess();
  [bob, carol] = await Promise.all([newUser('bob', relay.url), newUser('carol', relay.url)]);
  oldKey = fromB64(await keyOf(bob));
  // carol pins bob's old key
  expect((await bob.run(['send', 'carol', 'hi from the old bob'])).exitCode).toBe(0);
  expect((await carol.run(['pull'])).exitCode).toBe(0);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

describe('hush register --transfer-to / --transfer-from', () => {
  it('moves the name from the kept old key to the new one, as the init --force hint says; the old key keeps no name', async () => {
    const init = await bob.run(['init', '--force', '--name', 'bob']);
    expect(init.exitCode, init.stderr).toBe(0);
    const newKey = await keyOf(bob);
    expect(init.stderr).toContain(`hush register --transfer-to ${newKey} > transfer.json`);
    expect(init.stderr).toContain('hush register --transfer-from transfer.json --relay URL on each relay');
    expect((await bob.run(['register'])).exitCode).toBe(4); // NAME_TAKEN: the old key holds it

    // The hint, followed: the kept old keyring, alone in a home, signs the transfer.
    const kept = (await fsp.readdir(bob.home)).find((f) => f.startsWith('keyring.json.replaced-'))!;
    const oldHome = await makeHome('hush-old-bob-');
    await fsp.copyFile(path.join(bob.home, kept), path.join(oldHome, 'keyring.json'));
    await fsp.chmod(path.join(oldHome, 'keyring.json'), 0o600);
    const signed = await userIn('bob', oldHome).run(['register', '--transfer-to', newKey]);
    expect(signed.exitCode, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(/^\{"type":"hush-name-transfer","v":1,"name":"bob","from":"[A-Za-z0-9+/]{43}=","to":"[A-Za-z0-9+/]{43}=","sig":"[A-Za-z0-9+/]{86}=="\}\n$/);
    expect(signed.stderr).toMatch(/^signed the transfer of bob to the key with fingerprint [0-9 ]+; in that key's home run hush register --transfer-from FILE/m);
    statementFile = path.join(await makeHome('hush-transfer-'), 'transfer.json');
    await fsp.writeFile(statementFile, signed.stdout);

    const moved = await bob.run(['register', '--transfer-from', statementFile, '--json']);
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect(jsonOf(moved.stdout)).toMatchObject([{ event: 'transferred', name: 'bob', relay: relay.url }]);
    // The relay serves the new key under the name; the old key has none and takes no mail.
    const probe = makeUser();
    const c = await probe.connect(relay.url);
    try {
      expect((await c.lookup({ name: 'bob' })).signPk).toEqual(fromB64(newKey));
      await expect(c.lookup({ signPk: oldKey })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(c.send(oldKey, seal(probe, probe, 'to the old key'))).rejects.toMatchObject({ code: 'UNKNOWN_RECIPIENT' });
    } finally {
      await c.close();
    }
    // Presenting it again changes nothing and is no error; a plain register now works too.
    expect((await bob.run(['register', '--transfer-from', statementFile])).exitCode).toBe(0);
    expect((await bob.run(['register'])).exitCode).toBe(0);
  });

  it('a contact who pinned the old key is told the key changed, not switched', async () => {
    const r = await carol.run(['send', 'bob', 'are you still bob?']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/^hush: error: .*bob.*key/m);
    const contacts = jsonOf((await carol.run(['contacts', '--json'])).stdout);
    expect(contacts).toMatchObject([{ name: 'bob', trust: 'changed' }]);
  });

  it('refuses a statement for another key (exit 2), another name (exit 2), a damaged one (exit 6), a forged one (exit 4)', async () => {
    const dave = await newUser('dave', relay.url);
    const other = await dave.run(['register', '--transfer-from', statementFile]);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toMatch(/^hush: error: the transfer gives bob to the key with fingerprint [0-9 ]+, not to this identity/m);

    // dave signs his name over to bob's key: bob's home is named bob, not dave
    const toBob = await dave.run(['register', '--transfer-to', await keyOf(bob), '--json']);
    expect(toBob.exitCode, toBob.stderr).toBe(0);
    const file = path.join(path.dirname(statementFile), 'dave.json');
    await fsp.writeFile(file, String(jsonOf(toBob.stdout)[0]!.statement));
    const name = await bob.run(['register', '--transfer-from', file]);
    expect(name.exitCode).toBe(2);
    expect(name.stderr).toMatch(/^hush: error: the transfer is for the name dave, but this identity is named bob$/m);

    await fsp.writeFile(file, '{"type":"hush-name-transfer","v":1,"name":"bob"}');
    const damaged = await bob.run(['register', '--transfer-from', file]);
    expect(damaged.exitCode).toBe(6);
    expect(damaged.stderr).toMatch(/^hush: error: name transfer field from is missing$/m);

    // A statement with a flipped signature byte: the relay refuses it before looking at the name.
    const s = JSON.parse(await fsp.readFile(statementFile, 'utf8')) as { sig: string };
    const sig = Buffer.from(s.sig, 'base64');
    sig[0]! ^= 1;
    await fsp.writeFile(file, JSON.stringify({ ...s, sig: sig.toString('base64') }));
    const forged = await bob.run(['register', '--transfer-from', file]);
    expect(forged.exitCode).toBe(4);
    expect(forged.stderr).toMatch(/not signed by the key it names as the holder/);

    expect((await dave.run(['register', '--transfer-to', 'not-a-key'])).exitCode).toBe(2);
    const both = await dave.run(['register', '--release', '--transfer-from', file]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('hush: error: --release and --transfer-from do not go together');
  });
});
