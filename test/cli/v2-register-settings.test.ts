/**
 * `hush register` with a bad signed-prekey setting (--prekey-rotation, config
 * signedPrekeyRotation or signedPrekeyGrace) exits 2 with BAD_PREKEY_ROTATION / BAD_PREKEY_GRACE
 * before anything is sent, like its other usage errors: nothing registered on the relay (before,
 * the check ran after the bundle was published, leaving the name taken and no prekeys).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, type RelayProc, startRelayProcess } from '../integration/helpers.js';
import { makeHome } from './helpers.js';
import { type TestUser, userIn } from './messaging-helpers.js';
import { withRelayDb } from './v2-helpers.js';

let relay: RelayProc;

beforeAll(async () => {
  relay = await startRelayProcess();
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  cleanupTmp();
});

async function fresh(name: string): Promise<TestUser> {
  const u = userIn(name, await makeHome(`hush-reg-${name}-`));
  expect((await u.run(['init', '--name', name])).exitCode).toBe(0);
  return u;
}

const registered = (name: string): boolean => withRelayDb(relay, (db) => db.prepare('SELECT 1 FROM directory WHERE name = ?').get(name) !== undefined);

describe('hush register with a bad signed-prekey setting', () => {
  it('--prekey-rotation 0s: exit 2 and nothing registered on the relay', async () => {
    const u = await fresh('zed');
    const r = await u.run(['register', '--relay', relay.url, '--prekey-rotation', '0s']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("hush: error: the signed prekey rotation must be a duration from 1s to 365d, not '0s'\nhush: hint: e.g. --prekey-rotation 7d\n");
    expect(registered('zed')).toBe(false);
  });

  it('config signedPrekeyGrace "soon": exit 2 and nothing registered on the relay', async () => {
    const u = await fresh('yve');
    fs.writeFileSync(path.join(u.home, 'config.json'), JSON.stringify({ v: 1, signedPrekeyGrace: 'soon' }), { mode: 0o600 });
    const r = await u.run(['register', '--relay', relay.url]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^hush: error: the signed prekey grace period must be a duration from 1s to 365d, not 'soon'\n/);
    expect(registered('yve')).toBe(false);
  });
});
