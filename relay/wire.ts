/**
 * The wire: the only part of the relay that touches `ws` sockets and their internals (the
 * underlying net.Socket for corking, bufferedAmount, readyState). Everything above it sees a
 * Link per connection and text frames.
 *
 * Backpressure: a connection with more than PUSH_BACKLOG_BYTES unsent gets no more pushes (a
 * stored push closes it so the client reconnects and pulls, an ephemeral one is dropped); any
 * other frame to a connection with more than MAX_BACKLOG_BYTES unsent closes it (a client that
 * keeps asking and never reads). docs/PROTOCOL.md §7.2.
 */
import { corkForTurn } from '../src/ws-turn.js';
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { encodeFrame } from '../src/protocol/frames.js';

export const PUSH_BACKLOG_BYTES = 8 * 1024 * 1024;
export const MAX_BACKLOG_BYTES = 2 * PUSH_BACKLOG_BYTES;

/** A frame to send: the JSON text, or an object for encodeFrame (byte fields already base64). */
export type OutFrame = string | { t: string; [k: string]: unknown };

/** One client connection as the frame handlers see it. */
export interface Link {
  /** Sends an answer; a connection over MAX_BACKLOG_BYTES is terminated instead (`onSlow`). */
  send(frame: OutFrame): void;
  /** Sends a binary frame (a blob chunk, docs/PROTOCOL.md §7.9.1, or a mail page, §7.2.1); same backlog rule as send. */
  sendBinary(data: Uint8Array): void;
  /** Holds this connection's writes for the rest of this turn (src/ws-turn.ts): the answers to one read's blob frames leave in one write. */
  batchTurn(): void;
  /**
   * Sends a push; false when it was not delivered: the connection is not open, or over
   * PUSH_BACKLOG_BYTES (then a stored push terminates it, `onSlow`; an ephemeral one is dropped).
   */
  push(text: string, ephemeral: boolean): boolean;
  /** Closes with a WebSocket close code and reason. */
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
  readonly isOpen: boolean;
  readonly isClosed: boolean;
}

/**
 * Corking for one batch: while a group commit answers its batch, each socket is corked once
 * and uncorked at the end, so a batch costs one write per socket, not one per frame
 * (docs/PERFORMANCE.md). Outside a batch, frames are written at once.
 */
export class Corking {
  private corked: Set<Socket> | undefined;

  begin(): void {
    this.corked = new Set<Socket>();
  }

  end(): void {
    const socks = this.corked;
    this.corked = undefined;
    if (socks) for (const sock of socks) sock.uncork();
  }

  cork(ws: WebSocket): void {
    if (!this.corked) return;
    const sock = (ws as unknown as { _socket?: Socket })._socket;
    if (!sock || this.corked.has(sock)) return;
    sock.cork();
    this.corked.add(sock);
  }
}

export function wsLink(ws: WebSocket, corking: Corking, onSlow: (buffered: number) => void): Link {
  /** Open and not over its backlog (a client that does not read is dropped here); corked for this turn. */
  const ready = (): boolean => {
    if (ws.readyState !== ws.OPEN) return false;
    if (ws.bufferedAmount > MAX_BACKLOG_BYTES) {
      onSlow(ws.bufferedAmount);
      ws.terminate();
      return false;
    }
    corking.cork(ws);
    return true;
  };
  return {
    send(frame) {
      if (ready()) ws.send(typeof frame === 'string' ? frame : encodeFrame(frame));
    },
    batchTurn() {
      corkForTurn(ws);
    },
    sendBinary(data) {
      if (ready()) ws.send(data, { binary: true });
    },
    push(text, ephemeral) {
      if (ws.readyState !== ws.OPEN) return false;
      if (ws.bufferedAmount > PUSH_BACKLOG_BYTES) {
        // Skipping a stored push silently would leave a listening client idle while mail
        // waits; closing makes it reconnect and pull. Ephemeral pushes are just dropped.
        if (!ephemeral) {
          onSlow(ws.bufferedAmount);
          ws.terminate();
        }
        return false;
      }
      corking.cork(ws);
      ws.send(text);
      return true;
    },
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    ping: () => ws.ping(),
    get isOpen() {
      return ws.readyState === ws.OPEN;
    },
    get isClosed() {
      return ws.readyState === ws.CLOSED;
    },
  };
}

/** A binary frame's bytes, without a copy when ws hands one Buffer. */
export function frameBytes(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** The payload length of a received message. */
export function rawLength(data: RawData): number {
  return Buffer.isBuffer(data) ? data.length : Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
}

/** A text frame's JSON text. ws hands a Buffer (binaryType nodebuffer): decoded in place, no copy. */
export function frameText(data: RawData): string {
  return Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}
