/**
 * The client side of binary mail pages (docs/PROTOCOL.md §7.2.1), against an in-process relay
 * stand-in (a bare `ws` server) that says `limits.mailBinary` in its hello and answers each
 * pull as the test tells it: the client asks with `"bin":1` and a decimal id, takes a page,
 * refuses a malformed one for the pull it answers (RELAY_PROTOCOL) and ignores one that names
 * no request. The real relay's side is in test/integration/relay-protocol.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { RelayClient } from '../../src/client/relay-client.js';
import { RelayError } from '../../src/errors.js';
import { encodeMailBin } from '../../src/protocol/mail-binary.js';

type Answer = (pull: Record<string, unknown>, ws: WebSocket) => void;
let server: WebSocketServer | undefined;

/** A stand-in relay: hello (with or without mailBinary), then each pull answered by `answer`. */
async function standIn(answer: Answer, mailBinary = true): Promise<{ url: string; pulls: Record<string, unknown>[] }> {
  const pulls: Record<string, unknown>[] = [];
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => server!.once('listening', () => r()));
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  server.on('connection', (ws) => {
    const limits = { maxFrameBytes: 131072, maxEnvelopeBytes: 70000, ...(mailBinary ? { mailBinary: 1 } : {}) };
    ws.send(JSON.stringify({ v: 1, t: 'hello', challenge: randomBytes(32).toString('base64'), relay: url, time: Date.now(), limits }));
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Record<string, unknown>;
      if (f.t === 'pull') {
        pulls.push(f);
        answer(f, ws);
      }
    });
  });
  return { url, pulls };
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

const env = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const eid = (): string => randomBytes(16).toString('hex');

describe('RelayClient and binary mail pages', () => {
  it('asks with "bin":1 and a decimal id when the hello says mailBinary, and takes the page (envelopes as views)', async () => {
    const items = [
      { seq: 3, eid: eid(), env: env(300), time: 1_000 },
      { seq: 9, eid: eid(), env: env(0), time: 2_000 },
    ];
    const { url, pulls } = await standIn((f, ws) => ws.send(encodeMailBin(Number(f.id), true, items)));
    const c = await RelayClient.connect(url, {});
    expect(c.binaryMail).toBe(true);
    const page = await c.pull({ after: 2, limit: 2 });
    expect(pulls[0]).toMatchObject({ v: 1, t: 'pull', after: 2, limit: 2, bin: 1 });
    expect(String(pulls[0]!.id)).toMatch(/^[1-9][0-9]*$/);
    expect(page.more).toBe(true);
    expect(page.items.map((i) => ({ ...i, env: Buffer.from(i.env).toString('hex') }))).toEqual(items.map((i) => ({ ...i, env: Buffer.from(i.env).toString('hex') })));
    await c.close();
  });

  it('pulls JSON from a relay whose hello has no mailBinary (an older relay)', async () => {
    const { url, pulls } = await standIn((f, ws) => ws.send(JSON.stringify({ v: 1, t: 'mail', id: f.id, items: [], more: false })), false);
    const c = await RelayClient.connect(url, {});
    expect(c.binaryMail).toBe(false);
    expect(await c.pull()).toEqual({ items: [], more: false });
    expect(pulls[0]!.bin).toBeUndefined();
    await c.close();
  });

  it('fails the pull a malformed page names (RELAY_PROTOCOL); a page naming no waiting request is ignored', async () => {
    const { url } = await standIn((f, ws) => {
      ws.send(encodeMailBin(4_000_000_000, false, [])); // names no request: ignored
      const bad = encodeMailBin(Number(f.id), false, [{ seq: 1, eid: eid(), env: env(10), time: 5 }]);
      ws.send(bad.subarray(0, bad.length - 1)); // its envelope cut short
    });
    const c = await RelayClient.connect(url, {});
    const err = await c.pull().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).code).toBe('RELAY_PROTOCOL');
    expect((err as RelayError).message).toMatch(/malformed binary answer.*cut short/);
    await c.close();
  });
});
