/**
 * Linearizable reads without writing to the log (dissertation §6.4).
 *
 * ReadIndex: the leader records its commit index, then confirms it is still
 * leader with a heartbeat round; once a majority echoes a round ≥ the read's
 * round, reads up to that point are released. Reads queued before the
 * leader has committed an entry of its own term wait for that commit
 * (§6.4 step 1: until then the leader's commit index may be stale).
 *
 * Lease (§6.4.1): followers ignore vote requests for electionTicks after
 * hearing from the leader (check-quorum), so a majority's echo of a heartbeat
 * sent at leader tick t lets the leader serve reads without a round trip
 * while tick < t + electionTicks - 1 - leaseDriftTicks (the -1 absorbs tick
 * granularity; the drift margin absorbs clock-rate differences).
 */
import type { ReadState } from './types.js';

interface PendingRead {
  readonly ctx: unknown;
  readonly index: number;
  readonly round: number;
}

export class ReadOnly {
  /** Reads waiting for a heartbeat round to be confirmed, in round order. */
  private readonly queue: PendingRead[] = [];
  /** Reads waiting for the leader's first commit in its term. */
  private readonly waitingCommit: unknown[] = [];

  addPending(ctx: unknown, index: number, round: number): void {
    this.queue.push({ ctx, index, round });
  }

  waitForCommit(ctx: unknown): void {
    this.waitingCommit.push(ctx);
  }

  takeWaitingCommit(): unknown[] {
    return this.waitingCommit.splice(0);
  }

  /** A majority confirmed `round`: release every read registered at ≤ round. */
  release(round: number): ReadState[] {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.round <= round) n++;
    return this.queue.splice(0, n).map((r) => ({ index: r.index, ctx: r.ctx }));
  }

  pendingCount(): number {
    return this.queue.length + this.waitingCommit.length;
  }
}

/** Tick up to which (exclusive) a lease confirmed by a heartbeat sent at `sentTick` is valid. */
export function leaseExpiry(sentTick: number, electionTicks: number, leaseDriftTicks: number): number {
  return sentTick + electionTicks - 1 - leaseDriftTicks;
}
