/**
 * The URLs a relay answers to (docs/PROTOCOL.md §7.3): the canonical URLs whose `auth` it
 * accepts, the one it announces first, and whether it should warn about them.
 *
 * - With `--public-url` (repeatable), exactly those URLs: a relay behind a proxy or on a LAN
 *   names what clients dial. Loopback spellings are not added then: `ws://localhost:7070` is the
 *   same text on every machine, and a public relay that accepted it would take an auth that a
 *   client gave to a relay running on its own machine at that port.
 * - Without, a relay bound to loopback (127.0.0.1, localhost, ::1) or to every interface
 *   (0.0.0.0, ::) answers to `ws://127.0.0.1:PORT`, `ws://localhost:PORT` and
 *   `ws://[::1]:PORT`; one bound to a single other address answers to `ws://ADDRESS:PORT`.
 *   Every interface without --public-url gets a warning: machines that dial this one by its LAN
 *   address or name cannot authenticate, and `0.0.0.0` is never announced.
 */
import { canonicalRelayUrl } from '../src/protocol/frames.js';

export interface RelayUrls {
  /** Announced in `hello.relay` and printed first on stdout. */
  main: string;
  /** Every canonical URL whose auth is accepted, `main` first (`hello.urls`). */
  all: string[];
  /** A stderr warning for the operator, if any. */
  warning?: string;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

export function relayUrls(host: string, port: number, publicUrls: readonly string[] = []): RelayUrls {
  if (publicUrls.length > 0) {
    const all = [...new Set(publicUrls.map((u) => canonicalRelayUrl(u)))];
    return { main: all[0]!, all };
  }
  const loopback = [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`, `ws://[::1]:${port}`].map((u) => canonicalRelayUrl(u));
  if (isWildcardHost(host)) {
    return {
      main: loopback[0]!,
      all: loopback,
      warning: `listening on every interface (${host}) without --public-url: only clients on this machine (${loopback[0]}) can authenticate; name the URLs other machines dial with --public-url ws://HOST:${port} (repeatable)`,
    };
  }
  const own = canonicalRelayUrl(`ws://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`);
  if (isLoopbackHost(host)) return { main: own, all: [...new Set([own, ...loopback])] };
  return { main: own, all: [own] };
}
