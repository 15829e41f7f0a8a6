/**
 * Several URLs for one relay deployment (relays sharing one store, docs/PROTOCOL.md §7.8.1):
 * config.json `relay` names the deployment (contacts are pinned from it, delivery tokens are
 * bound to it), and `relayFallbacks` lists other URLs of the same deployment. A connection is
 * dialled to the first URL that answers, in that order, so a client whose relay was killed
 * goes on through the next one; each connection signs the URL it dialled (auth stays bound to
 * it, §7.3), so every relay must announce its own URL (--public-url).
 */
import { RelayError } from '../errors.js';
import type { RelayClient } from './relay-client.js';

/**
 * Connects to the first of `urls` that answers, trying them in order (the first is the
 * deployment's own URL: preferred again as soon as it is back). When none does, throws the
 * first URL's error, so a single-URL setup fails exactly as before.
 */
export async function dialFirst(urls: readonly string[], connect: (url: string) => Promise<RelayClient>): Promise<RelayClient> {
  let first: unknown;
  for (const url of urls) {
    try {
      return await connect(url);
    } catch (e) {
      first ??= e;
      if (!(e instanceof RelayError)) throw e; // not a relay's answer or a network failure: a bug, said at once
    }
  }
  throw first;
}
