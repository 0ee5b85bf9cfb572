/**
 * Which followers a copyset leader may rely on (pure, from RaftNode.status()).
 *
 * A learner becomes a voter, and a follower is offered leadership, only
 * when it is `close`: its progress is in `replicate` (it acknowledged an
 * append from this leader and is receiving the log) and its match index is
 * within `lag` entries of the leader's last index. Match alone is not
 * enough: a learner still in `probe` (never answered: match 0 passes the
 * lag test on a short log) or in `snapshot` (installing, or waiting for a
 * newer snapshot after the log was compacted past its own) would, once a
 * voter, be part of every commit quorum of a copyset that has a dead
 * member, so writes would wait for it.
 */
import type { Status } from '../raft/index.js';

export function isCloseFollower(s: Pick<Status, 'progress' | 'lastIndex'>, id: number, lag: number): boolean {
  const pr = s.progress.get(id);
  return pr !== undefined && pr.state === 'replicate' && pr.match + lag >= s.lastIndex;
}

/** The first learner close enough to be promoted to voter, if any. */
export function learnerToPromote(s: Pick<Status, 'progress' | 'lastIndex' | 'conf'>, lag: number): number | undefined {
  return s.conf.learners.find((id) => isCloseFollower(s, id, lag));
}
