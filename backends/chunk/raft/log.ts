/**
 * RaftLog: the stable entries (a read-only Storage view the host fills after
 * persisting) followed by the unstable tail (entries/snapshot the core has
 * accepted but the host has not yet made durable). Mirrors etcd raft's
 * raftLog + unstable. Indices are 1-based; index 0 has term 0.
 */
import type { Storage } from './storage.js';
import { limitSize } from './storage.js';
import type { Entry, Snapshot } from './types.js';

class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  term(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot !== undefined && this.snapshot.meta.index === i ? this.snapshot.meta.term : undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  /** Append, replacing any unstable entries at or after ents[0].index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0]!.index;
    if (first === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (first <= this.offset) {
      // Replaces everything unstable; the host will truncate storage from `first`.
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(ents);
    }
  }

  stableTo(index: number, term: number): void {
    if (index < this.offset || this.term(index) !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }
}

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed. Never decreases. */
  committed: number;
  /** Highest index handed to the host for applying (and advanced). */
  applied: number;

  constructor(storage: Storage, committed: number, applied: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = committed;
    this.applied = applied;
  }

  firstIndex(): number {
    const s = this.unstable.snapshot;
    return s !== undefined ? s.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** Term at i, or undefined when i is compacted or beyond the log. term(0) = 0. */
  term(i: number): number | undefined {
    if (i === 0) return 0;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.unstable.term(i) ?? this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** First index in `ents` that is absent or conflicts with our log; 0 if all present. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Largest index ≤ `index` whose term ≤ `term` (or the compaction point with
   * term 0 if we cannot look further back): the fast back-off hint.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Raw append into the unstable tail. Caller (node.ts) keeps membership in sync. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    if (ents[0]!.index <= this.committed) throw new Error(`raft: overwrite of committed index ${ents[0]!.index}`);
    this.unstable.truncateAndAppend(ents);
  }

  /** Entries [lo, hi) bounded by maxBytes; undefined when lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    const u = this.unstable;
    let out: Entry[] = [];
    if (lo < u.offset) {
      out = this.storage.entries(lo, Math.min(hi, u.offset), maxBytes);
      if (out.length < Math.min(hi, u.offset) - lo) return out; // size-limited
    }
    if (hi > u.offset) {
      const from = Math.max(lo, u.offset) - u.offset;
      out = out.concat(u.entries.slice(from, hi - u.offset));
    }
    return limitSize(out, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }

  /** Commit up to `index` if it belongs to `term` (Raft §5.4.2: only current-term entries by counting). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.committed = index;
      return true;
    }
    return false;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) throw new Error(`raft: commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    if (this.unstable.snapshot?.meta.index === index) this.unstable.snapshot = undefined;
  }

  /** Replace the whole log with a snapshot (follower side, §7). */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  /** Entries the host must persist next. */
  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }
}
