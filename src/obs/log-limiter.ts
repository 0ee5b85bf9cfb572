/**
 * Log lines a peer can trigger at will (failed logins, failed TLS
 * handshakes) go through a limiter, so a client in a loop cannot flood the
 * log: at most `burst` lines per `intervalMs`, the rest counted, and the
 * count goes with the next line let through.
 */
export class LogLimiter {
  private windowStart = -Infinity;
  private used = 0;
  private suppressed = 0;

  constructor(
    private readonly burst = 10,
    private readonly intervalMs = 10_000,
  ) {}

  /** undefined = stay quiet; otherwise log, mentioning `suppressed` lines dropped since the last one. */
  take(now: number): { suppressed: number } | undefined {
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.burst) {
      this.suppressed++;
      return undefined;
    }
    this.used++;
    const out = { suppressed: this.suppressed };
    this.suppressed = 0;
    return out;
  }
}
