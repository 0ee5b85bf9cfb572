/**
 * Log replication (Raft §5.3, §5.4.2): leader-side sending with pipelining
 * and byte-bounded batching, follower-side consistency check with the fast
 * back-off hint, heartbeats (which also confirm ReadIndex rounds and leases).
 */
import type { RaftNode } from './node.js';
import type { Progress } from './progress.js';
import { quorumValue } from './progress.js';
import { sendSnapshot } from './snapshot.js';
import type { AppendEntries, AppendEntriesResp, Heartbeat, HeartbeatResp, NodeId } from './types.js';
import { entrySize } from './types.js';

/**
 * Send what is due. Proposals and acks only mark peers; the messages are
 * built here, when the host asks for a Ready, so that every proposal since
 * the last Ready travels in one AppendEntries per peer (batching), and a
 * peer in `replicate` gets as many messages as its inflight window allows
 * (pipelining).
 */
export function flushAppends(r: RaftNode): void {
  const all = r.needsBcast;
  const targets = all ? [...r.prs.keys()] : [...r.dirty];
  r.needsBcast = false;
  r.dirty.clear();
  for (const to of targets) {
    if (to === r.id) continue;
    const pr = r.prs.get(to);
    if (pr === undefined) continue;
    let sent = false;
    while (sendAppend(r, to, pr, false)) {
      sent = true;
      if (pr.state !== 'replicate') break;
    }
    // A follower also needs to hear about a commit index that moved; a peer
    // in probe whose probe was answered or lost (heartbeat response) needs a
    // new probe even when no entry is new, or an idle group never catches it up.
    if (!sent && (all || pr.state === 'probe')) sendAppend(r, to, pr, true);
  }
}

/** One AppendEntries (or InstallSnapshot if the entries are compacted). Returns false if nothing was sent. */
function sendAppend(r: RaftNode, to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
  if (pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  const entries = r.log.slice(pr.next, r.log.lastIndex() + 1, r.cfg.maxSizePerMsg);
  if (prevTerm === undefined || entries === undefined) return sendSnapshot(r, to, pr);
  if (entries.length === 0 && !sendIfEmpty) return false;
  const msg: AppendEntries = {
    type: 'AppendEntries', from: r.id, to, term: r.term,
    prevIndex, prevTerm, entries, commit: r.log.committed,
  };
  r.msgs.push(msg);
  let bytes = 0;
  for (const e of entries) bytes += entrySize(e);
  pr.sentEntries(entries.length, prevIndex + entries.length, bytes);
  pr.lastSendTick = r.tickCount;
  return true;
}

export function sendTimeoutNow(r: RaftNode, to: NodeId): void {
  r.msgs.push({ type: 'TimeoutNow', from: r.id, to, term: r.term });
}

export function bcastHeartbeat(r: RaftNode): void {
  for (const [to, pr] of r.prs) {
    if (to === r.id) continue;
    // Never tell a follower a commit index beyond what we know it holds:
    // its log past `match` may still diverge from ours.
    const msg: Heartbeat = {
      type: 'Heartbeat', from: r.id, to, term: r.term,
      commit: Math.min(pr.match, r.log.committed), round: r.round, sentTick: r.tickCount,
    };
    r.msgs.push(msg);
  }
}

export function handleAppendResp(r: RaftNode, m: AppendEntriesResp): void {
  const pr = r.prs.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.reject) {
    // Fast back-off: skip every entry of the follower's conflicting term.
    const hint = m.hintTerm > 0 ? r.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      r.dirty.add(m.from);
    }
    return;
  }
  if (!pr.maybeUpdate(m.index)) return;
  if (pr.state === 'probe') pr.becomeReplicate();
  else if (pr.state === 'snapshot') endSnapshot(r, pr);
  else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
  r.maybeCommit();
  r.dirty.add(m.from);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from);
}

/**
 * A follower in `snapshot` acknowledged an index. If our log still holds
 * what follows it, replicate from there. If we compacted past it while the
 * follower's host was fetching the snapshot (a long transfer under steady
 * writes), the pending snapshot is nevertheless done: probe again, which
 * sends our newer snapshot now. Staying in `snapshot` would send the
 * follower nothing until snapshotTimeoutTicks, the only other way out
 * (hosts whose followers pull the files never call reportSnapshot(ok)).
 */
function endSnapshot(r: RaftNode, pr: Progress): void {
  if (pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.match >= pr.pendingSnapshot) {
    pr.becomeProbe();
  }
}

export function handleHeartbeatResp(r: RaftNode, m: HeartbeatResp): void {
  const pr = r.prs.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  pr.probeSent = false;
  pr.ackedRound = Math.max(pr.ackedRound, m.round);
  pr.ackedTick = Math.max(pr.ackedTick, m.sentTick);
  // A heartbeat sent after our last AppendEntries came back, yet entries sent
  // are still unacknowledged: on an ordered transport they were lost.
  // Resume from the match point rather than wait for the next proposal.
  if (pr.state === 'replicate' && pr.match < pr.next - 1 && m.sentTick > pr.lastSendTick) pr.becomeProbe();
  // A lost AppendEntries must not stall a full pipeline forever.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.log.lastIndex()) r.dirty.add(m.from);
  releaseReads(r);
}

function releaseReads(r: RaftNode): void {
  if (r.readOnly.pendingCount() === 0) return;
  const conf = r.membership.current();
  const round = quorumValue(conf, (id) => (id === r.id ? r.round : r.prs.get(id)?.ackedRound ?? 0));
  if (round !== undefined) for (const rs of r.readOnly.release(round)) r.readStates.push(rs);
}

// ------------------------------------------------------------ follower side

export function handleAppendEntries(r: RaftNode, m: AppendEntries): void {
  const reply = (fields: Pick<AppendEntriesResp, 'index' | 'reject' | 'hintIndex' | 'hintTerm'>): void => {
    r.msgs.push({ type: 'AppendEntriesResp', from: r.id, to: m.from, term: r.term, ...fields });
  };
  if (m.prevIndex < r.log.committed) {
    // Stale or duplicated: everything ≤ committed is known to match.
    return reply({ index: r.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
  }
  if (!r.log.matchTerm(m.prevIndex, m.prevTerm)) {
    const hint = r.log.findConflictByTerm(Math.min(m.prevIndex, r.log.lastIndex()), m.prevTerm);
    return reply({ index: m.prevIndex, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }
  const lastNew = m.prevIndex + m.entries.length;
  const conflict = r.log.findConflict(m.entries);
  // Only append from the first conflict: a reordered, shorter message must
  // not truncate entries we already have (§5.3 "if an existing entry conflicts").
  if (conflict > 0) r.appendToLog(m.entries.slice(conflict - m.prevIndex - 1));
  r.log.commitTo(Math.min(m.commit, lastNew));
  reply({ index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
}

export function handleHeartbeat(r: RaftNode, m: Heartbeat): void {
  r.log.commitTo(m.commit);
  r.msgs.push({ type: 'HeartbeatResp', from: r.id, to: m.from, term: r.term, round: m.round, sentTick: m.sentTick });
}
