/**
 * The daemon's group and file methods (issue 17) through the real binary and a real socket:
 * alice's `hush daemon` creates a group and posts to it (bob gets both), sends a file that bob
 * saves, lists and saves a file bob sent her; bad params are -32602 and hush's own errors keep
 * their stable code; `hush group` and `hush files` through the daemon print what they print
 * directly, and `hush send --file` with a relative path runs in the caller's directory.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { hush, makeHome } from './helpers.js';
import { type Child, jsonOf, newUser, PASS, spawnHush, type TestUser } from './messaging-helpers.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
let daemon: Child | undefined;
let rpc: Rpc;
let work: string;

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

/** A minimal JSON-RPC client on the daemon's socket: one request per line, answers matched by id. */
class Rpc {
  private buf = '';
  private next = 1;
  private readonly waiting = new Map<number, (v: Answer) => void>();

  private constructor(private readonly s: net.Socket) {
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
        const msg = JSON.parse(this.buf.slice(0, nl)) as Answer & { id?: number };
        this.buf = this.buf.slice(nl + 1);
        if (typeof msg.id === 'number') this.waiting.get(msg.id)?.(msg);
      }
    });
  }

  static connect(home: string): Promise<Rpc> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path.join(home, 'daemon', 'hush.sock'), () => resolve(new Rpc(s)));
      s.once('error', reject);
    });
  }

  call(method: string, params?: Record<string, unknown>): Promise<Answer> {
    const id = this.next++;
    const p = new Promise<Answer>((r) => this.waiting.set(id, r));
    this.s.write(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }) + '\n');
    return p;
  }

  /** The result, or the test fails with the error. */
  async ok(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const a = await this.call(method, params);
    expect(a.error).toBeUndefined();
    return a.result!;
  }

  close(): void {
    this.s.destroy();
  }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => newUser(n, relay.url)))) as [TestUser, TestUser, TestUser];
  // alice pins bob and carol (group members must be contacts); bob pins alice.
  for (const u of [bob, carol]) expect((await alice.run(['send', u.name, 'hi'])).exitCode).toBe(0);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
  work = await makeHome('hush-rpc-files-');
  daemon = spawnHush(alice.home, ['daemon']);
  await daemon.stdout.waitFor(/^hush daemon ready: /);
  rpc = await Rpc.connect(alice.home);
}, 60_000);

afterAll(async () => {
  rpc?.close();
  daemon?.kill('SIGTERM');
  await relay?.stop();
  cleanupTmp();
});

