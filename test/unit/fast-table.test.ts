/**
 * bin/hush.js's fast path (src/cli/fast-path.cts) reads argv from a generated copy of the
 * command table (src/cli/fast-table.cts) and carries its own copy of the client environment
 * keys, so that it loads no ESM module: both must match their sources, and it must read argv
 * as commander does (the daemon tests check the request against main.ts's, through the binary).
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { GLOBAL_OPTIONS } from '../../src/cli/global-options.js';
import { fastTableOf } from '../../src/cli/fast-table-of.js';
import { FAST_TABLE } from '../../src/cli/fast-table.cjs';
import { FAST_CLIENT_ENV_KEYS, parseFast } from '../../src/cli/fast-path.cjs';
import { CLIENT_ENV_KEYS, DAEMON_COMMANDS } from '../../src/daemon/rpc.js';

describe('the fast path of bin/hush.js', () => {
  it('reads the command table as it is (else: npm run build && node scripts/gen-fast-table.mjs)', () => {
    expect(FAST_TABLE).toEqual(fastTableOf(COMMANDS, GLOBAL_OPTIONS, DAEMON_COMMANDS));
    expect(Object.keys(FAST_TABLE.commands).sort()).toEqual([...DAEMON_COMMANDS].sort());
    expect(FAST_CLIENT_ENV_KEYS).toEqual(CLIENT_ENV_KEYS);
  });

  it('takes only what it reads exactly as commander would', () => {
    const env = { HUSH_HOME: '/h' };
    const argv = (...a: string[]): string[] => ['node', 'hush', ...a];
    expect(parseFast(argv('--json', 'history', 'bob', '--limit=5', '--no-read-receipts'), env)).toEqual({
      home: '/h',
      command: 'history',
      args: { name: 'bob' },
      opts: { limit: '5', readReceipts: false },
      global: { json: true, color: true, relay: undefined, relayTimeout: undefined, tokenLifetime: undefined },
    });
    expect(parseFast(argv('send', 'bob', 'hi', 'there', '--home', '/x'), {})).toMatchObject({ home: '/x', args: { name: 'bob', text: ['hi', 'there'] }, opts: {} });
    expect(parseFast(argv('pull'), env)).toMatchObject({ opts: { readReceipts: true, deliveryReceipts: true } });
    // Left to the normal CLI: stdin, a parsed option, a short option, --, help, no daemon, no home, extra or missing arguments.
    for (const a of [
      ['send', 'bob'],
      ['send', 'bob', '--file', 'x'],
      ['send', 'bob', 'hi', '-j'],
      ['send', 'bob', '--', 'hi'],
      ['history', '--help'],
      ['send', 'bob', 'hi', '--no-daemon'],
      ['send', 'bob', 'hi', '--passphrase-fd', '3'],
      ['verify'],
      ['verify', 'bob', 'carol'],
      ['history', '--limit'],
      ['init'],
      ['lock'],
    ])
      expect(parseFast(argv(...a), env), a.join(' ')).toBeUndefined();
    expect(parseFast(argv('send', 'bob', 'hi'), { ...env, HUSH_NO_DAEMON: '1' })).toBeUndefined();
    expect(parseFast(argv('send', 'bob', 'hi'), {})).toBeUndefined();
  });
});
