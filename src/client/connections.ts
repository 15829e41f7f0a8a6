/**
 * The Messenger's two connections to its relay (docs/PROTOCOL.md §7): the authenticated one
 * (our identity key signs the relay's challenge: pull, ack, register, tokens, prekeys) and the
 * unauthenticated one (sealed sender: sends with a delivery token, public lookups, prekey
 * bundles). Each is dialled on first use and shared by whoever asks at the same time.
 *
 * Each dials the first of the deployment's URLs that answers (src/client/failover.ts): config.json
 * `relay`, then its `relayFallbacks`.
 *
 * A failed authenticated connect is remembered, so that send and pull give up at once instead
 * of dialling for every message; listen clears it before each attempt (resetFailure).
 */
import { RelayError } from '../errors.js';
import type { Identity } from '../crypto/identity.js';
import { signDetached } from '../crypto/nacl.js';
import { dialFirst } from './failover.js';
import { RelayClient } from './relay-client.js';

export class RelayConnections {
  private conn: RelayClient | undefined;
  private connecting: Promise<RelayClient> | undefined;
  private failure: RelayError | undefined;
  private anon: RelayClient | undefined;
  private anonConnecting: Promise<RelayClient> | undefined;

  constructor(
    /** The deployment's own URL first, then its fallbacks. */
    readonly urls: readonly string[],
    private readonly identity: Identity,
    private readonly timeoutMs: number | undefined,
  ) {}

  /** The authenticated connection when it is open now (no dialling). */
  get open(): RelayClient | undefined {
    return this.conn && !this.conn.closed ? this.conn : undefined;
  }

  /** The authenticated connection (connecting and authenticating on first use). */
  async client(): Promise<RelayClient> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.failure) throw this.failure;
    this.connecting ??= dialFirst(this.urls, (url) =>
      RelayClient.connect(url, {
        signPk: this.identity.signPk,
        sign: (m) => signDetached(m, this.identity.signSk),
        ...this.timeout(),
      }),
    )
      .catch((e: unknown) => {
        if (e instanceof RelayError) this.failure = e;
        throw e;
      })
      .finally(() => (this.connecting = undefined));
    this.conn = await this.connecting;
    return this.conn;
  }

  /** The unauthenticated connection (sealed sender), dialled on first use. */
  async anonClient(): Promise<RelayClient> {
    if (this.anon && !this.anon.closed) return this.anon;
    this.anonConnecting ??= dialFirst(this.urls, (url) => RelayClient.connect(url, this.timeout())).finally(() => (this.anonConnecting = undefined));
    this.anon = await this.anonConnecting;
    return this.anon;
  }

  /** Forgets a failed connect: the next client() dials again (listen, per attempt). */
  resetFailure(): void {
    this.failure = undefined;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c && !c.closed) await c.close();
    const a = this.anon;
    this.anon = undefined;
    if (a && !a.closed) await a.close();
  }

  private timeout(): { timeoutMs?: number } {
    return this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
  }
}
