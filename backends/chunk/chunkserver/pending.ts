/**
 * Requests of one copyset waiting on Raft: proposals (answered when their
 * (index, term) is applied) and reads (answered when the applied index
 * reaches their ReadIndex). Pure bookkeeping, no I/O.
 */
import type { Entry } from '../raft/index.js';

export type Settle<T> = (outcome: T) => void;

interface Proposal<T> {
  readonly term: number;
  readonly settle: Settle<T | 'lost'>;
}

interface Read<T> {
  index: number;
  readonly bornTick: number;
  readonly settle: Settle<T | 'ready'>;
}

export class PendingProposals<T> {
  private readonly byIndex = new Map<number, Proposal<T>>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number): Promise<T | 'lost'> {
    return new Promise((settle) => this.byIndex.set(index, { term, settle }));
  }

  /**
   * Entry `e` was applied: its proposal (same index) succeeded if the term
   * matches, else it was overwritten by another leader's entry ('lost').
   */
  applied(e: Entry, ok: T): void {
    const p = this.byIndex.get(e.index);
    if (!p) return;
    this.byIndex.delete(e.index);
    p.settle(p.term === e.term ? ok : 'lost');
  }

  failAll(outcome: T): void {
    const all = [...this.byIndex.values()];
    this.byIndex.clear();
    for (const p of all) p.settle(outcome);
  }
}

export class PendingReads<T> {
  private readonly byCtx = new Map<number, Read<T>>();
  private seq = 0;

  get size(): number {
    return this.byCtx.size;
  }

  /** Register a read; `ctx` is handed to RaftNode.readIndex. */
  add(tick: number): { ctx: number; done: Promise<T | 'ready'> } {
    const ctx = ++this.seq;
    const done = new Promise<T | 'ready'>((settle) => this.byCtx.set(ctx, { index: -1, bornTick: tick, settle }));
    return { ctx, done };
  }

  drop(ctx: number): void {
    this.byCtx.delete(ctx);
  }

  /** Ready.readStates: the read point of each read. */
  readPoint(ctx: unknown, index: number): void {
    const r = this.byCtx.get(ctx as number);
    if (r) r.index = index;
  }

  /** Release every read whose read point is applied. */
  release(applied: number): void {
    for (const [ctx, r] of this.byCtx) {
      if (r.index >= 0 && r.index <= applied) {
        this.byCtx.delete(ctx);
        r.settle('ready');
      }
    }
  }

  /** Fail reads older than `maxAgeTicks` (their ReadIndex round was lost with a leadership change). */
  expire(tick: number, maxAgeTicks: number, outcome: T): void {
    for (const [ctx, r] of this.byCtx) {
      if (tick - r.bornTick > maxAgeTicks) {
        this.byCtx.delete(ctx);
        r.settle(outcome);
      }
    }
  }

  failAll(outcome: T): void {
    const all = [...this.byCtx.values()];
    this.byCtx.clear();
    for (const r of all) r.settle(outcome);
  }
}
