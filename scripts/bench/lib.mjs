// Shared helpers of the benchmark rows (scripts/bench/run.mjs). Never used by the test suite.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = path.join(ROOT, 'dist');
export const dist = (p) => import(path.join(DIST, p));

export const now = () => globalThis.performance.now();

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * Runs `fns` (name -> function) interleaved in `rounds` rounds of `iters` calls each, so that
 * the load of a shared machine falls on every contender alike; returns per-call medians (ms).
 */
export function interleaved(fns, { rounds, iters, warmup = iters }) {
  const names = Object.keys(fns);
  for (const n of names) for (let i = 0; i < warmup; i++) fns[n]();
  const per = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const n of names) {
      const f = fns[n];
      const t0 = now();
      for (let i = 0; i < iters; i++) f();
      per[n].push((now() - t0) / iters);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(per[n])]));
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Starts a long-running child and resolves with it and the first stdout line (a URL). The
 * child is killed when the bench exits.
 */
export function startServer(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    children.add(child);
    child.on('exit', () => children.delete(child));
    let err = '';
    child.stderr.on('data', (d) => {
      if (err.length < 4000) err += d;
    });
    const rl = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not start: ${err}`)), 30_000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      child.stdout.resume();
      resolve({ child, url: line.trim(), stderr: () => err });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}: ${err}`));
    });
  });
}

const children = new Set();
export function killChildren() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killChildren);

export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

/** Runs a command to completion; resolves { code, ms, stdout, stderr }. Never rejects on exit code. */
/** `maxOut`: stdout kept at most (characters); a pull of 10,000 prints ~1.2 MB. */
export function run(cmd, args, { input, env, cwd, stdout = 'pipe', maxOut = 1e6 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, stdio: ['pipe', stdout, 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      if (out.length < maxOut) out += d;
    });
    child.stderr.on('data', (d) => {
      if (err.length < 1e5) err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ms: now() - t0, stdout: out, stderr: err }));
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

export const fmtMs = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 100 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`);
export const fmtRate = (r) => `${Math.round(r).toLocaleString('en-US')} msg/s`;
export const fmtMB = (b) => `${(b / 1048576).toFixed(1)} MB`;

/** Relay flags of the bench: every rate and quota raised, so the rows measure work, not limits. */
export const BENCH_RELAY_FLAGS = [
  '--port',
  '0',
  '--rate-conn',
  '10000000',
  '--rate-identity',
  '10000000',
  '--frame-rate',
  '10000000',
  '--mailbox-count',
  '10000000',
  '--mailbox-bytes',
  '4096m',
  '--stranger-count',
  '10000000',
  '--stranger-bytes',
  '4096m',
];
