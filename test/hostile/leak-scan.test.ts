/**
 * Leak scan (issue 6, part 5): after a full conversation through the real CLI and relay
 * (register, send both ways, pull, listen, history, passwd), search every byte the system left
 * behind — the relay's data directory (database, WAL, shm) and its stdout and stderr, every
 * CLI's stderr, every file in both client homes — for each plaintext, each passphrase and each
 * secret key (signing seed and key, box key, history key, data key, wrapping key), raw, base64
 * (standard and URL-safe, unpadded) and hex (lower and upper case). None may be found: the
 * homes hold them only inside the encrypted keyring and history.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { utf8 } from '../../src/protocol/encoding.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { hush, type HushResult, jsonLines, makeHome } from '../cli/helpers.js';
import { spawnHush } from '../cli/messaging-helpers.js';
import { cleanupTmp, figure, startRelayProcess } from './helpers.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

afterAll(() => cleanupTmp());

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Every spelling of a secret worth searching for (short ones would match by chance: none here is under 16 bytes). */
function spellings(secret: Uint8Array): Buffer[] {
  const b = Buffer.from(secret);
  const b64 = b.toString('base64');
  const forms = [
    b,
    Buffer.from(b64),
    Buffer.from(b64.replace(/=+$/, '')),
    Buffer.from(b.toString('base64url')),
    Buffer.from(b.toString('hex')),
    Buffer.from(b.toString('hex').toUpperCase()),
  ];
  // The middle of a base64 string (its alignment inside a longer encoding can differ).
  forms.push(Buffer.from(b64.slice(4, -4)));
  return forms;
}

describe('leak scan after a full conversation', () => {
  it('finds no plaintext, passphrase or secret key anywhere outside the encrypted stores', async () => {
    const relay = await startRelayProcess();
    const pass = { alice: 'alice-passphrase-Quokka-7781', bob: 'bob-passphrase-Narwhal-1933', bobNew: 'bob-new-passphrase-Okapi-4410' };
    const alice = await makeHome('hush-leak-alice-');
    const bob = await makeHome('hush-leak-bob-');
    const stderrs: string[] = [];
    const run = async (home: string, passphrase: string, args: string[], input?: string, extra: Record<string, string> = {}): Promise<HushResult> => {
      const r = await hush(args, { home, env: { HUSH_PASSPHRASE: passphrase, ...extra }, ...(input === undefined ? {} : { input }) });
      stderrs.push(r.stderr);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    const plaintexts = [
      'the launch code is Zebra-Tango-4471',
      'meet me at the old mill at half past nine, bring the ledger',
      'ünïcödé plaintext: 秘密のメッセージ',
      `a long one: ${'Lorem ipsum secret sauce '.repeat(200)}`,
    ];
    await run(alice, pass.alice, ['init', '--name', 'alice']);
    await run(bob, pass.bob, ['init', '--name', 'bob']);
    await run(alice, pass.alice, ['register', '--relay', relay.url]);
    await run(bob, pass.bob, ['register', '--relay', relay.url]);
    // bob listens while alice sends; then bob answers with send from stdin and --lines.
    const listen = spawnHush(bob, ['listen', '--json'], { HUSH_PASSPHRASE: pass.bob });
    await listen.stderr.waitFor(/^hush: listening on /);
    await run(alice, pass.alice, ['send', 'bob', plaintexts[0]!]);
    expect(await listen.stdout.json(0)).toMatchObject({ event: 'message', body: plaintexts[0] });
    listen.kill('SIGINT');
    await listen.done;
    stderrs.push(listen.stderr.text());
    await run(alice, pass.alice, ['send', 'bob'], plaintexts[1]);
    await run(alice, pass.alice, ['send', 'bob'], plaintexts[3]);
    const p = await run(bob, pass.bob, ['pull', '--json']);
    expect(
      jsonLines(p.stdout)
        .filter((e) => e.event === 'message')
        .map((e) => e.body),
    ).toEqual([plaintexts[1], plaintexts[3]]);
    await run(bob, pass.bob, ['send', 'alice', '--lines'], plaintexts[2] + '\n');
    await run(alice, pass.alice, ['pull']);
    await run(alice, pass.alice, ['history', 'bob']);
    await run(bob, pass.bob, ['history', 'alice', '--json']);
    await run(bob, pass.bob, ['passwd'], undefined, { HUSH_NEW_PASSPHRASE: pass.bobNew });
    await run(bob, pass.bobNew, ['contacts']);

    // The secrets, read in-process from the keyrings.
    const secrets: [string, Uint8Array][] = [];
    for (const [who, home, pw] of [
      ['alice', alice, pass.alice],
      ['bob', bob, pass.bobNew],
    ] as const) {
      const u = await unlock(hushPaths(home), { env: { HUSH_PASSPHRASE: pw } });
      secrets.push(
        [`${who} signing seed`, u.identity.signSk.subarray(0, 32)],
        [`${who} signing key`, u.identity.signSk],
        [`${who} box key`, u.identity.boxSk],
        [`${who} history key`, u.identity.historyKey],
        [`${who} data key`, u.dataKey],
        [`${who} wrapping key`, u.wrappingKey],
      );
    }
    const needles: [string, Buffer][] = [];
    for (const [name, s] of secrets) for (const f of spellings(s)) needles.push([name, f]);
    for (const t of plaintexts) {
      needles.push([`plaintext ${t.slice(0, 20)}`, Buffer.from(utf8(t))]);
      needles.push([`plaintext ${t.slice(0, 20)} (base64)`, Buffer.from(Buffer.from(t).toString('base64').slice(4, -4))]);
    }
    needles.push(['a distinctive plaintext word', Buffer.from('Zebra-Tango-4471')], ['another', Buffer.from('Lorem ipsum secret sauce')]);
    for (const [who, pw] of Object.entries(pass)) for (const f of spellings(Buffer.from(pw))) needles.push([`${who} passphrase`, f]);

    // What is scanned: every file of the relay data dir and of both homes, the relay's output, every stderr.
    // The relay's files while it runs (WAL included) and after it stopped (checkpointed).
    const haystacks: [string, Buffer][] = [];
    for (const f of filesUnder(relay.dataDir)) haystacks.push([`${f} (running)`, readFileSync(f)]);
    expect(await relay.stop()).toBe(0);
    for (const f of [...filesUnder(relay.dataDir), ...filesUnder(alice), ...filesUnder(bob)]) haystacks.push([f, readFileSync(f)]);
    haystacks.push(['relay stderr', Buffer.from(relay.log())], ['relay stdout', Buffer.from(relay.url + '\n')]);
    stderrs.forEach((s, i) => haystacks.push([`cli stderr #${i}`, Buffer.from(s)]));
    const leaks: string[] = [];
    for (const [where, hay] of haystacks) for (const [what, needle] of needles) if (hay.includes(needle)) leaks.push(`${what} in ${where}`);
    expect(leaks).toEqual([]);
    // The scan is not vacuous: it finds the plaintext where it belongs (the pull's stdout).
    expect(Buffer.from(p.stdout).includes(Buffer.from(plaintexts[1]!))).toBe(true);
    figure('leak scan', `${needles.length} needles x ${haystacks.length} haystacks (${haystacks.reduce((n, [, h]) => n + h.length, 0)} bytes): ${leaks.length} leaks`);
  });
});
