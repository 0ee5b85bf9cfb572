/**
 * Leader-side replication tracking per peer (etcd raft `tracker`).
 *
 *  probe:     we do not know where the follower's log matches; send one
 *             AppendEntries, then wait for its answer (or a heartbeat answer).
 *  replicate: steady state; `next` advances optimistically as we send, with
 *             up to maxInflightMsgs / maxInflightBytes AppendEntries in
 *             flight (pipelining).
 *  snapshot:  an InstallSnapshot is under way; nothing else is sent until the
 *             follower acknowledges it, the host reports the outcome, or the
 *             snapshot timeout expires.
 */
import type { ConfState, NodeId } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Sliding window of in-flight AppendEntries, identified by their last index. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {}

  add(lastIndex: number, bytes: number): void {
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** The follower acknowledged everything ≤ index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) this.bytes -= this.sizes[n++]!;
    if (n > 0) {
      this.lastIndexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  freeFirstOne(): void {
    if (this.lastIndexes.length > 0) this.freeLE(this.lastIndexes[0]!);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: an AppendEntries is outstanding; cleared by any answer or heartbeat answer. */
  probeSent = false;
  /** snapshot: index of the snapshot in flight, and ticks spent waiting for it. */
  pendingSnapshot = 0;
  snapshotElapsed = 0;
  /** Heard from since the last check-quorum round (§6.2 / dissertation §6.2). */
  recentActive = false;
  /** Highest heartbeat round and leader tick echoed back (ReadIndex, lease). */
  ackedRound = 0;
  ackedTick = -Infinity;
  /** Leader tick of the last AppendEntries sent (to detect lost pipelined messages). */
  lastSendTick = -Infinity;
  readonly inflights: Inflights;

  constructor(next: number, maxMsgs: number, maxBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxMsgs, maxBytes);
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot: probe right after it.
    const from = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.reset('probe');
    this.next = from;
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotElapsed = 0;
    this.inflights.reset();
  }

  /** Successful AppendEntriesResp(index). Returns false if it tells us nothing new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Rejected AppendEntries(prevIndex = rejected); `matchHint` is the highest
   * index that may still match. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Record an AppendEntries just sent with `count` entries ending at lastIndex. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

/** Size of a majority of n voters. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The value v such that a majority of voters report ≥ v (voters' values
 * sorted descending, take the quorum-th). Undefined when there are no voters.
 */
export function quorumValue(conf: ConfState, valueOf: (id: NodeId) => number): number | undefined {
  const n = conf.voters.length;
  if (n === 0) return undefined;
  const vals = conf.voters.map(valueOf).sort((a, b) => b - a);
  return vals[quorum(n) - 1];
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

export function tallyVotes(conf: ConfState, votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const v of conf.voters) {
    const r = votes.get(v);
    if (r === true) granted++;
    else if (r === false) rejected++;
  }
  const q = quorum(conf.voters.length);
  if (granted >= q) return 'won';
  if (rejected > conf.voters.length - q) return 'lost';
  return 'pending';
}
