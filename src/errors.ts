/**
 * The one error hierarchy of hush. The core (crypto, protocol, store, client, relay) throws
 * these; only src/cli turns them into a message and an exit code (src/cli/output.ts).
 *
 * This file is a leaf: it imports nothing, so every layer, crypto and protocol included,
 * may import it (see docs/ARCHITECTURE.md).
 */

/** Process exit codes. Documented in README.md ("Exit codes"); stable. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  passphrase: 3,
  relay: 4,
  trust: 5,
  data: 6,
  /** Ctrl-C at a prompt (128 + SIGINT, as shells report it); nothing was changed. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = Exclude<keyof typeof ExitCode, 'ok'>;

export interface HushErrorOptions {
  /** What the user can do next; printed as `hush: hint: …`. Lowercase, no period. */
  hint?: string;
  cause?: unknown;
}

/**
 * Base class. `code` is a stable machine-readable string (e.g. `KEYRING_EXISTS`), listed in
 * docs; `kind` picks the exit code.
 */
export class HushError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, code: string, message: string, opts: HushErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
    this.hint = opts.hint;
  }

  get exitCode(): ExitCode {
    return ExitCode[this.kind];
  }
}

/** Bad arguments, flags or input the user gave. */
export class UsageError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('usage', code, message, opts);
  }
}

/** Wrong or missing passphrase; a keychain entry that does not open the keyring. */
export class PassphraseError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('passphrase', code, message, opts);
  }
}

/** The relay is unreachable, refused us, or answered with an error frame. */
export class RelayError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('relay', code, message, opts);
  }
}

/** An untrusted, unknown or changed key. */
export class TrustError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('trust', code, message, opts);
  }
}

/** Malformed, corrupted, tampered or unsupported data (files, envelopes, frames). */
export class DataError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('data', code, message, opts);
  }
}

/** The user interrupted (Ctrl-C at a prompt) before anything was changed. */
export class InterruptedError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('interrupted', code, message, opts);
  }
}

/** A bug or an environment failure we did not foresee. */
export class InternalError extends HushError {
  constructor(code: string, message: string, opts?: HushErrorOptions) {
    super('internal', code, message, opts);
  }
}

export function isHushError(e: unknown): e is HushError {
  return e instanceof HushError;
}
