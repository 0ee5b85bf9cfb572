/**
 * The stable-log view the core reads synchronously (etcd raft `Storage`),
 * and MemoryStorage, its in-memory implementation.
 *
 * Ownership: the HOST writes storage (after making data durable: Ready steps
 * 1–3); the core only reads it. In production the host keeps a MemoryStorage
 * as the RAM mirror of log-store.ts and compacts both after snapshots, so the
 * whole un-compacted log lives in memory — bound it with regular snapshots.
 */
import { encodeConfChange } from './membership.js';
import type { ConfState, Entry, HardState, NodeId, Snapshot, SnapshotMeta } from './types.js';
import { entrySize } from './types.js';

export interface Storage {
  /** Durable hard state and the snapshot metadata, read once when a RaftNode is built. */
  initialState(): { hardState: HardState; snapshotMeta: SnapshotMeta };
  /** Index of the first available entry (compaction point + 1). */
  firstIndex(): number;
  /** Index of the last stored entry (compaction point if none). */
  lastIndex(): number;
  /** Term of entry i for firstIndex-1 ≤ i ≤ lastIndex; undefined otherwise (compacted or absent). */
  term(i: number): number | undefined;
  /** Entries [lo, hi), at least one if any, stopping before `maxBytes` is exceeded. Pre: firstIndex ≤ lo ≤ hi ≤ lastIndex+1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The most recent snapshot (meta + opaque data); undefined if it is not available right now. */
  snapshot(): Snapshot | undefined;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

export class MemoryStorage implements Storage {
  private hard: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) };
  /** Index and term of the entry just before ents[0] (the compaction point, ≤ snapshot index). */
  private prevIndex = 0;
  private prevTerm = 0;
  private ents: Entry[] = [];

  /**
   * A brand-new group's initial members (every initial member bootstraps
   * with the same lists; members added later start from an empty storage).
   */
  static bootstrap(voters: readonly NodeId[], learners: readonly NodeId[] = []): MemoryStorage {
    const s = new MemoryStorage();
    const { entries, hardState } = bootstrapLog(voters, learners);
    s.append(entries);
    s.setHardState(hardState);
    return s;
  }

  initialState(): { hardState: HardState; snapshotMeta: SnapshotMeta } {
    return { hardState: this.hard, snapshotMeta: this.snap.meta };
  }

  hardState(): HardState {
    return this.hard;
  }

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  firstIndex(): number {
    return this.prevIndex + 1;
  }

  lastIndex(): number {
    return this.prevIndex + this.ents.length;
  }

  term(i: number): number | undefined {
    if (i === this.prevIndex) return this.prevTerm;
    if (i < this.prevIndex || i > this.lastIndex()) return undefined;
    return this.ents[i - this.prevIndex - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex() || hi > this.lastIndex() + 1 || lo > hi) {
      throw new RangeError(`entries [${lo},${hi}) outside [${this.firstIndex()},${this.lastIndex() + 1})`);
    }
    const base = this.prevIndex + 1;
    return limitSize(this.ents.slice(lo - base, hi - base), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Append (after the host persisted them); stored entries at or after entries[0].index are replaced. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first > this.lastIndex() + 1) throw new RangeError(`append gap: ${first} after ${this.lastIndex()}`);
    // Entries already compacted away are committed and identical: skip them.
    const skip = Math.max(0, this.prevIndex + 1 - first);
    this.ents.length = Math.max(0, first + skip - this.prevIndex - 1);
    for (let k = skip; k < entries.length; k++) this.ents.push(entries[k]!);
  }

  /** Install a snapshot received from the leader: the whole log is replaced by it. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index < this.snap.meta.index) return;
    this.snap = snap;
    this.prevIndex = snap.meta.index;
    this.prevTerm = snap.meta.term;
    this.ents = [];
  }

  /** Record a snapshot the application took at meta.index (≤ lastIndex); entries are kept until compact(). */
  createSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    if (meta.index <= this.snap.meta.index) return;
    if (meta.index > this.lastIndex()) throw new RangeError('snapshot beyond last index');
    this.snap = { meta, data };
  }

  /**
   * Drop entries ≤ index. Pre: index ≤ snapshot index (the snapshot must
   * cover what is dropped). Keeping a tail behind the snapshot lets slow
   * followers catch up from the log instead of a snapshot transfer.
   */
  compact(index: number): void {
    if (index <= this.prevIndex) return;
    if (index > this.snap.meta.index) throw new RangeError('compact beyond snapshot');
    const term = this.term(index)!;
    this.ents = this.ents.slice(index - this.prevIndex);
    this.prevIndex = index;
    this.prevTerm = term;
  }
}

/** Keep a prefix of `ents` whose total size stays ≤ maxBytes (always at least one entry). */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  while (n < ents.length) {
    size += entrySize(ents[n]!);
    if (size > maxBytes) break;
    n++;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * The initial log of a new group (as etcd raft bootstraps): one committed
 * `conf` entry per initial member at term 1, so membership is always a
 * function of the log and a member added later learns the initial
 * configuration by replication like any other entry.
 */
export function bootstrapLog(
  voters: readonly NodeId[],
  learners: readonly NodeId[] = [],
): { entries: Entry[]; hardState: HardState } {
  const changes = [
    ...voters.map((nodeId) => ({ op: 'addVoter' as const, nodeId })),
    ...learners.map((nodeId) => ({ op: 'addLearner' as const, nodeId })),
  ];
  const entries: Entry[] = changes.map((cc, k) => ({ index: k + 1, term: 1, type: 'conf', data: encodeConfChange(cc) }));
  return { entries, hardState: { term: 1, vote: 0, commit: entries.length } };
}
