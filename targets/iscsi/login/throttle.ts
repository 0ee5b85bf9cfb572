/**
 * Throttling of failed CHAP authentications (pure: time is an argument).
 *
 * Each source address and each configured account has a failure count and
 * the earliest time its next CHAP response may be judged. Once a key has
 * `freeFailures` failures, each failure spaces the next judgement by a delay
 * that doubles from `baseDelayMs` up to `maxDelayMs`. The delay is
 * applied before the outcome is sent, success or failure alike, so a client
 * cannot tell a wrong guess early from the missing success. Parallel
 * connections from one source queue behind each other (each takes the next
 * slot), so opening more connections does not buy more guesses; a response
 * whose slot lies beyond `maxBacklogMs` is refused without being judged,
 * after `maxDelayMs` (so a flood of refusals is as slow as guesses).
 * A success clears its address's and account's record.
 *
 * Memory is bounded: each table keeps at most `maxEntries` keys, least
 * recently used evicted first; accounts are keyed only when they exist, so
 * an attacker cycling CHAP_N values or source ports grows nothing but the
 * (bounded) address table.
 */

export interface ThrottleOptions {
  /** Failures per key before any delay (default 3). */
  freeFailures: number;
  /** First delay; doubles per further failure (default 250 ms). */
  baseDelayMs: number;
  /** Delay cap per failure (default 4000 ms). */
  maxDelayMs: number;
  /** Refuse, unjudged, a response that would wait longer than this (default 10 s). */
  maxBacklogMs: number;
  /** A key with no failure for this long starts afresh (default 10 min). */
  forgetAfterMs: number;
  /** Keys per table (default 4096). */
  maxEntries: number;
}

export const DEFAULT_THROTTLE: Readonly<ThrottleOptions> = {
  freeFailures: 3,
  baseDelayMs: 250,
  maxDelayMs: 4000,
  maxBacklogMs: 10_000,
  forgetAfterMs: 600_000,
  maxEntries: 4096,
};

interface Record {
  failures: number;
  /** Earliest time (ms) the next response of this key may be judged. */
  nextAt: number;
  lastFailureAt: number;
}

/** Who is authenticating: the peer's IP (no port) and, if it names one, an existing account. */
export interface AuthSubject {
  address: string;
  account?: string;
}

export type ThrottleDecision =
  /** Judge now; send the outcome `delayMs` from now (0 = at once). */
  | { kind: 'judge'; delayMs: number }
  /** Too many queued: refuse without judging, `delayMs` from now. */
  | { kind: 'refuse'; delayMs: number };

class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Most recently used last.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.map.delete(key);
    this.map.set(key, v);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
}

export class AuthThrottle {
  readonly opts: ThrottleOptions;
  private readonly byAddress: BoundedMap<Record>;
  private readonly byAccount: BoundedMap<Record>;

  constructor(opts: Partial<ThrottleOptions> = {}) {
    this.opts = { ...DEFAULT_THROTTLE, ...opts };
    this.byAddress = new BoundedMap(this.opts.maxEntries);
    this.byAccount = new BoundedMap(this.opts.maxEntries);
  }

  /** Keys held (for tests: the tables stay bounded). */
  get size(): { addresses: number; accounts: number } {
    return { addresses: this.byAddress.size, accounts: this.byAccount.size };
  }

  /** When may a CHAP response of `who` arriving at `now` be judged? Reserves that slot. */
  admit(who: AuthSubject, now: number): ThrottleDecision {
    const recs = this.records(who, now);
    const at = Math.max(now, ...recs.map((r) => r?.nextAt ?? now));
    if (at - now > this.opts.maxBacklogMs) return { kind: 'refuse', delayMs: this.opts.maxDelayMs };
    return { kind: 'judge', delayMs: at - now };
  }

  /** Record a judged failure at (slot) time `at` = now + the delay `admit` gave. */
  failed(who: AuthSubject, at: number): void {
    for (const [table, key] of this.keys(who)) {
      const r = table.get(key) ?? { failures: 0, nextAt: at, lastFailureAt: at };
      r.failures++;
      r.lastFailureAt = at;
      r.nextAt = Math.max(r.nextAt, at) + this.spacing(r.failures);
      table.set(key, r);
    }
  }

  succeeded(who: AuthSubject): void {
    for (const [table, key] of this.keys(who)) table.delete(key);
  }

  /** Delay before the next judgement after `failures` failures: none until `freeFailures`, then doubling. */
  private spacing(failures: number): number {
    const free = this.opts.freeFailures;
    if (failures < free) return 0;
    return Math.min(this.opts.baseDelayMs * 2 ** Math.min(failures - Math.max(free, 1), 30), this.opts.maxDelayMs);
  }

  private keys(who: AuthSubject): [BoundedMap<Record>, string][] {
    const out: [BoundedMap<Record>, string][] = [[this.byAddress, sourceKey(who.address)]];
    if (who.account !== undefined) out.push([this.byAccount, who.account]);
    return out;
  }

  private records(who: AuthSubject, now: number): (Record | undefined)[] {
    return this.keys(who).map(([table, key]) => {
      const r = table.get(key);
      if (r && now - r.lastFailureAt > this.opts.forgetAfterMs && r.nextAt <= now) {
        table.delete(key);
        return undefined;
      }
      return r;
    });
  }
}

/**
 * The throttle's key for a source address: IPv4 as is, IPv6 by its /64
 * (one host usually holds a whole /64, so cycling addresses inside it must
 * not buy fresh free failures).
 */
export function sourceKey(address: string): string {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '').toLowerCase();
  if (!a.includes(':') || /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(a)) return a.replace(/^::ffff:/, '');
  const [head = '', tail] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
