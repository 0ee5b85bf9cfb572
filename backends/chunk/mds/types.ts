/**
 * MDS state: durable records (kept in the store, see store.ts for the key
 * layout) and the soft state rebuilt from heartbeats after a failover.
 */
import type { CopysetOpKind } from '../proto/mds-api.js';

export interface MdsConfig {
  /** Thin allocation unit (design.md §3); a multiple of chunkSizeBytes. */
  segmentSizeBytes: number;
  chunkSizeBytes: number;
  replicas: number;
  /** Copysets to create per chunkserver (the average load aimed for). */
  copysetsPerChunkserver: number;
  /** Hard bound on copysets per chunkserver (placement and repair). */
  maxCopysetsPerChunkserver: number;
  /** A chunkserver silent for longer is down. */
  heartbeatTimeoutMs: number;
  /** A pending op not seen done within this is dropped and re-planned. */
  opTimeoutMs: number;
  /** A new member is caught up when its applied index is within this of the leader's. */
  catchUpLag: number;
  leaderBalance: boolean;
}

export const DEFAULT_MDS_CONFIG: MdsConfig = {
  segmentSizeBytes: 1024 * 1024 * 1024,
  chunkSizeBytes: 16 * 1024 * 1024,
  replicas: 3,
  copysetsPerChunkserver: 32,
  maxCopysetsPerChunkserver: 64,
  heartbeatTimeoutMs: 10_000,
  opTimeoutMs: 60_000,
  catchUpLag: 8,
  leaderBalance: true,
};

export interface ChunkserverRecord {
  id: number;
  zone: string;
  server: string;
  address: string;
  capacityBytes: number;
}

export interface CopysetRecord {
  id: number;
  /** Chunkserver ids; 3 when healthy, 4 during a repair. */
  members: number[];
  /** Term of the leader report that last set `members`. */
  term: number;
}

export interface VolumeRecord {
  id: number;
  /**
   * The volume's 128-bit identity (32 hex digits), generated at create and
   * never changed: every gateway exporting the volume reports the SCSI
   * identity derived from it. Volumes created before it existed get one
   * when an MDS loads them (MdsCore.load).
   */
  uuid: string;
  name: string;
  sizeBytes: number;
  segmentSizeBytes: number;
  chunkSizeBytes: number;
  seq: number;
  createdAt: string;
}

export interface SegmentRecord {
  volumeId: number;
  index: number;
  /** [chunkId, copysetId] per chunk, in volume order. */
  chunks: Array<[number, number]>;
}

export interface Counters {
  nextChunkserverId: number;
  nextCopysetId: number;
  nextVolumeId: number;
  nextChunkId: number;
}

export const INITIAL_COUNTERS: Counters = { nextChunkserverId: 1, nextCopysetId: 1, nextVolumeId: 1, nextChunkId: 1 };

/** Soft: one copyset as the latest leader heartbeat described it. */
export interface CopysetLive {
  leaderId: number;
  term: number;
  appliedIndex: number;
  /** Applied index per member, from each member's own heartbeat. */
  peerApplied: Map<number, number>;
}

/** Soft: a scheduled membership/leadership change waiting to be seen done. */
export interface PendingOp {
  copysetId: number;
  kind: CopysetOpKind;
  /** Chunkserver to add / remove / hand leadership to. */
  peer: number;
  issuedAt: number;
}
