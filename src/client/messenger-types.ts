/**
 * The Messenger's public types (src/client/messenger.ts): what it reports through its events and
 * what it takes. The commands (src/cli/) and the daemon (src/daemon/) read these; the messenger
 * module re-exports every one, so importing from it keeps working.
 */
import type { HushError } from '../errors.js';
import type { Identity } from '../crypto/identity.js';
import type { Random } from '../crypto/nacl.js';
import type { HushStore, QuarantineLimits } from '../store/db.js';
import type { GroupEvent } from './groups.js';
import type { ProcessOptions, QuarantineReport, ReceivedMessage } from './inbound.js';
import type { ReceiptDelay, ReceiptReport } from './receipts.js';
import type { PrekeyPolicy } from './prekeys.js';
import type { V1Reason } from './sessions.js';

export interface SentReport {
  to: string;
  /** Message id, hex. */
  id: string;
  time: number;
  eid: string;
  /** true when it had been waiting in the outbox from an earlier run. */
  fromOutbox: boolean;
  /** true when it went with a delivery token on an unauthenticated connection (sealed sender). */
  sealed: boolean;
  /** 2: sealed in a v2 session (forward secrecy); 1: v1. */
  protocol: number;
}

export interface PinnedReport {
  name: string;
  fingerprint: string;
}

export type ListenState =
  /** First connection made (after the outbox flush and the initial pull). */
  | { state: 'connected'; url: string }
  /** The connection dropped, or the first attempt failed; retrying with backoff. */
  | { state: 'disconnected'; url: string; error: string }
  /** Connected again after a 'disconnected'. */
  | { state: 'reconnected'; url: string };

export interface MessengerEvents {
  pinned: [PinnedReport];
  sent: [SentReport];
  message: [ReceivedMessage];
  quarantined: [QuarantineReport];
  state: [ListenState];
  /** An incoming receipt moved (or confirmed) the status of our messages to `from`. */
  receipt: [ReceiptReport];
  /** Receipt ids that did not match a message we sent to that sender (or a malformed receipt). */
  receiptIgnored: [{ from: string; count: number }];
  /** The contact is typing (an ephemeral `typing` envelope). */
  typing: [{ from: string; time: number }];
  /** A group post or membership change was applied (src/client/groups.ts). */
  group: [GroupEvent];
  /** A contact pinned from another relay is reached through the relay in use, by its pinned key. */
  routed: [{ label: string; pinnedFrom: string; via: string }];
  /** The quarantine reached a limit: this many oldest entries were dropped. */
  quarantineFull: [{ dropped: number }];
  /** Sends to `to` use v1 (with why), or v2 again after v1: emitted when it changes, not per send (v2 from the start is silent). */
  protocol: [{ to: string; v2: boolean; reason?: V1Reason }];
}

export interface QueuedMessage {
  eid: string;
  envelope: Uint8Array;
  msgId: Uint8Array;
  contactId: number;
  to: string;
  toSignPk: Uint8Array;
  time: number;
  fromOutbox: boolean;
  /** A receipt (or other control envelope): no 'sent' report. */
  control?: boolean;
  /** Set by the pipeline: it went with a delivery token (sealed sender). */
  sealed?: boolean;
}

export interface SendFailure {
  eid: string;
  to: string;
  error: HushError;
}

export interface DrainResult {
  sent: number;
  failed: SendFailure[];
}

export interface MessengerOptions {
  identity: Identity;
  /** Our own name (keyring header). */
  name: string;
  store: HushStore;
  relayUrl: string;
  /** Other URLs of the same deployment, dialled in order when relayUrl does not answer (src/client/failover.ts). */
  fallbackUrls?: string[];
  /** Pipelined sends in flight at once (default 64). */
  window?: number;
  now?: () => number;
  random?: Random;
  /** Relay request timeout (ms). */
  timeoutMs?: number;
  /**
   * Called right after a received batch is committed and its 'message' events emitted, and
   * before it is acked: the CLI writes out what it printed there (and, for the tests,
   * HUSH_TEST_CRASH=after-store kills the process there).
   */
  afterStore?: () => void;
  /** Send `read` receipts from markRead() (default true). */
  readReceipts?: boolean;
  /** Send `delivered` receipts for stored messages (default true). Never to strangers either way. */
  deliveryReceipts?: boolean;
  /** Bounds of the random wait before a receipt may leave (default DEFAULT_RECEIPT_DELAY). */
  receiptDelay?: ReceiptDelay;
  /** Bounds of the quarantine (default DEFAULT_QUARANTINE_LIMITS). */
  quarantineLimits?: QuarantineLimits;
  /** Bounds of the v2 skipped message keys (src/client/inbound.ts ProcessOptions.ratchetLimits). */
  ratchetLimits?: ProcessOptions['ratchetLimits'];
  /** Lifetime (one epoch) of the delivery tokens we issue (default DEFAULT_TOKEN_LIFETIME_MS). */
  tokenLifetimeMs?: number;
  /** Refuse v1 both ways (config requireForwardSecrecy, --require-fs). */
  requireForwardSecrecy?: boolean;
  /** Prekey pool sizes and signed-prekey rotation (default DEFAULT_PREKEY_POLICY). */
  prekeyPolicy?: PrekeyPolicy;
  /**
   * Incoming messages stored after this history row are new to whoever reads this Messenger's
   * events (default: the newest row now). `hush daemon` keeps this cursor across the commands
   * it runs, since its own listen stores mail before a `pull` asks for it.
   */
  shownAfter?: number;
}
