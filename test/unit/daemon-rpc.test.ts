/**
 * The daemon's wire format (src/daemon/rpc.ts, docs/RPC.md) in-process: what each malformed
 * line is answered with, the mapping of hush errors to -32000 - exit code and back, and the
 * keychain entry's lifetime (src/store/keychain.ts). The real socket is test/cli/daemon.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RelayError, UsageError } from '../../src/errors.js';
import { appCode, errorObject, exitCodeOf, onlyKeys, parseRequestLine, RpcCode, RpcError, str, strList } from '../../src/daemon/rpc.js';
import { decodeKeychainEntry, encodeKeychainEntry } from '../../src/store/keychain.js';

const code = (line: string): number | undefined => {
  const p = parseRequestLine(line);
  return p.ok ? undefined : p.response.error!.code;
};

describe('parseRequestLine', () => {
  it('takes a request and a notification, with or without params', () => {
    expect(parseRequestLine('{"jsonrpc":"2.0","id":1,"method":"whoami"}')).toEqual({ ok: true, request: { jsonrpc: '2.0', id: 1, method: 'whoami', params: {} } });
    const n = parseRequestLine('{"jsonrpc":"2.0","method":"cli.stdin","params":{"request":1,"end":true}}');
    expect(n).toEqual({ ok: true, request: { jsonrpc: '2.0', method: 'cli.stdin', params: { request: 1, end: true } } });
    expect(n.ok && 'id' in n.request).toBe(false);
    expect(parseRequestLine('{"jsonrpc":"2.0","id":null,"method":"x"}')).toMatchObject({ ok: true, request: { id: null } });
  });

  it('answers each malformed line with its standard code, keeping the id when it is usable', () => {
    expect(code('{nope')).toBe(RpcCode.parseError);
    expect(code('')).toBe(RpcCode.parseError);
    for (const bad of ['[]', '[{"jsonrpc":"2.0","id":1,"method":"x"}]', '42', '"x"', 'null']) expect(code(bad)).toBe(RpcCode.invalidRequest);
    for (const bad of [
      '{"id":1,"method":"x"}',
      '{"jsonrpc":"1.0","id":1,"method":"x"}',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0","id":1,"method":""}',
      '{"jsonrpc":"2.0","id":1,"method":7}',
      '{"jsonrpc":"2.0","id":{},"method":"x"}',
      '{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}',
      '{"jsonrpc":"2.0","id":1,"method":"x","params":null}',
    ])
      expect(code(bad)).toBe(RpcCode.invalidRequest);
    const p = parseRequestLine('{"jsonrpc":"1.0","id":"abc","method":"x"}');
    expect(!p.ok && p.response.id).toBe('abc');
  });
});

describe('errors', () => {
  it('a hush error is -32000 - its exit code, with the stable code and hint, and maps back', () => {
    const u = errorObject(new UsageError('BAD_NAME', 'invalid name "B@D"', { hint: 'names are …' }));
    expect(u).toEqual({ code: -32002, message: 'invalid name "B@D"', data: { code: 'BAD_NAME', exitCode: 2, hint: 'names are …' } });
    expect(errorObject(new RelayError('RELAY_UNREACHABLE', 'down')).code).toBe(-32004);
    for (const e of [1, 2, 3, 4, 5, 6]) expect(exitCodeOf(appCode(e))).toBe(e);
    expect(exitCodeOf(RpcCode.invalidParams)).toBe(1);
    expect(errorObject(new Error('boom'))).toEqual({ code: RpcCode.internalError, message: 'internal error: boom' });
    expect(errorObject(new RpcError(RpcCode.invalidParams, 'invalid params: x')).code).toBe(-32602);
  });

  it('params: unknown keys and wrong types are -32602', () => {
    expect(() => onlyKeys({ to: 'bob', colour: 1 }, ['to', 'text'])).toThrow(/unknown parameter "colour"/);
    expect(() => str({}, 'to', true)).toThrow(/"to" is required/);
    expect(() => str({ to: 3 }, 'to')).toThrow(RpcError);
    expect(() => strList({ lines: ['a', 2] }, 'lines')).toThrow(/array of strings/);
    expect(strList({ lines: ['a'] }, 'lines')).toEqual(['a']);
  });
});

describe('keychain entry lifetime', () => {
  const key = new Uint8Array(32).fill(1);
  const salt = new Uint8Array(16).fill(2);
  it('v2 carries expires; a v1 entry reads as expired (0); a bad expires is refused', () => {
    const text = encodeKeychainEntry(key, salt, 1_796_628_600_000);
    expect(JSON.parse(text)).toEqual({ v: 2, key: Buffer.from(key).toString('base64'), salt: Buffer.from(salt).toString('base64'), expires: 1_796_628_600_000 });
    expect(decodeKeychainEntry(text).expires).toBe(1_796_628_600_000);
    const v1 = JSON.stringify({ v: 1, key: Buffer.from(key).toString('base64'), salt: Buffer.from(salt).toString('base64') });
    expect(decodeKeychainEntry(v1).expires).toBe(0);
    expect(() => decodeKeychainEntry(JSON.stringify({ ...JSON.parse(text), expires: 'soon' }))).toThrow();
    expect(() => decodeKeychainEntry(JSON.stringify({ ...JSON.parse(text), expires: undefined }))).toThrow();
    expect(() => decodeKeychainEntry(JSON.stringify({ ...JSON.parse(text), v: 3 }))).toThrow();
  });
});
