// init --force replaces an identity without losing the old one: the old keyring is kept beside
// the new one (and still opens with the old passphrase), and the old local store, which only
// the old keyring can open, is set aside so the new identity starts with a fresh store.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hush, jsonLines, makeHome } from './helpers.js';

describe('init --force', () => {
  it('keeps the old keyring and sets the old store aside', async () => {
    const home = await makeHome();
    const env = { HUSH_PASSPHRASE: 'old-pass' };
    expect((await hush(['init', '--name', 'alice'], { home, env })).exitCode).toBe(0);
    const oldWho = jsonLines((await hush(['whoami', '--json'], { home })).stdout)[0]!;
    // Any store the old identity had (contents do not matter: it is moved, never read).
    await fsp.writeFile(path.join(home, 'hush.db'), 'old store', { mode: 0o600 });
    await fsp.writeFile(path.join(home, 'hush.db-wal'), 'old wal', { mode: 0o600 });

    const r = await hush(['init', '--name', 'alice', '--force'], { home, env: { HUSH_PASSPHRASE: 'new-pass' } });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/previous identity's file was kept as .*keyring\.json\.replaced-\d+/);

    const files = await fsp.readdir(home);
    const oldKeyring = files.find((f) => /^keyring\.json\.replaced-\d+$/.test(f));
    const oldDb = files.find((f) => /^hush\.db\.replaced-\d+$/.test(f));
    expect(oldKeyring).toBeDefined();
    expect(oldDb).toBeDefined();
    expect(files).toContain(`${oldDb}-wal`);
    expect(files).not.toContain('hush.db');
    expect((await fsp.stat(path.join(home, oldKeyring!))).mode & 0o777).toBe(0o600);
    expect(await fsp.readFile(path.join(home, oldDb!), 'utf8')).toBe('old store');

    // The new identity is a different key; the kept keyring is the old one and still opens.
    const newWho = jsonLines((await hush(['whoami', '--json'], { home })).stdout)[0]!;
    expect(newWho.signPk).not.toBe(oldWho.signPk);
    const restored = await makeHome();
    await fsp.copyFile(path.join(home, oldKeyring!), path.join(restored, 'keyring.json'));
    await fsp.chmod(path.join(restored, 'keyring.json'), 0o600);
    const back = jsonLines((await hush(['whoami', '--json'], { home: restored })).stdout)[0]!;
    expect(back.signPk).toBe(oldWho.signPk);
    expect((await hush(['unlock'], { home: restored, env })).exitCode).toBe(0);
  });
});
