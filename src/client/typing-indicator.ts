/**
 * The "is typing" indicator of a chat (src/client/chat-session.ts, group-chat-session.ts): on
 * for `showMs` after the last typing envelope, with one unref'd timer that redraws once it
 * lapses. A flood of envelopes only moves the deadline: one redraw when it turns on (or turns
 * to another member), one when it goes off.
 */
export class TypingIndicator {
  private until = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Who is typing (a group member's label); undefined in a two-person chat. */
  who: string | undefined;

  constructor(
    private readonly now: () => number,
    private readonly showMs: number,
    private readonly redraw: () => void,
  ) {}

  get on(): boolean {
    return this.until > this.now();
  }

  /** A typing envelope from `who`. */
  seen(who?: string): void {
    const wasOn = this.on && this.who === who;
    this.who = who;
    this.until = this.now() + this.showMs;
    if (wasOn) return;
    this.redraw();
    this.arm();
  }

  /** The message `who` was typing arrived (without `who`: whoever it was). */
  clear(who?: string): void {
    if (who === undefined || this.who === who) this.until = 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) return;
    const tick = (): void => {
      this.timer = undefined;
      const left = this.until - this.now();
      if (left > 0) {
        this.timer = setTimeout(tick, left);
        this.timer.unref();
        return;
      }
      this.redraw();
    };
    this.timer = setTimeout(tick, this.showMs);
    this.timer.unref();
  }
}
