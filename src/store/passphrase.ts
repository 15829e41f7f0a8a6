/**
 * Where the keyring passphrase comes from. Never from a command-line argument.
 *
 * Unlocking (whoami needs none; every other command that opens the keyring):
 *   1. --passphrase-file PATH      file contents
 *   2. --passphrase-fd N           everything readable from file descriptor N
 *   3. HUSH_PASSPHRASE             the variable's value
 *   4. the OS keychain             a stored WRAPPING KEY (never the passphrase), through the
 *                                  extension point setKeychainSource(); none by default
 *   5. an interactive prompt       read from the terminal (/dev/tty) even when stdin is piped
 * With none of them and no terminal: PassphraseError NO_PASSPHRASE naming 1-3.
 *
 * At the prompt: three tries to open the keyring (promptUntilOpen), each saying why the last
 * failed (wrong, empty); Ctrl-C is InterruptedError PROMPT_CANCELLED (exit 130).
 *
 * A new passphrase (init: sources 1-3 then a prompt with confirmation; passwd:
 * --new-passphrase-file, HUSH_NEW_PASSPHRASE, then a prompt with confirmation) must not be
 * empty. A typed one is also held to the strength floor of ./strength.ts (unless
 * --weak-passphrase) and asked again, three rounds at most; given ones are taken as they are. Exactly one trailing "\n" or "\r\n" is stripped from file and fd contents; the bytes
 * are otherwise used as they are. Variables and prompts give the UTF-8 bytes of the text.
 *
 * This module never prints; the prompt writes to the terminal itself.
 */
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { InterruptedError, PassphraseError } from '../errors.js';
import type { KeyringFile } from '../protocol/keyring-file.js';
import { utf8 } from '../protocol/encoding.js';
import { errnoWords } from './fsutil.js';
import { estimateBits, FLOOR_BITS, GOOD_BITS } from './strength.js';

export type PassphraseSource = 'file' | 'fd' | 'env' | 'keychain' | 'prompt';

export interface PassphraseOptions {
  /** --passphrase-file */
  passphraseFile?: string;
  /** --passphrase-fd */
  passphraseFd?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Passphrase {
  bytes: Uint8Array;
  source: PassphraseSource;
}

const MAX_PASSPHRASE_BYTES = 64 * 1024;

/** Removes exactly one trailing "\n" or "\r\n". */
export function stripOneNewline(b: Uint8Array): Uint8Array {
  let n = b.length;
  if (n > 0 && b[n - 1] === 0x0a) {
    n--;
    if (n > 0 && b[n - 1] === 0x0d) n--;
  }
  return b.subarray(0, n);
}

function readPassphraseFile(file: string): Uint8Array {
  let data: Buffer;
  try {
    const st = fs.statSync(file);
    if (st.isFile() && st.size > MAX_PASSPHRASE_BYTES) throw new PassphraseError('PASSPHRASE_FILE', `the passphrase file ${file} is too large`);
    data = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof PassphraseError) throw err;
    throw new PassphraseError('PASSPHRASE_FILE', `cannot read the passphrase file ${file}: ${errnoWords(err)}`, {
      hint: 'check the path given to --passphrase-file',
      cause: err,
    });
  }
  if (data.length > MAX_PASSPHRASE_BYTES) throw new PassphraseError('PASSPHRASE_FILE', `the passphrase file ${file} is too large`);
  return new Uint8Array(stripOneNewline(new Uint8Array(data)));
}

function readPassphraseFd(fd: number): Uint8Array {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(4096);
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        // A non-blocking pipe with nothing yet: wait briefly for the writer (synchronous read).
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        throw err;
      }
      if (n === 0) break;
      total += n;
      if (total > MAX_PASSPHRASE_BYTES) throw new PassphraseError('PASSPHRASE_FD', `the passphrase on file descriptor ${fd} is too large`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
  } catch (err) {
    if (err instanceof PassphraseError) throw err;
    throw new PassphraseError('PASSPHRASE_FD', `cannot read the passphrase from file descriptor ${fd}: ${errnoWords(err)}`, {
      hint: 'open the descriptor for reading in the calling shell, e.g. hush ... --passphrase-fd 3 3<file',
      cause: err,
    });
  }
  const all = new Uint8Array(Buffer.concat(chunks));
  return new Uint8Array(stripOneNewline(all));
}

