/**
 * src/daemon/light-socket.cts, the fast path's socket without node:net, against a real Unix
 * socket served by node:net in this process: bytes both ways in any cuts (a UTF-8 character
 * split across reads included), the daemon closing, a stale socket, and the fallback rules.
 * (test/cli/daemon.test.ts runs the real binary both ways.)
 */
import { closeSync, promises as fsp, openSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lightConnect, lightSupport, writeFdSync } from '../../src/daemon/light-socket.cjs';

let dir: string;
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'hush-light-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A server on a fresh socket path; `onConn` gets each connection. */
async function serve(name: string, onConn: (c: net.Socket) => void): Promise<{ file: string; close: () => void }> {
  const file = path.join(dir, name);
  const server = net.createServer(onConn);
  await new Promise<void>((r) => server.listen(file, r));
  return { file, close: () => server.close() };
}

describe('light socket', () => {
  const b = lightSupport({});
  it('this Node has the bindings (Node 20-24); HUSH_LIGHT_SOCKET=0 and pending deprecations refuse them', () => {
    expect(b).not.toBeNull();
    const fd = openSync(process.execPath, 'r'); // a file is no terminal
    try {
      expect(b?.isTTY(fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
    expect(lightSupport({ HUSH_LIGHT_SOCKET: '0' })).toBeNull();
    expect(lightSupport({ NODE_PENDING_DEPRECATION: '1' })).toBeNull();
    expect(lightSupport({ NODE_OPTIONS: '--max-old-space-size=100 --pending-deprecation' })).toBeNull();
  });

  it('carries a request out and the answer back in pieces, a split UTF-8 character included, then sees the close', async () => {
    const answer = Buffer.from('{"id":1,"text":"héllo ✓"}\n', 'utf8');
    const cut = answer.indexOf(0xe2) + 1; // inside the 3 bytes of ✓
    const got: string[] = [];
    const srv = await serve('echo.sock', (c) => {
      let req = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        req += d;
        if (!req.endsWith('\n')) return;
        got.push(req);
        c.write(answer.subarray(0, cut));
        setTimeout(() => c.end(answer.subarray(cut)), 20);
      });
    });
    try {
      const chunks: Buffer[] = [];
      const closed = new Promise<void>((resolve) => {
        void lightConnect(b!, srv.file, (chunk) => chunks.push(chunk), resolve).then((s) => {
          expect(s).toBeDefined();
          s!.write('{"jsonrpc":"2.0","id":1,"method":"cli.run","params":{"text":"ünïcode"}}\n');
        });
      });
      await closed;
      expect(got).toEqual(['{"jsonrpc":"2.0","id":1,"method":"cli.run","params":{"text":"ünïcode"}}\n']);
      expect(chunks.length).toBeGreaterThanOrEqual(2);
      expect(Buffer.concat(chunks).toString('utf8')).toBe(answer.toString('utf8'));
    } finally {
      srv.close();
    }
  });

  it('a socket nobody listens on (a stale one after kill -9) and a missing one resolve undefined', async () => {
    // As after kill -9: the socket file stays (a second name of it here; close() removes the
    // first), and nobody accepts on it.
    const srv = await serve('stale.sock', () => undefined);
    const copy = path.join(dir, 'stale-copy.sock');
    await fsp.link(srv.file, copy);
    srv.close();
    const onData = (): void => {
      throw new Error('no data expected');
    };
    expect(await lightConnect(b!, copy, onData, () => undefined)).toBeUndefined();
    expect(await lightConnect(b!, path.join(dir, 'none.sock'), onData, () => undefined)).toBeUndefined();
  });

  it('writeFdSync writes every byte of a long text to a file descriptor', async () => {
    const file = path.join(dir, 'out.txt');
    const fh = await fsp.open(file, 'w');
    const text = 'ok ✓\n'.repeat(50_000);
    writeFdSync(fh.fd, text);
    await fh.close();
    expect(await fsp.readFile(file, 'utf8')).toBe(text);
  });
});
