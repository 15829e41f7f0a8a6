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
 * A new passphrase (init: sources 1-3 then a prompt with confirmation; passwd:
 * --new-passphrase-file, HUSH_NEW_PASSPHRASE, then a prompt with confirmation) must not be
 * empty. Exactly one trailing "\n" or "\r\n" is stripped from file and fd contents; the bytes
 * are otherwise used as they are. Variables and prompts give the UTF-8 bytes of the text.
 *
 * This module never prints; the prompt writes to the terminal itself.
 */
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { PassphraseError } from '../errors.js';
import type { KeyringFile } from '../protocol/keyring-file.js';
import { utf8 } from '../protocol/encoding.js';
import { errnoWords } from './fsutil.js';

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
      throw new PassphraseError('PROMPT_CANCELLED', 'the passphrase prompt was cancelled');
    }
    throw err;
  }
}

export interface PromptOptions {
  message?: string;
  /** Ask twice and require the same answer (for a new passphrase). */
  confirm?: boolean;
  /** The error to throw when there is no terminal. */
  noTerminal?: () => PassphraseError;
}

/** Step 5: asks on the terminal. No terminal: opts.noTerminal() or NO_PASSPHRASE. */
export async function promptPassphrase(opts: PromptOptions = {}): Promise<Passphrase> {
  // One terminal per question: inquirer owns the streams for the life of a prompt.
  const once = async (message: string): Promise<string> => {
    const term = openTerminal();
    if (!term) throw (opts.noTerminal ?? noPassphraseError)();
    try {
      return await ask(term, message);
    } finally {
      term.close();
    }
  };
  const first = await once(opts.message ?? 'Passphrase:');
  if (opts.confirm) {
    const again = await once('Repeat the passphrase:');
    if (again !== first) throw new PassphraseError('PASSPHRASE_MISMATCH', 'the two passphrases differ', { hint: 'try again' });
  }
  return { bytes: utf8(first), source: 'prompt' };
}

function refuseEmpty(p: Passphrase): Passphrase {
  if (p.bytes.length === 0) {
    throw new PassphraseError('EMPTY_PASSPHRASE', 'the new passphrase is empty', { hint: 'choose a non-empty passphrase' });
  }
  return p;
}

/** The passphrase for a new keyring (init): sources 1-3, else a prompt with confirmation. */
export async function newPassphraseForInit(opts: PassphraseOptions): Promise<Passphrase> {
  const given = passphraseFromSources(opts);
  return refuseEmpty(given ?? (await promptPassphrase({ message: 'New passphrase:', confirm: true })));
}

/**
 * The new passphrase for passwd: --new-passphrase-file, else HUSH_NEW_PASSPHRASE, else a
 * prompt with confirmation. No terminal: NO_NEW_PASSPHRASE naming both.
 */
export async function newPassphraseForPasswd(opts: { newPassphraseFile?: string; env?: NodeJS.ProcessEnv }): Promise<Passphrase> {
  const env = opts.env ?? process.env;
  if (opts.newPassphraseFile !== undefined) return refuseEmpty({ bytes: readPassphraseFile(opts.newPassphraseFile), source: 'file' });
  if (env.HUSH_NEW_PASSPHRASE !== undefined) return refuseEmpty({ bytes: utf8(env.HUSH_NEW_PASSPHRASE), source: 'env' });
  const p = await promptPassphrase({
    message: 'New passphrase:',
    confirm: true,
    noTerminal: () =>
      new PassphraseError('NO_NEW_PASSPHRASE', 'no new passphrase given and no terminal to ask for one', {
        hint: 'use --new-passphrase-file PATH or the HUSH_NEW_PASSPHRASE environment variable',
      }),
  });
  return refuseEmpty(p);
}
