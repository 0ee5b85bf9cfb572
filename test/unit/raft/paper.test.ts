/**
 * Focused tests per Raft paper / dissertation section (in the spirit of
 * etcd-io/raft raft_paper_test.go), on a synchronous in-memory cluster.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage, RaftNode, mulberry32 } from '../../../backends/chunk/raft/index.js';
import type { AppendEntries, Message, VoteRequest } from '../../../backends/chunk/raft/index.js';
import { Cluster, str, text } from './harness.js';

const base = { leaseOnBoot: false, electionTicks: 10 };

function cluster(n = 3, opts = {}): Cluster {
  return new Cluster(Array.from({ length: n }, (_, k) => k + 1), { ...base, ...opts });
}

function voteReq(from: number, to: number, term: number, lastIndex: number, lastTerm: number): VoteRequest {
  return { type: 'RequestVote', from, to, term, lastIndex, lastTerm, transfer: false };
}

describe('§5.2 leader election', () => {
  it('a candidate with a majority becomes leader; the others follow in its term', () => {
    const c = cluster(3);
    c.elect(1);
    expect(c.leaders()).toEqual([1]);
    const t = c.raft(1).status().term;
    expect(t).toBe(2); // bootstrap term 1, pre-vote does not bump it
    for (const id of [2, 3]) expect(c.raft(id).status()).toMatchObject({ role: 'follower', lead: 1, term: t });
  });

  it('a follower campaigns on its own after a randomized election timeout', () => {
    const c = cluster(3);
    c.tickAll(25);
    expect(c.leaders().length).toBe(1);
  });

  it('a candidate that cannot reach a majority does not become leader', () => {
    const c = cluster(3);
    c.isolate(1);
    c.elect(1);
    expect(c.raft(1).status().role).toBe('preCandidate');
    expect(c.raft(1).status().term).toBe(1); // pre-vote: no term inflation
  });
});

describe('§5.2/§5.4.1 vote rules', () => {
  it('votes at most once per term, first come first served', () => {
    const c = cluster(3);
    const r = c.raft(3);
    r.step(voteReq(1, 3, 5, 3, 1));
    r.step(voteReq(2, 3, 5, 3, 1));
    c.processAll();
    const resps = c.sent.filter((m) => m.type === 'RequestVoteResp');
    expect(resps.map((m) => [m.to, (m as { reject: boolean }).reject])).toEqual([[1, false], [2, true]]);
    expect(c.node(3).storage.hardState().vote).toBe(1);
  });

  it('rejects a candidate whose log is less up-to-date (lower last term, or same term and shorter)', () => {
    const c = cluster(3, { checkQuorum: false }); // no leader lease: node 3 must judge the requests
    c.elect(1);
    c.raft(1).propose(text('x'));
    c.stabilize(); // every log: 3 bootstrap entries @1, noop @2, x @2
    const r = c.raft(3);
    r.step(voteReq(2, 3, 9, 10, 1)); // longer log, older last term
    r.step(voteReq(2, 3, 10, 4, 2)); // same last term, shorter
    c.processAll();
    const resps = c.sent.filter((m) => m.type === 'RequestVoteResp' && m.to === 2);
    expect(resps.length).toBe(2);
    expect(resps.every((m) => (m as { reject: boolean }).reject)).toBe(true);
    r.step(voteReq(2, 3, 11, 5, 2)); // as up-to-date: granted
    c.processAll();
    expect(c.sent.filter((m) => m.type === 'RequestVoteResp' && m.to === 2).pop()).toMatchObject({ reject: false, term: 11 });
  });

  it('a persisted vote survives a restart', () => {
    const c = cluster(3);
    c.raft(3).step(voteReq(1, 3, 5, 3, 1));
    c.processAll();
    c.restart(3);
    c.raft(3).step(voteReq(2, 3, 5, 3, 1));
    c.processAll();
    expect(c.sent.filter((m) => m.type === 'RequestVoteResp' && m.to === 2).pop()).toMatchObject({ reject: true });
  });
});

describe('§5.3 log replication', () => {
  it('commits and applies proposals on every node, in order', () => {
    const c = cluster(3);
    c.elect(1);
    for (const s of ['a', 'b', 'c']) expect(c.raft(1).propose(text(s)).ok).toBe(true);
    c.stabilize();
    for (const id of [1, 2, 3]) {
      expect(c.node(id).applied.filter((e) => e.type === 'normal' && e.data.length > 0).map(str)).toEqual(['a', 'b', 'c']);
    }
  });

  it('batches proposals made before one Ready into one AppendEntries per follower', () => {
    const c = cluster(3);
    c.elect(1);
    c.sent = [];
    for (let k = 0; k < 5; k++) c.raft(1).propose(text(`p${k}`));
    c.processAll();
    const apps = c.sent.filter((m): m is AppendEntries => m.type === 'AppendEntries');
    expect(apps.length).toBe(2);
    expect(apps.every((m) => m.entries.length === 5)).toBe(true);
  });

  it('pipelines: several AppendEntries in flight to a replicating follower, bounded by the window', () => {
    const c = cluster(3, { maxSizePerMsg: 30, maxInflightMsgs: 3 });
    c.elect(1);
    c.sent = [];
    for (let k = 0; k < 10; k++) c.raft(1).propose(text(`p${k}`));
    c.processAll();
    const toTwo = c.sent.filter((m): m is AppendEntries => m.type === 'AppendEntries' && m.to === 2);
    expect(toTwo.length).toBe(3);
    expect(toTwo.map((m) => m.prevIndex)).toEqual([4, 5, 6]); // 3 bootstrap entries + the leader's no-op
    c.stabilize();
    expect(c.raft(2).status().commit).toBe(14);
  });

  it('repairs a divergent follower log with the fast back-off hint', () => {
    // Nodes 1, 2: entries 4..10 of term 2. Node 3: a longer stale tail 4..33 of term 1.
    const c = new Cluster([], base);
    const mk = (id: number, from: number, to: number, term: number): void => {
      const s = MemoryStorage.bootstrap([1, 2, 3]);
      s.append(Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term, type: 'normal' as const, data: text(`t${term}`) })));
      s.setHardState({ term: 2, vote: 0, commit: 3 });
      c.add(id, s);
    };
    mk(1, 4, 10, 2);
    mk(2, 4, 10, 2);
    mk(3, 4, 33, 1);
    c.elect(1);
    c.stabilize();
    const rejects = c.sent.filter((m) => m.type === 'AppendEntriesResp' && m.from === 3 && m.reject);
    expect(rejects.length).toBe(1); // one round trip skips the whole stale term, not one entry each
    expect(c.raft(3).status().lastIndex).toBe(11);
    expect(c.node(3).storage.term(10)).toBe(2);
    expect(c.node(3).storage.term(11)).toBe(3);
  });

  it('ignores a message with a stale term and answers with its own term', () => {
    const c = cluster(3);
    c.elect(1);
    const before = c.raft(2).status();
    const stale: AppendEntries = {
      type: 'AppendEntries', from: 3, to: 2, term: 1, prevIndex: 4, prevTerm: 2,
      entries: [{ index: 5, term: 1, type: 'normal', data: text('evil') }], commit: 5,
    };
    c.sent = [];
    c.raft(2).step(stale);
    c.processAll();
    expect(c.raft(2).status().lastIndex).toBe(before.lastIndex);
    expect(c.raft(2).status().lead).toBe(1);
    expect(c.sent).toEqual([expect.objectContaining({ type: 'AppendEntriesResp', to: 3, term: before.term })]);
  });
});

describe('§5.4.2 commit rule (Figure 8)', () => {
  it('does not commit an earlier-term entry by counting replicas; commits it with a current-term entry', () => {
    // Node 1 holds entry 4 of term 2 that never committed; node 3 lacks it.
    const old = { index: 4, term: 2, type: 'normal' as const, data: text('old') };
    const c = new Cluster([1, 2, 3], base);
    for (const id of [1, 2]) {
      const s = MemoryStorage.bootstrap([1, 2, 3]);
      s.append([old]);
      s.setHardState({ term: 2, vote: 0, commit: 3 });
      c.add(id, s);
    }
    c.node(3).storage.setHardState({ term: 2, vote: 0, commit: 3 });
    c.restart(3);
    // Strip the new leader's own-term entries so only the term-2 entry reaches followers.
    c.filter = (m: Message) => (m.type === 'AppendEntries' ? { ...m, entries: m.entries.filter((e) => e.term < 3) } : m);
    c.elect(1);
    expect(c.raft(1).status()).toMatchObject({ role: 'leader', term: 3 });
    c.tickAll(3);
    expect(c.raft(3).status().lastIndex).toBe(4); // replicated on all three...
    expect(c.raft(1).status().commit).toBe(3); // ...yet not committed
    c.filter = undefined;
    c.tickAll(2);
    expect(c.raft(1).status().commit).toBe(5); // committed with the term-3 no-op
  });
});

describe('§9.6 pre-vote and §6.2 check-quorum', () => {
  it('a rejoining partitioned follower does not disrupt a stable leader', () => {
    const c = cluster(3);
    c.elect(1);
    const term = c.raft(1).status().term;
    c.isolate(3);
    c.tickAll(60); // node 3 times out repeatedly
    expect(c.raft(3).status().term).toBe(term);
    c.heal();
    c.tickAll(3);
    expect(c.leaders()).toEqual([1]);
    expect(c.raft(1).status().term).toBe(term);
  });

  it('followers ignore vote requests while their leader is alive', () => {
    const c = cluster(3);
    c.elect(1);
    c.sent = [];
    c.raft(2).step(voteReq(3, 2, 99, 100, 99));
    c.processAll();
    expect(c.raft(2).status().term).toBe(2);
    expect(c.sent).toEqual([]);
  });

  it('an isolated leader steps down within two election timeouts', () => {
    const c = cluster(3);
    c.elect(1);
    c.isolate(1);
    c.tick(1, 20);
    expect(c.raft(1).status().role).toBe('follower');
  });
});

describe('§6.4 reads', () => {
  it('a leader with a fresh lease answers at once; ReadIndex needs a heartbeat round otherwise', () => {
    const c = cluster(3, { checkQuorum: true });
    c.elect(1);
    c.tickAll(2); // heartbeats acknowledged: lease established
    expect(c.raft(1).leaseValid()).toBe(true);
    c.raft(1).readIndex('lease');
    c.process(c.node(1));
    expect(c.node(1).reads).toEqual([{ index: c.raft(1).status().commit, ctx: 'lease' }]);
  });

  it('refuses lease reads after a partition and holds ReadIndex until a majority answers', () => {
    const c = cluster(3);
    c.elect(1);
    c.tickAll(2);
    c.isolate(1);
    c.tick(1, 9);
    expect(c.raft(1).leaseValid()).toBe(false);
    c.raft(1).readIndex('r1');
    c.tick(1, 1);
    expect(c.node(1).reads).toEqual([]);
    c.heal();
    c.tickAll(1);
    expect(c.node(1).reads.map((r) => r.ctx)).toEqual(['r1']);
  });

  it('a new leader answers reads only after committing an entry of its term', () => {
    const c = cluster(3);
    c.filter = (m) => (m.type === 'AppendEntriesResp' ? undefined : m);
    c.elect(1);
    c.raft(1).readIndex('early');
    c.tickAll(3);
    expect(c.node(1).reads).toEqual([]);
    c.filter = undefined;
    c.tickAll(3);
    expect(c.node(1).reads.map((r) => r.ctx)).toEqual(['early']);
  });

  it('a restarted follower keeps honouring the lease it granted (leaseOnBoot)', () => {
    const c = cluster(3, { leaseOnBoot: true });
    c.tickAll(25);
    const [lead] = c.leaders();
    const other = [1, 2, 3].find((id) => id !== lead)!;
    c.restart(other);
    c.sent = [];
    c.raft(other).step(voteReq(9, other, 50, 100, 50));
    c.processAll();
    expect(c.sent.filter((m) => m.type === 'RequestVoteResp')).toEqual([]);
  });
});

describe('§3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date follower with TimeoutNow, refusing proposals meanwhile', () => {
    const c = cluster(3);
    c.elect(1);
    c.filter = (m) => (m.type === 'TimeoutNow' ? undefined : m);
    expect(c.raft(1).transferLeadership(3).ok).toBe(true);
    expect(c.raft(1).propose(text('x'))).toMatchObject({ ok: false, reason: 'transferring' });
    c.stabilize();
    expect(c.leaders()).toEqual([1]);
    c.filter = undefined;
    c.raft(1).transferLeadership(2);
    c.stabilize();
    expect(c.leaders()).toEqual([2]);
    expect(c.raft(2).status().term).toBe(3);
    expect(c.raft(1).status()).toMatchObject({ role: 'follower', lead: 2 });
  });

  it('abandons a transfer to an unreachable voter after an election timeout and takes proposals again', () => {
    const c = cluster(3);
    c.elect(1);
    c.isolate(3); // e.g. killed a moment ago: the MDS still counts it up
    expect(c.raft(1).transferLeadership(3).ok).toBe(true);
    expect(c.raft(1).propose(text('during'))).toMatchObject({ ok: false, reason: 'transferring' });
    c.tick(1, 9);
    c.tick(2, 9);
    c.stabilize();
    expect(c.raft(1).propose(text('still'))).toMatchObject({ ok: false, reason: 'transferring' });
    c.tick(1);
    c.stabilize();
    expect(c.leaders()).toEqual([1]); // 2 answered: still a quorum, no step-down
    expect(c.raft(1).propose(text('after')).ok).toBe(true);
    c.stabilize();
    expect(c.node(2).applied.map(str)).toContain('after');
  });

  it('brings a lagging transferee up to date first', () => {
    const c = cluster(3);
    c.elect(1);
    c.isolate(3);
    for (let k = 0; k < 5; k++) c.raft(1).propose(text(`p${k}`));
    c.stabilize();
    c.heal();
    c.raft(1).transferLeadership(3);
    c.tickAll(2); // the next heartbeat answer resumes replication to 3
    expect(c.leaders()).toEqual([3]);
    expect(c.node(3).applied.map(str)).toContain('p4');
  });
});

describe('§4 single-server membership changes (applied when appended)', () => {
  it('adds a learner, promotes it, and removes the old leader, which hands over', () => {
    const c = new Cluster([1, 2, 3, 4], base, [1, 2, 3]);
    c.elect(1);
    expect(c.raft(1).proposeConfChange({ op: 'addLearner', nodeId: 4 }).ok).toBe(true);
    // in effect as soon as appended, before commit:
    expect(c.raft(1).status().conf.learners).toEqual([4]);
    expect(c.raft(1).proposeConfChange({ op: 'addVoter', nodeId: 4 })).toMatchObject({ ok: false, reason: 'confChangePending' });
    c.stabilize();
    expect(c.raft(4).status().lastIndex).toBe(c.raft(1).status().lastIndex); // learner caught up
    expect(c.raft(1).proposeConfChange({ op: 'addVoter', nodeId: 4 }).ok).toBe(true);
    c.stabilize();
    expect(c.raft(4).status().conf.voters).toEqual([1, 2, 3, 4]);
    expect(c.raft(1).proposeConfChange({ op: 'removeNode', nodeId: 1 }).ok).toBe(true);
    c.stabilize();
    expect(c.raft(1).status().role).toBe('follower');
    c.tickAll(1);
    const [lead] = c.leaders();
    expect([2, 3, 4]).toContain(lead);
    expect(c.raft(lead!).status().conf.voters).toEqual([2, 3, 4]);
    expect(c.raft(lead!).propose(text('after')).ok).toBe(true);
    c.stabilize();
    expect(c.node(4).applied.map(str)).toContain('after');
  });

  it('rejects invalid changes and rolls the configuration back when the entry is truncated', () => {
    const c = cluster(3);
    c.elect(1);
    expect(c.raft(1).proposeConfChange({ op: 'addVoter', nodeId: 2 })).toMatchObject({ reason: 'invalidConfChange' });
    expect(c.raft(1).proposeConfChange({ op: 'removeNode', nodeId: 9 })).toMatchObject({ reason: 'invalidConfChange' });
    c.isolate(1);
    expect(c.raft(1).proposeConfChange({ op: 'removeNode', nodeId: 3 }).ok).toBe(true);
    c.stabilize();
    expect(c.raft(1).status().conf.voters).toEqual([1, 2]);
    c.tickAll(30); // 2 and 3 elect a leader; 1 steps down
    c.heal();
    const lead = c.leaders()[0]!;
    c.raft(lead).propose(text('y'));
    c.tickAll(3);
    expect(c.raft(1).status().conf.voters).toEqual([1, 2, 3]); // uncommitted change overwritten
  });
});

describe('§7 snapshots and log compaction', () => {
  it('sends InstallSnapshot to a member behind the first index; it restores and catches up', () => {
    const c = new Cluster([1, 2, 3, 4], base, [1, 2, 3]);
    c.elect(1);
    for (let k = 0; k < 10; k++) c.raft(1).propose(text(`p${k}`));
    c.stabilize();
    const leader = c.node(1);
    const idx = leader.raft.status().applied;
    leader.storage.createSnapshot({ index: idx, term: leader.raft.termAt(idx)!, conf: leader.raft.confStateAt(idx) }, text('state@' + idx));
    leader.storage.compact(idx);
    expect(c.raft(1).proposeConfChange({ op: 'addLearner', nodeId: 4 }).ok).toBe(true);
    c.stabilize();
    const snaps = c.sent.filter((m) => m.type === 'InstallSnapshot');
    expect(snaps.length).toBe(1);
    const n4 = c.node(4);
    expect(n4.storage.snapshot().meta.index).toBe(idx);
    expect(new TextDecoder().decode(n4.storage.snapshot().data)).toBe(`state@${idx}`);
    expect(n4.raft.status()).toMatchObject({ firstIndex: idx + 1, lastIndex: c.raft(1).status().lastIndex });
    expect(n4.raft.status().conf).toEqual({ voters: [1, 2, 3], learners: [4] });
    c.raft(1).propose(text('later'));
    c.stabilize();
    expect(n4.applied.map(str)).toContain('later');
  });

  it('a restarted node recovers its membership from snapshot + log', () => {
    const s = MemoryStorage.bootstrap([1, 2, 3]);
    s.createSnapshot({ index: 3, term: 1, conf: { voters: [1, 2, 3], learners: [] } }, new Uint8Array(0));
    s.compact(3);
    s.append([{ index: 4, term: 2, type: 'conf', data: Uint8Array.of(1, 0, 0, 0, 7) }]); // addLearner 7
    const r = new RaftNode({ id: 1, storage: s, random: mulberry32(1) });
    expect(r.status().conf).toEqual({ voters: [1, 2, 3], learners: [7] });
    expect(r.confStateAt(3)).toEqual({ voters: [1, 2, 3], learners: [] });
  });
});
