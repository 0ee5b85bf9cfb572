/**
 * RaftNode: one member of one Raft group, as a pure state machine.
 *
 * Inputs: tick(), step(message), propose/proposeConfChange/readIndex/
 * transferLeadership/campaign, reportUnreachable/reportSnapshot.
 * Output: ready() → the host persists, sends, applies → advance(rd).
 * Multi-Raft: instances share nothing (no globals, no timers), so a
 * chunkserver runs one per copyset and drives them all from one loop.
 *
 * Field visibility: fields marked "internal" are read and written by the
 * sibling modules election.ts / replication.ts / snapshot.ts, which hold the
 * protocol rules; hosts use only the methods.
 */
import { electionTimeout, handleVoteRequest, handleVoteResp, hup } from './election.js';
import { RaftLog } from './log.js';
import { Membership, applyConfChange, encodeConfChange } from './membership.js';
import { Progress, quorumValue } from './progress.js';
import { ReadOnly, leaseExpiry } from './read-only.js';
import {
  bcastHeartbeat,
  flushAppends,
  handleAppendEntries,
  handleAppendResp,
  handleHeartbeat,
  handleHeartbeatResp,
  sendTimeoutNow,
} from './replication.js';
import { handleInstallSnapshot } from './snapshot.js';
import type { Storage } from './storage.js';
import type {
  ConfChange, ConfState, Entry, EntryType, HardState, Message, NodeId, OpResult,
  ProposeResult, ReadState, Ready, Rejected, RejectReason, Role, SoftState,
} from './types.js';
import { NONE } from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Seeded PRNG returning [0, 1); the only source of randomness (election timeouts). */
  readonly random: () => number;
  /** Follower waits [electionTicks, 2·electionTicks) without a leader before campaigning. Default 10. */
  readonly electionTicks?: number;
  /** Leader heartbeat period in ticks. Default 1. */
  readonly heartbeatTicks?: number;
  /** Index already applied by the host's durable state machine; default: the snapshot index. */
  readonly applied?: number;
  /** Byte bound of the entries in one AppendEntries (at least one entry is sent). Default 1 MiB. */
  readonly maxSizePerMsg?: number;
  /** Pipelining window per follower, in messages and bytes (0 = unbounded). Defaults 256 / 0. */
  readonly maxInflightMsgs?: number;
  readonly maxInflightBytes?: number;
  /** Byte bound of committedEntries per Ready. Default 64 MiB. */
  readonly maxCommittedSizePerReady?: number;
  /** Dissertation §9.6. Default true. */
  readonly preVote?: boolean;
  /** Leader steps down without majority contact for electionTicks; enables leases. Default true. */
  readonly checkQuorum?: boolean;
  /** Lease safety margin for clock-rate drift, in ticks. Default 1. */
  readonly leaseDriftTicks?: number;
  /** Give up waiting for a snapshot ack after this many ticks. Default 100·electionTicks. */
  readonly snapshotTimeoutTicks?: number;
  /**
   * Ignore vote requests for electionTicks after start, as if a leader had
   * just been heard: a follower that restarts quickly must not break the
   * lease it granted before the crash. Default true; tests may turn it off.
   */
  readonly leaseOnBoot?: boolean;
}

type Settings = Required<Omit<RaftConfig, 'storage' | 'random' | 'applied' | 'leaseOnBoot'>>;

function settingsOf(c: RaftConfig): Settings {
  const electionTicks = c.electionTicks ?? 10;
  return {
    id: c.id,
    electionTicks,
    heartbeatTicks: c.heartbeatTicks ?? 1,
    maxSizePerMsg: c.maxSizePerMsg ?? 1 << 20,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 0,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? 64 << 20,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    leaseDriftTicks: c.leaseDriftTicks ?? 1,
    snapshotTimeoutTicks: c.snapshotTimeoutTicks ?? 100 * electionTicks,
  };
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly lead: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  /** Leader only: per-peer match index and replication state. */
  readonly progress: ReadonlyMap<NodeId, { match: number; next: number; state: string }>;
}

