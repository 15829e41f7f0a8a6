#!/usr/bin/env node
/**
 * `npm run demo` (= npm run build && node scripts/demo.mjs): a scripted session that shows how
 * hush is used, as a transcript on stdout.
 *
 * It starts the bundled relay on a free port with a temporary data directory, creates alice
 * and bob in temporary homes, registers both, pipes a message from alice to bob through stdin,
 * lets bob pull, read his history and reply, lets alice pull and read hers, compares keys,
 * leaves one message waiting on the relay, stops the relay and prints what it has stored on
 * disk: only ciphertext (and checks that no message text appears in any of its files).
 *
 * `npm run demo -- --redis`: the same conversation through two relay processes sharing one
 * Redis (a redis-server started on a free port in the temp directory, AOF always): alice
 * registers and sends through relay A, bob through relay B; what they stored is read from Redis.
 *
 * Runs from a fresh clone after `npm ci` (and the build): `node bin/hush.js` and
 * `node bin/hush-relay.js`, no global install. Temp directories and the relay process are
 * removed even when a step fails; the exit code is non-zero when any step fails.
 * The keyrings use the lowest Argon2 cost (HUSH_KDF_PARAMS) and HUSH_PASSPHRASE so the demo
 * is quick and needs no typing: do not do either with a real identity.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HUSH = join(ROOT, 'bin', 'hush.js');
const RELAY = join(ROOT, 'bin', 'hush-relay.js');
const STEP_TIMEOUT_MS = 60_000;

const TEXTS = {
  first: 'Hi bob! The deploy is done. Lunch at noon?',
  reply: 'Great news. Noon works, see you there.',
  waiting: 'Bringing the slides, too.',
};

const tmp = mkdtempSync(join(tmpdir(), 'hush-demo-'));
const relayData = join(tmp, 'relay');
const homes = { alice: join(tmp, 'alice'), bob: join(tmp, 'bob') };
const REDIS = process.argv.slice(2).includes('--redis');
const redisDir = join(tmp, 'redis');
/** @type {import('node:child_process').ChildProcess | undefined} */
let relay;
/** The second relay and the redis-server of --redis. */
let relayB;
let redisProc;
let redisUrl;
let relayLog = '';
/** The hush command running now (killed too if the demo is interrupted). */
let current;
let cleaned = false;
let interrupted = false;

const out = (s = '') => process.stdout.write(`${s}\n`);
const say = (s) => out(`\n# ${s}`);
const indent = (text) =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');

/** The environment of every child: the user's own HUSH_* settings never leak in. */
function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUSH_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, NO_COLOR: '1', HUSH_NO_KEYCHAIN: '1', ...extra };
}

function userEnv(who) {
  return childEnv({ HUSH_HOME: homes[who], HUSH_PASSPHRASE: `demo passphrase of ${who}`, HUSH_KDF_PARAMS: 'm=8192,t=1,p=1' });
}

class StepError extends Error {}

/**
 * Runs `node bin/hush.js ...args` as `who`, printing `[who] $ hush ...` and the output in
 * arrival order. Resolves with the output; throws StepError on a non-zero exit.
 */
function hush(who, args, { input, shown } = {}) {
  const cmd = shown ?? `hush ${args.map((a) => (/^[\w./:@=-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ')}`;
  out(`[${who}] $ ${cmd}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [HUSH, ...args], { env: userEnv(who), stdio: ['pipe', 'pipe', 'pipe'] });
    current = child;
    let all = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d) => ((all += d), (stdout += d)));
    child.stderr.setEncoding('utf8').on('data', (d) => (all += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new StepError(`could not run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (all !== '') out(indent(all));
      if (code === 0) resolvePromise(stdout);
      else reject(new StepError(`step failed: ${cmd} (${signal ? `killed by ${signal}` : `exit ${code}`})`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

function startRelay(second = false) {
  const store = REDIS ? ['--store', redisUrl] : ['--data', relayData];
  out(`$ hush-relay --port 0 ${store.join(' ')} &`);
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, [RELAY, '--port', '0', ...store], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    if (second) relayB = p;
    else relay = p;
    let first = '';
    p.stderr.setEncoding('utf8').on('data', (d) => (relayLog += d));
    p.stdout.setEncoding('utf8').on('data', (d) => {
      first += d;
      const nl = first.indexOf('\n');
      if (nl >= 0) resolvePromise(first.slice(0, nl).trim());
    });
    p.on('error', (e) => reject(new StepError(`could not start the relay: ${e.message}`)));
    p.on('exit', (code) => reject(new StepError(`the relay exited (${code}) before printing its address\n${relayLog}`)));
  });
}

/** A redis-server on a free port of 127.0.0.1, in the temp directory, with an AOF fsynced on every write. */
async function startRedis() {
  if (spawnSync('redis-server', ['--version']).error) throw new StepError('--redis needs redis-server (apt-get install redis-server)');
  const port = await new Promise((res, rej) => {
    const srv = createServer().once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => res(p));
    });
  });
  redisUrl = `redis://127.0.0.1:${port}/0`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
  out(`$ mkdir ${redisDir} && redis-server ${args.join(' ').replace('--save ', "--save '' ")} &`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(redisDir, { mode: 0o700 });
  await new Promise((resolvePromise, reject) => {
    redisProc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    redisProc.stdout.setEncoding('utf8').on('data', (d) => {
      log += d;
      if (log.includes('Ready to accept connections')) resolvePromise();
    });
    redisProc.on('exit', (code) => reject(new StepError(`redis-server exited (${code})\n${log}`)));
  });
}

