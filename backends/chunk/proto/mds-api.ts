/**
 * JSON bodies of the MDS RPCs (messages.ts MSG.REGISTER_CHUNKSERVER ..
 * MSG.GET_MDS_LEADER). Every response carries `status` (status.ts); a
 * standby MDS answers every call except GET_MDS_LEADER with
 * `{ status: NOT_LEADER, leaderHint: "host:port" | "" }`, and the caller
 * switches to the hinted MDS.
 *
 * Ids: chunkserver ids are non-zero u32 and double as Raft node ids inside
 * each copyset; copyset ids are u32 (= Raft group id); chunk ids are
 * globally unique safe integers (name the chunk files).
 */
import type { StatusCode } from './status.js';

export interface MdsResponse {
  status: StatusCode;
  message?: string;
  /** NOT_LEADER: the active MDS's RPC address, "" if unknown. */
  leaderHint?: string;
}

/** A chunkserver as peers need it. */
export interface PeerAddr {
  id: number;
  address: string;
  zone: string;
}

// ------------------------------------------------------------ chunkservers

export interface RegisterChunkserverRequest {
  zone: string;
  /** Host name of the machine (topology "server"). */
  server: string;
  /** "host:port" the chunkserver's RpcServer listens on. */
  address: string;
  capacityBytes: number;
  /** The id this chunkserver got before (it keeps it in its data dir); absent on first start. */
  chunkserverId?: number;
}

export interface RegisterChunkserverResponse extends MdsResponse {
  chunkserverId: number;
}

/** One copyset as a chunkserver sees it. Leaders report authoritative `members`. */
export interface CopysetReport {
  copysetId: number;
  /** 0 = unknown. */
  leaderId: number;
  term: number;
  /** Voters and learners of the applied configuration (chunkserver ids). */
  members: number[];
  appliedIndex: number;
}

export interface HeartbeatRequest {
  chunkserverId: number;
  address: string;
  capacityBytes: number;
  usedBytes: number;
  copysets: CopysetReport[];
}

export type CopysetOpKind = 'addPeer' | 'removePeer' | 'transferLeader';

/**
 * A membership/leadership change the copyset's leader must carry out (Curve
 * style: ops ride heartbeat replies). Repeated in every reply until the MDS
 * sees it done (members/leader in a later report) or it times out, so the
 * leader must treat a repeat of an op already under way as a no-op.
 */
export interface CopysetOp {
  copysetId: number;
  kind: CopysetOpKind;
  peer: PeerAddr;
}

/**
 * "Host this copyset". `join: false` = a new group: start it with exactly
 * `members` as the initial voters. `join: true` = joining an existing group
 * as the target of an addPeer: start empty and wait for the leader's log
 * and snapshot.
 */
export interface CopysetAssignment {
  copysetId: number;
  members: PeerAddr[];
  join: boolean;
}

export interface HeartbeatResponse extends MdsResponse {
  ops: CopysetOp[];
  create: CopysetAssignment[];
  /** Copysets this chunkserver reported but is no longer a member of: delete them. */
  remove: number[];
}

// ------------------------------------------------------------ volumes

export interface VolumeInfo {
  name: string;
  id: number;
  /** The volume's identity, 32 hex digits (VolumeRecord.uuid). */
  uuid: string;
  sizeBytes: number;
  segmentSizeBytes: number;
  chunkSizeBytes: number;
  /** Snapshot sequence number (design.md §3): chunk writes carry it. */
  seq: number;
  createdAt: string;
  allocatedSegments: number;
}

export interface CreateVolumeRequest {
  name: string;
  sizeBytes: number;
}
export interface VolumeNameRequest {
  name: string;
}
export interface ExtendVolumeRequest {
  name: string;
  /** New size; must be ≥ the current size. */
  sizeBytes: number;
}
export interface VolumeResponse extends MdsResponse {
  volume: VolumeInfo;
}
export interface ListVolumesResponse extends MdsResponse {
  volumes: VolumeInfo[];
}

export interface SegmentChunk {
  chunkId: number;
  copysetId: number;
}

/** Chunk i covers volume bytes [offsetBytes + i·chunkSizeBytes, +chunkSizeBytes). */
export interface SegmentInfo {
  index: number;
  offsetBytes: number;
  lengthBytes: number;
  chunkSizeBytes: number;
  chunks: SegmentChunk[];
}

export interface GetSegmentRequest {
  name: string;
  /** Any byte offset inside the segment (< volume size). */
  offsetBytes: number;
  /** true on the write path: allocate the segment if it has none (thin provisioning). */
  allocate: boolean;
}

/** `segment: null` = never written (reads return zeroes). */
export interface GetSegmentResponse extends MdsResponse {
  segment: SegmentInfo | null;
}

// ------------------------------------------------------------ copysets, cluster

export interface GetCopysetsRequest {
  copysetIds: number[];
}

export interface CopysetInfo {
  copysetId: number;
  members: PeerAddr[];
  /** Last leader reported by heartbeats, 0 = unknown. */
  leaderId: number;
  term: number;
}

export interface GetCopysetsResponse extends MdsResponse {
  copysets: CopysetInfo[];
}

export interface ChunkserverStatus {
  id: number;
  zone: string;
  server: string;
  address: string;
  state: 'up' | 'down';
  copysets: number;
  leaders: number;
  capacityBytes: number;
  usedBytes: number;
}

/**
 * leaderless: no up member leads it; recovering: a repair is under way (a
 * fourth member, or a pending addPeer/removePeer); degraded: a member is
 * down or missing; healthy otherwise. In this order of precedence.
 */
export type CopysetState = 'healthy' | 'degraded' | 'recovering' | 'leaderless';

export interface CopysetStatus {
  copysetId: number;
  /** Chunkserver ids (voters and learners). */
  members: number[];
  /** Last leader reported by heartbeats, 0 = unknown. */
  leaderId: number;
  term: number;
  state: CopysetState;
}

export interface ClusterStatusResponse extends MdsResponse {
  mds: { address: string; isLeader: boolean };
  chunkservers: ChunkserverStatus[];
  copysets: { total: number; healthy: number; degraded: number; leaderless: number };
  /** Every copyset, by id. */
  copysetList: CopysetStatus[];
  volumes: number;
  pendingOps: number;
}

export interface MdsLeaderResponse extends MdsResponse {
  self: string;
  isLeader: boolean;
  /** The active MDS's address, "" if none known. */
  leader: string;
}