/**
 * The first of --passphrase-file, --passphrase-fd, HUSH_PASSPHRASE that is given, or
 * undefined when none is. (An empty HUSH_PASSPHRASE counts as given.)
 */
export function passphraseFromSources(opts: PassphraseOptions): Passphrase | undefined {
  const env = opts.env ?? process.env;
  if (opts.passphraseFile !== undefined) return { bytes: readPassphraseFile(opts.passphraseFile), source: 'file' };
  if (opts.passphraseFd !== undefined) return { bytes: readPassphraseFd(opts.passphraseFd), source: 'fd' };
  if (env.HUSH_PASSPHRASE !== undefined) return { bytes: utf8(env.HUSH_PASSPHRASE), source: 'env' };
  return undefined;
}

/** Where a given passphrase came from, for messages ("HUSH_PASSPHRASE"). */
export function sourceName(source: PassphraseSource): string {
  return { file: 'the --passphrase-file file', fd: 'the --passphrase-fd descriptor', env: 'HUSH_PASSPHRASE', keychain: 'the OS keychain', prompt: 'the prompt' }[source];
}

/**
 * Checks a passphrase from sources 1-3 before it is used: an empty one is PassphraseError
 * EMPTY_PASSPHRASE naming its source (not a "wrong passphrase" after a key derivation).
 */
export function refuseEmptyGiven(p: Passphrase): void {
  if (p.bytes.length === 0 && p.source !== 'prompt') {
    throw new PassphraseError('EMPTY_PASSPHRASE', `the passphrase from ${sourceName(p.source)} is empty`, { hint: `put your passphrase in ${sourceName(p.source)}` });
  }
}

/** WRONG_PASSPHRASE for a passphrase from sources 1-3: the hint names the source that was used. */
export function wrongFromSource(err: PassphraseError, source: PassphraseSource): PassphraseError {
  const hint: Record<PassphraseSource, string> = {
    file: 'check the file given to --passphrase-file (exactly one trailing newline is removed)',
    fd: 'check what is written to the --passphrase-fd descriptor (exactly one trailing newline is removed)',
    env: 'check HUSH_PASSPHRASE (unset it to be asked on the terminal)',
    keychain: 'run hush unlock --remember again',
    prompt: 'check Caps Lock and the keyboard layout',
  };
  return new PassphraseError(err.code, `wrong passphrase from ${sourceName(source)}, or the keyring file was modified`, { hint: hint[source], cause: err });
}

// --- keychain extension point --------------------------------------------------------------

export interface KeychainRequest {
  /** The hush home (one keychain entry per home). */
  home: string;
  /** The keyring about to be opened (its signPk identifies the entry). */
  file: KeyringFile;
}

/** Returns a stored 32-byte wrapping key for this keyring, or undefined. */
export type KeychainSource = (req: KeychainRequest) => Promise<Uint8Array | undefined>;

let keychainSource: KeychainSource | undefined;

/**
 * EXTENSION POINT for the OS keychain (`hush unlock --remember`): install the function that
 * looks up a stored wrapping key. Until one is installed the keychain step yields nothing.
 * Pass undefined to remove it.
 */
export function setKeychainSource(src: KeychainSource | undefined): void {
  keychainSource = src;
}

/** Step 4: the keychain's wrapping key, or undefined (no source installed, or no entry). */
export async function keychainWrappingKey(req: KeychainRequest): Promise<Uint8Array | undefined> {
  return keychainSource ? keychainSource(req) : undefined;
}

// --- the interactive prompt ----------------------------------------------------------------

/** The controlling terminal, opened for one prompt; close() releases it. */
export interface Terminal {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  close(): void;
}