function stopRelay(r = relay) {
  if (!r || r.exitCode !== null || r.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => r.kill('SIGKILL'), 10_000);
    r.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    r.kill('SIGTERM');
  });
}

/** Synchronous last resort (process exit, signals): kill the relay, remove the temp dir. */
function cleanupSync() {
  if (cleaned) return;
  cleaned = true;
  for (const p of [current, relay, relayB, redisProc]) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
}
process.on('exit', cleanupSync);
/** Kills the running command and the relay and waits until both are gone (reaped). */
async function killChildren() {
  const live = [current, relay, relayB, redisProc].filter((p) => p && p.exitCode === null && p.signalCode === null);
  await Promise.all(
    live.map(
      (p) =>
        new Promise((resolvePromise) => {
          p.once('exit', resolvePromise);
          p.kill('SIGKILL');
        }),
    ),
  );
}
for (const [sig, n] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
]) {
  process.once(sig, () => {
    interrupted = true;
    void killChildren().finally(() => {
      cleanupSync();
      process.stderr.write(`demo: interrupted (${sig}); cleaned up\n`);
      process.exit(128 + n);
    });
  });
}

const short = (buf, n) => Buffer.from(buf).subarray(0, n).toString('base64');

async function dumpRelayStore() {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(relayData, 'relay.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const dir = db.prepare('SELECT name, sign_pk FROM directory ORDER BY name').all();
    out('  directory (public: who is registered, with their public signing key):');
    for (const d of dir) out(`    ${d.name.padEnd(8)} signPk ${short(d.sign_pk, 12)}...`);
    const mail = db.prepare('SELECT seq, recipient, size, env FROM mailbox ORDER BY seq').all();
    out(
      `  mailbox (${mail.length} envelope${mail.length === 1 ? '' : 's'} waiting to be fetched — messages and delivered/read receipts look alike; sealed, and no sender is stored):`,
    );
    for (const m of mail) out(`    #${m.seq}  to ${Buffer.from(m.recipient).subarray(0, 6).toString('hex')}...  ${m.size} bytes  ${short(m.env, 48)}...`);
    return mail.length;
  } finally {
    db.close();
  }
}

/** What the relays stored in Redis: the directory and the mailboxes (docs/PROTOCOL.md §7.8.1). */
async function dumpRedisStore() {
  const { Redis } = await import('ioredis');
  const r = new Redis(redisUrl);
  try {
    out('  directory (public: who is registered, with their public signing key):');
    for (const k of (await r.keys('hush:{dir}:name:*')).sort()) {
      const pk = await r.hgetBuffer(k, 'pk');
      out(`    ${k.slice('hush:{dir}:name:'.length).padEnd(8)} signPk ${short(pk, 12)}...`);
    }
    const queues = await r.keys('hush:{*}:q');
    let n = 0;
    const lines = [];
    for (const q of queues.sort()) {
      const rhex = q.slice('hush:{'.length, q.length - '}:q'.length);
      for (const [eid, seq] of chunk(await r.zrange(q, 0, -1, 'WITHSCORES'))) {
        const env = await r.hgetBuffer(`hush:{${rhex}}:env`, eid);
        lines.push(`    #${seq}  to ${rhex.slice(0, 12)}...  ${env.length} bytes  ${short(env, 48)}...`);
        n++;
      }
    }
    out(`  mailboxes (${n} envelope${n === 1 ? '' : 's'} waiting to be fetched — messages and delivered/read receipts look alike; sealed, and no sender is stored):`);
    for (const l of lines) out(l);
    return n;
  } finally {
    r.disconnect();
  }
}
const chunk = (a) => a.flatMap((x, i) => (i % 2 === 0 ? [[x, a[i + 1]]] : []));

