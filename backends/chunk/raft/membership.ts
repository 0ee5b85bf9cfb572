/**
 * Single-server membership changes, applied WHEN APPENDED (Raft dissertation
 * §4.1): a server uses the newest configuration in its log, committed or
 * not. Truncating the log rolls the configuration back. Because the
 * configuration is a function of the log alone, a restart recovers it
 * exactly from snapshot + entries, whatever commit index was persisted.
 *
 * Safety rests on two leader rules enforced in node.ts:
 *  - at most one uncommitted `conf` entry at a time (§4.1);
 *  - no `conf` entry before an entry of the leader's own term has committed
 *    (the fix for the single-server change bug, Ongaro, raft-dev 2015).
 */
import type { ConfChange, ConfChangeOp, ConfState, Entry, NodeId } from './types.js';

const OPS: readonly ConfChangeOp[] = ['addVoter', 'addLearner', 'removeNode'];

/** Wire form of a conf entry's data: op (1 byte) + nodeId (u32 BE). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const b = new Uint8Array(5);
  b[0] = OPS.indexOf(cc.op);
  new DataView(b.buffer).setUint32(1, cc.nodeId);
  return b;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const op = OPS[data[0] ?? 255];
  if (op === undefined || data.length !== 5) throw new Error('raft: malformed conf change entry');
  return { op, nodeId: new DataView(data.buffer, data.byteOffset, 5).getUint32(1) };
}

/**
 * The configuration after `cc`, or undefined when `cc` is not a valid single
 * step: adding an existing voter, removing a non-member, removing the last
 * voter. addVoter on a learner promotes it; addLearner on a voter demotes it.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState | undefined {
  const id = cc.nodeId;
  if (id <= 0) return undefined;
  const voters = conf.voters.filter((v) => v !== id);
  const learners = conf.learners.filter((l) => l !== id);
  const isVoter = voters.length !== conf.voters.length;
  const isMember = isVoter || learners.length !== conf.learners.length;
  switch (cc.op) {
    case 'addVoter':
      return isVoter ? undefined : { voters: [...voters, id], learners };
    case 'addLearner':
      if (conf.learners.includes(id) || (isVoter && voters.length === 0)) return undefined;
      return { voters, learners: [...learners, id] };
    case 'removeNode':
      if (!isMember || (isVoter && voters.length === 0)) return undefined;
      return { voters, learners };
  }
}

interface ConfPoint {
  readonly index: number;
  readonly conf: ConfState;
}

/** The configuration history of the log after the snapshot: base + one point per conf entry. */
export class Membership {
  private points: ConfPoint[];

  constructor(baseIndex: number, base: ConfState) {
    this.points = [{ index: baseIndex, conf: base }];
  }

  current(): ConfState {
    return this.points[this.points.length - 1]!.conf;
  }

  /** Index of the newest conf entry (or of the base snapshot). */
  currentIndex(): number {
    return this.points[this.points.length - 1]!.index;
  }

  isVoter(id: NodeId): boolean {
    return this.current().voters.includes(id);
  }

  isMember(id: NodeId): boolean {
    const c = this.current();
    return c.voters.includes(id) || c.learners.includes(id);
  }

  /** Configuration in effect at `index` (valid for index ≥ the base index). */
  confAt(index: number): ConfState {
    let conf = this.points[0]!.conf;
    for (const p of this.points) if (p.index <= index) conf = p.conf;
    return conf;
  }

  /** Note appended entries; returns true if the configuration changed. Invalid changes are ignored (never proposed). */
  onAppend(entries: readonly Entry[]): boolean {
    let changed = false;
    for (const e of entries) {
      if (e.type !== 'conf') continue;
      const next = applyConfChange(this.current(), decodeConfChange(e.data));
      if (next === undefined) continue;
      this.points.push({ index: e.index, conf: next });
      changed = true;
    }
    return changed;
  }

  /** The log is truncated from `index` on: forget conf entries there; true if the configuration changed. */
  truncateFrom(index: number): boolean {
    const before = this.points.length;
    while (this.points.length > 1 && this.points[this.points.length - 1]!.index >= index) this.points.pop();
    return this.points.length !== before;
  }

  /** Snapshot installed: history restarts from its configuration. */
  reset(index: number, conf: ConfState): void {
    this.points = [{ index, conf }];
  }

  /** Forget points older than the newest one ≤ index (entries before `index` are compacted). */
  compactTo(index: number): void {
    let k = 0;
    while (k + 1 < this.points.length && this.points[k + 1]!.index <= index) k++;
    if (k > 0) this.points = this.points.slice(k);
  }
}
