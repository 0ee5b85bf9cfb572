/**
 * A snapshot acknowledged after the leader compacted its log past it
 * (chunk-replace fault test, seen under load): the spare fetched the
 * chunk files of snapshot S for ~0.8 s while the leader applied 30 more
 * writes, snapshotted again and compacted to beyond S+1. The ack
 * (AppendEntriesResp index = S) then neither let the leader replicate from
 * its log (S+1 < firstIndex) nor ended the `snapshot` state, so the leader
 * sent the spare nothing until snapshotTimeoutTicks (50 s at 50 ms ticks);
 * once the spare was promoted, every write of the copyset waited for it.
 * The ack of the pending snapshot must end the snapshot state: the leader
 * then sends its newer snapshot at once.
 */
import { describe, expect, it } from 'vitest';
import type { InstallSnapshot, Message } from '../../../../backends/chunk/raft/index.js';
import { Cluster, str, text } from '../../raft/harness.js';

/** Leader 1 snapshots at its applied index and compacts its log to it. */
function snapshotLeader(c: Cluster): number {
  const leader = c.node(1);
  const idx = leader.raft.status().applied;
  leader.storage.createSnapshot({ index: idx, term: leader.raft.termAt(idx)!, conf: leader.raft.confStateAt(idx) }, text(`state@${idx}`));
  leader.storage.compact(idx);
  return idx;
}

function writes(c: Cluster, from: number, n: number): void {
  for (let k = from; k < from + n; k++) expect(c.raft(1).propose(text(`w${k}`)).ok).toBe(true);
  c.stabilize();
}

describe('InstallSnapshot acknowledged after the leader compacted past it', () => {
  it('the leader leaves the snapshot state and sends its newer snapshot at once (no snapshot timeout)', () => {
    const c = new Cluster([1, 2, 3, 4], { leaseOnBoot: false, electionTicks: 10 }, [1, 2, 3]);
    c.elect(1);
    writes(c, 0, 10);
    const first = snapshotLeader(c);
    // Hold the InstallSnapshot to the newcomer: its host is still fetching the files.
    const held: Message[] = [];
    c.filter = (m) => (m.type === 'InstallSnapshot' && m.to === 4 ? void held.push(m) : m);
    expect(c.raft(1).proposeConfChange({ op: 'addLearner', nodeId: 4 }).ok).toBe(true);
    c.stabilize();
    expect(held.map((m) => (m as InstallSnapshot).snapshot.meta.index)).toEqual([first]);
    // Meanwhile the leader keeps writing, snapshots again and compacts past first+1.
    writes(c, 10, 10);
    const second = snapshotLeader(c);
    expect(c.raft(1).status().firstIndex).toBeGreaterThan(first + 1);
    // The fetch ends: node 4 installs the first snapshot and acknowledges it.
    c.filter = undefined;
    c.raft(4).step(held[0]!);
    c.stabilize();
    expect(c.node(4).storage.snapshot().meta.index).toBe(second);
    expect(c.raft(1).status().progress.get(4)).toMatchObject({ state: 'replicate', match: c.raft(1).status().lastIndex });
    writes(c, 20, 1);
    expect(c.node(4).applied.map(str)).toContain('w20');
    expect(c.raft(4).status().lastIndex).toBe(c.raft(1).status().lastIndex);
  });

  it('an ack of the pending snapshot that the log still covers goes straight to replicate', () => {
    const c = new Cluster([1, 2, 3, 4], { leaseOnBoot: false, electionTicks: 10 }, [1, 2, 3]);
    c.elect(1);
    writes(c, 0, 10);
    const first = snapshotLeader(c);
    expect(c.raft(1).proposeConfChange({ op: 'addLearner', nodeId: 4 }).ok).toBe(true);
    c.stabilize();
    expect(c.sent.filter((m) => m.type === 'InstallSnapshot').length).toBe(1);
    expect(c.node(4).storage.snapshot().meta.index).toBe(first);
    expect(c.raft(1).status().progress.get(4)?.state).toBe('replicate');
  });
});
