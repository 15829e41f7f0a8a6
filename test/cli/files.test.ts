/**
 * Sending files through the real binary and a real relay process (issue #15): round trip with
 * the hash checked, what pull/history/files show (never the key), stdin with --name, the relay's
 * data directory holding no plaintext, no overwrite without --force, a tampered blob refused with
 * nothing left at the destination, the relay's size cap, a file to a group (@NAME) saved by each
 * member, and a save into a full disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess, tmpDir } from '../integration/helpers.js';
import { hush, makeHome } from './helpers.js';
import { ENV, jsonOf, newUser, type TestUser } from './messaging-helpers.js';
import { skipWithout, whyNoPrlimit } from '../needs.js';

let relay: RelayProc;
let dataDir: string;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let work: string;

beforeAll(async () => {
  dataDir = tmpDir('hush-relay-files-');
  // --blob-chunk 64k: these cases run the 64 KiB chunks (version-1 file messages) that a relay
  // without large chunks gets; the 1 MiB chunks of the default are in files-large.test.ts.
  relay = await startRelayProcess({ dataDir, args: ['--blob-max', '3m', '--blob-wait', '2s', '--blob-chunk', '64k'] });
  [alice, bob, carol] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url), newUser('carol', relay.url)]);
  work = await makeHome('hush-files-work-');
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('hush send --file / files / save', () => {
  it('round trip: the bytes and hash arrive, the relay only ever holds ciphertext, the blob goes once saved', async () => {
    // A marker repeated through the file: any plaintext chunk on the relay's disk would show it.
    const marker = Buffer.from(`HUSH-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`);
    const parts: Buffer[] = [];
    for (let n = 0; n < 200 * 1024; n += marker.length + 1000) parts.push(marker, randomBytes(1000));
    const data = Buffer.concat(parts);
    const src = path.join(work, 'report.pdf');
    await fsp.writeFile(src, data);

    const sent = await alice.run(['send', 'bob', '--file', src, '--json', 'the', 'report']);
    expect(sent.stderr).toMatch(/^hush: pinned bob's key on first use \(fingerprint [0-9 ]+\); compare it with hush verify bob\n$/);
    expect(sent.exitCode).toBe(0);
    const events = jsonOf(sent.stdout);
    const fileSent = events.find((e) => e.event === 'file-sent')!;
    expect(fileSent).toMatchObject({ to: 'bob', name: 'report.pdf', size: data.length, sha256: sha(data) });
    expect(events.filter((e) => e.event === 'progress').at(-1)).toMatchObject({ op: 'send', bytes: data.length, total: data.length });

    // The relay's data directory: a blob of ciphertext, no marker anywhere (files or SQLite).
    const onRelay = walk(dataDir);
    expect(onRelay.some((f) => f.endsWith('.blob'))).toBe(true);
    for (const f of onRelay) expect(readFileSync(f).includes(marker)).toBe(false);

    const pulled = await bob.run(['pull']);
    expect(pulled.exitCode).toBe(0);
    expect(pulled.stdout).toMatch(
      new RegExp(`alice sent report\\.pdf \\(${(data.length / 1024).toFixed(1)} KiB\\)  \\(hush save ${String(fileSent.id).slice(0, 12)}\\)\\n.*the report`),
    );
    const pulledAgain = await bob.run(['history', '--json']);
    expect(pulledAgain.stdout).not.toContain('"key"'); // never the file key
    expect(pulledAgain.stdout).toContain('sent report.pdf');

    const listed = await bob.run(['files', '--json']);
    expect(jsonOf(listed.stdout)).toEqual([
      { id: fileSent.id, from: 'alice', time: expect.any(Number) as number, name: 'report.pdf', size: data.length, sha256: sha(data), text: 'the report' },
    ]);

    const out = path.join(work, 'bob-out');
    await fsp.mkdir(out);
    const saved = await bob.run(['save', String(fileSent.id).slice(0, 8), '-o', out]);
    expect(saved.stderr).toBe(`saved report.pdf (${(data.length / 1024).toFixed(1)} KiB) to ${path.join(out, 'report.pdf')}\n`);
    expect(saved.exitCode).toBe(0);
    expect(sha(await fsp.readFile(path.join(out, 'report.pdf')))).toBe(sha(data));
    expect(readdirSync(out)).toEqual(['report.pdf']); // no temporary file left
    expect(walk(dataDir).filter((f) => f.endsWith('.blob'))).toEqual([]); // acked by its only recipient: deleted
    const gone = await bob.run(['save', String(fileSent.id), '-o', path.join(out, 'again.pdf')]);
    expect(gone.exitCode).toBe(4);
    expect(gone.stderr).toMatch(/^hush: error: the relay no longer has this file .*\nhush: hint: ask the sender to send it again\n$/);
    expect(readdirSync(out)).toEqual(['report.pdf']);

    // Again: refused without --force, the file untouched.
    await fsp.writeFile(path.join(out, 'report.pdf'), 'mine');
    const again = await bob.run(['save', String(fileSent.id), '-o', out]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/^hush: error: .*report\.pdf already exists\nhush: hint: choose another path with -o, or replace it with --force\n$/);
    expect(await fsp.readFile(path.join(out, 'report.pdf'), 'utf8')).toBe('mine');
  });

  it('stdin with --name; a hostile name is never a path', async () => {
    const data = randomBytes(70_000);
    const sent = await alice.run(['send', 'bob', '--file', '-', '--name', '../../etc/passwd', '--json'], { input: data.toString('latin1') });
    expect(sent.exitCode).toBe(0);
    const fileSent = jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!;
    expect(fileSent.name).toBe('passwd');
    expect(readdirSync(path.join(alice.home, 'tmp'))).toEqual([]); // the sealed spool is gone
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const cwd = path.join(work, 'cwd');
    await fsp.mkdir(cwd);
    const saved = await bob.run(['save', String(fileSent.id), '-o', path.join(cwd, 'x.bin')]);
    expect(saved.exitCode).toBe(0);
    expect(sha(await fsp.readFile(path.join(cwd, 'x.bin')))).toBe(sha(Buffer.from(data.toString('latin1'), 'utf8'))); // the helper writes the input as UTF-8
  });

  it('a tampered blob is refused with a reason and nothing is left at the destination', async () => {
    const data = randomBytes(150_000);
    const src = path.join(work, 'tamper.bin');
    await fsp.writeFile(src, data);
    const sent = await alice.run(['send', 'bob', '--file', src, '--json']);
    const id = String(jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!.id);
    const blob = walk(dataDir).find((f) => f.endsWith('.blob'))!;
    const bytes = readFileSync(blob);
    bytes[70_000] = bytes[70_000]! ^ 1; // inside chunk 1
    await fsp.writeFile(blob, bytes);
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const dest = path.join(work, 'tampered-out');
    await fsp.mkdir(dest);
    const saved = await bob.run(['save', id, '-o', dest]);
    expect(saved.exitCode).toBe(6);
    expect(saved.stderr).toMatch(/^hush: error: chunk 1 of the file does not authenticate .*\nhush: hint: nothing was written/);
    expect(readdirSync(dest)).toEqual([]);
    expect(statSync(blob).size).toBe(bytes.length); // not acked: still on the relay
  });

  it('a file over the relay cap is refused before any byte is uploaded', async () => {
    const src = path.join(work, 'big.bin');
    await fsp.writeFile(src, Buffer.alloc(4 * 1024 * 1024));
    const r = await alice.run(['send', 'bob', '--file', src]);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/hush: error: relay refused: the blob is \d+ bytes, this relay takes at most 3145728\nhush: hint: the file is larger than this relay accepts/);
  });

  it('kill -9 during an upload and during a download: both resume from the last acknowledged chunk', async () => {
    // More chunks than the transfer window (32) past the kill point, so the kill lands mid-transfer.
    const data = randomBytes(44 * 65536 + 1234);
    const src = path.join(work, 'resume.bin');
    await fsp.writeFile(src, data);
    const begins = (): number =>
      relay
        .log()
        .split('\n')
        .filter((l) => / blob-begin /.test(l)).length;
    const before = begins();
    const killed = await alice.run(['send', 'bob', '--file', src], { env: { HUSH_TEST_CRASH: 'send-after=262144' } });
    expect(killed.signal).toBe('SIGKILL');
    expect(readdirSync(path.join(alice.home, 'transfers'))).toHaveLength(1); // the unfinished upload, its key sealed
    expect(readFileSync(path.join(alice.home, 'transfers', readdirSync(path.join(alice.home, 'transfers'))[0]!), 'utf8')).not.toContain(src);

    const resumed = await alice.run(['send', 'bob', '--file', src, '--json']);
    expect(resumed.exitCode).toBe(0);
    const fileSent = jsonOf(resumed.stdout).find((e) => e.event === 'file-sent')!;
    expect(fileSent.resumed).toBeGreaterThanOrEqual(262144); // at least what the relay had acknowledged
    expect(fileSent.resumed).toBeLessThan(data.length);
    expect(begins()).toBe(before + 1); // one blob, not a second upload
    expect(readdirSync(path.join(alice.home, 'transfers'))).toEqual([]);

    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const dest = path.join(work, 'resume-out');
    await fsp.mkdir(dest);
    const id = String(fileSent.id);
    const cut = await bob.run(['save', id, '-o', dest], { env: { HUSH_TEST_CRASH: 'save-after=327680' } });
    expect(cut.signal).toBe('SIGKILL');
    const parts = readdirSync(dest);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatch(/^\.resume\.bin\.[0-9a-f]{12}\.hush-part$/); // hidden, beside the destination; nothing at resume.bin
    const kept = statSync(path.join(dest, parts[0]!)).size;
    expect(kept).toBeGreaterThanOrEqual(327680);

    const saved = await bob.run(['save', id, '-o', dest, '--json']);
    expect(saved.exitCode).toBe(0);
    expect(jsonOf(saved.stdout).at(-1)).toMatchObject({ event: 'saved', size: data.length, sha256: sha(data) });
    expect(sha(await fsp.readFile(path.join(dest, 'resume.bin')))).toBe(sha(data));
    expect(readdirSync(dest)).toEqual(['resume.bin']);
  });

  it('a save that starts while the upload is unfinished gets the whole file; a sender stopped mid-upload makes it fail clearly, nothing at the destination', async () => {
    const data = randomBytes(40 * 65536 + 77);
    const src = path.join(work, 'stream.bin');
    await fsp.writeFile(src, data);
    const killed = await alice.run(['send', 'bob', '--file', src], { env: { HUSH_TEST_CRASH: 'send-after=262144' } });
    expect(killed.signal).toBe('SIGKILL');
    // The file message went out as the upload began.
    const files = jsonOf((await bob.run(['pull', '--json'])).stdout).filter((e) => e.event === 'file');
    expect(files).toHaveLength(1);
    const id = String(files[0]!.id);
    const dest = path.join(work, 'stream-out');
    await fsp.mkdir(dest);

    // Nobody uploads: the relay's --blob-wait (2 s here) ends the wait.
    const stalled = await bob.run(['save', id, '-o', dest]);
    expect(stalled.exitCode).toBe(4);
    expect(stalled.stderr).toMatch(/hush: error: .*still being uploaded and no chunk of it arrived for 2 s.*\nhush: hint: /);
    expect(readdirSync(dest).filter((f) => !f.endsWith('.hush-part'))).toEqual([]); // only the hidden verified prefix, for the next try

    // A save waiting at the relay (its log says so), then the sender resumes: the whole file arrives.
    const waits = (): number =>
      relay
        .log()
        .split('\n')
        .filter((l) => / blob-wait /.test(l)).length;
    const before = waits();
    const saving = bob.run(['save', id, '-o', dest, '--json']);
    const deadline = Date.now() + 20_000;
    while (waits() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(waits()).toBeGreaterThan(before);
    const resumed = await alice.run(['send', 'bob', '--file', src, '--json']);
    expect(resumed.exitCode).toBe(0);
    expect(jsonOf(resumed.stdout).find((e) => e.event === 'file-sent')).toMatchObject({ id, size: data.length }); // the message of the first run, not a second one
    const saved = await saving;
    expect(saved.exitCode).toBe(0);
    expect(jsonOf(saved.stdout).at(-1)).toMatchObject({ event: 'saved', size: data.length, sha256: sha(data) });
    expect(sha(await fsp.readFile(path.join(dest, 'stream.bin')))).toBe(sha(data));
    expect(readdirSync(dest)).toEqual(['stream.bin']);
    expect(jsonOf((await bob.run(['pull', '--json'])).stdout).filter((e) => e.event === 'file')).toEqual([]); // announced once
  });

  it('pull --auto-save DIR saves every file received, numbering a name already taken', async () => {
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    await fsp.mkdir(path.join(work, 'one'));
    await fsp.mkdir(path.join(work, 'two'));
    await fsp.writeFile(path.join(work, 'one', 'notes.txt'), a);
    await fsp.writeFile(path.join(work, 'two', 'notes.txt'), b);
    const sent = await alice.run(['send', 'bob', '--file', path.join(work, 'one', 'notes.txt'), '--file', path.join(work, 'two', 'notes.txt')]);
    expect(sent.exitCode).toBe(0);
    expect(sent.stderr).toMatch(/(^|\n)sent notes\.txt \(4\.9 KiB\) to bob\nsent notes\.txt \(6\.8 KiB\) to bob\n$/);
    const inbox = path.join(work, 'inbox');
    await fsp.mkdir(inbox);
    await fsp.writeFile(path.join(inbox, 'notes.txt'), 'already here');
    const missing = await bob.run(['pull', '--auto-save', path.join(work, 'nope')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^hush: error: --auto-save .*nope is not a directory\nhush: hint: create it first/);
    const pulled = await bob.run(['pull', '--json', '--auto-save', inbox]);
    expect(pulled.exitCode).toBe(0);
    const saved = jsonOf(pulled.stdout).filter((e) => e.event === 'saved');
    expect(saved.map((e) => path.basename(String(e.path)))).toEqual(['notes-1.txt', 'notes-2.txt']);
    expect(await fsp.readFile(path.join(inbox, 'notes.txt'), 'utf8')).toBe('already here');
    expect(sha(await fsp.readFile(path.join(inbox, 'notes-1.txt')))).toBe(sha(a));
    expect(sha(await fsp.readFile(path.join(inbox, 'notes-2.txt')))).toBe(sha(b));
  });

  it('hush send @GROUP --file: one upload for every member, each member saves it, the blob goes once all acked', async () => {
    for (const u of [bob, carol]) expect((await alice.run(['send', u.name, 'hi'])).exitCode).toBe(0); // members are pinned contacts
    const created = await alice.run(['group', 'create', 'crew', 'bob', 'carol']);
    expect(created.stderr).toContain('created @crew with bob, carol');
    expect(created.exitCode).toBe(0);
    const data = randomBytes(3 * 65536 + 99);
    const src = path.join(work, 'plan.bin');
    await fsp.writeFile(src, data);
    const blobsBefore = walk(dataDir).filter((f) => f.endsWith('.blob'));
    const sent = await alice.run(['send', '@crew', '--file', src, '--json']);
    expect(sent.exitCode).toBe(0);
    const line = jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!;
    expect(line).toMatchObject({ to: '@crew', members: ['bob', 'carol'], name: 'plan.bin', size: data.length, sha256: sha(data) });
    const ids = line.ids as string[];
    expect(ids).toHaveLength(2);
    const newBlobs = walk(dataDir).filter((f) => f.endsWith('.blob') && !blobsBefore.includes(f));
    expect(newBlobs).toHaveLength(1); // one upload for both members
    const human = await alice.run(['send', '@nope', '--file', src]);
    expect(human.exitCode).toBe(2);
    expect(human.stderr).toMatch(/^hush: error: you have no group named nope\nhush: hint: /);

    for (const [i, u] of [bob, carol].entries()) {
      const pulled = await u.run(['pull']);
      expect(pulled.exitCode).toBe(0);
      expect(pulled.stdout).toMatch(/alice sent plan\.bin \(192\.1 KiB\)/);
      const dest = path.join(work, `crew-${u.name}`);
      await fsp.mkdir(dest);
      const saved = await u.run(['save', ids[i]!, '-o', dest]);
      expect(saved.exitCode).toBe(0);
      expect(sha(await fsp.readFile(path.join(dest, 'plan.bin')))).toBe(sha(data));
      // The relay keeps the blob until the last member acked it.
      expect(walk(dataDir).includes(newBlobs[0]!)).toBe(i === 0);
    }
  });

  // A full disk without a mount: RLIMIT_FSIZE (util-linux prlimit) on the saving process makes a
  // write past 1 MiB fail with EFBIG, as ENOSPC would on a full file system; it needs no root
  // and no tmpfs, so it runs the same on every machine.
  it.skipIf(skipWithout('prlimit', whyNoPrlimit()))(
    'hush save into a full disk: DISK_FULL, exit 6, nothing at the destination; the same save succeeds once there is room',
    async () => {
      const data = randomBytes(2 * 1024 * 1024 + 777);
      const src = path.join(work, 'big-for-disk.bin');
      await fsp.writeFile(src, data);
      const sent = await alice.run(['send', 'bob', '--file', src, '--json']);
      expect(sent.exitCode).toBe(0);
      const id = String(jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!.id);
      expect((await bob.run(['pull'])).exitCode).toBe(0);
      const dest = path.join(work, 'full-disk');
      await fsp.mkdir(dest);
      const full = await hush(['save', id, '-o', dest], { home: bob.home, env: ENV, wrap: ['prlimit', `--fsize=${1024 * 1024}`] });
      expect(full.stderr).toMatch(/^hush: error: no space left to write .*big-for-disk\.bin \(EFBIG\); nothing was written there\nhush: hint: free some space/);
      expect(full.exitCode).toBe(6);
      expect(readdirSync(dest)).toEqual([]); // no partial file, no hidden part either
      const saved = await bob.run(['save', id, '-o', dest]);
      expect(saved.exitCode).toBe(0);
      expect(sha(await fsp.readFile(path.join(dest, 'big-for-disk.bin')))).toBe(sha(data));
    },
  );
});
