import { describe, expect, it } from 'vitest';
import { step, type CopysetView, type NodeView, type SchedulerView } from '../../../../backends/chunk/mds/scheduler.js';
import type { CopysetLive, PendingOp } from '../../../../backends/chunk/mds/types.js';

const config = { replicas: 3, maxCopysetsPerChunkserver: 10, opTimeoutMs: 1000, catchUpLag: 2, leaderBalance: true };
// zones: a = 1,4   b = 2,5   c = 3,6
const nodes = (down: number[] = []): NodeView[] =>
  [1, 2, 3, 4, 5, 6].map((id) => ({ id, zone: 'abc'[(id - 1) % 3]!, up: !down.includes(id) }));
const live = (leaderId: number, applied: Record<number, number> = {}, appliedIndex = 10): CopysetLive => ({
  leaderId, term: 2, appliedIndex, peerApplied: new Map(Object.entries(applied).map(([k, v]) => [Number(k), v])),
});
/** Every chunkserver's applied index equal to the leader's. */
const synced = { 1: 10, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10 };
const view = (copysets: CopysetView[], over: Partial<SchedulerView> = {}): SchedulerView => ({ now: 5000, config, nodes: nodes(), copysets, pending: [], ...over });

describe('scheduler: repair', () => {
  it('adds a replacement in the dead member\'s free zone, through the leader', () => {
    const r = step(view([{ id: 1, members: [1, 2, 3], live: live(2) }], { nodes: nodes([1]) }));
    expect(r.start).toEqual([{ copysetId: 1, kind: 'addPeer', peer: 4, issuedAt: 5000 }]);
  });

  it('does nothing while the leader is unknown or dead', () => {
    expect(step(view([{ id: 1, members: [1, 2, 3], live: live(1) }], { nodes: nodes([1]) })).start).toEqual([]);
    expect(step(view([{ id: 1, members: [1, 2, 3], live: undefined }], { nodes: nodes([1]) })).start).toEqual([]);
  });

  it('waits for the new member to catch up, then removes the dead one', () => {
    const members = [1, 2, 3, 4];
    const behind = step(view([{ id: 1, members, live: live(2, { 3: 10, 4: 3 }) }], { nodes: nodes([1]) }));
    expect(behind.start).toEqual([]);
    const caughtUp = step(view([{ id: 1, members, live: live(2, { 3: 10, 4: 9 }) }], { nodes: nodes([1]) }));
    expect(caughtUp.start).toEqual([{ copysetId: 1, kind: 'removePeer', peer: 1, issuedAt: 5000 }]);
  });

  it('tracks pending ops: done when seen, timeout, obsolete; one op per copyset at a time', () => {
    const add: PendingOp = { copysetId: 1, kind: 'addPeer', peer: 4, issuedAt: 4500 };
    const waiting = step(view([{ id: 1, members: [1, 2, 3], live: live(2) }], { nodes: nodes([1]), pending: [add] }));
    expect(waiting).toEqual({ start: [], finished: [] });
    const done = step(view([{ id: 1, members: [1, 2, 3, 4], live: live(2, { 3: 10, 4: 0 }) }], { nodes: nodes([1]), pending: [add] }));
    expect(done.finished).toEqual([{ op: add, outcome: 'done' }]);
    const late = step(view([{ id: 1, members: [1, 2, 3], live: live(2) }], { nodes: nodes([1]), pending: [add], now: 9000 }));
    expect(late.finished).toEqual([{ op: add, outcome: 'timeout' }]);
    expect(late.start).toEqual([{ copysetId: 1, kind: 'addPeer', peer: 4, issuedAt: 9000 }]);
    const obsolete = step(view([{ id: 1, members: [1, 2, 3], live: live(2) }], { nodes: nodes([1, 4]), pending: [add] }));
    expect(obsolete.finished[0]?.outcome).toBe('obsolete');
    expect(obsolete.start).toEqual([]); // zone a has no other live chunkserver
  });

  it('sheds an extra member when the dead one came back', () => {
    const r = step(view([{ id: 1, members: [1, 2, 3, 4], live: live(2, { 1: 10, 3: 10, 4: 10 }) }]));
    expect(r.start).toEqual([{ copysetId: 1, kind: 'removePeer', peer: 1, issuedAt: 5000 }]);
  });

  it('respects the per-chunkserver bound when choosing a replacement', () => {
    const full = Array.from({ length: 10 }, (_, i) => ({ id: 100 + i, members: [4, 5, 6], live: live(5) }));
    const r = step(view([{ id: 1, members: [1, 2, 3], live: live(2) }, ...full], { nodes: nodes([1]) }));
    expect(r.start.filter((o) => o.kind === 'addPeer')).toEqual([]);
  });
});

