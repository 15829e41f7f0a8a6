/**
 * The store helpers under the CLI, tested on a real file system: atomic writes, config.json
 * round trips that keep unknown fields, HUSH_KDF_PARAMS parsing, passphrase newline stripping.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isHushError } from '../../src/errors.js';
import { parseConfig, readConfig, resolveRelay, updateConfig, writeConfig } from '../../src/store/config.js';
import { atomicWriteFile } from '../../src/store/fsutil.js';
import { parseKdfOverride } from '../../src/store/kdf.js';
import { stripOneNewline } from '../../src/store/passphrase.js';
import { ensureHome, hushPaths, resolveHome } from '../../src/store/paths.js';
import { makeHome } from './helpers.js';

const isPosix = process.platform !== 'win32';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isHushError(e) ? e.code : `not a HushError: ${String(e)}`;
  }
  return undefined;
}

describe('atomicWriteFile', () => {
  it('writes mode 0600 by default, replaces the old content, leaves no temp file', async () => {
    const dir = await makeHome();
    const f = path.join(dir, 'a.json');
    await atomicWriteFile(f, 'one');
    await atomicWriteFile(f, new TextEncoder().encode('two'));
    expect(await fsp.readFile(f, 'utf8')).toBe('two');
    if (isPosix) expect((await fsp.stat(f)).mode & 0o777).toBe(0o600);
    await atomicWriteFile(path.join(dir, 'b'), 'x', 0o644);
    if (isPosix) expect((await fsp.stat(path.join(dir, 'b'))).mode & 0o777).toBe(0o644);
    expect((await fsp.readdir(dir)).sort()).toEqual(['a.json', 'b']);
  });

  it('a failed write leaves the old file intact and removes its temp file', async () => {
    const dir = await makeHome();
    const f = path.join(dir, 'target');
    await atomicWriteFile(f, 'old');
    // rename onto a non-empty directory fails after the temp file was written
    const blocked = path.join(dir, 'blocked');
    await fsp.mkdir(path.join(blocked, 'inside'), { recursive: true });
    await expect(atomicWriteFile(blocked, 'new')).rejects.toSatisfy((e: unknown) => isHushError(e));
    expect(await fsp.readFile(f, 'utf8')).toBe('old');
    expect((await fsp.readdir(dir)).sort()).toEqual(['blocked', 'target']);
  });

  it('a missing parent directory is a usage error naming the path', async () => {
    const dir = await makeHome();
    await fsp.writeFile(path.join(dir, 'file'), '');
    const err = await atomicWriteFile(path.join(dir, 'file', 'x'), 'y').catch((e: unknown) => e);
    // A file where a directory should be is named in words (exit 2), not as "enotdir".
    expect(isHushError(err) && err.code).toBe('NOT_A_DIRECTORY');
    expect(isHushError(err) && err.exitCode).toBe(2);
    expect((err as Error).message).toBe(`cannot write ${path.join(dir, 'file', 'x')}: ${path.join(dir, 'file')} is a file, not a directory`);
  });
});

describe('config.json', () => {
  it('is {v:1} when missing, round-trips, and keeps unknown fields', async () => {
    const home = await makeHome();
    const paths = hushPaths(home);
    expect(await readConfig(paths)).toEqual({ v: 1, extra: {} });
    await fsp.writeFile(paths.config, JSON.stringify({ v: 1, future: { x: [1, 2] }, relay: 'ws://a:1' }));
    const next = await updateConfig(paths, (c) => ({ ...c, readReceipts: true }));
    expect(next.relay).toBe('ws://a:1');
    const onDisk = JSON.parse(await fsp.readFile(paths.config, 'utf8')) as Record<string, unknown>;
    expect(onDisk).toEqual({ v: 1, future: { x: [1, 2] }, relay: 'ws://a:1', readReceipts: true });
    if (isPosix) expect((await fsp.stat(paths.config)).mode & 0o777).toBe(0o600);
    await writeConfig(paths, { v: 1, extra: {} });
    expect(JSON.parse(await fsp.readFile(paths.config, 'utf8'))).toEqual({ v: 1 });
  });

  it('refuses bad versions and shapes with data errors', () => {
    expect(codeOf(() => parseConfig('{"v":2}'))).toBe('UNSUPPORTED_VERSION');
    // A missing or non-numeric version is a damaged file, not one from a newer hush.
    expect(codeOf(() => parseConfig('{"V":1}'))).toBe('CONFIG_CORRUPT');
    expect(codeOf(() => parseConfig('{"v":"1"}'))).toBe('CONFIG_CORRUPT');
    expect(codeOf(() => parseConfig('{"v":1,"relay":5}'))).toBe('CONFIG_CORRUPT');
    expect(codeOf(() => parseConfig('{"v":1,"readReceipts":"yes"}'))).toBe('CONFIG_CORRUPT');
    expect(codeOf(() => parseConfig('nope'))).toBe('CONFIG_CORRUPT');
    expect(codeOf(() => parseConfig('{"v":1,"maxGroupMembers":"ten"}'))).toBe('CONFIG_CORRUPT'); // the range is checked where it is used (BAD_MAX_MEMBERS)
    expect(parseConfig('{"v":1,"maxGroupMembers":1}').maxGroupMembers).toBe(1);
  });

  it('resolveRelay: flag, then HUSH_RELAY, then config; URLs validated', () => {
    const cfg = { v: 1 as const, relay: 'ws://config:1', extra: {} };
    expect(resolveRelay('wss://flag', { HUSH_RELAY: 'ws://env:2' }, cfg)).toEqual({ url: 'wss://flag', source: 'flag' });
    expect(resolveRelay(undefined, { HUSH_RELAY: 'ws://env:2' }, cfg)).toEqual({ url: 'ws://env:2', source: 'env' });
    expect(resolveRelay(undefined, {}, cfg)).toEqual({ url: 'ws://config:1', source: 'config' });
    expect(resolveRelay(undefined, {}, { v: 1, extra: {} })).toBeUndefined();
    expect(codeOf(() => resolveRelay('http://x', {}, cfg))).toBe('BAD_RELAY_URL');
  });
});

describe('paths', () => {
  it('--home beats HUSH_HOME; ensureHome creates 0700 and warns about an open home', async () => {
    expect(resolveHome('/a', { HUSH_HOME: '/b' })).toBe(path.resolve('/a'));
    expect(resolveHome(undefined, { HUSH_HOME: '/b' })).toBe(path.resolve('/b'));
    expect(path.isAbsolute(resolveHome(undefined, {}))).toBe(true);
    const parent = await makeHome();
    const home = path.join(parent, 'h');
    const { paths, warnings } = await ensureHome(home);
    expect(paths.keyring).toBe(path.join(home, 'keyring.json'));
    expect(warnings).toEqual([]);
    if (isPosix) {
      expect((await fsp.stat(home)).mode & 0o777).toBe(0o700);
      await fsp.chmod(home, 0o750);
      expect((await ensureHome(home)).warnings[0]).toContain('chmod 700');
    }
  });
});

describe('HUSH_KDF_PARAMS and passphrase bytes', () => {
  it('parses overrides within [floor, ceiling] and refuses the rest', () => {
    expect(parseKdfOverride(undefined)).toEqual({ m: 65536, t: 3, p: 1 });
    expect(parseKdfOverride('m=8192,t=1,p=1')).toEqual({ m: 8192, t: 1, p: 1 });
    expect(parseKdfOverride(' t = 2 ')).toEqual({ m: 65536, t: 2, p: 1 });
    for (const bad of ['m=8191', 'm=1048577', 't=0', 't=17', 'p=0', 'p=17', 'q=1', 'm=', 'm=1e5', 'm=8192;t=1']) {
      expect(
        codeOf(() => parseKdfOverride(bad)),
        bad,
      ).toBe('KDF_PARAMS_INVALID');
    }
  });

  it('strips exactly one trailing LF or CRLF', () => {
    const s = (t: string): string => new TextDecoder().decode(stripOneNewline(new TextEncoder().encode(t)));
    expect(s('pw\n')).toBe('pw');
    expect(s('pw\r\n')).toBe('pw');
    expect(s('pw\n\n')).toBe('pw\n');
    expect(s('pw\r')).toBe('pw\r');
    expect(s('pw')).toBe('pw');
    expect(s('\n')).toBe('');
  });
});