/** Opens the controlling terminal, whatever stdin is; undefined when there is none. */
export function openTerminal(): Terminal | undefined {
  if (process.platform === 'win32') {
    if (!process.stdin.isTTY) return undefined;
    return { input: process.stdin, output: process.stderr, close: () => process.stdin.pause() };
  }
  let fdIn: number;
  let fdOut: number;
  try {
    fdIn = fs.openSync('/dev/tty', 'r');
  } catch {
    return undefined;
  }
  try {
    fdOut = fs.openSync('/dev/tty', 'w');
  } catch {
    fs.closeSync(fdIn);
    return undefined;
  }
  if (!tty.isatty(fdIn)) {
    fs.closeSync(fdIn);
    fs.closeSync(fdOut);
    return undefined;
  }
  const input = new tty.ReadStream(fdIn);
  const output = new tty.WriteStream(fdOut);
  return {
    input,
    output,
    close: () => {
      input.destroy();
      output.destroy();
    },
  };
}

export function noPassphraseError(what = 'passphrase'): PassphraseError {
  return new PassphraseError('NO_PASSPHRASE', `no ${what} given and no terminal to ask for one`, {
    hint: 'use --passphrase-file PATH, --passphrase-fd N or the HUSH_PASSPHRASE environment variable',
  });
}

async function ask(term: Terminal, message: string): Promise<string> {
  const { password } = await import('@inquirer/prompts');
  try {
    return await password({ message, mask: '*' }, { input: term.input, output: term.output, clearPromptOnDone: false });
  } catch (err) {
    if (err instanceof Error && err.name === 'ExitPromptError') {
      throw new InterruptedError('PROMPT_CANCELLED', 'cancelled at the passphrase prompt; nothing was changed');
    }
    throw err;
  }
}

/** Tries at the prompt, for an existing passphrase and for a new one (as ssh and gpg). */
export const PROMPT_TRIES = 3;

export interface PromptOptions {
  message?: string;
  /** The error to throw when there is no terminal. */
  noTerminal?: () => PassphraseError;
}

/** One question on the terminal, after an optional note line (e.g. why we ask again). */
async function askOnce(message: string, note: string | undefined, noTerminal?: () => PassphraseError): Promise<string> {
  // One terminal per question: inquirer owns the streams for the life of a prompt.
  const term = openTerminal();
  if (!term) throw (noTerminal ?? noPassphraseError)();
  try {
    if (note !== undefined) term.output.write(`${note}\n`);
    return await ask(term, message);
  } finally {
    term.close();
  }
}

/** Step 5: asks once on the terminal. No terminal: opts.noTerminal() or NO_PASSPHRASE. */
export async function promptPassphrase(opts: PromptOptions = {}): Promise<Passphrase> {
  return { bytes: utf8(await askOnce(opts.message ?? 'Passphrase:', undefined, opts.noTerminal)), source: 'prompt' };
}

function emptyTyped(): PassphraseError {
  return new PassphraseError('EMPTY_PASSPHRASE', `the passphrase typed was empty (${PROMPT_TRIES} tries)`, { hint: 'type the passphrase, then Enter' });
}

/**
 * Step 5 for an existing passphrase: asks up to PROMPT_TRIES times; `attempt` opens the keyring
 * with what was typed. An empty entry or a PassphraseError WRONG_PASSPHRASE asks again (saying
 * which); the last one is thrown, with a hint for a typed passphrase. Other errors pass through.
 */
export async function promptUntilOpen<T>(message: string, attempt: (p: Passphrase) => Promise<T>): Promise<T> {
  let note: string | undefined;
  for (let tries = 1; ; tries++) {
    const left = PROMPT_TRIES - tries;
    const again = `try again (${left} ${left === 1 ? 'try' : 'tries'} left)`;
    const p: Passphrase = { bytes: utf8(await askOnce(message, note)), source: 'prompt' };
    if (p.bytes.length === 0) {
      if (left === 0) throw emptyTyped();
      note = `hush: the passphrase was empty; ${again}`;
      continue;
    }
    try {
      return await attempt(p);
    } catch (err) {
      if (!(err instanceof PassphraseError) || err.code !== 'WRONG_PASSPHRASE') throw err;
      if (left === 0) {
        throw new PassphraseError('WRONG_PASSPHRASE', `wrong passphrase (${PROMPT_TRIES} tries), or the keyring file was modified`, {
          hint: 'check Caps Lock and the keyboard layout; a forgotten passphrase cannot be recovered (hush init --force makes a new identity)',
          cause: err,
        });
      }
      note = `hush: wrong passphrase; ${again}`;
    } finally {
      p.bytes.fill(0);
    }
  }
}

