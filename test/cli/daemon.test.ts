/**
 * `hush daemon` through the real binary (issue 17): the CLI hands send, pull, history,
 * contacts and verify to it with no passphrase source, with the same output and exit codes as
 * the direct path (the same assertions run both ways); a Node JSON-RPC client on the real
 * socket (subscribe, each standard error code); the socket's modes and a bad mode refused;
 * one daemon per home; the fast path of bin/hush.js (no commander loaded; a refusal handed to
 * the normal CLI); concurrent RPC sends batched (order, once each) and kill -9 among them;
 * kill -9 mid-stream (nothing lost, the stale socket replaced); the idle lock; hush lock; SIGTERM.
 */
import { promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { hush, type HushResult, makeHome, ROOT } from './helpers.js';
import { type Child, historyOf, jsonOf, newUser, openStore, outboxSize, PASS, spawnHush, type TestUser } from './messaging-helpers.js';
import { toHex } from '../../src/protocol/encoding.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { type ModuleLog, moduleLogger } from './module-log.js';

let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let daemon: Child | undefined;

const sock = (home: string): string => path.join(home, 'daemon', 'hush.sock');

async function startDaemon(home: string, args: string[] = []): Promise<Child> {
  const d = spawnHush(home, ['daemon', ...args]);
  await d.stdout.waitFor(/^hush daemon ready: /);
  return d;
}

/** A JSON-RPC client on the daemon's socket: one request per line, answers by id, notifications kept. */
class Rpc {
  private buf = '';
  private next = 1;
  readonly notes: { method: string; params: Record<string, unknown> }[] = [];
  private readonly waiting = new Map<unknown, (v: Record<string, unknown>) => void>();
  private noteWaiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly s: net.Socket) {
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
        const msg = JSON.parse(this.buf.slice(0, nl)) as Record<string, unknown>;
        this.buf = this.buf.slice(nl + 1);
        if ('method' in msg) {
          this.notes.push(msg as never);
          for (const w of this.noteWaiters.splice(0)) w();
        } else this.waiting.get(msg.id)?.(msg);
      }
    });
    this.closed = new Promise((r) => s.once('close', () => r()));
  }

  static connect(home: string): Promise<Rpc> {
    return new Promise((resolve, reject) => {
      const s = net.connect(sock(home), () => resolve(new Rpc(s)));
      s.once('error', reject);
    });
  }

  /** Writes a raw line; resolves with the next answer (by id, or id null for a line that did not parse). */
  raw(line: string, id: unknown = null): Promise<Record<string, unknown>> {
    const p = new Promise<Record<string, unknown>>((r) => this.waiting.set(id, r));
    this.s.write(line + '\n');
    return p;
  }

  call(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++;
    return this.raw(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }), id);
  }

  async note(pred: (n: { method: string; params: Record<string, unknown> }) => boolean): Promise<{ method: string; params: Record<string, unknown> }> {
    for (;;) {
      const hit = this.notes.find(pred);
      if (hit) return hit;
      await new Promise<void>((r) => this.noteWaiters.push(r));
    }
  }

  close(): void {
    this.s.destroy();
  }
}

/**
 * Hooks that log every module the child loads: ESM URLs (an --import resolve hook) and CommonJS
 * files (a --require wrapper of the resolver; bin/hush.js and its fast path are CommonJS).
 */
const moduleLog = (): Promise<ModuleLog> => moduleLogger('file');

/** alice's command through the daemon (no passphrase anywhere) or directly (--no-daemon, passphrase in env). */
function aliceVia(path: 'daemon' | 'direct', args: string[], input?: string): Promise<HushResult> {
  if (path === 'direct') return alice.run([...args, '--no-daemon'], input === undefined ? {} : { input });
  return hush(args, { home: alice.home, ...(input === undefined ? {} : { input }) });
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
});

afterAll(async () => {
  daemon?.kill('SIGKILL');
  await relay?.stop();
  cleanupTmp();
});

