/**
 * The refusals a send meets on this side of the relay (README "Exit codes"): an empty or too
 * large body, v1 refused under requireForwardSecrecy, and the relay out of reach (the messages
 * stay in the outbox).
 */
import { RelayError, TrustError, UsageError } from '../errors.js';
import { MAX_BODY_BYTES } from '../protocol/envelope.js';
import type { V1Reason } from './sessions.js';

/** RelayError RELAY_UNREACHABLE: nothing was lost, `kept` messages wait in the outbox. */
export function unreachable(url: string, kept: number, cause?: unknown): RelayError {
  const n = kept === 1 ? '1 message' : `${kept} messages`;
  return new RelayError('RELAY_UNREACHABLE', `relay ${url} is unreachable; ${n} kept in the outbox`, {
    hint: 'it will go out with the next hush send, pull or listen',
    cause,
  });
}

/** UsageError EMPTY_MESSAGE / MESSAGE_TOO_LARGE for a UTF-8 body. */
export function checkBody(body: Uint8Array): void {
  if (body.length === 0) throw new UsageError('EMPTY_MESSAGE', 'the message is empty', { hint: 'give the text as arguments or on stdin' });
  if (body.length > MAX_BODY_BYTES) {
    throw new UsageError('MESSAGE_TOO_LARGE', `the message is ${body.length} bytes, the limit is ${MAX_BODY_BYTES} bytes (64 KiB)`, {
      hint: 'split it into smaller messages, or send one message per line with --lines',
    });
  }
}

/** TrustError FORWARD_SECRECY_REQUIRED (config requireForwardSecrecy, --require-fs). */
export function fsRequired(name: string, reason: V1Reason): TrustError {
  const why = reason === 'expired-prekeys' ? `${name}'s published prekeys have expired` : `${name} has published no prekeys (or the relay carries none)`;
  return new TrustError('FORWARD_SECRECY_REQUIRED', `refusing to send to ${name} without forward secrecy: ${why}`, {
    hint: `ask ${name} to run hush pull with a current hush, or drop --require-fs (config requireForwardSecrecy) to send v1`,
  });
}
