/**
 * The global options of hush (valid before or after the command name), as data: main.ts
 * turns them into commander options, `hush completion` into shell completions. Light: no
 * imports, so `hush --help` stays cheap.
 */
export interface GlobalOptionSpec {
  /** commander flags, e.g. '--home <dir>'. */
  flags: string;
  description: string;
  /** What the value is, for shell completion: a directory, a file, or free text. */
  value?: 'dir' | 'file' | 'text';
}

export const GLOBAL_OPTIONS: readonly GlobalOptionSpec[] = [
  { flags: '--home <dir>', description: 'hush home directory (env HUSH_HOME)', value: 'dir' },
  { flags: '--relay <url>', description: 'relay URL, ws:// or wss:// (env HUSH_RELAY, else config.json)', value: 'text' },
  { flags: '--json', description: 'print one JSON object per line on stdout' },
  { flags: '--passphrase-file <path>', description: 'read the passphrase from this file', value: 'file' },
  { flags: '--passphrase-fd <n>', description: 'read the passphrase from this file descriptor', value: 'text' },
  { flags: '--no-color', description: 'never colour the output (also: NO_COLOR)' },
  { flags: '--relay-timeout <duration>', description: 'how long to wait for the relay to greet or answer, e.g. 15s (default), 500ms, 2m (env HUSH_RELAY_TIMEOUT)', value: 'text' },
  { flags: '--require-fs', description: 'refuse protocol v1 both ways: send only in v2 sessions (forward secrecy), quarantine received v1 (config requireForwardSecrecy)' },
  { flags: '--prekey-rotation <duration>', description: 'replace the signed prekey this often, e.g. 7d (default), 12h (config signedPrekeyRotation)', value: 'text' },
  {
    flags: '--prekey-grace <duration>',
    description: 'keep a replaced signed prekey this long for mail that still uses it, e.g. 7d (default) (config signedPrekeyGrace)',
    value: 'text',
  },
  { flags: '--no-daemon', description: 'never hand the command to a running hush daemon of this home (env HUSH_NO_DAEMON=1)' },
  { flags: '--token-lifetime <duration>', description: 'lifetime of the delivery tokens you hand your contacts, e.g. 7d (default), 12h (env HUSH_TOKEN_LIFETIME)', value: 'text' },
];
