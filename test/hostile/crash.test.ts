/**
 * Crash safety (issue 6, part 2): kill -9 the relay in the middle of a stream of real sealed
 * envelopes from several senders, restart it on the same data directory, drain, and check that
 * every envelope answered `accepted` is delivered exactly once (by eid and by the message id
 * inside). Then kill -9 `hush pull` and `hush send` at random points, in a v2 session (register
 * publishes prekeys), and `hush init` / `hush passwd` midway: nothing lost, nothing shown twice,
 * the session still opens both ways, the keyring still opens.
 *
 * Kill points are random, so each run tries other ones, but replayable: they come from a seed
 * (test/seed.ts) printed as `HUSH_TEST_SEED=<n>` on stderr and in every failure message; set
 * HUSH_TEST_SEED=<n> to draw the same points again. Every kill is checked to have been a
 * SIGKILL (execa's `signal`), not merely a non-zero exit.
 */
import { execa } from 'execa';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type RelayClient } from '../../src/client/relay-client.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { openEnvelope, sealEnvelope, type SharedKeyCache } from '../../src/crypto/seal.js';
import { toHex, utf8 } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { BIN, hush, jsonLines, makeHome, ROOT, testEnv } from '../cli/helpers.js';
import { spawnHush } from '../cli/messaging-helpers.js';
import { seededRandom } from '../seed.js';
import { cleanupTmp, figure, makeUser, registerUsers, type RelayProc, scale, startRelayProcess, tmpDir } from './helpers.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 60_000 });

const MESSAGES = scale('HUSH_HOSTILE_MESSAGES', 5000);
const SENDERS = scale('HUSH_HOSTILE_SENDERS', 5);
const PULL_KILLS = scale('HUSH_HOSTILE_PULL_KILLS', 5);
const KEYRING_KILLS = scale('HUSH_HOSTILE_KEYRING_KILLS', 4);
const SEND_KILLS = scale('HUSH_HOSTILE_SEND_KILLS', 3);

const relays: RelayProc[] = [];
afterAll(async () => {
  for (const r of relays) await r.stop('SIGKILL');
  cleanupTmp();
});

const LIMIT_ARGS = ['--rate-conn', '100000', '--rate-identity', '100000', '--frame-rate', '100000', '--mailbox-count', '1000000'];

async function relayOn(dataDir: string): Promise<RelayProc> {
  const r = await startRelayProcess({ dataDir, args: LIMIT_ARGS });
  relays.push(r);
  return r;
}