export class RaftNode {
  readonly id: NodeId;
  /** internal */ readonly cfg: Settings;
  /** internal */ readonly random: () => number;
  /** internal */ readonly log: RaftLog;
  /** internal */ readonly membership: Membership;
  /** internal */ term = 0;
  /** internal */ vote: NodeId = NONE;
  /** internal */ lead: NodeId = NONE;
  /** internal */ role: Role = 'follower';
  /** internal: leader only */ prs = new Map<NodeId, Progress>();
  /** internal: candidate only */ votes = new Map<NodeId, boolean>();
  /** internal */ electionElapsed = 0;
  /** internal */ heartbeatElapsed = 0;
  /** internal */ randomizedElectionTimeout = 0;
  /** internal: local tick counter; dates leases */ tickCount = 0;
  /** internal: treat a freshly started node as if it had just heard from a leader (keeps leases safe across restarts) */
  bootGuard = true;
  /** internal */ msgs: Message[] = [];
  /** internal */ readStates: ReadState[] = [];
  /** internal: leader only */ readOnly = new ReadOnly();
  /** internal: leader's heartbeat round (ReadIndex) */ round = 0;
  /** internal */ pendingConfIndex = 0;
  /** internal */ leadTransferee: NodeId = NONE;
  /** internal: a transfer was started this term, so lease reads are off */ leaseDisabled = false;
  /** internal: deferred sends, flushed by ready() so proposals batch */
  needsBcast = false;
  /** internal */ heartbeatPending = false;
  /** internal */ dirty = new Set<NodeId>();
  private prevSoft: SoftState = { lead: NONE, role: 'follower' };
  private prevHard: HardState;
  private readyOutstanding = false;

  constructor(config: RaftConfig) {
    if (config.id <= 0) throw new Error('raft: node id must be > 0');
    this.id = config.id;
    this.cfg = settingsOf(config);
    this.random = config.random;
    const { hardState, snapshotMeta } = config.storage.initialState();
    const storage = config.storage;
    const commit = Math.min(Math.max(hardState.commit, snapshotMeta.index), storage.lastIndex());
    this.log = new RaftLog(storage, commit, Math.max(config.applied ?? 0, storage.firstIndex() - 1));
    this.membership = new Membership(snapshotMeta.index, snapshotMeta.conf);
    if (storage.lastIndex() > snapshotMeta.index) {
      this.membership.onAppend(storage.entries(snapshotMeta.index + 1, storage.lastIndex() + 1, Infinity));
    }
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.prevHard = hardState;
    this.becomeFollower(this.term, NONE);
    this.bootGuard = config.leaseOnBoot ?? true;
  }

  // ------------------------------------------------------------ inputs

  /** Advance logical time by one tick (host calls it every tickInterval ms for every group). */
  tick(): void {
    this.tickCount++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Feed a message received from a peer of this group. Malformed routing (m.to ≠ id) is ignored. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if ((m.type === 'RequestVote' || m.type === 'PreVote') && !m.transfer && this.inLease()) return;
      if (m.type === 'PreVote' || (m.type === 'PreVoteResp' && !m.reject)) {
        // A pre-vote never changes terms (§9.6); a granted pre-vote answer carries our future term.
      } else {
        const fromLeader = m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    if (m.type === 'RequestVote' || m.type === 'PreVote') return handleVoteRequest(this, m);
    if (this.role === 'leader') return this.stepLeader(m);
    if (this.role !== 'follower') {
      if (m.type === 'RequestVoteResp' || m.type === 'PreVoteResp') return handleVoteResp(this, m);
      if (m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot') {
        this.becomeFollower(this.term, m.from); // §5.2: a leader of our term exists
      }
    }
    if (this.role === 'follower') this.stepFollower(m);
  }

  /** Append a normal entry (leader only). Entries proposed before the next ready() share messages. */
  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    return this.appendLocal('normal', data);
  }