/** Every file of the relay's data directory (with --redis: of Redis's directory, its AOF included), searched for the message texts. */
function scanRelayFiles() {
  const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  const files = walk(REDIS ? redisDir : relayData);
  const found = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const t of Object.values(TEXTS)) if (bytes.includes(Buffer.from(t, 'utf8'))) found.push(`${t} (in ${f})`);
  }
  return { files: files.length, found };
}

async function main() {
  out('# hush demo: alice and bob talk end to end through a local relay.');
  out('# `hush` below is `node bin/hush.js` in this checkout (after npm ci and npm run build).');
  out(`# Everything lives in ${tmp} and is removed at the end.`);

  let url;
  let urlB;
  if (REDIS) {
    say('1. Start one Redis (append-only file, fsynced on every write) and two relay processes sharing it.');
    await startRedis();
    url = await startRelay();
    out(indent(`${url}    (relay A, pid ${relay.pid})`));
    urlB = await startRelay(true);
    out(indent(`${urlB}    (relay B, pid ${relayB.pid}): alice uses relay A, bob relay B`));
  } else {
    say('1. Start the bundled relay on a free port with an empty data directory.');
    url = await startRelay();
    urlB = url;
    out(indent(`${url}    (relay pid ${relay.pid})`));
  }

  say('2. Each person has a home (HUSH_HOME) with a passphrase-protected keyring.');
  out('#    Here the passphrase comes from HUSH_PASSPHRASE; by hand, hush asks for it.');
  await hush('alice', ['init', '--name', 'alice']);
  await hush('bob', ['init', '--name', 'bob']);

  say('3. Publish each key bundle on the relay (it remembers the relay for later commands).');
  await hush('alice', ['register', '--relay', url]);
  await hush('bob', ['register', '--relay', urlB]);

  say('4. alice sends bob a message, piped through stdin. The first message pins his key (TOFU).');
  await hush('alice', ['send', 'bob'], { input: `${TEXTS.first}\n`, shown: `echo '${TEXTS.first}' | hush send bob` });

  say('5. bob fetches his mail, and reads his history.');
  const pulled = await hush('bob', ['pull']);
  if (!pulled.includes(TEXTS.first)) throw new StepError("bob did not receive alice's message");
  await hush('bob', ['history']);

  say('6. bob replies; alice pulls and reads her history (-> sent by her, <- received).');
  await hush('bob', ['send', 'alice', TEXTS.reply]);
  const back = await hush('alice', ['pull']);
  if (!back.includes(TEXTS.reply)) throw new StepError("alice did not receive bob's reply");
  await hush('alice', ['history']);

  say("7. To rule out a relay in the middle, compare keys out of band (bob's hush verify alice shows the same safety number).");
  await hush('alice', ['verify', 'bob']);
  await hush('alice', ['contacts']);

  say('8. One more message, which bob has not fetched yet: it waits on the relay.');
  await hush('alice', ['send', 'bob', TEXTS.waiting]);

  let waiting;
  if (REDIS) {
    say('9. Stop both relays and look at what they stored in Redis.');
    await Promise.all([stopRelay(), stopRelay(relayB)]);
    out(indent('relays stopped'));
    out(`$ redis-cli -u ${redisUrl} --scan --pattern 'hush:*' ...`);
    waiting = await dumpRedisStore();
  } else {
    say('9. Stop the relay and look at what it stored on disk.');
    await stopRelay();
    out(indent('relay stopped'));
    out(`$ sqlite3 -readonly ${join(relayData, 'relay.sqlite')} 'SELECT ... FROM directory; SELECT ... FROM mailbox'`);
    waiting = await dumpRelayStore();
  }
  if (waiting < 1) throw new StepError('the relay should hold the waiting message');
  const scan = scanRelayFiles();
  if (scan.found.length > 0) throw new StepError(`message text found in the relay's files: ${scan.found.join('; ')}`);
  out(`  checked: none of the ${Object.keys(TEXTS).length} message texts appears in the relay's ${scan.files} files; it only ever held ciphertext.`);

  say('Done. Try it by hand: see the README (Quick start).');
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
  if (interrupted) await new Promise(() => undefined); // the signal handler exits
  process.stderr.write(`demo: error: ${e instanceof StepError ? e.message : (e?.stack ?? String(e))}\n`);
  if (relayLog !== '') process.stderr.write(`demo: relay log:\n${indent(relayLog)}\n`);
} finally {
  await Promise.all([stopRelay(), stopRelay(relayB)]).catch(() => undefined);
  cleanupSync();
}
out(code === 0 ? `\n# cleaned up ${tmp}` : '');
process.exitCode = code;
