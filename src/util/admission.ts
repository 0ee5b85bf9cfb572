/**
 * Who may hold a slot in a protocol's opening phase (NBD option haggling,
 * iSCSI login): the admission policy of one listener, pure (time is an
 * input; the protocol's shell owns sockets, timers and the log wording).
 *
 * Limits: `maxPerListener` connections in the opening phase per listener,
 * and `maxPerAddress` per peer address (Unix-socket peers have no address
 * and count against the listener only). When a limit is reached the newest
 * arrival is let in and one connection of the same scope (that address, or
 * the whole listener) is evicted instead, chosen so that a client that is
 * really talking keeps its slot:
 *
 *   1. a *silent* connection — nothing received since accept — the oldest
 *      first (an idle peer that holds a socket open);
 *   2. otherwise a *stalled* one — nothing received for `stalledAfterMs` —
 *      the least recently active first (a client in the opening phase waits
 *      one round trip for each reply, far less than a second);
 *   3. otherwise the arrival is refused: every slot is busy.
 *
 * So 1,500 idle peers cannot keep a real client out: each arrival, the real
 * one included, takes the slot of the oldest idle peer, and an idle peer
 * arriving later cannot take the real client's slot once it has spoken.
 */

export interface AdmissionLimits {
  /** Connections in the opening phase at once on one listener. */
  maxPerListener: number;
  /** Connections in the opening phase at once from one peer address. */
  maxPerAddress: number;
  /** A connection that has spoken but then received nothing for this long may be evicted. */
  stalledAfterMs: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  maxPerListener: 1024,
  maxPerAddress: 128,
  stalledAfterMs: 1000,
};

/** What the table needs to know of a connection; the shell's session object carries it. */
export interface AdmissionEntry {
  /** Peer address (IPv4-mapped IPv6 unmapped), undefined for Unix-socket peers. */
  readonly peerAddress: string | undefined;
  readonly acceptedAt: number;
  /** When bytes were last received (acceptedAt until then). */
  lastActivityAt: number;
  bytesReceived: number;
}

export type AdmissionDecision<T> =
  | { admit: true; evict?: T; scope?: 'address' | 'listener' }
  | { admit: false; scope: 'address' | 'listener' };

export class AdmissionTable<T extends AdmissionEntry> {
  private readonly all = new Set<T>();
  private readonly byAddress = new Map<string, Set<T>>();

  constructor(readonly limits: AdmissionLimits) {}

  get size(): number {
    return this.all.size;
  }

  /** Decide for a new connection from `peerAddress`; the caller evicts, then `add`s. */
  admit(peerAddress: string | undefined, now: number): AdmissionDecision<T> {
    const mine = peerAddress === undefined ? undefined : this.byAddress.get(peerAddress);
    if (mine && mine.size >= this.limits.maxPerAddress) return this.decide(mine, 'address', now);
    if (this.all.size >= this.limits.maxPerListener) return this.decide(this.all, 'listener', now);
    return { admit: true };
  }

  add(entry: T): void {
    this.all.add(entry);
    if (entry.peerAddress === undefined) return;
    let set = this.byAddress.get(entry.peerAddress);
    if (!set) this.byAddress.set(entry.peerAddress, (set = new Set()));
    set.add(entry);
  }

  remove(entry: T): void {
    if (!this.all.delete(entry) || entry.peerAddress === undefined) return;
    const set = this.byAddress.get(entry.peerAddress);
    set?.delete(entry);
    if (set?.size === 0) this.byAddress.delete(entry.peerAddress);
  }

  /** Record `bytes` received by `entry` at `now`. */
  received(entry: T, bytes: number, now: number): void {
    entry.bytesReceived += bytes;
    entry.lastActivityAt = now;
  }

  entries(): IterableIterator<T> {
    return this.all.values();
  }

  private decide(scope: Set<T>, name: 'address' | 'listener', now: number): AdmissionDecision<T> {
    const victim = pickVictim(scope, now, this.limits.stalledAfterMs);
    return victim ? { admit: true, evict: victim, scope: name } : { admit: false, scope: name };
  }
}

function pickVictim<T extends AdmissionEntry>(scope: Iterable<T>, now: number, stalledAfterMs: number): T | undefined {
  let stalled: T | undefined;
  for (const e of scope) {
    // Sets iterate in insertion order: the first silent entry is the oldest one.
    if (e.bytesReceived === 0) return e;
    if (now - e.lastActivityAt >= stalledAfterMs && (!stalled || e.lastActivityAt < stalled.lastActivityAt)) stalled = e;
  }
  return stalled;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are one peer. */
export function peerKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export interface AdmissionCounts {
  evicted: number;
  refused: number;
  timedOut: number;
  /** The address with the most evicted/refused/timed-out connections in the window. */
  topAddress?: string;
  topAddressCount?: number;
}

/**
 * Counts what a listener turned away and says when to log it: the first
 * event of a quiet period at once, then at most one summary per `windowMs`
 * (a peer can trigger these events as fast as it can connect).
 */
export class AdmissionReport {
  private counts = { evicted: 0, refused: 0, timedOut: 0 };
  private readonly perAddress = new Map<string, number>();
  private lastLogAt: number | undefined;

  constructor(readonly windowMs: number) {}

  get pending(): boolean {
    return this.counts.evicted + this.counts.refused + this.counts.timedOut > 0;
  }

  /** Count one event; returns the counts to log now, if it is time. */
  record(kind: keyof Omit<AdmissionCounts, 'topAddress' | 'topAddressCount'>, address: string | undefined, now: number): AdmissionCounts | undefined {
    this.counts[kind]++;
    if (address !== undefined && (this.perAddress.size < 1000 || this.perAddress.has(address))) {
      this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    }
    return this.due(now);
  }

  /** The counts to log now if the window since the last line has passed and something is pending. */
  due(now: number): AdmissionCounts | undefined {
    if (!this.pending) return undefined;
    if (this.lastLogAt !== undefined && now - this.lastLogAt < this.windowMs) return undefined;
    this.lastLogAt = now;
    const out: AdmissionCounts = { ...this.counts };
    let top: [string, number] | undefined;
    for (const e of this.perAddress) if (!top || e[1] > top[1]) top = e;
    if (top) {
      out.topAddress = top[0];
      out.topAddressCount = top[1];
    }
    this.counts = { evicted: 0, refused: 0, timedOut: 0 };
    this.perAddress.clear();
    return out;
  }

  /** When the pending counts may be logged, or undefined if nothing is pending. */
  nextDueAt(): number | undefined {
    if (!this.pending) return undefined;
    return this.lastLogAt === undefined ? 0 : this.lastLogAt + this.windowMs;
  }
}