  /** Propose one membership change (leader only; one at a time; see membership.ts). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.committed) return this.reject('confChangePending');
    if (applyConfChange(this.membership.current(), cc) === undefined) return this.reject('invalidConfChange');
    const res = this.appendLocal('conf', encodeConfChange(cc));
    if (res.ok) this.pendingConfIndex = res.index;
    return res;
  }

  /**
   * Request a linearizable read point tagged `ctx` (leader only). It appears
   * in a later Ready's readStates: at once under a valid lease, else after a
   * heartbeat round confirms leadership (ReadIndex, dissertation §6.4).
   */
  readIndex(ctx: unknown): OpResult {
    if (this.role !== 'leader') return this.reject('notLeader');
    if (this.log.term(this.log.committed) !== this.term) this.readOnly.waitForCommit(ctx);
    else this.serveRead(ctx);
    return { ok: true };
  }

  /** Hand leadership to `to` (dissertation §3.10); proposals are refused until it ends. */
  transferLeadership(to: NodeId): OpResult {
    if (this.role !== 'leader') return this.reject('notLeader');
    if (to === this.id || !this.membership.isVoter(to)) return this.reject('invalidTarget');
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer is abandoned after electionTicks
    this.leaseDisabled = true; // the transferee's election bypasses follower leases
    if (this.prs.get(to)!.match === this.log.lastIndex()) sendTimeoutNow(this, to);
    else this.dirty.add(to);
    return { ok: true };
  }

  /** Start an election now (pre-vote first if enabled). No-op for leaders and non-voters. */
  campaign(): void {
    hup(this, 'election');
  }

  /** The transport could not reach `id`: stop pipelining to it until it answers. */
  reportUnreachable(id: NodeId): void {
    const pr = this.role === 'leader' ? this.prs.get(id) : undefined;
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  /** The out-of-band snapshot transfer to `id` ended (ok: installed; else failed). */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.prs.get(id) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for the follower's ack or the next heartbeat answer
  }

