/**
 * Sealed sender through the real binary and a real relay process (docs/PROTOCOL.md §5.8,
 * §7.2): a delivery token is handed over once both sides have written; later sends to that
 * contact make no authenticated connection and leave no sender identity in the relay's log or
 * store (scanned for the key in raw, base64, base64url and hex); a stranger (no token) fills its
 * --stranger-count share and is refused STRANGER_QUOTA while a contact's token send still gets
 * in; `hush trust NAME --reject` revokes the token (the next send falls back to identified and
 * is delivered); a short --token-lifetime expires a token and the next pull rotates it.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, makeUser, type RelayProc, seal, startRelayProcess, tmpDir } from '../integration/helpers.js';
import { jsonOf, newUser, type TestUser } from './messaging-helpers.js';

// Small enough to fill, large enough for a first exchange (a message and two receipts each way).
const RELAY_ARGS = ['--stranger-count', '4'];
let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  relay = await startRelayProcess({ args: RELAY_ARGS });
  [alice, bob, carol] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url), newUser('carol', relay.url)]);
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

async function signPkOf(u: TestUser): Promise<Buffer> {
  const w = await u.run(['whoami', '--json']);
  return Buffer.from(String(jsonOf(w.stdout)[0]!.signPk), 'base64');
}

/** The key in every spelling a log or a database could hold it in. */
function spellings(key: Buffer): string[] {
  return [key.toString('base64'), key.toString('base64url'), key.toString('hex'), key.toString('hex').toUpperCase()];
}

async function send(u: TestUser, to: string, text: string): Promise<{ exitCode: number; sealed: unknown[]; stderr: string }> {
  const r = await u.run(['send', to, text, '--json']);
  return {
    exitCode: r.exitCode,
    sealed: jsonOf(r.stdout)
      .filter((e) => e.event === 'sent')
      .map((e) => e.sealed),
    stderr: r.stderr,
  };
}

async function bodies(u: TestUser): Promise<string[]> {
  const p = await u.run(['pull', '--json']);
  expect(p.exitCode).toBe(0);
  return jsonOf(p.stdout)
    .filter((e) => e.event === 'message')
    .map((e) => String(e.body));
}

const authLines = (): number =>
  relay
    .log()
    .split('\n')
    .filter((l) => /\bauth\b/.test(l) && /conn=/.test(l)).length;

describe('sealed sender between contacts', () => {
  it('hands a token over once both have written; later sends carry no sender and leave none in the log or the store', async () => {
    // First contact is identified and hands over nothing.
    expect(await send(alice, 'bob', 'hello bob')).toMatchObject({ exitCode: 0, sealed: [false] });
    expect(await bodies(bob)).toEqual(['hello bob']);
    // bob replies (identified: he holds no token) and, both having written, hands alice a token.
    expect(await send(bob, 'alice', 'hi alice')).toMatchObject({ exitCode: 0, sealed: [false] });
    expect(await bodies(alice)).toEqual(['hi alice']); // alice keeps it and hands bob hers
    expect(await bodies(bob)).toEqual([]);

    const before = authLines();
    expect(await send(alice, 'bob', 'sealed one')).toMatchObject({ exitCode: 0, sealed: [true] });
    expect(authLines()).toBe(before); // the whole `hush send` never authenticated

    // The relay's log: no key of either side in any spelling.
    const log = relay.log();
    for (const key of [await signPkOf(alice), await signPkOf(bob)]) for (const s of spellings(key)) expect(log).not.toContain(s);
    // The relay's store while alice's envelope waits for bob: a copy (database and WAL) without
    // the public directory and without the rows that name alice as a RECIPIENT (mail waiting
    // for her, her own mailbox's token hashes), compacted. What is left, bob's mailbox with
    // alice's envelope in it included, holds no trace of alice's key.
    const copy = tmpDir('hush-sealed-scan-');
    copyFileSync(join(relay.dataDir, 'relay.sqlite'), join(copy, 'relay.sqlite'));
    if (existsSync(join(relay.dataDir, 'relay.sqlite-wal'))) copyFileSync(join(relay.dataDir, 'relay.sqlite-wal'), join(copy, 'relay.sqlite-wal'));
    const db = new Database(join(copy, 'relay.sqlite'));
    expect((db.prepare('SELECT COUNT(*) AS n FROM tokens').get() as { n: number }).n).toBeGreaterThanOrEqual(2);
    const alicePk = await signPkOf(alice);
    expect((db.prepare('SELECT COUNT(*) AS n FROM mailbox WHERE recipient = ?').get(await signPkOf(bob)) as { n: number }).n).toBeGreaterThanOrEqual(1);
    db.exec('DELETE FROM directory');
    // The published prekeys are public directory data too (fetched by anyone who writes to her).
    for (const t of ['prekey_signed', 'prekey_opk', 'prekey_kem']) db.prepare(`DELETE FROM ${t} WHERE sign_pk = ?`).run(alicePk);
    db.prepare('DELETE FROM mailbox WHERE recipient = ?').run(alicePk);
    db.prepare('DELETE FROM tokens WHERE recipient = ?').run(alicePk);
    db.exec(`VACUUM INTO '${join(copy, 'scan.sqlite')}'`);
    db.close();
    const bytes = readFileSync(join(copy, 'scan.sqlite'));
    expect(bytes.indexOf(alicePk)).toBe(-1);
    const text = bytes.toString('latin1');
    for (const s of spellings(alicePk)) expect(text).not.toContain(s);

    expect(await send(bob, 'alice', 'sealed back')).toMatchObject({ exitCode: 0, sealed: [true] });
    expect(await bodies(bob)).toEqual(['sealed one']);
    expect(await bodies(alice)).toEqual(['sealed back']);
  });

  it('a stranger fills its share of a mailbox and is refused STRANGER_QUOTA; a contact with a token still gets in', async () => {
    const junk = await carol.run(['send', 'bob', '--lines', '--json'], { input: 'junk 1\njunk 2\njunk 3\njunk 4\n' });
    expect(junk.exitCode).toBe(0);
    expect(jsonOf(junk.stdout).map((e) => e.sealed)).toEqual([false, false, false, false]);
    const refused = await send(carol, 'bob', 'junk 5');
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/hush: error: relay refused: more than 4 envelopes .* wait in this mailbox.*; 1 message kept in the outbox\nhush: hint: /);
    expect(await send(alice, 'bob', 'a contact gets through')).toMatchObject({ exitCode: 0, sealed: [true] });
    expect(await bodies(bob)).toEqual(['junk 1', 'junk 2', 'junk 3', 'junk 4', 'a contact gets through']);
  });
});

