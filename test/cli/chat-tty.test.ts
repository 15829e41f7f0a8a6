/**
 * `hush chat` driven for real: two chats (alice and bob, two homes) in two tmux terminals on
 * one real relay process. Synchronisation polls the screen (capture-pane) for the expected
 * text until a bounded deadline: waiting for an observable state, never a fixed sleep.
 * Ticks print as letters ([queued] [sent] [delivered] [read]) because NO_COLOR is set.
 * Skipped where tmux is missing, failed instead in CI (test/needs.ts; .ci/run installs it).
 */
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanupTmp, makeUser, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { RelayClient } from '../../src/client/relay-client.js';
import { heldToken } from '../../src/client/delivery-tokens.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { canonicalRelayUrl } from '../../src/protocol/frames.js';
import { sealManyFor } from '../../src/client/sessions.js';
import { HushStore } from '../../src/store/db.js';
import { unlock } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';
import { BIN, hush, makeHome, testEnv } from './helpers.js';
import { hasTmux, whyNoTmux } from './tmux.js';
import { skipWithout } from '../needs.js';
import { ENV, historyOf, newUser, openStore, PASS, type TestUser } from './messaging-helpers.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 60_000 });

const RUN = hasTmux() || process.env.CI === 'true';
/** The connection state, shown once: at the end of the header (the first row). */
const CONNECTED = /^hush chat · .* · connected$/m;
const RECONNECTING = /^hush chat · .* · reconnecting…$/m;

const DEADLINE_MS = 20_000;
const sockets: string[] = [];
let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  if (!RUN) return;
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  // Pin each other once (chat would pin on first use too; this keeps the screens quiet).
  expect((await alice.run(['send', 'bob', 'hello from the command line'])).exitCode).toBe(0);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
  // bob writes back: alice is his contact, not a stranger, so his chat sends her receipts.
  expect((await bob.run(['send', 'alice', 'hello back from the command line'])).exitCode).toBe(0);
  expect((await alice.run(['pull'])).exitCode).toBe(0);
  expect((await bob.run(['pull'])).exitCode).toBe(0);
});

