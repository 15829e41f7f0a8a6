// The files row (issue #15): `hush send --file` + `hush save` of one file through a local relay,
// one after the other, and (with --wormhole) `hush send --file` and `hush listen --auto-save` at
// once, the way wormhole's two ends run, in MB/s, with the peak RSS of the sender, the receiver and the relay; next to, in the same
// run, `wormhole send` + `wormhole receive` of the same file (a local mailbox server; the two
// wormhole clients connect directly on loopback) and the raw AEAD throughput (ChaCha20-Poly1305
// over 64 KiB chunks in this process, seal only) and a plain `cp`.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { appendFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, haveWormhole, twistd, waitForPort } from './cli.mjs';
import { BENCH_RELAY_FLAGS, now, ROOT, run, startServer, stopChild } from './lib.mjs';

const HUSH = path.join(ROOT, 'bin/hush.js');
const NODE = process.execPath;
const MB = 1e6;
/** Peak RSS bound of each process in both file rows. */
const RSS_BOUND = 256 * 1024 * 1024;
const mbps = (bytes, ms) => bytes / MB / (ms / 1000);

/** Runs node HUSH … under /usr/bin/time: { ms, rss (bytes), stdout }. */
async function timed(env, home, args) {
  const r = await run('/usr/bin/time', ['-f', 'maxrss=%M', NODE, HUSH, '--home', home, ...args], { env });
  if (r.code !== 0) throw new Error(`hush ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  const kb = Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]);
  return { ms: r.ms, rss: kb * 1024, stdout: r.stdout };
}

const hwm = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;

async function sha256File(p) {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c);
  return h.digest('hex');
}

function aeadMBps(file) {
  const key = randomBytes(32);
  const t0 = now();
  for (let off = 0, i = 0; off < file.length; off += 65536, i++) {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(i, 4);
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    c.update(file.subarray(off, off + 65536));
    c.final();
    c.getAuthTag();
  }
  return mbps(file.length, now() - t0);
}

async function wormholeMs(src, outDir) {
  if (!haveWormhole()) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-wormhole-'));
  const { spawn } = await import('node:child_process');
  const server = spawn(
    twistd(),
    ['--nodaemon', '--pidfile=', `--logfile=${path.join(dir, 'log')}`, 'wormhole-mailbox', `--port=tcp:${port}:interface=127.0.0.1`, `--channel-db=${path.join(dir, 'db.sqlite')}`],
    {
      cwd: dir,
      stdio: 'ignore',
    },
  );
  try {
    await waitForPort(port); // the mailbox server listens
    const relayUrl = `ws://127.0.0.1:${port}/v1`;
    const code = '7-bench-files';
    const t0 = now();
    const [s, r] = await Promise.all([
      run('wormhole', ['--relay-url', relayUrl, '--transit-helper', 'tcp:127.0.0.1:1', 'send', '--code', code, src]),
      run('wormhole', ['--relay-url', relayUrl, '--transit-helper', 'tcp:127.0.0.1:1', 'receive', '--accept-file', '-o', path.join(outDir, 'wormhole.bin'), code]),
    ]);
    if (s.code !== 0 || r.code !== 0) throw new Error(`wormhole failed: ${(s.stderr || r.stderr).trim().split('\n').slice(-2).join(' / ')}`);
    return now() - t0;
  } finally {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The streamed flow, measured as wormhole's is: `hush send --file` and `hush listen --json
 * --auto-save DIR` started together (the listener saves the file as it is uploaded, PROTOCOL
 * §7.9 "Streaming"); the time from the start to when both the send has exited and the listener
 * printed its `saved` line. The listener is stopped then. Returns { ms, sendMs, savedPath }.
 */
async function streamedMs(env, home, src, outDir) {
  const { spawn } = await import('node:child_process');
  const t0 = now();
  const listen = spawn(NODE, [HUSH, '--home', home('bob'), 'listen', '--json', '--auto-save', outDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  listen.stderr.on('data', (d) => (err += d));
  const saved = new Promise((resolve, reject) => {
    let buf = '';
    listen.stdout.on('data', (d) => {
      buf += d;
      const m = /"event":"saved".*?"path":"([^"]+)"/.exec(buf);
      if (m) resolve({ at: now(), path: m[1] });
    });
    listen.once('exit', (code) => reject(new Error(`hush listen exited ${code} before saving: ${err.trim().split('\n').slice(-2).join(' / ')}`)));
  });
  try {
    const sent = await timed(env, home('alice'), ['send', 'bob', '--file', src]);
    const got = await saved;
    return { ms: Math.max(got.at, t0 + sent.ms) - t0, sendMs: sent.ms, savedPath: got.path };
  } finally {
    await stopChild(listen);
  }
}

export async function files100m(opt) {
  return filesRow(opt, (opt.quick ? 16 : 100) * 1024 * 1024, true);
}

/**
 * Row `files-1g`: the memory row of issue #15. The same send + save of a 1 GiB file (64 MiB with
 * --quick), without wormhole, to show the peak RSS of sender, receiver and relay flat in the size
 * (compare the 100 MiB row): it passes when each stays under 256 MiB.
 */
export async function files1g(opt) {
  const size = (opt.quick ? 64 : 1024) * 1024 * 1024;
  const r = await filesRow(opt, size, false);
  const bound = RSS_BOUND;
  const v = r.values;
  return {
    ...r,
    baseline: `the file: ${size / 1048576} MiB; ${r.baseline}`,
    ratio: undefined,
    target: 'peak RSS of each process < 256 MiB (flat in the size)',
    pass: v.sendRss < bound && v.saveRss < bound && v.relayRss < bound,
  };
}

async function filesRow(opt, size, withWormhole) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-files-'));
  const relay = await startServer(NODE, [path.join(ROOT, 'bin/hush-relay.js'), '--data', path.join(tmp, 'relay'), ...BENCH_RELAY_FLAGS]);
  try {
    const env = { ...process.env, HUSH_PASSPHRASE: 'correct horse battery staple bench', HUSH_KDF_PARAMS: 'm=8192,t=1,p=1', HUSH_RELAY: relay.url, NO_COLOR: '1' };
    delete env.HUSH_HOME;
    const home = (n) => path.join(tmp, n);
    for (const who of ['alice', 'bob']) {
      await timed(env, home(who), ['init', '--name', who]);
      await timed(env, home(who), ['register']);
    }
    // Written in 16 MiB pieces (a 1 GiB file is never whole in this process either).
    const src = path.join(tmp, 'file.bin');
    const piece = 16 * 1024 * 1024;
    const hashIn = createHash('sha256');
    let aeadMs = 0;
    for (let off = 0; off < size; off += piece) {
      const part = randomBytes(Math.min(piece, size - off));
      hashIn.update(part);
      aeadMs += (part.length / MB / aeadMBps(part)) * 1000;
      appendFileSync(src, part);
    }
    const srcSha = hashIn.digest('hex');
    const aead = mbps(size, aeadMs);
    const t0 = now();
    await run('cp', [src, path.join(tmp, 'copy.bin')]);
    const cpMs = now() - t0;
    rmSync(path.join(tmp, 'copy.bin'));

    const sent = await timed(env, home('alice'), ['send', 'bob', '--file', src, '--json']);
    const id = /"event":"file-sent".*?"id":"([0-9a-f]+)"/.exec(sent.stdout)?.[1];
    await timed(env, home('bob'), ['pull']);
    const saved = await timed(env, home('bob'), ['save', id, '-o', path.join(tmp, 'saved.bin')]);
    const relayRss = hwm(relay.child.pid);
    if ((await sha256File(path.join(tmp, 'saved.bin'))) !== srcSha) throw new Error('the saved file differs');
    rmSync(path.join(tmp, 'saved.bin'));
    const seq = mbps(size, sent.ms + saved.ms);
    // The same file again, sender and receiver at once (as wormhole's two ends run).
    let streamed;
    if (withWormhole) {
      const inbox = path.join(tmp, 'inbox');
      mkdirSync(inbox);
      streamed = await streamedMs(env, home, src, inbox);
      if ((await sha256File(streamed.savedPath)) !== srcSha) throw new Error('the file saved while streaming differs');
      rmSync(inbox, { recursive: true, force: true });
    }
    const ours = streamed ? mbps(size, streamed.ms) : seq;
    let wh = withWormhole ? undefined : 'not run in this row';
    try {
      if (withWormhole) wh = await wormholeMs(src, tmp);
    } catch (e) {
      wh = String(e.message ?? e);
    }
    const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
    const one = `send ${mbps(size, sent.ms).toFixed(1)} MB/s + save ${mbps(size, saved.ms).toFixed(1)} MB/s`;
    const how = streamed ? `send and listen --auto-save at once; one after the other ${seq.toFixed(1)} MB/s (${one})` : one;
    const detail = `${how}; peak RSS sender ${mib(sent.rss)}, receiver ${mib(saved.rss)}, relay ${mib(relayRss)}`;
    const baseText = `${typeof wh === 'number' ? `wormhole send + receive ${mbps(size, wh).toFixed(1)} MB/s` : `wormhole: ${wh ?? 'not installed'}`}; raw AEAD ${aead.toFixed(0)} MB/s; cp ${mbps(size, cpMs).toFixed(0)} MB/s`;
    const ratio = typeof wh === 'number' ? ours / mbps(size, wh) : undefined;
    return {
      baseline: baseText,
      ours: `${ours.toFixed(1)} MB/s end to end (${mib(size)}: ${detail})`,
      ...(ratio === undefined ? {} : { ratio }),
      // RSS: the bound of the 1 GiB row (a bare `hush --help` peaks at ~50 MiB, so "under the file size" could never hold at 100 MiB).
      target: '> wormhole; peak RSS of each process < 256 MiB (flat)',
      pass: (ratio === undefined || ratio > 1) && sent.rss < RSS_BOUND && saved.rss < RSS_BOUND && relayRss < RSS_BOUND,
      values: { size, sendMs: sent.ms, saveMs: saved.ms, streamedMs: streamed?.ms, sendRss: sent.rss, saveRss: saved.rss, relayRss, aead, cpMs, wormholeMs: wh },
    };
  } finally {
    await stopChild(relay.child);
    rmSync(tmp, { recursive: true, force: true });
  }
}
