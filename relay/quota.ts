/**
 * The relay's quotas that are not token buckets (docs/PROTOCOL.md §7.7): counts of events in a
 * sliding window (name changes per identity per day, new names per remote address per hour),
 * the key a remote address is counted under, and the free space of the data directory's file
 * system (for --min-free), read at most once a second.
 *
 * All of it is in memory: a restart forgets the windows (the disk budget is re-read from the
 * store and the file system).
 */
import { statfsSync } from 'node:fs';

/** At most `max` events per key in any `windowMs`; old events are forgotten. */
export class WindowCounter {
  private readonly events = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  /** True when one more event for `key` at `now` stays within the limit (nothing is recorded). */
  allows(key: string, now = Date.now()): boolean {
    return this.recent(key, now).length < this.max;
  }

  record(key: string, now = Date.now()): void {
    const list = this.recent(key, now);
    list.push(now);
    this.events.set(key, list);
  }

  /** Takes back one event recorded for `key` at `at` (a reservation that was not used). */
  unrecord(key: string, at: number): void {
    const list = this.events.get(key);
    const i = list?.lastIndexOf(at) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    if (list?.length === 0) this.events.delete(key);
  }

  /** Forgets keys with no event left in the window. */
  sweep(now = Date.now()): void {
    for (const k of [...this.events.keys()]) if (this.recent(k, now).length === 0) this.events.delete(k);
  }

  private recent(key: string, now: number): number[] {
    const list = this.events.get(key);
    if (!list) return [];
    const cutoff = now - this.windowMs;
    let i = 0;
    while (i < list.length && list[i]! <= cutoff) i++;
    if (i > 0) list.splice(0, i);
    if (list.length === 0) this.events.delete(key);
    return list;
  }
}

/**
 * The key a remote address is counted under: an IPv4 address as is (also when written as
 * `::ffff:a.b.c.d`), an IPv6 address by its /64 prefix (one host usually holds a whole /64),
 * `unknown` when the socket has none. Behind a reverse proxy every client has the proxy's
 * address: forwarded headers are not trusted, so raise --names-per-addr there.
 */
export function addressKey(addr: string | undefined): string {
  if (!addr) return 'unknown';
  const a = addr.replace(/%.*$/, '').toLowerCase();
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) return v4[1]!;
  if (!a.includes(':')) return a;
  const [head = '', tail] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return (
    groups
      .slice(0, 4)
      .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : g))
      .join(':') + '::/64'
  );
}

/** Free bytes (for unprivileged users) on the file system of `dir`, re-read at most every `everyMs`. */
export function freeSpaceProbe(dir: string, everyMs = 1000): (now?: number) => number {
  let at = -Infinity;
  let free = Infinity;
  return (now = Date.now()) => {
    if (now - at >= everyMs) {
      at = now;
      try {
        const s = statfsSync(dir);
        free = Number(s.bavail) * Number(s.bsize);
      } catch {
        free = Infinity; // cannot tell: the insert itself reports a full disk (SQLITE_FULL -> STORE_FULL)
      }
    }
    return free;
  };
}