  // ------------------------------------------------------------ ready

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    this.flush();
    return (
      !sameSoft(this.softState(), this.prevSoft) ||
      !sameHard(this.hardState(), this.prevHard) ||
      this.log.unstable.snapshot !== undefined ||
      this.log.unstableEntries().length > 0 ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.hasNextCommittedEntries()
    );
  }

  /** Collect the work for the host (see the Ready contract in types.ts). Call advance(rd) before the next ready(). */
  ready(): Ready {
    if (this.readyOutstanding) throw new Error('raft: ready() called before advance()');
    this.flush();
    const soft = this.softState();
    const hard = this.hardState();
    const snapshot = this.log.unstable.snapshot;
    const rd: Ready = {
      ...(sameSoft(soft, this.prevSoft) ? {} : { softState: soft }),
      ...(sameHard(hard, this.prevHard) ? {} : { hardState: hard }),
      ...(snapshot === undefined ? {} : { snapshot }),
      entries: [...this.log.unstableEntries()],
      messages: this.msgs,
      committedEntries: this.log.nextCommittedEntries(this.cfg.maxCommittedSizePerReady),
      readStates: this.readStates,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hard;
    this.readyOutstanding = true;
    return rd;
  }

  /** The host finished with `rd` (persisted, sent, applied). */
  advance(rd: Ready): void {
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.log.stableTo(last.index, last.term);
    if (rd.snapshot !== undefined) {
      this.log.stableSnapTo(rd.snapshot.meta.index);
      this.log.appliedTo(rd.snapshot.meta.index);
    }
    const applied = rd.committedEntries[rd.committedEntries.length - 1];
    if (applied !== undefined) this.log.appliedTo(applied.index);
    this.membership.compactTo(this.log.firstIndex() - 1);
    this.readyOutstanding = false;
  }

  // ------------------------------------------------------------ queries

  status(): Status {
    const progress = new Map<NodeId, { match: number; next: number; state: string }>();
    for (const [id, pr] of this.prs) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    return {
      id: this.id, role: this.role, lead: this.lead, term: this.term, vote: this.vote,
      commit: this.log.committed, applied: this.log.applied,
      firstIndex: this.log.firstIndex(), lastIndex: this.log.lastIndex(),
      conf: this.membership.current(), progress,
    };
  }

  /** Membership in effect at `index` (for SnapshotMeta.conf); valid for firstIndex-1 ≤ index ≤ lastIndex. */
  confStateAt(index: number): ConfState {
    return this.membership.confAt(index);
  }

  /** Term of the entry at `index`, if still in the log (for SnapshotMeta.term). */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  /** Leader lease (dissertation §6.4.1): may the leader answer reads without a round trip right now? */
  leaseValid(): boolean {
    if (this.role !== 'leader' || !this.cfg.checkQuorum || this.leaseDisabled) return false;
    if (this.log.term(this.log.committed) !== this.term) return false;
    const conf = this.membership.current();
    const t = quorumValue(conf, (id) => (id === this.id ? this.tickCount : this.prs.get(id)?.ackedTick ?? -Infinity));
    return t !== undefined && this.tickCount < leaseExpiry(t, this.cfg.electionTicks, this.cfg.leaseDriftTicks);
  }

  // ------------------------------------------------------------ internal: roles

  /** internal */
  reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = electionTimeout(this);
    this.leadTransferee = NONE;
    this.leaseDisabled = false;
    this.votes.clear();
    this.prs.clear();
    this.readOnly = new ReadOnly();
    this.needsBcast = false;
    this.heartbeatPending = false;
    this.dirty.clear();
  }

  /** internal */
  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  /** internal */
  becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    for (const id of members(this.membership.current())) this.ensureProgress(id);
    this.ensureProgress(this.id);
    for (const pr of this.prs.values()) pr.recentActive = true;
    // An empty entry of our term: commits earlier-term entries (§5.4.2) and
    // gates conf changes until our term has a committed entry (§4.1 bug fix).
    const noop = this.appendLocal('normal', new Uint8Array(0));
    if (noop.ok) this.pendingConfIndex = noop.index;
  }

  /** internal */
  ensureProgress(id: NodeId): Progress {
    let pr = this.prs.get(id);
    if (pr === undefined) {
      pr = new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
      pr.recentActive = true;
      this.prs.set(id, pr);
    }
    return pr;
  }

  /** internal: append to our log, keeping the membership (append-time semantics) in step. */
  appendToLog(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    let changed = ents[0]!.index <= this.log.lastIndex() && this.membership.truncateFrom(ents[0]!.index);
    this.log.append(ents);
    changed = this.membership.onAppend(ents) || changed;
    if (changed && this.role === 'leader') this.onLeaderConfChanged();
  }

  /** internal: leader's commit rule; true if the commit index advanced. */
  maybeCommit(): boolean {
    const conf = this.membership.current();
    const mci = quorumValue(conf, (id) => (id === this.id ? this.log.lastIndex() : this.prs.get(id)?.match ?? 0));
    if (mci === undefined || !this.log.maybeCommit(mci, this.term)) return false;
    this.needsBcast = true;
    for (const ctx of this.readOnly.takeWaitingCommit()) this.serveRead(ctx);
    this.maybeStepDownRemoved();
    return true;
  }

  /** internal: current rejection for a proposal, if any. */
  private refuseProposal(): Rejected | undefined {
    if (this.role !== 'leader') return this.reject('notLeader');
    if (this.leadTransferee !== NONE) return this.reject('transferring');
    return undefined;
  }

  private reject(reason: RejectReason): Rejected {
    return { ok: false, reason, lead: this.lead };
  }

  private appendLocal(type: EntryType, data: Uint8Array): ProposeResult {
    const index = this.log.lastIndex() + 1;
    this.appendToLog([{ index, term: this.term, type, data }]);
    if (this.role !== 'leader') return this.reject('notLeader'); // removed itself and stepped down
    this.maybeCommit();
    this.needsBcast = true;
    return { ok: true, index, term: this.term };
  }

  private onLeaderConfChanged(): void {
    const conf = this.membership.current();
    const keep = new Set([...members(conf), this.id]);
    for (const id of [...this.prs.keys()]) if (!keep.has(id)) this.prs.delete(id);
    for (const id of keep) this.ensureProgress(id);
    if (this.leadTransferee !== NONE && !conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
    this.maybeCommit();
    this.needsBcast = true;
  }

  /** A leader that is no longer a voter leads until that configuration commits (§4.2.2), then hands over. */
  private maybeStepDownRemoved(): void {
    if (this.role !== 'leader' || this.membership.isVoter(this.id)) return;
    if (this.log.committed < this.membership.currentIndex()) return;
    let best: NodeId = NONE;
    for (const v of this.membership.current().voters) {
      if (this.prs.get(v)?.match === this.log.lastIndex()) best = v;
    }
    if (best !== NONE) sendTimeoutNow(this, best);
    this.becomeFollower(this.term, NONE);
  }

  private serveRead(ctx: unknown): void {
    const conf = this.membership.current();
    if ((conf.voters.length === 1 && conf.voters[0] === this.id) || this.leaseValid()) {
      this.readStates.push({ index: this.log.committed, ctx });
      return;
    }
    this.round++;
    this.readOnly.addPending(ctx, this.log.committed, this.round);
    this.heartbeatPending = true;
  }

  /** internal: lease from the follower side: we heard from a leader less than electionTicks ago. */
  inLease(): boolean {
    return (
      this.cfg.checkQuorum && this.electionElapsed < this.cfg.electionTicks && (this.lead !== NONE || this.bootGuard)
    );
  }

  /** internal */
  promotable(): boolean {
    return this.membership.isVoter(this.id) && this.log.unstable.snapshot === undefined;
  }

  // ------------------------------------------------------------ internal: ticks and dispatch

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) this.bootGuard = false;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      hup(this, 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE); // §6.2: lost contact with a majority
        return;
      }
      this.leadTransferee = NONE;
    }
    for (const [id, pr] of this.prs) {
      if (pr.state === 'snapshot' && ++pr.snapshotElapsed > this.cfg.snapshotTimeoutTicks) {
        pr.becomeProbe();
        this.dirty.add(id);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.heartbeatPending = true;
    }
  }

  /** Check-quorum round: did a majority of voters answer since the last round? Resets the marks. */
  private quorumActive(): boolean {
    const conf = this.membership.current();
    const q = quorumValue(conf, (id) => (id === this.id || this.prs.get(id)?.recentActive ? 1 : 0));
    for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
    return q === 1;
  }

  private stepStale(m: Message): void {
    // A stale leader (e.g. back from a partition) learns our term from any
    // answer; without this, pre-vote + check-quorum can leave it stuck (etcd #5451-style).
    if ((m.type === 'AppendEntries' || m.type === 'Heartbeat') && (this.cfg.checkQuorum || this.cfg.preVote)) {
      this.msgs.push({ type: 'AppendEntriesResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'PreVote') {
      this.msgs.push({ type: 'PreVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    if (m.type === 'AppendEntriesResp') handleAppendResp(this, m);
    else if (m.type === 'HeartbeatResp') handleHeartbeatResp(this, m);
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'AppendEntries':
        this.heardFromLeader(m.from);
        return handleAppendEntries(this, m);
      case 'Heartbeat':
        this.heardFromLeader(m.from);
        return handleHeartbeat(this, m);
      case 'InstallSnapshot':
        this.heardFromLeader(m.from);
        return handleInstallSnapshot(this, m);
      case 'TimeoutNow':
        return hup(this, 'transfer');
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.lead = from;
  }

  private flush(): void {
    if (this.role !== 'leader') return;
    if (this.heartbeatPending) {
      this.heartbeatPending = false;
      bcastHeartbeat(this);
    }
    flushAppends(this);
  }

  private softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
}

function members(conf: ConfState): NodeId[] {
  return [...conf.voters, ...conf.learners];
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