export interface NewPassphraseOptions {
  /** --weak-passphrase: accept a typed passphrase below FLOOR_BITS (with a warning). */
  allowWeak?: boolean;
  noTerminal?: () => PassphraseError;
}

/**
 * Step 5 for a new passphrase: asks, then asks to repeat it; up to PROMPT_TRIES rounds. An
 * empty entry, one below FLOOR_BITS (src/store/strength.ts) without allowWeak, or a different
 * repetition asks again, saying why; a weak one (below GOOD_BITS) gets a warning with the
 * estimate. After the last round its error is thrown (exit 3).
 */
export async function promptNewPassphrase(opts: NewPassphraseOptions = {}): Promise<Passphrase> {
  let note: string | undefined;
  let last: PassphraseError | undefined;
  for (let round = 1; round <= PROMPT_TRIES; round++) {
    const first = await askOnce('New passphrase:', note, opts.noTerminal);
    note = undefined;
    if (first === '') {
      last = emptyTyped();
      note = 'hush: the passphrase was empty; type one';
      continue;
    }
    const bits = estimateBits(first);
    if (bits < FLOOR_BITS && opts.allowWeak !== true) {
      last = new PassphraseError('WEAK_PASSPHRASE', `the new passphrase is too weak: about ${bits} bits, the floor is ${FLOOR_BITS} (${PROMPT_TRIES} tries)`, {
        hint: 'use a few words or more characters; to accept a weak one anyway, add --weak-passphrase',
      });
      note = `hush: too weak: about ${bits} bits of ${FLOOR_BITS} needed; use a few words or more characters (or --weak-passphrase)`;
      continue;
    }
    const warn = bits < GOOD_BITS ? `hush: warning: a weak passphrase: about ${bits} bits (${GOOD_BITS} or more is good)` : undefined;
    const again = await askOnce('Repeat the passphrase:', warn, opts.noTerminal);
    if (again !== first) {
      last = new PassphraseError('PASSPHRASE_MISMATCH', `the two passphrases differ (${PROMPT_TRIES} tries)`, { hint: 'type the same passphrase twice' });
      note = 'hush: the two passphrases differ; try again';
      continue;
    }
    return { bytes: utf8(first), source: 'prompt' };
  }
  throw last!;
}

function refuseEmpty(p: Passphrase): Passphrase {
  if (p.bytes.length === 0) {
    throw new PassphraseError('EMPTY_PASSPHRASE', 'the new passphrase is empty', { hint: 'choose a non-empty passphrase' });
  }
  return p;
}

/**
 * The passphrase for a new keyring (init): sources 1-3 (taken as given: no strength check),
 * else the prompt (promptNewPassphrase).
 */
export async function newPassphraseForInit(opts: PassphraseOptions & { allowWeak?: boolean }): Promise<Passphrase> {
  const given = passphraseFromSources(opts);
  return refuseEmpty(given ?? (await promptNewPassphrase({ allowWeak: opts.allowWeak })));
}

/**
 * The new passphrase for passwd: --new-passphrase-file, else HUSH_NEW_PASSPHRASE (both taken
 * as given), else the prompt (promptNewPassphrase). No terminal: NO_NEW_PASSPHRASE naming both.
 */
export async function newPassphraseForPasswd(opts: { newPassphraseFile?: string; env?: NodeJS.ProcessEnv; allowWeak?: boolean }): Promise<Passphrase> {
  const env = opts.env ?? process.env;
  if (opts.newPassphraseFile !== undefined) return refuseEmpty({ bytes: readPassphraseFile(opts.newPassphraseFile), source: 'file' });
  if (env.HUSH_NEW_PASSPHRASE !== undefined) return refuseEmpty({ bytes: utf8(env.HUSH_NEW_PASSPHRASE), source: 'env' });
  return promptNewPassphrase({
    allowWeak: opts.allowWeak,
    noTerminal: () =>
      new PassphraseError('NO_NEW_PASSPHRASE', 'no new passphrase given and no terminal to ask for one', {
        hint: 'use --new-passphrase-file PATH or the HUSH_NEW_PASSPHRASE environment variable',
      }),
  });
}
