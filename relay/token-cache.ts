/**
 * Delivery tokens the SQLite store has read, kept in memory so that a contact's send does not
 * query the tokens table every time (docs/PERFORMANCE.md "relay durable sends"). Only tokens
 * that exist are kept (an unknown hash is never cached: random tokens cannot fill it), at most
 * TOKEN_CACHE_ENTRIES of them, the oldest read dropped first. The store drops an entry whenever
 * it writes that hash (add, re-date, remove) and everything when it purges expired tokens, so an
 * entry always says what the table says: only this relay process writes the file.
 *
 * An internal cache, not a limit: a token that is not in it is read from the table.
 */

/** What a token hash opens: its mailbox and its expiry (ms since the epoch). */
export interface TokenRow {
  recipient: Uint8Array;
  exp: number;
}

/** Most cached tokens (about 200 bytes each: ~10 MB). */
export const TOKEN_CACHE_ENTRIES = 50_000;

export class TokenCache {
  /** Token hash (base64) -> its row, in the order they were read. */
  private readonly rows = new Map<string, TokenRow>();

  constructor(private readonly max = TOKEN_CACHE_ENTRIES) {}

  get(hk: string): TokenRow | undefined {
    return this.rows.get(hk);
  }

  set(hk: string, row: TokenRow): void {
    if (this.rows.size >= this.max && !this.rows.has(hk)) {
      const oldest = this.rows.keys().next().value;
      if (oldest !== undefined) this.rows.delete(oldest);
    }
    this.rows.set(hk, row);
  }

  /** Forgets `hk` (the store wrote it): the next read goes to the table. */
  drop(hk: string): void {
    this.rows.delete(hk);
  }

  clear(): void {
    this.rows.clear();
  }

  get size(): number {
    return this.rows.size;
  }
}