describe('revocation and expiry', () => {
  it('trust --reject revokes the token: the next send is refused TOKEN_INVALID, falls back to identified and is delivered', async () => {
    // Someone else takes the name "alice" on the relay (its directory row removed while it is
    // down) and writes to bob: bob sees alice's key change and rejects the new key.
    const port = new URL(relay.url).port;
    expect(await relay.stop()).toBe(0);
    const db = new Database(join(relay.dataDir, 'relay.sqlite'));
    db.prepare("DELETE FROM directory WHERE name = 'alice'").run();
    db.close();
    relay = await startRelayProcess({ dataDir: relay.dataDir, args: [...RELAY_ARGS, '--port', port] });
    const impostor = makeUser('alice');
    const bobPk = await signPkOf(bob);
    const c = await impostor.connect(relay.url);
    await c.register(impostor.bundle);
    await c.send(
      bobPk,
      seal(impostor, { id: { signPk: bobPk, boxPk: Buffer.from(String(jsonOf((await bob.run(['whoami', '--json'])).stdout)[0]!.boxPk), 'base64') } } as never, 'i am alice now'),
    );
    await c.close();
    const p = await bob.run(['pull']);
    expect(p.stderr).toMatch(/NEW key claiming to be alice/);
    const r = await bob.run(['trust', 'alice', '--reject']);
    expect(r.exitCode).toBe(0);
    await bob.run(['pull']); // the revocation reaches the relay

    const s = await send(alice, 'bob', 'after the reject');
    expect(s).toMatchObject({ exitCode: 0, sealed: [false] });
    expect(s.stderr).not.toMatch(/error|warn/i); // nothing alarming: it is what first contact does
    expect(relay.log()).toMatch(/token-refused/);
    expect(await bodies(bob)).toEqual(['after the reject']);
  });

  it('a token expires after its lifetime (--token-lifetime), the send goes identified, and the next pull rotates it', async () => {
    const dave = await newUser('dave', relay.url);
    const erin = await newUser('erin', relay.url);
    const short = { env: { HUSH_TOKEN_LIFETIME: '5s' } };
    await send(dave, 'erin', 'hi erin');
    await erin.run(['pull'], short);
    expect((await erin.run(['send', 'dave', 'hi dave', '--token-lifetime', '5s'])).exitCode).toBe(0);
    await dave.run(['pull']);
    expect(await send(dave, 'erin', 'sealed while valid')).toMatchObject({ exitCode: 0, sealed: [true] });
    // Valid for its epoch and the next: at most 10 s from erin's send. Wait past that.
    await new Promise((res) => setTimeout(res, 10_500));
    expect(await send(dave, 'erin', 'after expiry')).toMatchObject({ exitCode: 0, sealed: [false] });
    await erin.run(['pull'], short); // a new epoch: a new token for dave
    await dave.run(['pull']);
    expect(await send(dave, 'erin', 'rotated')).toMatchObject({ exitCode: 0, sealed: [true] });
    const got = await bodies(erin);
    expect(got).toEqual(['rotated']);
  });

  it('a bad --token-lifetime is a usage error', async () => {
    const r = await alice.run(['pull', '--token-lifetime', 'soon']);
    expect(r).toMatchObject({ exitCode: 2, stdout: '' });
    expect(r.stderr).toContain("hush: error: the delivery token lifetime must be a duration from 1s to 90d, not 'soon'\nhush: hint: e.g. --token-lifetime 7d\n");
  });
});