describe('relay killed -9 mid-stream', () => {
  it(`delivers every accepted envelope of a ${MESSAGES}-message stream from ${SENDERS} senders exactly once after a restart`, async () => {
    const rng = seededRandom('relay killed -9 mid-stream');
    const replay = `replay with HUSH_TEST_SEED=${rng.seed}`;
    const dataDir = tmpDir();
    let relay = await relayOn(dataDir);
    const bob = makeUser('bob');
    await registerUsers(relay.url, bob); // a relay takes mail only for registered keys
    const senders = Array.from({ length: SENDERS }, (_, i) => makeUser(`sender${i}`));
    // Real sealed envelopes, a known message id in each.
    const per = Math.ceil(MESSAGES / SENDERS);
    const plan = senders.map((s, si) => {
      const cache: SharedKeyCache = new Map();
      return Array.from({ length: Math.min(per, MESSAGES - si * per) }, (_, i) => {
        const id = randomBytes(16);
        const env = sealEnvelope(s.id, { signPk: bob.id.signPk, boxPk: bob.id.boxPk }, { kind: 'msg', id, time: Date.now(), body: utf8(`${s.name} #${i}`) }, randomBytes, cache);
        return { env, eid: envelopeId(env), msgId: toHex(id) };
      });
    });
    const total = plan.reduce((n, p) => n + p.length, 0);
    const killAt = Math.floor(total * 0.2) + rng.int(Math.floor(total * 0.6)); // somewhere in the middle
    const accepted = new Set<string>();
    let killed = false;
    let killedProc: RelayProc | undefined;
    const WINDOW = 32;

    /** One sender: keeps WINDOW sends in flight; stops at the first failure (the relay died). */
    const stream = async (c: RelayClient, items: { env: Uint8Array; eid: string }[]): Promise<void> => {
      let next = 0;
      let failed = false;
      const lane = async (): Promise<void> => {
        while (!failed && next < items.length) {
          const it = items[next++]!;
          try {
            const r = await c.send(bob.id.signPk, it.env);
            expect(r.eid).toBe(it.eid);
            accepted.add(it.eid);
            if (!killed && accepted.size >= killAt) {
              killed = true;
              killedProc = relay;
              relay.proc.kill('SIGKILL');
            }
          } catch (e) {
            expect(['RELAY_CLOSED', 'RELAY_UNREACHABLE', 'RELAY_TIMEOUT']).toContain((e as { code?: string }).code);
            failed = true;
          }
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, lane));
    };
    const conns = await Promise.all(senders.map((s) => s.connect(relay.url)));
    await Promise.all(conns.map((c, i) => stream(c, plan[i]!)));
    expect(killed, replay).toBe(true);
    expect(await killedProc!.exited, replay).toBeNull(); // killed by a signal, not exited
    expect(killedProc!.proc.signalCode, replay).toBe('SIGKILL');
    const acceptedBeforeCrash = new Set(accepted);
    figure('envelopes accepted before kill -9 of the relay', `${acceptedBeforeCrash.size} of ${total}`);

    // Restart on the same data directory; the senders resend what was not accepted (an outbox).
    relay = await relayOn(dataDir);
    const again = await Promise.all(senders.map((s) => s.connect(relay.url)));
    await Promise.all(
      again.map((c, i) =>
        stream(
          c,
          plan[i]!.filter((x) => !accepted.has(x.eid)),
        ),
      ),
    );
    expect(accepted.size, replay).toBe(total);
    for (const c of again) await c.close();

    // Kill -9 once more while bob drains, after a pull and before its ack: the mail comes again.
    const cb = await bob.connect(relay.url);
    const first = await cb.pull({ limit: 500 });
    expect(first.items.length).toBeGreaterThan(0);
    relay.proc.kill('SIGKILL');
    expect(await relay.exited).toBeNull();
    expect(relay.proc.signalCode).toBe('SIGKILL');
    relay = await relayOn(dataDir);

    // Drain: pull, open, ack, page by page.
    const c2 = await bob.connect(relay.url);
    const eids: string[] = [];
    const msgIds: string[] = [];
    const byPk = new Map(senders.map((s) => [Buffer.from(s.id.signPk).toString('base64'), { signPk: s.id.signPk, boxPk: s.id.boxPk }]));
    const cache: SharedKeyCache = new Map();
    for (;;) {
      const { items, more } = await c2.pull({ limit: 500 });
      for (const item of items) {
        eids.push(item.eid);
        expect(envelopeId(item.env)).toBe(item.eid);
        const opened = openEnvelope(bob.id, item.env, (pk) => byPk.get(Buffer.from(pk).toString('base64')), cache);
        msgIds.push(toHex(opened.id));
      }
      if (items.length) expect(await c2.ack(items.map((i) => i.eid))).toBe(items.length);
      if (!more) break;
    }
    await c2.close();
    // Exactly once: no duplicate, nothing missing, nothing extra; every pre-crash `accepted` is there.
    expect(new Set(eids).size, replay).toBe(eids.length);
    expect(new Set(msgIds).size, replay).toBe(msgIds.length);
    expect(eids.length, replay).toBe(total);
    const all = new Set(plan.flat().map((x) => x.eid));
    expect(
      eids.every((e) => all.has(e)),
      replay,
    ).toBe(true);
    const delivered = new Set(eids);
    expect(
      [...acceptedBeforeCrash].filter((e) => !delivered.has(e)),
      replay,
    ).toEqual([]);
    expect(new Set(msgIds), replay).toEqual(new Set(plan.flat().map((x) => x.msgId)));
    figure('messages delivered exactly once across two kill -9 of the relay', `${eids.length} (kill after ${killAt} accepted; HUSH_TEST_SEED=${rng.seed})`);
  });
});

// --- the CLI ---------------------------------------------------------------------------------

const PASS = 'hostile crash pass';

async function cliUser(name: string, relayUrl: string): Promise<string> {
  const home = await makeHome(`hush-hostile-${name}-`);
  const env = { HUSH_PASSPHRASE: PASS };
  expect((await hush(['init', '--name', name], { home, env })).exitCode).toBe(0);
  const r = await hush(['register', '--relay', relayUrl], { home, env });
  expect(r.exitCode, r.stderr).toBe(0);
  return home;
}