// Direct first, with no daemon: a daemon's listen stores alice's mail as it comes, so a direct
// pull next to it shows only what it fetched itself (README: several readers of one home).
describe.each(['direct', 'daemon'] as const)('alice %s', (via) => {
  it('send, pull, history, contacts, verify and their errors: same output and exit codes either way', async () => {
    if (via === 'daemon') daemon = await startDaemon(alice.home);
    const s = await aliceVia(via, ['send', 'bob', `hello ${via}`]);
    expect(s.exitCode).toBe(0);
    expect(s.stdout).toBe('');
    expect(s.stderr).toMatch(/(^|\n)sent 1 message to bob\n$/);

    const j = await aliceVia(via, ['send', '--json', 'bob', 'json', via]);
    expect(j).toMatchObject({ exitCode: 0, stderr: 'sent 1 message to bob\n' });
    const [sent] = jsonOf(j.stdout);
    expect(Object.keys(sent!).sort()).toEqual(['event', 'id', 'protocol', 'sealed', 'time', 'to']);

    const l = await aliceVia(via, ['send', '--lines', 'bob'], `line one ${via}\n\nline two ${via}\n`);
    expect(l).toMatchObject({ exitCode: 0, stdout: '', stderr: 'sent 2 messages to bob\n' });

    const b = await bob.run(['pull', '--json']);
    expect(jsonOf(b.stdout).map((m) => m.body)).toEqual([`hello ${via}`, `json ${via}`, `line one ${via}`, `line two ${via}`]);
    expect((await bob.run(['send', 'alice', `reply ${via}`])).exitCode).toBe(0);

    const p = await aliceVia(via, ['pull']);
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d {2}bob: reply ${via}\\n$`));
    const again = await aliceVia(via, ['pull', '--json']);
    expect(again).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });

    const h = jsonOf((await aliceVia(via, ['history', 'bob', '--json', '--limit', '2'])).stdout);
    expect(h.map((m) => [m.direction, m.body])).toEqual([
      ['out', `line two ${via}`],
      ['in', `reply ${via}`],
    ]);
    const c = jsonOf((await aliceVia(via, ['contacts', '--json'])).stdout);
    expect(c.map((x) => x.name)).toEqual(['bob']);
    const v = await aliceVia(via, ['verify', 'bob', '--json']);
    expect(jsonOf(v.stdout)[0]).toMatchObject({ name: 'bob', myName: 'alice' });

    const bad = await aliceVia(via, ['send', 'B@D!', 'x']);
    expect(bad).toMatchObject({ exitCode: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^hush: error: invalid name "B@D!"\nhush: hint: names are/);
    const unknown = await aliceVia(via, ['verify', 'carol']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/^hush: error: .*carol/);
    const nobody = await aliceVia(via, ['send', 'nobody', 'x']);
    expect(nobody).toMatchObject({ exitCode: 2, stdout: '' });
    expect(nobody.stderr).toBe('hush: error: no user named nobody on the relay\nhush: hint: check the name, or ask nobody to run hush register\n');
  });
});

describe('the daemon', () => {
  it('serves JSON-RPC 2.0: methods, subscribe notifications, and each standard error code', async () => {
    const rpc = await Rpc.connect(alice.home);
    try {
      const hello = await rpc.call('daemon.hello');
      expect(hello.result).toMatchObject({ rpc: 1, name: 'alice', relay: relay.url });
      expect(((await rpc.call('whoami')).result as Record<string, unknown>).name).toBe('alice');
      expect(await rpc.call('subscribe')).toMatchObject({ result: { subscribed: true, name: 'alice' } });

      expect((await bob.run(['send', 'alice', 'pushed to a subscriber'])).exitCode).toBe(0);
      const n = await rpc.note((x) => x.method === 'message' && x.params.body === 'pushed to a subscriber');
      expect(n.params).toMatchObject({ event: 'message', from: 'bob', to: 'alice' });

      const sent = await rpc.call('send', { to: 'bob', lines: ['rpc one', 'rpc two'] });
      expect((sent.result as { sent: unknown[] }).sent).toHaveLength(2);
      const got = jsonOf((await bob.run(['pull', '--json'])).stdout).map((m) => m.body);
      expect(got).toEqual(['rpc one', 'rpc two']);
      // bob's pull sent read receipts (receiptDelay 0): they reach the subscriber.
      await rpc.note((x) => x.method === 'receipt' && x.params.from === 'bob');

      const hist = (await rpc.call('history', { name: 'bob', limit: 1 })).result as { messages: Record<string, unknown>[] };
      expect(hist.messages.map((m) => m.body)).toEqual(['rpc two']);

      expect((await rpc.raw('{not json')).error).toMatchObject({ code: -32700 });
      expect((await rpc.raw('[{"jsonrpc":"2.0","id":9,"method":"whoami"}]')).error).toMatchObject({ code: -32600 });
      expect((await rpc.raw('{"jsonrpc":"1.0","id":"x","method":"whoami"}', 'x')).error).toMatchObject({ code: -32600 });
      expect((await rpc.raw('{"jsonrpc":"2.0","id":7,"method":"whoami","params":[1]}', 7)).error).toMatchObject({ code: -32600 });
      expect((await rpc.call('no.such.method')).error).toMatchObject({ code: -32601 });
      expect((await rpc.call('files.send')).error).toMatchObject({ code: -32601, message: 'method not found: files.send' });
      expect((await rpc.call('send', { to: 'bob' })).error).toMatchObject({ code: -32602 });
      expect((await rpc.call('send', { to: 'bob', text: 'x', colour: 'red' })).error).toMatchObject({ code: -32602 });
      expect((await rpc.call('trust', { name: 'bob' })).error).toMatchObject({ code: -32602 });
      // hush's own errors: -32000 - exit code, with the stable code and the hint.
      expect((await rpc.call('send', { to: 'B@D', text: 'x' })).error).toMatchObject({ code: -32002, data: { code: 'BAD_NAME', exitCode: 2 } });
      expect((await rpc.call('verify', { name: 'carol' })).error).toMatchObject({ code: -32002 });
      // A notification (no id) gets no answer; the connection still works after all of this.
      rpc.s.write('{"jsonrpc":"2.0","method":"whoami"}\n');
      expect((await rpc.call('contacts')).result).toMatchObject({ contacts: [{ name: 'bob' }] });
    } finally {
      rpc.close();
    }
  });

  it('lives in a 0700 directory with a 0600 socket; a socket other users can reach is not used', async () => {
    expect(statSync(path.dirname(sock(alice.home))).mode & 0o777).toBe(0o700);
    expect(statSync(sock(alice.home)).mode & 0o777).toBe(0o600);
    // HUSH_NO_DAEMON=1 (like --no-daemon) takes the direct path, which has no passphrase here.
    expect((await hush(['history'], { home: alice.home, env: { HUSH_NO_DAEMON: '1' } })).exitCode).toBe(3);
    await fsp.chmod(path.dirname(sock(alice.home)), 0o755);
    try {
      const r = await hush(['history'], { home: alice.home });
      expect(r.exitCode).toBe(3); // the direct path, which has no passphrase here
      expect(r.stderr).toMatch(/^hush: warning: not using the hush daemon of this home: .*daemon is accessible by other users \(mode 755, must be 700\)\n/);
    } finally {
      await fsp.chmod(path.dirname(sock(alice.home)), 0o700);
    }
  });

  it('one per home: a second daemon is refused before any passphrase', async () => {
    const r = await hush(['daemon'], { home: alice.home });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`hush: error: a hush daemon already runs for ${alice.home}\nhush: hint: use it (commands find it by themselves), or stop it first with hush lock\n`);
  });

  it('hush send TEXT is handed over before commander loads; a stdin send takes the normal CLI, still through the daemon', async () => {
    const hook = await moduleLog();
    const requests = await moduleLogger('request'); // node's own modules too
    const s = await hush(['send', 'bob', 'by the fast path'], { home: alice.home, nodeArgs: [...hook.nodeArgs, ...requests.nodeArgs] });
    expect(s).toMatchObject({ exitCode: 0, stdout: '' });
    expect(s.stderr).toMatch(/(^|\n)sent 1 message to bob\n$/);
    // Nothing but node's own modules and the fast path's four CommonJS files: no ESM module
    // (Node's ESM loader is never needed), no commander, SQLite or argon2.
    const loaded = await hook.loaded();
    const fast = loaded.split('\n').filter((l) => l !== '' && !l.startsWith('node:') && !l.includes('hush-hook-'));
    expect([...new Set(fast.map((f) => path.relative(ROOT, f.replace(/^file:\/\//, ''))))].sort()).toEqual([
      'bin/hush.js',
      'dist/src/cli/fast-path.cjs',
      'dist/src/cli/fast-table.cjs',
      'dist/src/daemon/cli-wire.cjs',
      'dist/src/daemon/light-socket.cjs',
      'dist/src/daemon/socket-path.cjs',
    ]);
    // Its pipes are no terminal: the light socket carried it, without node:net.
    expect(await requests.loaded()).not.toMatch(/^node:net require$/m);
    // The same send over node:net (a Node without the bindings, or HUSH_LIGHT_SOCKET=0): the same output.
    const viaNet = await moduleLogger('request');
    const n = await hush(['send', 'bob', 'by the fast path over node:net'], { home: alice.home, nodeArgs: viaNet.nodeArgs, env: { HUSH_LIGHT_SOCKET: '0' } });
    expect(n).toMatchObject({ exitCode: 0, stdout: '', stderr: s.stderr });
    const netLoaded = await viaNet.loaded();
    expect(netLoaded).toMatch(/^node:net require$/m);
    expect(netLoaded).not.toMatch(/commander/);
    const viaStdin = await moduleLog();
    const t = await hush(['send', 'bob'], { home: alice.home, input: 'through the normal CLI\n', nodeArgs: viaStdin.nodeArgs });
    expect(t).toMatchObject({ exitCode: 0, stdout: '' }); // no passphrase here: the daemon sent it
    expect(await viaStdin.loaded()).toMatch(/commander/);
  });

  it('a request the daemon refuses is asked again by the normal CLI, which prints the refusal; nothing is run twice', async () => {
    // A socket that answers every cli.run with an error (as a daemon that is stopping does).
    const home = await makeHome();
    await fsp.mkdir(path.join(home, 'daemon'), { mode: 0o700 });
    const requests: Record<string, unknown>[] = [];
    const server = net.createServer((c) => {
      let buf = '';
      c.setEncoding('utf8');
      c.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
          const req = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          requests.push(req);
          c.write(JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: -32603, message: 'the daemon is stopping' } }) + '\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock(home), r));
    try {
      await fsp.chmod(sock(home), 0o600);
      const hook = await moduleLog();
      const r = await hush(['send', 'bob', 'refused'], { home, nodeArgs: hook.nodeArgs });
      expect(r).toMatchObject({ exitCode: 1, stdout: '', stderr: 'hush: error: the daemon is stopping\n' });
      expect(await hook.loaded()).toMatch(/commander/); // the normal CLI ran after the refusal
      expect(requests.map((q) => q.method)).toEqual(['cli.run', 'cli.run']);
      expect(requests[0]!.params).toEqual(requests[1]!.params); // the fast path asked what main.ts asks
    } finally {
      server.close();
    }
  });

  it('150 JSON-RPC sends at once: one answer each once the relay took it, every message once, in the order they were asked', async () => {
    const N = 150;
    const rpc = await Rpc.connect(alice.home);
    let answers: Record<string, unknown>[];
    try {
      answers = await Promise.all(Array.from({ length: N }, (_, i) => rpc.call('send', { to: 'bob', text: `batch ${i}` })));
    } finally {
      rpc.close();
    }
    expect(answers.filter((a) => a.error !== undefined)).toEqual([]);
    const ids = answers.map((a) => (a.result as { sent: { to: string; id: string }[] }).sent.filter((l) => l.to === 'bob').map((l) => l.id));
    expect(new Set(ids.flat()).size).toBe(N);
    const got = jsonOf((await bob.run(['pull', '--json'])).stdout)
      .map((m) => String(m.body))
      .filter((b) => b.startsWith('batch '));
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `batch ${i}`));
    expect(await outboxSize(alice.home)).toBe(0);
  });

  it('kill -9 in the middle of JSON-RPC sends: each stored message reaches bob exactly once, answered ones included', async () => {
    const N = 300;
    const rpc = await Rpc.connect(alice.home);
    const answered: number[] = [];
    for (let i = 0; i < N; i++) void rpc.call('send', { to: 'bob', text: `crash ${i}` }).then((a) => a.error === undefined && answered.push(i));
    while (answered.length < 20) await new Promise((r) => setTimeout(r, 5)); // a poll: the answers come from another process
    daemon!.kill('SIGKILL');
    await daemon!.done;
    await rpc.closed;
    daemon = undefined;
    // What was stored and not yet accepted waits in the outbox: the next command sends it.
    expect((await alice.run(['send', 'bob', 'after the crash', '--no-daemon'])).exitCode).toBe(0);
    const stored = (await historyOf(alice.home)).filter((m) => m.direction === 'out' && m.body.startsWith('crash ')).map((m) => m.body);
    const got = jsonOf((await bob.run(['pull', '--json'])).stdout)
      .map((m) => String(m.body))
      .filter((b) => b.startsWith('crash '));
    expect(got).toEqual(stored); // once each, in order
    for (const i of answered) expect(got).toContain(`crash ${i}`);
    expect(await outboxSize(alice.home)).toBe(0);
    daemon = await startDaemon(alice.home);
  });

  it('the daemon and direct commands at the same time lose and double nothing', async () => {
    const lines = (tag: string): string => Array.from({ length: 10 }, (_, i) => `${tag} ${i}`).join('\n') + '\n';
    const rpc = await Rpc.connect(alice.home);
    try {
      const [direct, viaDaemon, viaRpc] = await Promise.all([
        aliceVia('direct', ['send', '--lines', 'bob'], lines('direct')),
        aliceVia('daemon', ['send', '--lines', 'bob'], lines('daemon')),
        rpc.call('send', { to: 'bob', lines: lines('rpc').trimEnd().split('\n') }),
      ]);
      expect([direct.exitCode, viaDaemon.exitCode]).toEqual([0, 0]);
      // Its own 10, and (docs/RPC.md `send`) any outbox messages its batch sent first: the
      // direct process's, when the daemon's flush found them queued and not yet sent.
      const sentIds = new Set((viaRpc.result as { sent: { id: string }[] }).sent.map((x) => x.id));
      const s = await openStore(alice.home);
      try {
        const own = s.history().filter((m) => m.direction === 'out' && /^rpc \d$/.test(String(m.body)));
        expect(own).toHaveLength(10);
        for (const m of own) expect(sentIds.has(toHex(m.msgId)), String(m.body)).toBe(true);
      } finally {
        s.close();
      }
    } finally {
      rpc.close();
    }
    const got = jsonOf((await bob.run(['pull', '--json'])).stdout).map((m) => String(m.body));
    for (const tag of ['direct', 'daemon', 'rpc']) {
      expect(got.filter((b) => b.startsWith(`${tag} `))).toEqual(Array.from({ length: 10 }, (_, i) => `${tag} ${i}`));
    }
    const out = (await historyOf(alice.home)).filter((m) => m.direction === 'out' && /^(direct|daemon|rpc) \d$/.test(m.body));
    expect(out).toHaveLength(30);
    expect(new Set(out.map((m) => m.body)).size).toBe(30);
  });

  it('never writes a secret to disk: after its sends no file of the home holds the passphrase or an unlocked key', async () => {
    const u = await unlock(hushPaths(alice.home), { env: { HUSH_PASSPHRASE: PASS } });
    const id = u.identity;
    const secrets = [Buffer.from(PASS), id.signSk.subarray(0, 32), id.boxSk, id.historyKey, u.dataKey, u.wrappingKey].map((b) => Buffer.from(b));
    const forms = secrets.flatMap((b) => [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url'))]);
    const files = (function walk(dir: string): string[] {
      return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? walk(p) : e.isFile() ? [p] : []; // the socket is no file
      });
    })(alice.home);
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['keyring.json', 'hush.db']));
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const [i, form] of forms.entries()) expect(bytes.includes(form), `${path.relative(alice.home, f)} holds secret form ${i}`).toBe(false);
    }
  });

  it('kill -9 mid-stream loses nothing: the next command goes direct, the next daemon replaces the stale socket', async () => {
    const rpc = await Rpc.connect(alice.home);
    await rpc.call('subscribe');
    const N = 40;
    const sender = spawnHush(bob.home, ['send', '--lines', 'alice']);
    for (let i = 0; i < N; i++) sender.write(`burst ${i}\n`);
    sender.end();
    await rpc.note((x) => x.method === 'message' && typeof x.params.body === 'string' && x.params.body.startsWith('burst'));
    daemon!.kill('SIGKILL');
    await daemon!.done;
    await rpc.closed;
    expect((await sender.done).exitCode).toBe(0);

    // The socket file is still there, but nobody answers: commands take the direct path.
    expect(statSync(sock(alice.home)).isSocket()).toBe(true);
    const p = await alice.run(['pull', '--json']);
    expect(p.exitCode).toBe(0);
    expect(p.stderr).toBe('');
    const bodies = (await historyOf(alice.home)).filter((m) => m.body.startsWith('burst ')).map((m) => m.body);
    expect(bodies).toEqual(Array.from({ length: N }, (_, i) => `burst ${i}`));

    daemon = await startDaemon(alice.home);
    const h = await hush(['history', 'bob', '--json', '--limit', '1'], { home: alice.home });
    expect(jsonOf(h.stdout)[0]).toMatchObject({ body: `burst ${N - 1}` });
  });

  it('hush lock stops it: the socket is gone, commands need the passphrase again', async () => {
    const r = await hush(['--json', 'lock'], { home: alice.home });
    expect(r.exitCode).toBe(0);
    expect(jsonOf(r.stdout)[0]).toMatchObject({ home: alice.home, daemon: 'stopped' });
    expect((await daemon!.done).exitCode).toBe(0);
    await expect(fsp.stat(sock(alice.home))).rejects.toThrow();
    expect((await hush(['history'], { home: alice.home })).exitCode).toBe(3);
    expect(jsonOf((await hush(['--json', 'lock'], { home: alice.home })).stdout)[0]).toMatchObject({ daemon: 'none' });
    daemon = undefined;
  });

  it('the idle lock stops it after a time without requests', async () => {
    const d = await startDaemon(alice.home, ['--idle-lock', '1s']);
    expect(await d.done).toEqual({ exitCode: 0, signal: undefined });
    expect(d.stderr.text()).toMatch(/hush: daemon stopping \(idle\)/);
    await expect(fsp.stat(sock(alice.home))).rejects.toThrow();
    const bad = await hush(['daemon', '--idle-lock', 'soon'], { home: alice.home });
    expect(bad).toMatchObject({ exitCode: 2 });
    expect(bad.stderr).toMatch(/^hush: error: the idle lock must be a duration/);
  });

  it('--detach starts it in the background, with its log in the home', async () => {
    const r = await alice.run(['daemon', '--detach']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^hush daemon ready: \S+hush\.sock \(pid \d+, log \S+daemon\.log\)\n$/);
    expect((await hush(['contacts', '--json'], { home: alice.home })).exitCode).toBe(0); // no passphrase: the daemon's
    expect(jsonOf((await hush(['--json', 'lock'], { home: alice.home })).stdout)[0]).toMatchObject({ daemon: 'stopped' });
    expect(await fsp.readFile(path.join(alice.home, 'daemon', 'daemon.log'), 'utf8')).toMatch(/hush: daemon stopping \(hush lock\)/);
    // No passphrase the background daemon could read: its error, its exit code.
    const none = await hush(['daemon', '--detach'], { home: alice.home });
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toMatch(/^hush: error: the background daemon did not start: no passphrase given/);
  });

  it('SIGTERM exits 0 after trying the outbox once; what the relay could not take stays in the outbox', async () => {
    daemon = await startDaemon(alice.home);
    await relay.stop();
    const s = await hush(['send', 'bob', 'while the relay is down'], { home: alice.home });
    expect(s.exitCode).toBe(4);
    expect(s.stderr).toMatch(/unreachable; 1 message kept in the outbox/);
    daemon.kill('SIGTERM');
    expect((await daemon.done).exitCode).toBe(0);
    expect(daemon.stderr.text()).toMatch(/hush: daemon stopping \(SIGTERM\)\n.*left in the outbox/);
    daemon = undefined;
    expect(await outboxSize(alice.home)).toBe(1);
  });
});
