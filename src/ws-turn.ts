/**
 * Holds a WebSocket's writes until the current I/O callback and its promise jobs are done
 * (process.nextTick), so the frames made in one go leave in one write: blob traffic, where a
 * 64 KiB chunk and each answer would otherwise cost a syscall each (docs/PERFORMANCE.md "File
 * speed-ups"). Not held across I/O callbacks: setImmediate would hold the answers to a whole
 * poll phase of puts and make the uploader stop and go. Shared by the relay's links
 * (relay/wire.ts) and the client (src/client/relay-client.ts); it touches ws's socket only.
 */
import type { Socket } from 'node:net';

const corked = new WeakSet<Socket>();

export function corkForTurn(ws: object): void {
  const sock = (ws as { _socket?: Socket })._socket;
  if (!sock || corked.has(sock)) return;
  corked.add(sock);
  sock.cork();
  process.nextTick(() => {
    corked.delete(sock);
    sock.uncork(); // a no-op when the socket ended meanwhile (end() uncorks)
  });
}
