/**
 * Raft core types: log entries, durable state, membership, messages, Ready.
 *
 * The core (node.ts) is a pure state machine in the style of etcd-io/raft:
 * the host feeds it `tick()`, `step(message)` and proposals, and drains
 * `ready()` → persist → send → apply → `advance()`. Nothing in this
 * directory except log-store.ts performs I/O, reads a clock or draws random
 * numbers on its own.
 */

/** A member of one Raft group. Non-zero; 0 (`NONE`) means "nobody". */
export type NodeId = number;
export const NONE: NodeId = 0;

/** `normal`: opaque application command; `conf`: an encoded ConfChange (membership.ts). */
export type EntryType = 'normal' | 'conf';

/**
 * One log entry. `data` is owned by the log once proposed: neither the host
 * nor the core may mutate it afterwards (entries are shared, not copied,
 * between the unstable log, messages and storage).
 */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be durable before any message of the same Ready is sent (Raft §5.1, Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Membership: voters count towards quorums; learners only receive the log. Disjoint sets. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** Last log index covered by the snapshot (everything ≤ index is in `data`). */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership in effect at `index` (see RaftNode.confStateAt). */
  readonly conf: ConfState;
}

/**
 * A snapshot as the core sees it. `data` is opaque to the core; for the
 * chunk backend it is the list of chunk files and their metadata, and the
 * receiving host fetches the files themselves out of band before it treats
 * the snapshot as persisted.
 */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type ConfChangeOp = 'addVoter' | 'addLearner' | 'removeNode';

/** One single-server membership change (Raft dissertation §4.1). */
export interface ConfChange {
  readonly op: ConfChangeOp;
  readonly nodeId: NodeId;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

// ---------------------------------------------------------------- messages

interface MsgBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; for PreVote, the term the sender would campaign in. */
  readonly term: number;
}

/** Raft §5.3. Also carries commit so followers learn it. Empty `entries` = probe / commit update. */
export interface AppendEntries extends MsgBase {
  readonly type: 'AppendEntries';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Success: `index` is the last index known to match the leader (new match).
 * Reject: `index` is the rejected prevIndex; (`hintIndex`, `hintTerm`) is the
 * follower's last entry with index ≤ min(prevIndex, lastIndex) and term ≤
 * prevTerm, so the leader can skip a whole term per round trip (§5.3 "fast
 * back-off").
 */
export interface AppendEntriesResp extends MsgBase {
  readonly type: 'AppendEntriesResp';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Raft §5.2 / dissertation §9.6 (PreVote). `transfer` bypasses the lease check (§3.10 TimeoutNow). */
export interface VoteRequest extends MsgBase {
  readonly type: 'RequestVote' | 'PreVote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly transfer: boolean;
}

export interface VoteResp extends MsgBase {
  readonly type: 'RequestVoteResp' | 'PreVoteResp';
  readonly reject: boolean;
}

/**
 * Leader liveness + ReadIndex/lease confirmation. `round` and `sentTick` are
 * echoed in the response: an echo of round r confirms leadership for reads
 * registered at round ≤ r; `sentTick` (leader's tick counter) dates the lease.
 */
export interface Heartbeat extends MsgBase {
  readonly type: 'Heartbeat';
  readonly commit: number;
  readonly round: number;
  readonly sentTick: number;
}

export interface HeartbeatResp extends MsgBase {
  readonly type: 'HeartbeatResp';
  readonly round: number;
  readonly sentTick: number;
}

/** Raft §7. The follower answers with AppendEntriesResp(index = snapshot index) once installed. */
export interface InstallSnapshot extends MsgBase {
  readonly type: 'InstallSnapshot';
  readonly snapshot: Snapshot;
}

/** Dissertation §3.10: "start an election now", sent by a leader handing over leadership. */
export interface TimeoutNow extends MsgBase {
  readonly type: 'TimeoutNow';
}

export type Message =
  | AppendEntries
  | AppendEntriesResp
  | VoteRequest
  | VoteResp
  | Heartbeat
  | HeartbeatResp
  | InstallSnapshot
  | TimeoutNow;

export type MessageType = Message['type'];

// ---------------------------------------------------------------- ready

export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

/** A linearizable read point: once applied ≥ index, reads tagged `ctx` may be served locally. */
export interface ReadState {
  readonly index: number;
  readonly ctx: unknown;
}

/**
 * Everything the host must do, produced by RaftNode.ready(). The host MUST
 * handle it in this order, then call advance(rd) before asking again:
 *
 *   1. if `snapshot`: make it durable (fetch its files, write its metadata),
 *      replacing the log up to snapshot.meta.index;
 *   2. make `entries` durable: they replace any stored entries with index ≥
 *      entries[0].index (truncate the suffix, then append);
 *   3. make `hardState` durable (after 2 — see docs/raft.md on crash windows);
 *   4. only then send `messages` (a vote or an ack promises 1–3 are on disk);
 *   5. apply `snapshot` then `committedEntries`, in order, to the state machine;
 *      answer `readStates` once applied ≥ their index;
 *   6. call advance(rd).
 *
 * Fields that are absent/empty need nothing. `softState` is set only when
 * leader or role changed (the host fails pending reads/proposals on a loss
 * of leadership).
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** A refused request: never thrown. `lead` is the leader this node knows of (NONE if unknown), for redirects. */
export interface Rejected {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly lead: NodeId;
}

/** Outcome of propose/proposeConfChange: the entry's position, to match against committed entries. */
export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | Rejected;

/** Outcome of readIndex/transferLeadership. */
export type OpResult = { readonly ok: true } | Rejected;

export type RejectReason =
  | 'notLeader'
  | 'transferring'
  | 'confChangePending'
  | 'invalidConfChange'
  | 'invalidTarget';

/** Approximate in-memory/on-wire size of an entry, for byte-bounded batching. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}
