// Row redis (--only redis): durable sends per second through 1, 2 and 3 relay processes sharing
// one Redis (AOF, appendfsync always), next to the SQLite relay and the bare ws forwarder in the
// same run, and send -> push latency across two relays. With N relays, pair k's sender is on
// relay k mod N and its recipient on relay k+1 mod N, so every push crosses processes when N > 1.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BENCH_RELAY_FLAGS, fmtMs, fmtRate, percentile, ROOT, startServer, stopChild } from './lib.mjs';
import { closeAll, hushConnect, hushRegister, hushToken, load, makeFrames, paced, pump, startForwarder } from './relay.mjs';

const PAIRS = 10;

async function startRedis() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-redis-'));
  const port = await new Promise((res, rej) => {
    const srv = createServer().once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => res(p));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const killIt = () => child.kill('SIGKILL'); // a row that times out still leaves no redis-server behind
  process.once('exit', killIt);
  await new Promise((resolve, reject) => {
    let log = '';
    child.stdout.on('data', (d) => {
      log += d;
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: async () => {
      process.off('exit', killIt);
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `n` relay processes: on the Redis at `redisUrl`, or (n = 1, no url) one on SQLite. */
async function startRelays(n, redisUrl) {
  const dirs = [];
  const relays = [];
  for (let i = 0; i < n; i++) {
    let store;
    if (redisUrl) store = ['--store', redisUrl];
    else {
      const d = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-relay-'));
      dirs.push(d);
      store = ['--data', d];
    }
    relays.push(await startServer(process.execPath, [path.join(ROOT, 'bin/hush-relay.js'), ...store, ...BENCH_RELAY_FLAGS]));
  }
  return {
    urls: relays.map((r) => r.url),
    stop: async () => {
      await Promise.all(relays.map((r) => stopChild(r.child)));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

async function pairsOn(urls, perPair) {
  const { nacl, identity } = await load();
  const pairs = [];
  for (let k = 0; k < PAIRS; k++) {
    const a = identity.generateIdentity(nacl.randomBytes);
    const b = identity.generateIdentity(nacl.randomBytes);
    const recv = await hushConnect(urls[(k + 1) % urls.length], b);
    await hushRegister(recv, b, `bench-${k}-${Date.now()}`);
    // With a delivery token, as contacts send (identified sends would meet the stranger quota).
    const { frames, envLen } = await makeFrames(perPair, b.signPk, await hushToken(recv));
    const send = await hushConnect(urls[k % urls.length], a);
    pairs.push({ send, recv, frames, envLen });
  }
  return pairs;
}

async function rateOn(n, redisUrl, perPair) {
  const relays = await startRelays(n, redisUrl);
  try {
    const pairs = await pairsOn(relays.urls, perPair);
    const rate = await pump(pairs, 64);
    closeAll(pairs);
    return rate;
  } finally {
    await relays.stop();
  }
}

export async function redisRow(opt) {
  if (spawnSync('redis-server', ['--version']).error) return { baseline: '—', ours: '—', target: '—', pass: false, skipped: 'skipped: no redis-server' };
  const perPair = opt.quick ? 300 : 1000;
  const fwd = await startForwarder();
  let base;
  try {
    const pairs = [];
    const { nacl, identity } = await load();
    for (let k = 0; k < PAIRS; k++) {
      const b = identity.generateIdentity(nacl.randomBytes);
      const { frames } = await makeFrames(perPair, b.signPk, 'x'); // the forwarder reads no token
      const WebSocket = (await import('ws')).default;
      const open = (u) =>
        new Promise((res, rej) => {
          const ws = new WebSocket(u, { perMessageDeflate: false });
          ws.once('error', rej);
          ws.once('message', () => res(ws));
        });
      const recv = await open(`${fwd.url}/recv/${k}`);
      const send = await open(`${fwd.url}/send/${k}`);
      pairs.push({ send, recv, frames });
    }
    base = await pump(pairs, 64);
    closeAll(pairs);
  } finally {
    await fwd.stop();
  }
  const sqlite = await rateOn(1, undefined, perPair);
  const redis = await startRedis();
  const rates = [];
  let lat;
  try {
    for (const n of [1, 2, 3]) rates.push(await rateOn(n, redis.url, perPair));
    const relays = await startRelays(2, redis.url);
    try {
      // 20 msg/s per pair (200/s in all): below what one relay sustains here, so this is latency, not queueing.
      const pairs = await pairsOn(relays.urls, (opt.quick ? 2 : 6) * 20 + 10);
      const xs = await paced(pairs, 50, opt.quick ? 1 : 5, 0.5);
      closeAll(pairs);
      lat = { p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length };
    } finally {
      await relays.stop();
    }
  } finally {
    await redis.stop();
  }
  const ratio = rates[0] / sqlite;
  return {
    baseline: `${fmtRate(base)} bare ws forwarder; ${fmtRate(sqlite)} SQLite relay`,
    ours: `Redis (AOF always): 1 relay ${fmtRate(rates[0])}, 2 relays ${fmtRate(rates[1])}, 3 relays ${fmtRate(rates[2])}; send → push across 2 relays (10 × 20 msg/s) p50 ${fmtMs(lat.p50)}, p99 ${fmtMs(lat.p99)} (n=${lat.n})`,
    ratio,
    pass: ratio >= 0.5,
    target: '1 Redis relay ≥ 0.5x SQLite',
    values: { base, sqlite, rates, lat },
  };
}
