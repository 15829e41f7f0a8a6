/**
 * A large file through the real CLI and relay with memory flat in its size (issue #15): the
 * peak RSS of `hush send --file` and of `hush save` (process.resourceUsage().maxRSS, written at
 * exit by a --require preload) must stay below 7/8 of the file's size, which a program holding
 * the file in memory (or its sealed copy) cannot do. 192 MiB here, to keep the suite bearable; the
 * bench (`--only files`) runs 100 MiB against wormhole, and 1 GiB runs the same code.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { hush, makeHome } from './helpers.js';
import { ENV, jsonOf, newUser, type TestUser } from './messaging-helpers.js';

const SIZE = 192 * 1024 * 1024;
/**
 * The bound: 168 MiB. Measured (Node 20): a send's peak RSS is ~71 MiB for a 1 MiB file and levels
 * off at ~125-140 MiB from 32 MiB on (garbage the GC has not yet returned: 139 MiB sending and
 * 132 MiB saving 160 MiB), flat in the size; holding the 192 MiB file (or its sealed copy) would
 * need more than 192 MiB plus that ~70 MiB baseline.
 */
const BOUND = 168 * 1024 * 1024;
let relay: RelayProc;
let alice: TestUser;
let bob: TestUser;
let dir: string;
let preload: string;

beforeAll(async () => {
  relay = await startRelayProcess();
  [alice, bob] = await Promise.all([newUser('alice', relay.url), newUser('bob', relay.url)]);
  dir = await makeHome('hush-files-large-');
  preload = path.join(dir, 'max-rss.cjs');
  await fsp.writeFile(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.MAXRSS_FILE, String(process.resourceUsage().maxRSS * 1024)));\n");
});

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

describe('a large file', () => {
  it('goes through with the peak RSS of sender and receiver below 7/8 of the file size', { timeout: 300_000 }, async () => {
    // A sparse-looking but non-repeating file, written in pieces (the test itself stays small).
    const src = path.join(dir, 'big.bin');
    const fh = await fsp.open(src, 'w');
    const piece = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < SIZE / piece.length; i++) {
      piece.writeUInt32BE(i, 0);
      piece.writeUInt32BE(Math.imul(i, 2654435761) >>> 0, 4096);
      await fh.write(piece);
    }
    await fh.close();
    const rssFile = path.join(dir, 'rss');
    const nodeArgs = ['--require', preload];
    const sent = await hush(['send', 'bob', '--file', src, '--json'], { home: alice.home, env: { ...ENV, MAXRSS_FILE: rssFile }, nodeArgs });
    expect(sent.exitCode).toBe(0);
    const sendRss = Number(await fsp.readFile(rssFile, 'utf8'));
    const id = String(jsonOf(sent.stdout).find((e) => e.event === 'file-sent')!.id);
    expect((await bob.run(['pull'])).exitCode).toBe(0);
    const out = path.join(dir, 'out.bin');
    const saved = await hush(['save', id, '-o', out], { home: bob.home, env: { ...ENV, MAXRSS_FILE: rssFile }, nodeArgs });
    expect(saved.exitCode).toBe(0);
    const saveRss = Number(await fsp.readFile(rssFile, 'utf8'));
    expect(await sha256File(out)).toBe(await sha256File(src));
    process.stderr.write(`files-large: ${SIZE / 1048576} MiB, peak RSS send ${(sendRss / 1048576).toFixed(0)} MiB, save ${(saveRss / 1048576).toFixed(0)} MiB\n`);
    expect(sendRss).toBeGreaterThan(0);
    expect(sendRss).toBeLessThan(BOUND);
    expect(saveRss).toBeLessThan(BOUND);
  });
});