describe('hush daemon: groups.* and files.*', () => {
  it('groups.create, send @team, groups.list/show/remove/add/leave: the member gets the group and the post', async () => {
    const created = await rpc.ok('groups.create', { name: 'team', members: ['bob', 'carol'] });
    expect(created).toMatchObject({ event: 'group', group: 'team', op: 'create', epoch: 1, to: ['bob', 'carol'], excluded: [] });
    expect(created.id).toMatch(/^[0-9a-f]{32}$/);

    const sent = await rpc.ok('send', { to: '@team', text: 'standup at 10' });
    expect(sent.sent).toEqual([expect.objectContaining({ event: 'sent', group: 'team', to: ['bob', 'carol'] })]);

    const b = jsonOf((await bob.run(['pull', '--json'])).stdout);
    expect(b.find((e) => e.event === 'group')).toMatchObject({ group: 'team', from: 'alice', op: 'create' });
    expect(b.filter((e) => e.event === 'message' && e.group === 'team').map((e) => e.body)).toEqual(['standup at 10']);

    expect((await rpc.ok('groups.list')).groups).toEqual([expect.objectContaining({ group: 'team', epoch: 1, left: false })]);
    const shown = (await rpc.ok('groups.show', { name: 'team' })).members as Record<string, unknown>[];
    expect(shown.map((m) => m.name).sort()).toEqual(['alice', 'bob', 'carol']);

    expect(await rpc.ok('groups.remove', { name: 'team', members: ['carol'] })).toMatchObject({ event: 'group', op: 'remove', epoch: 2 });
    const after = (await rpc.ok('groups.show', { name: '@team' })).members as Record<string, unknown>[];
    expect(after.map((m) => m.name).sort()).toEqual(['alice', 'bob']);
    expect(await rpc.ok('groups.add', { name: 'team', members: ['carol'], maxMembers: 10 })).toMatchObject({ event: 'group', op: 'add', epoch: 3, to: ['bob', 'carol'] });
    expect(await rpc.ok('groups.create', { name: 'ops', members: ['bob'] })).toMatchObject({ op: 'create', epoch: 1 });
    expect(await rpc.ok('groups.leave', { name: 'ops' })).toMatchObject({ event: 'group', group: 'ops', op: 'leave' });
    const groups = (await rpc.ok('groups.list')).groups as Record<string, unknown>[];
    expect(groups.map((g) => `${String(g.group)} left=${String(g.left)}`).sort()).toEqual(['ops left=true', 'team left=false']);
    // hush's own errors keep their stable code: -32000 - exit code.
    expect((await rpc.call('groups.create', { name: 'team', members: ['bob'] })).error).toMatchObject({ code: -32002, data: { code: 'GROUP_EXISTS', exitCode: 2 } });
    expect((await rpc.call('groups.add', { name: 'team', members: ['mallory'] })).error).toMatchObject({ code: -32002, data: { code: 'NOT_A_CONTACT' } });
  });

  it('send files: bob saves what alice sent through the daemon; files.list and files.save fetch what bob sent', async () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
    const src = path.join(work, 'report.pdf');
    await fsp.writeFile(src, data);
    const r = await rpc.ok('send', { to: 'bob', files: [src], text: 'the report' });
    const [f] = r.files as Record<string, unknown>[];
    expect(f).toMatchObject({ event: 'file-sent', to: 'bob', name: 'report.pdf', size: data.length, sha256: sha(data) });

    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const bobOut = path.join(work, 'bob-report.pdf');
    const saved = await bob.run(['save', String(f!.id), '-o', bobOut]);
    expect(saved.exitCode).toBe(0);
    expect(sha(await fsp.readFile(bobOut))).toBe(sha(data));

    // The other way: bob sends, alice's daemon has stored it; list and save through RPC.
    const back = new TextEncoder().encode('notes from bob\n');
    const notes = path.join(work, 'notes.txt');
    await fsp.writeFile(notes, back);
    expect((await bob.run(['send', 'alice', '--file', notes])).exitCode).toBe(0);
    let listed: Record<string, unknown>[] = [];
    for (const deadline = Date.now() + 20_000; listed.length === 0 && Date.now() < deadline;) {
      listed = (await rpc.ok('files.list', { name: 'bob' })).files as Record<string, unknown>[];
      if (listed.length === 0) await new Promise((res) => setTimeout(res, 100));
    }
    expect(listed).toEqual([expect.objectContaining({ from: 'bob', name: 'notes.txt', size: back.length, sha256: sha(back) })]);
    const dest = path.join(work, 'alice-notes.txt');
    const got = await rpc.ok('files.save', { id: String(listed[0]!.id).slice(0, 10), output: dest });
    expect(got).toMatchObject({ event: 'saved', id: listed[0]!.id, path: dest, size: back.length, sha256: sha(back) });
    expect(await fsp.readFile(dest, 'utf8')).toBe('notes from bob\n');
    // Never over an existing file without force (the relay dropped the blob once saved: FILE_GONE or FILE_EXISTS, never a write).
    await fsp.writeFile(dest, 'mine');
    const again = await rpc.call('files.save', { id: String(listed[0]!.id), output: dest });
    expect(again.error?.code).toBeLessThan(-32000);
    expect(await fsp.readFile(dest, 'utf8')).toBe('mine');
  });

  it('bad params are -32602 and change nothing', async () => {
    const bad = async (method: string, params: Record<string, unknown>): Promise<string> => {
      const a = await rpc.call(method, params);
      expect(a.error).toMatchObject({ code: -32602 });
      return a.error!.message;
    };
    expect(await bad('send', { to: 'bob', files: ['report.pdf'] })).toMatch(/absolute path/);
    expect(await bad('send', { to: 'bob', files: [] })).toMatch(/at least one/);
    expect(await bad('send', { to: 'bob', files: [path.join(work, 'report.pdf')], lines: ['x'] })).toMatch(/do not go together/);
    expect(await bad('files.save', { id: 'abc', output: 'out.bin' })).toMatch(/absolute path/);
    expect(await bad('files.save', { id: 'abc' })).toMatch(/"output" is required/);
    expect(await bad('groups.create', { name: 'crew' })).toMatch(/"members"/);
    expect(await bad('groups.create', { name: 'crew', members: ['bob'], colour: 'red' })).toMatch(/colour/);
    expect(await bad('groups.create', { name: 'crew', members: ['bob'], maxMembers: 1 })).toMatch(/maxMembers/);
    expect(await bad('groups.leave', { name: 'team', members: ['bob'] })).toMatch(/members/);
    expect(((await rpc.ok('groups.list')).groups as Record<string, unknown>[]).map((g) => g.group)).not.toContain('crew');
  });

  it('the CLI: group and files go through the daemon with the output and exit codes of the direct path; send --file stays direct', async () => {
    for (const args of [
      ['group', 'list', '--json'],
      ['group', 'show', 'team'],
      ['files', 'bob', '--json'],
      ['group', 'show', 'nope'],
    ]) {
      const direct = await alice.run([...args, '--no-daemon']);
      // No passphrase anywhere: only the daemon can answer this one.
      const via = await hush(args, { home: alice.home });
      expect({ args, exitCode: via.exitCode, stdout: via.stdout, stderr: via.stderr }).toEqual({ args, exitCode: direct.exitCode, stdout: direct.stdout, stderr: direct.stderr });
    }
    // A relative --file is the caller's: it runs here, in the caller's directory, not in the daemon.
    const rel = await hush(['send', 'bob', '--file', 'report.pdf', '--json'], { home: alice.home, cwd: work, env: { HUSH_PASSPHRASE: PASS } });
    expect(rel.exitCode).toBe(0);
    expect(jsonOf(rel.stdout).find((e) => e.event === 'file-sent')).toMatchObject({ name: 'report.pdf', size: 100_000 });
  });
});
