/**
 * atomicWriteFile (src/store/fsutil.ts) sweeps the temp files a writer killed mid-write left
 * behind (its pid is in the name and no longer runs), and leaves a live writer's alone. Found by
 * the hostile suite: `hush init` killed -9 between creating its temp file and the rename.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { atomicWriteFile } from '../../src/store/fsutil.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it("removes a dead writer's temp file of the same file, keeps a live one and other files' temps", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hush-atomic-'));
  dirs.push(dir);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout; // exited
  const stale = `.keyring.json.${dead}.0011223344556677.tmp`;
  const live = `.keyring.json.${process.pid}.8899aabbccddeeff.tmp`;
  const other = `.config.json.${dead}.0011223344556677.tmp`;
  for (const f of [stale, live, other]) writeFileSync(path.join(dir, f), 'half written');
  await atomicWriteFile(path.join(dir, 'keyring.json'), '{"ok":true}');
  expect(readFileSync(path.join(dir, 'keyring.json'), 'utf8')).toBe('{"ok":true}');
  expect(readdirSync(dir).sort()).toEqual([other, live, 'keyring.json'].sort());
});
