/**
 * A bound on the memory connections hold for requests in flight and for
 * replies not yet taken by the kernel (a client that asks for large reads
 * and never reads makes the daemon hold every reply): per connection, and
 * for the whole daemon.
 *
 * Connections live in different target loops (Workers), so the daemon-wide
 * figure is one Int32 word of KiB in a SharedArrayBuffer every loop adds to
 * with Atomics. A connection publishes its holdings only when they moved by
 * a granule (or fell to zero), so the hot path pays an atomic per granule
 * of change, not per request; the shared figure may be off by a granule per
 * connection.
 *
 * Over either bound a connection stops reading new requests (requests
 * already read still complete and their replies are queued). A connection
 * holding nothing may always read, so a fresh client is served even while
 * the daemon budget is spent. Whoever waits on the daemon budget is polled:
 * the memory that frees it is released in other threads.
 */
export interface ReplyLimits {
  /** A connection holding this much stops reading requests until it falls below. */
  perConnectionBytes: number;
  /** Every connection of the daemon holding this much together: those holding any stop reading. */
  daemonBytes: number;
}

const MiB = 1024 * 1024;

/** docs/config.md `replyBudget`. */
export const DEFAULT_REPLY_LIMITS: ReplyLimits = { perConnectionBytes: 16 * MiB, daemonBytes: 256 * MiB };

/** Holdings are published when they moved by this much. */
const GRANULE_KIB = 256;
/** How often a connection waiting on the daemon budget looks again. */
const POLL_MS = 5;

/** The config's `replyBudget` (bytes; absent keys take the defaults). */
export function replyLimits(cfg: { perConnection?: number; daemon?: number } | undefined): ReplyLimits {
  return {
    perConnectionBytes: cfg?.perConnection ?? DEFAULT_REPLY_LIMITS.perConnectionBytes,
    daemonBytes: cfg?.daemon ?? DEFAULT_REPLY_LIMITS.daemonBytes,
  };
}

export function createReplyBudgetBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** The daemon-wide figure (metrics). */
export function readReplyBacklogBytes(sab: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(sab), 0) * 1024;
}

export type Timer = (ms: number, fn: () => void) => () => void;

/** What `ReplyAccount.update` found: under both bounds, over the connection's, or the daemon's spent. */
export const Over = { No: 0, Connection: 1, Daemon: 2 } as const;
export type Over = (typeof Over)[keyof typeof Over];

/** One per target loop, over the daemon's shared buffer. */
export class ReplyBudget {
  private readonly heldKiB: Int32Array;
  private readonly daemonKiB: number;
  private waiting: (() => void)[] = [];
  private polling = false;

  constructor(
    sab: SharedArrayBuffer,
    readonly limits: ReplyLimits,
    private readonly setTimer: Timer,
  ) {
    this.heldKiB = new Int32Array(sab);
    this.daemonKiB = Math.ceil(limits.daemonBytes / 1024);
  }

  /** A budget of its own (tests, standalone servers): the daemon figure counts this loop only. */
  static local(limits: ReplyLimits = DEFAULT_REPLY_LIMITS, setTimer: Timer = realTimer): ReplyBudget {
    return new ReplyBudget(createReplyBudgetBuffer(), limits, setTimer);
  }

  account(): ReplyAccount {
    return new ReplyAccount(this);
  }

  exhausted(): boolean {
    return Atomics.load(this.heldKiB, 0) >= this.daemonKiB;
  }

  add(kib: number): void {
    Atomics.add(this.heldKiB, 0, kib);
  }

  /** Call `fn` on a later poll (it looks again and waits again if it must). */
  retryLater(fn: () => void): void {
    this.waiting.push(fn);
    if (this.polling) return;
    this.polling = true;
    this.setTimer(POLL_MS, this.poll);
  }

  private readonly poll = (): void => {
    this.polling = false;
    const w = this.waiting;
    this.waiting = [];
    for (const fn of w) fn();
  };
}

/** One connection's share of the budget. */
export class ReplyAccount {
  private publishedKiB = 0;

  constructor(private readonly budget: ReplyBudget) {}

  /** Record what the connection holds now (bytes); says whether it is over a bound. */
  update(bytes: number): Over {
    const kib = Math.ceil(bytes / 1024);
    const d = kib - this.publishedKiB;
    if (d >= GRANULE_KIB || d <= -GRANULE_KIB || (kib === 0 && d !== 0)) {
      this.budget.add(d);
      this.publishedKiB = kib;
    }
    if (bytes >= this.budget.limits.perConnectionBytes) return Over.Connection;
    return bytes > 0 && this.budget.exhausted() ? Over.Daemon : Over.No;
  }

  /** The connection is gone: what it published goes back. */
  release(): void {
    if (this.publishedKiB !== 0) this.budget.add(-this.publishedKiB);
    this.publishedKiB = 0;
  }

  retryLater(fn: () => void): void {
    this.budget.retryLater(fn);
  }
}

const realTimer: Timer = (ms, fn) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return () => clearTimeout(t);
};