// Each test's terminals end with it (a chat left over from a failed test would take the next
// test's messages: two processes on one home store a message once, and only one shows it).
afterEach(async () => {
  for (const s of sockets.splice(0)) await execa('tmux', ['-S', s, 'kill-server'], { reject: false });
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

/** `hush chat PEER` for `user`, in its own tmux terminal. */
async function chatTerminal(user: TestUser, peer: string, extra = '') {
  const dir = await makeHome('hush-chat-tmux-');
  const sock = path.join(dir, 'sock');
  sockets.push(sock);
  const env = testEnv({ HUSH_HOME: user.home, ...ENV, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' });
  const tmux = (...args: string[]) => execa('tmux', ['-u', '-S', sock, ...args], { env, extendEnv: false });
  await tmux('new-session', '-d', '-x', '100', '-y', '30', `node ${BIN} chat ${peer} ${extra}; echo EXIT=$?; read _`);
  const screen = async (): Promise<string> => (await tmux('capture-pane', '-p')).stdout;
  /** Polls the screen until `re` shows (bounded); fails at once if the chat ended without it. */
  const waitFor = async (re: RegExp): Promise<string> => {
    const until = Date.now() + DEADLINE_MS;
    let s = '';
    while (Date.now() < until) {
      s = await screen();
      if (re.test(s)) return s;
      if (/EXIT=\d+/.test(s) && !re.test(s)) throw new Error(`the chat ended without showing ${re}:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${re} did not show within ${DEADLINE_MS} ms; the screen:\n${s}`);
  };
  return {
    waitFor,
    screen,
    keys: (text: string) => tmux('send-keys', '-l', text),
    press: (...keys: string[]) => tmux('send-keys', ...keys),
    say: async (text: string) => {
      await tmux('send-keys', '-l', text);
      await tmux('send-keys', 'Enter');
    },
    resize: (x: number, y: number) => tmux('resize-window', '-x', String(x), '-y', String(y)),
    /** Pastes `text` as a terminal paste (bracketed when the application asked for it). */
    paste: async (text: string) => {
      await tmux('set-buffer', '-b', 'p', '--', text);
      await tmux('paste-buffer', '-p', '-d', '-b', 'p');
    },
  };
}

/**
 * bob's identity, unlocked in-process, and the delivery token alice gave him, on an
 * unauthenticated relay connection (to flood typing envelopes: the relay takes them only with a
 * token), and `typings(n)`: n typing envelopes to alice sealed as bob's hush seals them, in his
 * v2 session with her (v1 from him would be a DOWNGRADE), the session's state stored.
 */
async function bobConnection(): Promise<{ c: RelayClient; token: Uint8Array; typings: (n: number) => Uint8Array[] }> {
  const u = await unlock(hushPaths(bob.home), { env: { HUSH_PASSPHRASE: PASS } });
  const id = u.identity;
  const store = await openStore(bob.home);
  const token = heldToken(store, store.findContactByName('alice')!.id, canonicalRelayUrl(relay.url), Date.now());
  store.close();
  if (!token) throw new Error('bob holds no delivery token from alice');
  const c = await RelayClient.connect(relay.url, {});
  const typings = (n: number): Uint8Array[] => {
    const s = HushStore.open(bob.home, id.historyKey);
    try {
      const p = Array.from({ length: n }, () => ({ kind: 'typing' as const, id: randomBytes(16), time: Date.now(), body: new Uint8Array(0) }));
      const r = sealManyFor({ store: s, identity: id, random: randomBytes, now: Date.now }, s.findContactByName('alice')!, p);
      if (!r.v2) throw new Error('bob has no v2 session with alice');
      return r.envelopes;
    } finally {
      s.close();
    }
  };
  return { c, token, typings };
}

async function restartRelay(): Promise<void> {
  const port = new URL(relay.url).port;
  relay = await startRelayProcess({ dataDir: relay.dataDir, args: ['--port', port] });
}

describe.skipIf(skipWithout('tmux', whyNoTmux()))('hush chat in a terminal', () => {
  it('two chats talk: typing seen, ticks up to read, the line being typed survives, resize, /verify, Ctrl-C and EOF exit 0', async () => {
    const a = await chatTerminal(alice, 'bob');
    const b = await chatTerminal(bob, 'alice');
    await a.waitFor(CONNECTED);
    await b.waitFor(CONNECTED);
    expect(await a.screen()).toMatch(/bob \(unverified\)>/); // trust state in the prompt
    expect((await a.screen()).match(/connected/g)).toHaveLength(1); // once, in the header

    await a.keys('hello bob');
    await b.waitFor(/alice is typing/);
    await a.press('Enter');
    await b.waitFor(/alice: hello bob\n/);
    await a.waitFor(/alice: hello bob \[read\]/);

    // bob writes while alice has a half-typed line: it stays on her prompt.
    await a.keys('half a thou');
    await b.say('hi alice');
    // the message line is drawn before the prompt is redrawn under it: wait for both
    const s = await a.waitFor(/bob: hi alice\n[\s\S]*bob \(unverified\)> /);
    expect(s).toMatch(/bob \(unverified\)> half a thou\s*$/);
    await b.waitFor(/bob: hi alice \[read\]/);
    await a.keys('ght');
    await a.press('Enter');
    await b.waitFor(/alice: half a thought/);

    await a.say('/verify');
    await a.waitFor(/safety number +(\d{5} ){11}\d{5}/);
    await a.say('/history 2');
    await a.waitFor(/the last 2 messages with bob/);
    // hush history's arrows: -> sent to bob, <- received from bob
    await a.waitFor(/ <- bob {2}hi alice/);
    await a.waitFor(/ -> bob {2}(sent|delivered|read) {2}half a thought/);

    await a.resize(50, 12);
    await b.say('after the resize');
    // The message, then the prompt redrawn below it (a screen caught between the two lacks the prompt).
    const small = await a.waitFor(/bob: after the resize[\s\S]*bob \(unverified\)>\s*$/);
    expect(small.split('\n')[0]).toMatch(/^hush chat/); // the header is still the first row
    expect(small.split('\n').every((l) => l.length <= 50)).toBe(true);

    await a.press('C-c');
    const after = await a.waitFor(/EXIT=\d+/);
    expect(after).toMatch(/EXIT=0/);
    // Back on the normal screen: this session's messages as shown, without the chrome.
    expect(after).toMatch(/^\d\d:\d\d alice: hello bob \[read\]$/m);
    expect(after).toMatch(/^\d\d:\d\d bob: hi alice$/m);
    expect(after).toMatch(/^\d\d:\d\d alice: half a thought \[read\]$/m);
    expect(after).toMatch(/^\d\d:\d\d bob: after the resize$/m);
    expect(after).not.toContain('hush chat ·');
    expect(after).not.toContain('(unverified)>');
    expect(after).not.toContain('hello from the command line'); // the backlog is not this session's
    await b.press('C-d'); // EOF on the terminal
    expect(await b.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('a narrow terminal shortens each part of the header, never the whole header to one letter', async () => {
    const a = await chatTerminal(alice, 'bob');
    await a.waitFor(CONNECTED);
    await a.resize(39, 12);
    expect((await a.waitFor(/^bob · /)).split('\n')[0]).toBe('bob · unverified · connected');
    await a.resize(20, 12);
    expect((await a.waitFor(/^bob · unve… /)).split('\n')[0]).toBe('bob · unve… · conne…');
    await a.press('C-c');
    expect(await a.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('a pasted block is one message; //text sends /text; an unknown /command sends nothing', async () => {
    const a = await chatTerminal(alice, 'bob');
    const b = await chatTerminal(bob, 'alice');
    await a.waitFor(CONNECTED);
    await b.waitFor(CONNECTED);
    const before = (await historyOf(bob.home)).length;

    await a.keys('pasted: ');
    await a.paste('first line\nsecond line\n/third line\n');
    await b.waitFor(/alice: pasted: first line\nsecond line\n\/third line\n/);
    await a.waitFor(/\/third line \[(sent|delivered|read)\]/);

    await a.say('/frobnicate now');
    await a.waitFor(/unknown command \/frobnicate: nothing was sent/);
    await a.say('//etc/hosts is a path');
    await b.waitFor(/alice: \/etc\/hosts is a path/);
    await a.press('C-c');
    expect(await a.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
    await b.press('C-c');
    expect(await b.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
    const got = (await historyOf(bob.home)).slice(before).map((m) => m.body);
    expect(got).toEqual(['pasted: first line\nsecond line\n/third line', '/etc/hosts is a path']);
  });

  it('survives a relay restart: reconnecting shown, a message written meanwhile goes out after it is back', async () => {
    const a = await chatTerminal(alice, 'bob');
    const b = await chatTerminal(bob, 'alice');
    await a.waitFor(CONNECTED);
    await b.waitFor(CONNECTED);
    expect(await relay.stop()).toBe(0);
    await a.waitFor(RECONNECTING);
    expect((await a.screen()).match(/reconnecting/g)).toHaveLength(1);
    await a.say('written while the relay was down');
    await a.waitFor(/written while the relay was down \[queued\]/);
    await restartRelay();
    await b.waitFor(/alice: written while the relay was down/);
    await a.waitFor(/written while the relay was down \[read\]/);
    await a.waitFor(CONNECTED);
    await a.say('/quit');
    expect(await a.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
    await b.say('/quit');
    expect(await b.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('a flood of typing envelopes is rate-limited on display; the chat stays responsive', async () => {
    const a = await chatTerminal(alice, 'bob');
    await a.waitFor(CONNECTED);
    const { c, token, typings } = await bobConnection();
    try {
      const to = await c.lookup({ name: 'alice' });
      const sends: Promise<unknown>[] = [];
      for (const e of typings(300)) sends.push(c.send(to.signPk, e, { ephemeral: true, token }).catch(() => undefined));
      await a.waitFor(/bob is typing/);
      await Promise.all(sends);
    } finally {
      await c.close();
    }
    const sent = await bob.run(['send', 'alice', 'after the flood']);
    expect(sent.exitCode, sent.stderr).toBe(0);
    await a.waitFor(/bob: after the flood/);
    await a.say('still here');
    await a.waitFor(/alice: still here \[(sent|delivered|read)\]/);
    await a.press('C-c');
    expect(await a.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('a contact whose key changed: KEY CHANGED in the header and prompt, and sending is refused', async () => {
    const carol = await newUser('carol', relay.url);
    expect((await carol.run(['send', 'bob', 'hi bob, carol here'])).exitCode).toBe(0);
    // What carol's client records when the relay serves another key for bob (see
    // messaging-trust.test.ts for the relay-driven path): a pending, unaccepted new key.
    const store = await openStore(carol.home);
    try {
      store.recordKeyChange(store.findContactByName('bob')!.id, makeUser('bob').bundle);
    } finally {
      store.close();
    }
    const c = await chatTerminal(carol, 'bob');
    const s = await c.waitFor(/bob \(KEY CHANGED\)>/);
    expect(s.split('\n')[0]).toMatch(/^hush chat . bob . KEY CHANGED/);
    await c.say('this must not go out');
    await c.waitFor(/not sent: bob's key has changed since you pinned it/);
    await c.press('C-c');
    expect(await c.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
    expect((await historyOf(carol.home)).map((m) => m.body)).toEqual(['hi bob, carol here']);
  });

  it('messages from another day show their date, those from today only the time', async () => {
    const dave = await newUser('dave', relay.url);
    expect((await dave.run(['send', 'alice', 'today from dave'])).exitCode).toBe(0);
    const store = await openStore(dave.home);
    try {
      const id = store.findContactByName('alice')!.id;
      store.addMessage({ msgId: randomBytes(16), contactId: id, direction: 'in', time: Date.now() - 3 * 86_400_000, body: 'three days ago', status: 'read' });
    } finally {
      store.close();
    }
    const d = await chatTerminal(dave, 'alice');
    const s = await d.waitFor(/today from dave/);
    expect(s).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d alice: three days ago$/m);
    expect(s).toMatch(/^\d\d:\d\d dave: today from dave \[\w+\]$/m);
    await d.press('C-c');
    expect(await d.waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
  });

  it('chat @NAME: a group chat shows `bob: text`, posts to the group, typing to members, ticks once every member read', async () => {
    const cora = await newUser('cora', relay.url);
    expect((await alice.run(['send', 'cora', 'hi cora'])).exitCode).toBe(0);
    expect((await alice.run(['group', 'create', 'crew', 'bob', 'cora'])).exitCode).toBe(0);
    await Promise.all([bob.run(['pull']), cora.run(['pull'])]);
    expect((await cora.run(['send', '@crew', 'cora here'])).exitCode).toBe(0); // cora writes to alice: she sends her receipts
    const a = await chatTerminal(alice, '@crew');
    const b = await chatTerminal(bob, '@crew');
    await a.waitFor(/^hush chat · @crew · unverified · connected$/m);
    await b.waitFor(CONNECTED);
    await a.waitFor(/cora: cora here\n/);
    expect(await a.screen()).toMatch(/@crew \(unverified\)>/);

    await a.keys('on my way');
    await b.waitFor(/alice is typing/); // alice holds bob's token; cora's she does not, and gets none
    await a.press('Enter');
    await b.waitFor(/alice: on my way\n/);
    expect((await cora.run(['pull'])).stdout).toMatch(/@crew alice: on my way$/m);
    await a.waitFor(/alice: on my way \[read\]/); // bob's chat and cora's pull showed it
    await b.say('roger');
    await a.waitFor(/bob: roger\n/);
    expect((await cora.run(['pull'])).stdout).toMatch(/@crew bob: roger$/m);
    await a.press('C-c');
    await a.waitFor(/EXIT=0/);
  });

  it('without a terminal: a usage error that points to send and listen', async () => {
    const r = await hush(['chat', 'bob'], { home: alice.home, env: ENV, input: 'hi\n' });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('hush: error: hush chat needs a terminal on stdin and stdout\nhush: hint: in scripts use hush send bob and hush listen\n');
  });
});
