/**
 * Snapshots (Raft §7): the leader sends InstallSnapshot to a follower whose
 * next entry was compacted away; the follower replaces its log with it.
 *
 * The snapshot's data is opaque here. For chunk copysets it names chunk
 * files and their metadata; the follower's host fetches the files out of
 * band while it "persists" Ready.snapshot, and only then sends the Ready's
 * messages (which include the ack below).
 */
import type { RaftNode } from './node.js';
import type { Progress } from './progress.js';
import type { InstallSnapshot, NodeId } from './types.js';

/** Leader: start a snapshot transfer to `to`. Returns false if none could be sent now. */
export function sendSnapshot(r: RaftNode, to: NodeId, pr: Progress): boolean {
  // A peer that has not answered lately would only waste a large transfer.
  if (!pr.recentActive) return false;
  const snapshot = r.log.storage.snapshot();
  if (snapshot === undefined || snapshot.meta.index < r.log.firstIndex() - 1) return false;
  r.msgs.push({ type: 'InstallSnapshot', from: r.id, to, term: r.term, snapshot });
  pr.becomeSnapshot(snapshot.meta.index);
  return true;
}

/** Follower: install (or skip) a snapshot and acknowledge with AppendEntriesResp. */
export function handleInstallSnapshot(r: RaftNode, m: InstallSnapshot): void {
  const meta = m.snapshot.meta;
  if (meta.index > r.log.committed) {
    if (r.log.matchTerm(meta.index, meta.term)) {
      // We already hold the entry the snapshot ends with: keep our log (§7
      // "if existing log entry has same index and term ... retain entries").
      r.log.commitTo(meta.index);
    } else {
      r.log.restore(m.snapshot);
      r.membership.reset(meta.index, meta.conf);
    }
  }
  r.msgs.push({
    type: 'AppendEntriesResp', from: r.id, to: m.from, term: r.term,
    index: r.log.committed, reject: false, hintIndex: 0, hintTerm: 0,
  });
}