describe('scheduler: leader balance', () => {
  it('moves leadership from the busiest leader to members leading fewer', () => {
    const copysets = [1, 2, 3, 4, 5, 6].map((id) => ({ id, members: id % 2 ? [1, 2, 3] : [4, 5, 6], live: live(id % 2 ? 1 : 4, synced) }));
    const r = step(view(copysets));
    expect(r.start.length).toBeGreaterThanOrEqual(2);
    expect(r.start.every((o) => o.kind === 'transferLeader')).toBe(true);
    const moved = new Map(r.start.map((o) => [o.copysetId, o.peer]));
    const leads = new Map<number, number>();
    for (const cs of copysets) {
      const l = moved.get(cs.id) ?? cs.live.leaderId;
      leads.set(l, (leads.get(l) ?? 0) + 1);
    }
    expect(Math.max(...leads.values())).toBeLessThan(3);
  });

  it('leaves a balanced cluster alone and does not balance during repairs', () => {
    const balanced = [1, 2, 3].map((id) => ({ id, members: [1, 2, 3], live: live(id, synced) }));
    expect(step(view(balanced)).start).toEqual([]);
    const skewed = [1, 2, 3].map((id) => ({ id, members: [1, 2, 3], live: live(1, synced) }));
    expect(step(view(skewed)).start.length).toBe(1);
    const pending: PendingOp[] = [{ copysetId: 9, kind: 'addPeer', peer: 4, issuedAt: 4900 }];
    expect(step(view([...skewed, { id: 9, members: [1, 2, 3], live: live(2) }], { pending })).start).toEqual([]);
  });

  it('never moves leadership to a chunkserver without a fresh heartbeat (killed a moment ago, still "up")', () => {
    const skewed = [1, 2, 3].map((id) => ({ id, members: [1, 2, 3], live: live(1, synced) }));
    const stale = nodes().map((n) => (n.id === 2 || n.id === 3 ? { ...n, fresh: false } : n));
    expect(step(view(skewed, { nodes: stale })).start).toEqual([]);
    const oneStale = nodes().map((n) => (n.id === 3 ? { ...n, fresh: false } : n));
    expect(step(view(skewed, { nodes: oneStale })).start).toEqual([]);
    const pending: PendingOp[] = [{ copysetId: 1, kind: 'transferLeader', peer: 3, issuedAt: 4900 }];
    expect(step(view(skewed, { nodes: oneStale, pending })).finished).toEqual([{ op: pending[0], outcome: 'obsolete' }]);
  });

  it('moves leadership only to a member that has caught up with the leader', () => {
    const lagging = [1, 2, 3].map((id) => ({ id, members: [1, 2, 3], live: live(1, { 1: 10, 2: 3, 3: 10 }) }));
    const r = step(view(lagging));
    expect(r.start.length).toBe(1);
    expect(r.start[0]).toMatchObject({ kind: 'transferLeader', peer: 3 });
    const allLagging = [1, 2, 3].map((id) => ({ id, members: [1, 2, 3], live: live(1, { 1: 10 }) }));
    expect(step(view(allLagging)).start).toEqual([]);
  });
});
