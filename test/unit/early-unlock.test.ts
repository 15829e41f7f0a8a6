/**
 * src/cli/early-unlock.ts with a real keyring in a temp home (in-process): when the key
 * derivation starts before a command's modules load, and that unlockHome takes its result for
 * the same home only, once. The CLI side (the same errors after the same earlier checks) is in
 * test/cli/passphrase-tty.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropEarlyUnlock, startEarlyUnlock } from '../../src/cli/early-unlock.js';
import { unlockHome } from '../../src/cli/common.js';
import { createOutput } from '../../src/cli/output.js';
import type { CommandContext, GlobalOptions } from '../../src/cli/commands/index.js';
import { createKeyring } from '../../src/store/keyring-store.js';
import { hushPaths } from '../../src/store/paths.js';

const KDF = 'm=8192,t=1,p=1';
const PASS = 'a much longer phrase';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function home(): Promise<string> {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hush-early-'));
  dirs.push(d);
  await createKeyring(hushPaths(d), { name: 'early', passphrase: new TextEncoder().encode(PASS), env: { HUSH_KDF_PARAMS: KDF } });
  return d;
}

const global = (o: Partial<GlobalOptions> = {}): GlobalOptions => ({ json: false, color: false, ...o });
const ctxOf = (g: GlobalOptions, env: NodeJS.ProcessEnv): CommandContext => ({ global: g, out: createOutput({ json: false, color: false, env }), env });

describe('early unlock', () => {
  it('starts only for a passphrase that needs no prompt and no descriptor: HUSH_PASSPHRASE or --passphrase-file', async () => {
    const h = await home();
    const file = path.join(h, 'pass');
    writeFileSync(file, `${PASS}\n`);
    expect(startEarlyUnlock(global({ home: h }), {})).toBeUndefined(); // a prompt, or the keychain
    expect(startEarlyUnlock(global({ home: h, passphraseFd: 3 }), { HUSH_PASSPHRASE: PASS })).toBeUndefined();
    for (const [g, env] of [
      [global({ home: h }), { HUSH_PASSPHRASE: PASS }],
      [global({ home: h, passphraseFile: file }), {}],
    ] as const) {
      const e = startEarlyUnlock(g, env)!;
      expect(e.home).toBe(path.resolve(h));
      expect((await e.result).file.name).toBe('early');
      expect(e.settled).toBe(true);
      dropEarlyUnlock(e);
    }
  });

  it('unlockHome takes it once, for the same home; another home unlocks as before', async () => {
    const a = await home();
    const b = await home();
    const env = { HUSH_PASSPHRASE: PASS };
    const ctx = ctxOf(global({ home: a }), env);
    const e = startEarlyUnlock(ctx.global, env)!;
    ctx.early = e;
    const other = await unlockHome(ctx, hushPaths(path.resolve(b)));
    expect(e.taken).toBe(false);
    const mine = await unlockHome(ctx, hushPaths(path.resolve(a)));
    expect(e.taken).toBe(true);
    expect(mine.unlocked).toBe(await e.result);
    expect(Buffer.from(other.unlocked.identity.signPk).equals(Buffer.from(mine.unlocked.identity.signPk))).toBe(false);
    const again = await unlockHome(ctx, hushPaths(path.resolve(a)));
    expect(again.unlocked).not.toBe(mine.unlocked); // a second unlock derives again
  });

  it('an error waits for unlockHome (never unhandled); a result nobody took is wiped', async () => {
    const h = await home();
    const wrong = startEarlyUnlock(global({ home: h }), { HUSH_PASSPHRASE: 'not it' })!;
    await expect(wrong.result).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    const ctx = ctxOf(global({ home: h }), { HUSH_PASSPHRASE: 'not it' });
    ctx.early = wrong;
    await expect(unlockHome(ctx)).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    const unused = startEarlyUnlock(global({ home: h }), { HUSH_PASSPHRASE: PASS })!;
    const u = await unused.result;
    dropEarlyUnlock(unused);
    await new Promise((r) => setImmediate(r));
    expect(u.dataKey.every((x) => x === 0)).toBe(true);
    expect(u.identity.signSk.every((x) => x === 0)).toBe(true);
  });
});
