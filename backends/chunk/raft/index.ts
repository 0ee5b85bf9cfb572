/**
 * Public API of the Raft core. See docs/raft.md for the Ready contract,
 * persistence ordering, membership semantics and lease timing.
 */
export type {
  AppendEntries, AppendEntriesResp, ConfChange, ConfChangeOp, ConfState, Entry, EntryType,
  HardState, Heartbeat, HeartbeatResp, InstallSnapshot, Message, MessageType, NodeId, OpResult,
  ProposeResult, ReadState, Ready, Rejected, RejectReason, Role, Snapshot, SnapshotMeta,
  SoftState, TimeoutNow, VoteRequest, VoteResp,
} from './types.js';
export { NONE, entrySize } from './types.js';
export { RaftNode } from './node.js';
export type { RaftConfig, Status } from './node.js';
export { MemoryStorage, bootstrapLog } from './storage.js';
export type { Storage } from './storage.js';
export { applyConfChange, decodeConfChange, encodeConfChange } from './membership.js';
export { mulberry32 } from './prng.js';
