#!/usr/bin/env node
/**
 * Remakes test/fixtures/v1-home/ (run: npm run build && node scripts/make-v1-home.mjs): a hush
 * home in the v1 formats, made by the real CLI against a real relay, that every later hush
 * must keep opening (test/cli/v1-home-fixture.test.ts). See test/fixtures/README.md.
 *
 * Users alice (the saved home), bob and carol register on a relay on a free port; ghost
 * never registers. alice and bob write both ways, carol writes to alice, ghost's message lands
 * in alice's quarantine (UNKNOWN_SENDER), alice verifies bob, and a last message to bob is sent
 * after the relay stopped, so it stays in alice's outbox. The keyrings use the floor Argon2id
 * parameters and a known throwaway passphrase: never do that with a real identity.
 *
 * Writes test/fixtures/v1-home/{keyring.json,hush.db,config.json} and
 * test/fixtures/v1-home.expected.json (what whoami, contacts and history must show). New
 * keys are drawn on every run, so a remade fixture differs byte for byte; commit it only when
 * the old one must be replaced on purpose (a v1 home made by an older hush is the point).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HUSH = join(ROOT, 'bin', 'hush.js');
const RELAY = join(ROOT, 'bin', 'hush-relay.js');
const OUT = join(ROOT, 'test', 'fixtures', 'v1-home');
const PASS = 'v1-fixture throwaway passphrase';
const TEXTS = {
  aliceToBob: 'hello bob, this is alice',
  aliceToCarol: 'hi carol',
  bobToAlice: 'hi alice, bob here',
  bobToAlice2: 'grüße aus Berlin 🌍\nsecond line',
  carolToAlice: 'carol says hi',
  ghost: 'from a key nobody registered',
  queued: 'written while the relay was down',
};

const tmp = mkdtempSync(join(tmpdir(), 'hush-v1-home-'));
const home = (n) => join(tmp, n);
let relay;

function env(name) {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUSH_') && k !== 'NODE_OPTIONS') e[k] = v;
  return { ...e, NO_COLOR: '1', HUSH_NO_KEYCHAIN: '1', HUSH_KDF_PARAMS: 'm=8192,t=1,p=1', HUSH_PASSPHRASE: PASS, HUSH_HOME: home(name) };
}

/** Runs hush as `name`; checks the exit code; returns stdout. */
function hush(name, args, { input, code = 0 } = {}) {
  const r = spawnSync('node', [HUSH, ...args], { env: env(name), input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  if (r.status !== code) throw new Error(`${name}: hush ${args.join(' ')} exited ${r.status}, expected ${code}\n${r.stderr}`);
  return r.stdout;
}
const json = (s) =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

async function startRelay() {
  relay = spawn('node', [RELAY, '--port', '0', '--data', join(tmp, 'relay')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let buf = '';
    relay.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) res(buf.slice(0, nl).trim());
    });
    relay.on('exit', (c) => rej(new Error(`relay exited ${c}`)));
  });
}

try {
  const url = await startRelay();
  for (const n of ['alice', 'bob', 'carol', 'ghost']) mkdirSync(home(n), { mode: 0o700 });
  for (const n of ['alice', 'bob', 'carol']) {
    hush(n, ['init', '--name', n]);
    hush(n, ['register', '--relay', url]);
  }
  hush('ghost', ['init', '--name', 'ghost']);

  hush('alice', ['send', 'bob', TEXTS.aliceToBob]);
  hush('alice', ['send', 'carol', TEXTS.aliceToCarol]);
  hush('bob', ['pull']);
  hush('carol', ['pull']);
  hush('bob', ['send', 'alice'], { input: `${TEXTS.bobToAlice}\n` });
  hush('bob', ['send', 'alice'], { input: TEXTS.bobToAlice2 });
  hush('carol', ['send', 'alice', TEXTS.carolToAlice]);
  hush('ghost', ['send', 'alice', TEXTS.ghost, '--relay', url]);
  const pulled = json(hush('alice', ['pull', '--json']));
  if (!pulled.some((e) => e.event === 'quarantined' && e.reason === 'UNKNOWN_SENDER')) throw new Error(`ghost's mail was not quarantined: ${JSON.stringify(pulled)}`);
  hush('bob', ['pull']); // alice's delivered and read receipts reach bob (not needed in alice's home, but a real exchange)
  const bobFp = json(hush('alice', ['verify', 'bob', '--json']))[0].fingerprint;
  hush('alice', ['trust', 'bob', '--fingerprint', bobFp]);

  relay.kill('SIGTERM');
  await new Promise((r) => relay.once('exit', r));
  relay = undefined;
  hush('alice', ['send', 'bob', TEXTS.queued], { code: 4 });

  const whoami = json(hush('alice', ['whoami', '--json']))[0];
  const contacts = json(hush('alice', ['contacts', '--json']));
  const history = json(hush('alice', ['history', '--json']));
  for (const f of ['hush.db-wal', 'hush.db-shm']) if (existsSync(join(home('alice'), f))) throw new Error(`${f} left behind: hush.db is not self-contained`);

  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const f of ['keyring.json', 'hush.db', 'config.json']) copyFileSync(join(home('alice'), f), join(OUT, f));
  const expected = {
    description: 'what test/cli/v1-home-fixture.test.ts expects from test/fixtures/v1-home (made by scripts/make-v1-home.mjs)',
    passphrase: PASS,
    kdf: { m: 8192, t: 1, p: 1 },
    whoami: { name: whoami.name, fingerprint: whoami.fingerprint, signPk: whoami.signPk, boxPk: whoami.boxPk, created: whoami.created, relay: whoami.relay },
    contacts: contacts.map((c) => ({ name: c.name, fingerprint: c.fingerprint, trust: c.trust, pinnedAt: c.pinnedAt })),
    history: history.map((m) => ({ id: m.id, peer: m.peer, direction: m.direction, time: m.time, status: m.status, body: m.body })),
    quarantined: 1,
    outbox: 1,
  };
  writeFileSync(join(ROOT, 'test', 'fixtures', 'v1-home.expected.json'), JSON.stringify(expected, null, 2) + '\n');
  console.log(`wrote test/fixtures/v1-home/ (${contacts.length} contacts, ${history.length} messages) and v1-home.expected.json`);
} finally {
  if (relay) relay.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