/**
 * Runs `hush ...args` and kills it -9 after `delayMs` (a fault injected at a random point, not
 * a wait for anything). `killed` is true only when the process died by SIGKILL; the caller
 * checks that a process that was not killed exited 0 (expectKilledOrOk).
 */
async function killedAfter(
  home: string,
  args: string[],
  delayMs: number,
  env: Record<string, string> = {},
  input?: string,
): Promise<{ killed: boolean; exitCode: number | undefined; signal: string | undefined; stdout: string; stderr: string }> {
  const p = execa('node', [BIN, ...args], {
    ...(input === undefined ? {} : { input }),
    env: testEnv({ HUSH_HOME: home, HUSH_PASSPHRASE: PASS, ...env }),
    extendEnv: false,
    cwd: ROOT,
    reject: false,
    detached: true,
    timeout: 60_000,
  });
  const t = setTimeout(() => p.kill('SIGKILL'), delayMs);
  const r = await p;
  clearTimeout(t);
  return { killed: r.signal === 'SIGKILL', exitCode: r.exitCode, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Either killed by our SIGKILL, or finished before it with exit 0: anything else is a failure. */
function expectKilledOrOk(r: Awaited<ReturnType<typeof killedAfter>>, why: string): void {
  if (r.killed) return;
  expect(r.signal, `${why}: died by ${r.signal}, not by our SIGKILL`).toBeUndefined();
  expect(r.exitCode, `${why}: finished before the kill, but not with exit 0: ${r.stderr}`).toBe(0);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await fn();
  return Date.now() - t;
}

/** The bodies of `hush history NAME --json` in one direction. */
async function historyBodies(home: string, name: string, direction: 'in' | 'out', limit: number): Promise<string[]> {
  const h = await hush(['history', name, '--json', '--limit', String(limit)], { home, env: { HUSH_PASSPHRASE: PASS } });
  expect(h.exitCode, h.stderr).toBe(0);
  return jsonLines(h.stdout)
    .filter((m) => m.direction === direction)
    .map((m) => String(m.body));
}

/** After the crashes: a message each way still opens (the v2 session did not fall out of step). */
async function bothWaysOpen(a: { home: string; name: string }, b: { home: string; name: string }, tag: string): Promise<void> {
  const env = { HUSH_PASSPHRASE: PASS };
  for (const [from, to] of [
    [b, a],
    [a, b],
  ] as const) {
    const sent = await hush(['send', to.name, '--json', `${tag}: ${from.name} to ${to.name}`], { home: from.home, env });
    expect(sent.exitCode, sent.stderr).toBe(0);
    expect(jsonLines(sent.stdout).at(-1)).toMatchObject({ event: 'sent', protocol: 2 });
    const got = await hush(['pull', '--json'], { home: to.home, env });
    expect(got.exitCode, got.stderr).toBe(0);
    expect(
      jsonLines(got.stdout)
        .filter((e) => e.event === 'message')
        .map((e) => e.body),
    ).toEqual([`${tag}: ${from.name} to ${to.name}`]);
  }
}

describe('hush pull and hush send killed -9 at random points, in a v2 session (prekeys published by register)', () => {
  let alice = '';
  let bob = '';

  it('pull: loses no message and shows none twice in hush history', async () => {
    const rng = seededRandom('hush pull killed -9');
    const relay = await relayOn(tmpDir());
    alice = await cliUser('alice', relay.url);
    bob = await cliUser('bob', relay.url);
    const env = { HUSH_PASSPHRASE: PASS };
    // Pin both ways first; register published bob's prekeys, so this starts a v2 session.
    const hello = await hush(['send', 'bob', '--json', 'hello'], { home: alice, env });
    expect(hello.exitCode).toBe(0);
    expect(jsonLines(hello.stdout)).toMatchObject([{ event: 'sent', protocol: 2 }]);
    const N = scale('HUSH_HOSTILE_CLI_MESSAGES', 120);
    const bodies = Array.from({ length: N }, (_, i) => `crash-test message ${i}`);
    const sendMore = async (from: number, to: number): Promise<void> => {
      const r = await hush(['send', 'bob', '--lines'], { home: alice, env, input: bodies.slice(from, to).join('\n') + '\n' });
      expect(r.exitCode, r.stderr).toBe(0);
    };
    // How long an uninterrupted pull of a batch takes, to spread the kill points over it.
    await sendMore(0, 20);
    const full = await timed(async () => expect((await hush(['pull', '--json'], { home: bob, env })).exitCode).toBe(0));
    const delays: number[] = [];
    let killedCount = 0;
    for (let k = 0, at = 20; k < PULL_KILLS; k++) {
      const upto = Math.min(N, at + Math.ceil((N - 20) / PULL_KILLS));
      await sendMore(at, upto);
      at = upto;
      const delay = Math.floor(full * 0.5) + rng.int(Math.floor(full * 0.7) + 1); // mostly while it connects, stores and acks
      delays.push(delay);
      const r = await killedAfter(bob, ['pull', '--json'], delay);
      expectKilledOrOk(r, `pull killed after ${delay} ms (HUSH_TEST_SEED=${rng.seed})`);
      if (r.killed) killedCount++;
    }
    // And the test hook: killed right after storing a batch, before acking it. Fresh mail is
    // waiting, so the hook fires: the pull must die by its SIGKILL.
    const hookBodies = Array.from({ length: 5 }, (_, i) => `crash-test hook message ${i}`);
    const sentHook = await hush(['send', 'bob', '--lines'], { home: alice, env, input: hookBodies.join('\n') + '\n' });
    expect(sentHook.exitCode, sentHook.stderr).toBe(0);
    const hooked = await killedAfter(bob, ['pull', '--json'], 60_000, { HUSH_TEST_CRASH: 'after-store' });
    expect(hooked.signal, hooked.stderr).toBe('SIGKILL');
    // A final clean pull gets whatever is left.
    const last = await hush(['pull', '--json'], { home: bob, env });
    expect(last.exitCode, last.stderr).toBe(0);
    const hist = await hush(['history', 'alice', '--json', '--limit', String(N + 10)], { home: bob, env });
    expect(hist.exitCode, hist.stderr).toBe(0);
    const received = jsonLines(hist.stdout)
      .filter((m) => m.direction === 'in')
      .map((m) => String(m.body));
    const ids = jsonLines(hist.stdout).map((m) => String(m.id));
    const replay = `delays ${delays.join(',')}; replay with HUSH_TEST_SEED=${rng.seed}`;
    expect(new Set(ids).size, replay).toBe(ids.length);
    expect(received.sort(), replay).toEqual(['hello', ...bodies, ...hookBodies].sort());
    figure('hush pull kill -9 points (ms)', `${delays.join(',')} (${killedCount} of ${PULL_KILLS} killed mid-run; a full pull took ${full} ms; HUSH_TEST_SEED=${rng.seed})`);
    figure('messages through killed pulls, none lost or doubled', N);
    // Both directions after these kills: the send test goes on from here and ends with one each way.
  });

  it('send: every message stored by a killed send arrives once; both directions still open', async () => {
    expect(alice, 'runs after the pull test (its relay and homes)').not.toBe('');
    const rng = seededRandom('hush send killed -9');
    const env = { HUSH_PASSPHRASE: PASS };
    const lines = (k: number): string[] => Array.from({ length: 20 }, (_, i) => `send-kill ${k} line ${i}`);
    const input = (k: number): string => lines(k).join('\n') + '\n';
    const full = await timed(async () => expect((await hush(['send', 'bob', '--lines'], { home: alice, env, input: input(0) })).exitCode).toBe(0));
    const delays: number[] = [];
    let killedCount = 0;
    for (let k = 1; k <= SEND_KILLS; k++) {
      const delay = Math.floor(full * 0.3) + rng.int(Math.floor(full * 0.9) + 1); // starting, sealing, sending, marking sent
      delays.push(delay);
      const r = await killedAfter(alice, ['send', 'bob', '--lines'], delay, {}, input(k));
      // A send that finished first exits 0; one killed at its start may leave its lines unread (never stored).
      expectKilledOrOk(r, `send killed after ${delay} ms (HUSH_TEST_SEED=${rng.seed})`);
      if (r.killed) killedCount++;
    }
    // The hook: killed once the message and the session's advanced state are committed, before it leaves.
    const hooked = await killedAfter(alice, ['send', 'bob', 'queued, then killed'], 60_000, { HUSH_TEST_CRASH: 'after-queue' });
    expect(hooked.signal, hooked.stderr).toBe('SIGKILL');
    // The next send takes the outbox along; then bob reads everything.
    expect((await hush(['send', 'bob', 'after the send kills'], { home: alice, env })).exitCode).toBe(0);
    expect((await hush(['pull'], { home: bob, env })).exitCode).toBe(0);
    const replay = `delays ${delays.join(',')}; replay with HUSH_TEST_SEED=${rng.seed}`;
    const out = jsonLines((await hush(['history', 'bob', '--json', '--limit', '1000'], { home: alice, env })).stdout).filter((m) => m.direction === 'out');
    expect(
      out.filter((m) => m.status === 'queued'),
      replay,
    ).toEqual([]); // nothing left behind in the outbox
    const sent = out.map((m) => String(m.body)).filter((b) => b.startsWith('send-kill') || b.includes(', then killed') || b === 'after the send kills');
    const received = (await historyBodies(bob, 'alice', 'in', 1000)).filter((b) => sent.includes(b));
    expect(sent, replay).toEqual(expect.arrayContaining([...lines(0), 'queued, then killed', 'after the send kills']));
    expect(new Set(received).size, replay).toBe(received.length); // none twice
    expect([...received].sort(), replay).toEqual([...sent].sort()); // every stored one arrived
    figure(
      'hush send kill -9 points (ms)',
      `${delays.join(',')} (${killedCount} of ${SEND_KILLS} killed mid-run; a full send of 20 lines took ${full} ms; HUSH_TEST_SEED=${rng.seed})`,
    );
    figure('messages stored by killed sends, none lost or doubled', sent.length);
    await bothWaysOpen({ home: alice, name: 'alice' }, { home: bob, name: 'bob' }, 'after the send kills');
  });
});

describe('hush listen killed -9 at random points', () => {
  it('loses no message and shows none twice: each listen killed after a random number of printed messages', async () => {
    const rng = seededRandom('hush listen killed -9');
    const relay = await relayOn(tmpDir());
    const alice = await cliUser('alicel', relay.url);
    const bob = await cliUser('bobl', relay.url);
    const env = { HUSH_PASSPHRASE: PASS };
    const hello = await hush(['send', 'bobl', '--json', 'hello'], { home: alice, env });
    expect(jsonLines(hello.stdout)).toMatchObject([{ protocol: 2 }]); // the kills land inside a v2 session
    expect((await hush(['pull'], { home: bob, env })).exitCode).toBe(0);
    const ROUNDS = scale('HUSH_HOSTILE_LISTEN_KILLS', 3);
    const PER = 25;
    const bodies: string[] = [];
    const points: number[] = [];
    for (let k = 0; k < ROUNDS; k++) {
      const listen = spawnHush(bob, ['listen', '--json'], env);
      await listen.stderr.waitFor(/^hush: listening on /);
      const batch = Array.from({ length: PER }, (_, i) => `listen round ${k} message ${i}`);
      bodies.push(...batch);
      const sent = hush(['send', 'bobl', '--lines'], { home: alice, env, input: batch.join('\n') + '\n' });
      // Kill at a random point of the stream: after the n-th message line (0 = as soon as one starts).
      const n = rng.int(PER);
      points.push(n);
      await listen.stdout.json(n);
      listen.kill('SIGKILL');
      expect((await listen.done).signal, `HUSH_TEST_SEED=${rng.seed}`).toBe('SIGKILL');
      expect((await sent).exitCode).toBe(0);
    }
    const last = await hush(['pull', '--json'], { home: bob, env });
    expect(last.exitCode, last.stderr).toBe(0);
    const hist = await hush(['history', 'alicel', '--json', '--limit', String(bodies.length + 10)], { home: bob, env });
    const received = jsonLines(hist.stdout)
      .filter((m) => m.direction === 'in')
      .map((m) => String(m.body));
    expect(received.sort(), `kill points ${points.join(',')}; replay with HUSH_TEST_SEED=${rng.seed}`).toEqual(['hello', ...bodies].sort());
    // The session is still in step both ways after the kills.
    const back = await hush(['send', 'alicel', '--json', 'still in step'], { home: bob, env });
    expect(jsonLines(back.stdout)).toMatchObject([{ protocol: 2 }]);
    const atAlice = await hush(['pull', '--json'], { home: alice, env });
    expect(
      jsonLines(atAlice.stdout)
        .filter((e) => e.event === 'message')
        .map((e) => e.body),
    ).toEqual(['still in step']);
    const again = await hush(['send', 'bobl', '--json', 'and back'], { home: alice, env });
    expect(jsonLines(again.stdout)).toMatchObject([{ protocol: 2 }]);
    const atBob = await hush(['pull', '--json'], { home: bob, env });
    expect(
      jsonLines(atBob.stdout)
        .filter((e) => e.event === 'message')
        .map((e) => e.body),
    ).toEqual(['and back']);
    figure('hush listen kill -9 points (messages printed before the kill)', `${points.join(',')} (HUSH_TEST_SEED=${rng.seed})`);
  });
});

describe('hush init and hush passwd killed -9 midway', () => {
  it('init killed at random points: either no keyring at all, or one that opens', async () => {
    const rng = seededRandom('hush init killed -9');
    const probe = await makeHome('hush-hostile-probe-');
    const full = await timed(async () => expect((await hush(['init', '--name', 'probe'], { home: probe, env: { HUSH_PASSPHRASE: PASS } })).exitCode).toBe(0));
    const outcomes: string[] = [];
    for (let k = 0; k < KEYRING_KILLS; k++) {
      const home = await makeHome('hush-hostile-init-');
      const delay = rng.int(full + 100);
      const why = `init killed after ${delay} ms (HUSH_TEST_SEED=${rng.seed})`;
      expectKilledOrOk(await killedAfter(home, ['init', '--name', 'kim'], delay), why);
      const file = path.join(home, 'keyring.json');
      if (existsSync(file)) {
        const r = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: PASS, HUSH_NEW_PASSPHRASE: PASS } });
        expect(r.exitCode, `${why}: ${r.stderr}`).toBe(0);
        outcomes.push(`${delay}ms:opens`);
      } else {
        // Nothing half-made blocks a fresh init.
        const r = await hush(['init', '--name', 'kim'], { home, env: { HUSH_PASSPHRASE: PASS } });
        expect(r.exitCode, `${why}: ${r.stderr}`).toBe(0);
        outcomes.push(`${delay}ms:absent`);
      }
      expect(
        (await fsp.readdir(home)).filter((f) => /tmp|\.new|~$/.test(f)),
        why,
      ).toEqual([]);
    }
    figure('hush init kill -9 outcomes', `${outcomes.join(' ')} (HUSH_TEST_SEED=${rng.seed})`);
  });

  it('passwd killed at random points: the keyring opens with the old or the new passphrase, never neither', async () => {
    const rng = seededRandom('hush passwd killed -9');
    const home = await makeHome('hush-hostile-passwd-');
    expect((await hush(['init', '--name', 'pat'], { home, env: { HUSH_PASSPHRASE: 'p0' } })).exitCode).toBe(0);
    const full = await timed(async () => expect((await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: 'p0', HUSH_NEW_PASSPHRASE: 'p0' } })).exitCode).toBe(0));
    let current = 'p0';
    const outcomes: string[] = [];
    for (let k = 1; k <= KEYRING_KILLS; k++) {
      const next = `p${k}`;
      const delay = rng.int(full + 100);
      expectKilledOrOk(
        await killedAfter(home, ['passwd'], delay, { HUSH_PASSPHRASE: current, HUSH_NEW_PASSPHRASE: next }),
        `passwd killed after ${delay} ms (HUSH_TEST_SEED=${rng.seed})`,
      );
      const withNew = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: next, HUSH_NEW_PASSPHRASE: next } });
      if (withNew.exitCode === 0) {
        current = next;
        outcomes.push(`${delay}ms:new`);
      } else {
        const withOld = await hush(['passwd'], { home, env: { HUSH_PASSPHRASE: current, HUSH_NEW_PASSPHRASE: current } });
        expect(withOld.exitCode, `delay ${delay}: neither passphrase opens (HUSH_TEST_SEED=${rng.seed}): ${withOld.stderr}`).toBe(0);
        outcomes.push(`${delay}ms:old`);
      }
    }
    const left = (await fsp.readdir(home)).filter((f) => f !== 'keyring.json');
    expect(left.filter((f) => /tmp|\.new|~$/.test(f))).toEqual([]);
    figure('hush passwd kill -9 outcomes', `${outcomes.join(' ')} (HUSH_TEST_SEED=${rng.seed})`);
  });
});
