/**
 * A token bucket: `rate` tokens per second, holding at most `rate` (one second of burst),
 * refilled continuously. The relay's send and frame rates (docs/PROTOCOL.md §7.7) are these.
 */
export class Bucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  /** Takes one token if there is one; false means over the rate (nothing was taken). */
  take(now = Date.now()): boolean {
    // A `now` read before the bucket was made (the caller's clock of the frame) is no time
    // passed, not negative time: a fresh bucket of rate 1 must grant its first token.
    this.tokens = Math.min(this.rate, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate);
    this.last = Math.max(this.last, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** True when the bucket has refilled completely (it can be forgotten without changing anything). */
  full(now = Date.now()): boolean {
    return this.tokens + ((now - this.last) / 1000) * this.rate >= this.rate;
  }
}
