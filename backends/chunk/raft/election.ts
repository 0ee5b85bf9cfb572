/**
 * Leader election (Raft §5.2, §5.4.1) with pre-vote (dissertation §9.6) and
 * leadership transfer (§3.10).
 */
import type { RaftNode } from './node.js';
import { tallyVotes } from './progress.js';
import type { VoteRequest, VoteResp } from './types.js';
import { NONE } from './types.js';

export type CampaignKind = 'pre' | 'election' | 'transfer';

/** A random election timeout in [electionTicks, 2·electionTicks) (§5.2), from the injected PRNG. */
export function electionTimeout(r: RaftNode): number {
  const e = r.cfg.electionTicks;
  return e + Math.floor(r.random() * e);
}

/** Election timer fired, or we were told to campaign. */
export function hup(r: RaftNode, kind: 'election' | 'transfer'): void {
  if (r.role === 'leader' || !r.promotable()) return;
  campaign(r, kind === 'election' && r.cfg.preVote ? 'pre' : kind);
}

function campaign(r: RaftNode, kind: CampaignKind): void {
  if (kind === 'pre') {
    // Pre-candidates keep their term and vote: a partitioned node cannot
    // inflate terms and depose a healthy leader when it returns (§9.6).
    r.role = 'preCandidate';
    r.lead = NONE;
    r.votes.clear();
    r.randomizedElectionTimeout = electionTimeout(r);
  } else {
    r.reset(r.term + 1);
    r.role = 'candidate';
    r.vote = r.id;
  }
  const voteTerm = kind === 'pre' ? r.term + 1 : r.term;
  if (poll(r, r.id, false, kind)) return;
  const lastIndex = r.log.lastIndex();
  const lastTerm = r.log.lastTerm();
  for (const to of r.membership.current().voters) {
    if (to === r.id) continue;
    r.msgs.push({
      type: kind === 'pre' ? 'PreVote' : 'RequestVote',
      from: r.id, to, term: voteTerm, lastIndex, lastTerm, transfer: kind === 'transfer',
    });
  }
}

/** Record a vote; acts on the outcome. Returns true if the campaign is over (won or lost). */
function poll(r: RaftNode, from: number, reject: boolean, kind: CampaignKind): boolean {
  r.votes.set(from, !reject);
  const outcome = tallyVotes(r.membership.current(), r.votes);
  if (outcome === 'won') {
    if (kind === 'pre') campaign(r, 'election');
    else r.becomeLeader();
    return true;
  }
  if (outcome === 'lost') {
    r.becomeFollower(r.term, NONE);
    return true;
  }
  return false;
}

/** §5.2 / §5.4.1 vote rules; the term was already reconciled by RaftNode.step. */
export function handleVoteRequest(r: RaftNode, m: VoteRequest): void {
  const isPre = m.type === 'PreVote';
  // We may vote again for the same candidate (lost reply), or for anyone if we
  // have neither voted nor seen a leader this term; a pre-vote only asks
  // whether we *would* vote in the next term.
  const canVote = r.vote === m.from || (r.vote === NONE && r.lead === NONE) || (isPre && m.term > r.term);
  const type = isPre ? 'PreVoteResp' : 'RequestVoteResp';
  if (canVote && r.log.isUpToDate(m.lastIndex, m.lastTerm)) {
    r.msgs.push({ type, from: r.id, to: m.from, term: m.term, reject: false });
    if (!isPre) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.msgs.push({ type, from: r.id, to: m.from, term: r.term, reject: true });
  }
}

export function handleVoteResp(r: RaftNode, m: VoteResp): void {
  if (m.type === 'PreVoteResp') {
    // Grants carry the term we would campaign in; refusals carry the voter's (equal) term.
    if (r.role !== 'preCandidate' || m.term !== (m.reject ? r.term : r.term + 1)) return;
    poll(r, m.from, m.reject, 'pre');
  } else if (r.role === 'candidate' && m.term === r.term) {
    poll(r, m.from, m.reject, 'election');
  }
}
