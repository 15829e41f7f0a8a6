/**
 * URL canonicalisation (docs/PROTOCOL.md §7.3) and the URLs a relay owns (relay/urls.ts), in
 * process. The real relay is exercised in test/integration/relay-urls.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { canonicalRelayUrl } from '../../src/protocol/frames.js';
import { listenError } from '../../relay/server.js';
import { relayUrls } from '../../relay/urls.js';
import { unmaskedOk } from '../../src/client/relay-client.js';

describe('canonicalRelayUrl', () => {
  it('lowercases scheme and host, drops the default or an empty port, writes a lone / as nothing', () => {
    const cases: [string, string][] = [
      ['ws://127.0.0.1:7070', 'ws://127.0.0.1:7070'],
      ['ws://127.0.0.1:7070/', 'ws://127.0.0.1:7070'],
      ['WS://LocalHost:80/', 'ws://localhost'],
      ['wss://Relay.Example.org:443', 'wss://relay.example.org'],
      ['wss://relay.example.org:80', 'wss://relay.example.org:80'],
      ['ws://relay.example.org:443', 'ws://relay.example.org:443'],
      ['ws://host:/', 'ws://host'],
      ['ws://[::1]:7070/', 'ws://[::1]:7070'],
      ['ws://[2001:DB8::1]', 'ws://[2001:db8::1]'],
      ['wss://h.example/Relay/', 'wss://h.example/Relay/'],
      ['wss://h.example/a%7E/b', 'wss://h.example/a%7E/b'],
      ['ws://my_host.lan:9/x', 'ws://my_host.lan:9/x'],
    ];
    for (const [input, canonical] of cases) expect(canonicalRelayUrl(input), input).toBe(canonical);
  });

  it('refuses user info, a query, a fragment, non-canonical hosts and ports, and unsafe paths', () => {
    const bad = [
      'http://h.example',
      'ws:/h.example',
      'ws://user@h.example',
      'ws://@h.example',
      'ws://h.example/?',
      'ws://h.example/?a=1',
      'ws://h.example#x',
      'ws://h.example/ x',
      'ws://h.example\\x',
      'ws://hé.example',
      'ws://127.1:7070',
      'ws://0x7f.0.0.1',
      'ws://1.2.3.256',
      'ws://[0:0:0:0:0:0:0:1]',
      'ws://[::ffff:127.0.0.1]',
      'ws://h.example:07070',
      'ws://h.example:65536',
      'ws://a..b',
      'ws://h.example/a/../b',
      'ws://h.example/./b',
      'ws://h.example/%2e%2E/b',
      'ws://h.example/a%zz',
      'ws://h.example/a"b',
      'ws://' + 'a'.repeat(2050),
    ];
    for (const u of bad) expect(() => canonicalRelayUrl(u), u).toThrow(expect.objectContaining({ code: 'BAD_URL' }));
  });
});

describe('relayUrls', () => {
  it('a loopback relay owns its three loopback spellings and announces the one it was given', () => {
    expect(relayUrls('127.0.0.1', 7070)).toEqual({ main: 'ws://127.0.0.1:7070', all: ['ws://127.0.0.1:7070', 'ws://localhost:7070', 'ws://[::1]:7070'] });
    expect(relayUrls('::1', 7070).main).toBe('ws://[::1]:7070');
    expect(relayUrls('::1', 7070).all).toHaveLength(3);
  });

  it('a relay on every interface announces 127.0.0.1, never 0.0.0.0, and warns naming --public-url', () => {
    for (const host of ['0.0.0.0', '::']) {
      const u = relayUrls(host, 7070);
      expect(u.main).toBe('ws://127.0.0.1:7070');
      expect(u.all.join(' ')).not.toMatch(/0\.0\.0\.0|\[::\]/);
      expect(u.warning).toMatch(/--public-url/);
    }
  });

  it('--public-url replaces the defaults, canonical and without duplicates; one other address owns itself', () => {
    expect(relayUrls('0.0.0.0', 7070, ['WSS://R.example/', 'ws://10.0.0.5:7070', 'wss://r.example'])).toEqual({
      main: 'wss://r.example',
      all: ['wss://r.example', 'ws://10.0.0.5:7070'],
    });
    expect(relayUrls('10.0.0.5', 7070)).toEqual({ main: 'ws://10.0.0.5:7070', all: ['ws://10.0.0.5:7070'] });
  });
});

describe('listenError', () => {
  it('turns listen() errno failures into one-line usage errors (exit 2) naming host and port', () => {
    const err = (code: string): Error => Object.assign(new Error(`listen ${code}`), { code });
    expect(listenError(err('EADDRINUSE'), '127.0.0.1', 7777)).toMatchObject({ code: 'RELAY_PORT_IN_USE', exitCode: 2, message: 'port 7777 on 127.0.0.1 is in use' });
    expect(listenError(err('EACCES'), '0.0.0.0', 80)).toMatchObject({
      code: 'RELAY_PORT_DENIED',
      exitCode: 2,
      message: 'port 80 on 0.0.0.0 needs privileges this process does not have',
    });
    expect(listenError(err('EADDRNOTAVAIL'), '192.0.2.1', 7070)).toMatchObject({ code: 'RELAY_BAD_HOST', exitCode: 2 });
    expect(listenError(err('ENOTFOUND'), 'nope.invalid', 7070)).toMatchObject({ code: 'RELAY_BAD_HOST', exitCode: 2 });
    const other = err('EMFILE');
    expect(listenError(other, '127.0.0.1', 7070)).toBe(other);
  });
});

describe('unmaskedOk: which connections send frames with a zero masking key', () => {
  it('wss: and loopback only; a plain ws: to another host keeps random masks', () => {
    for (const u of ['wss://relay.example.org', 'wss://10.0.0.1:7070/x', 'ws://127.0.0.1:7070', 'ws://127.8.9.10', 'ws://localhost:1', 'ws://[::1]:7070'])
      expect(unmaskedOk(u), u).toBe(true);
    for (const u of ['ws://relay.example.org', 'ws://10.0.0.1:7070', 'ws://128.0.0.1', 'ws://localhost.evil.example', 'ws://[::2]', 'not a url', 'ws://127.0.0.1.evil.example'])
      expect(unmaskedOk(u), u).toBe(false);
  });
});
