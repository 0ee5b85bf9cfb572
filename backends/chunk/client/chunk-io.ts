/**
 * The client's request engine for one volume: MDS lookups (segments,
 * copysets) through the MetaCache, one chunk RPC per piece to the
 * copyset's leader, and the retry loop that turns NOT_LEADER, timeouts and
 * lost connections into redirects and backoff (retry.ts decides, this file
 * performs). The BlockDevice surface is in device.ts.
 *
 * Errors: every rejection is a BlockError — EIO (chunkserver or MDS
 * refused for good), ENOSPC (MDS has no copysets to allocate on),
 * ETIMEDOUT (still failing at the retry deadline), ESHUTDOWN (closed).
 */
import type { Logger } from 'pino';
import { BlockError } from '../../../src/block/device.js';
import { MdsError, type MdsClient } from '../mds/admin-client.js';
import type { SegmentInfo } from '../proto/mds-api.js';
import { MSG } from '../proto/messages.js';
import { RpcError } from '../proto/rpc-client.js';
import type { ChunkResponse } from '../proto/chunk.js';
import { STATUS, statusName } from '../proto/status.js';
import { MetaCache } from './meta-cache.js';
import { decideRetry, type AttemptOutcome, type Refresh, type RetryPolicy } from './retry.js';
import type { SenderOptions, SenderPool } from './sender-pool.js';
import type { IoPiece, VolumeLayout } from './splitor.js';
import type { IoTracker } from './tracker.js';

/** Time and randomness, injectable for tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: () => Math.random(),
};

/**
 * Optional listeners for the daemon's per-LUN metrics; called only when a
 * piece is retried or a copyset's target moves, never on a clean request.
 */
export interface ChunkIoEvents {
  retry(): void;
  /** A copyset's target moved to another chunkserver (same moment as stats.leaderChanges). */
  failover(): void;
}

/** Counters of one volume (read by tests and logged at close). */
export interface ChunkIoStats {
  pieces: number;
  retries: number;
  /** Times a copyset's target moved to another chunkserver (hint or suspicion). */
  leaderChanges: number;
  failures: number;
}

export interface ChunkIoOptions {
  volume: string;
  layout: VolumeLayout;
  /** The volume's snapshot sequence number; writes carry it. */
  seq: number;
  mds: MdsClient;
  pool: SenderPool;
  sender: SenderOptions;
  policy: RetryPolicy;
  holeTtlMs: number;
  clock: Clock;
  log?: Logger;
  events?: ChunkIoEvents;
}

interface Attempt {
  outcome: AttemptOutcome;
  copysetId?: number;
  from?: string;
  res?: ChunkResponse;
}

export type PieceOp = 'read' | 'write';

export class ChunkIo {
  readonly stats: ChunkIoStats = { pieces: 0, retries: 0, leaderChanges: 0, failures: 0 };
  readonly cache: MetaCache;
  private readonly segmentFetches = new Map<string, Promise<SegmentInfo | null>>();
  private readonly copysetFetches = new Map<number, Promise<void>>();

  constructor(private readonly o: ChunkIoOptions) {
    this.cache = new MetaCache(o.holeTtlMs);
  }

  /**
   * One piece, retried until done or failed for good. A read copies its
   * bytes into `out` at piece.bufferOffset (`out` starts zeroed, so holes
   * and CHUNK_NOT_EXIST need nothing); a write sends `data`.
   */
  async runPiece(op: PieceOp, piece: IoPiece, tracker: IoTracker, data?: Buffer, out?: Buffer): Promise<void> {
    const { clock, policy } = this.o;
    const started = clock.now();
    this.stats.pieces++;
    for (let attempt = 0; ; attempt++) {
      if (tracker.done) return; // the request already failed: stop spending retries on it
      const a = await this.attempt(op, piece, data);
      const d = decideRetry(a.outcome, attempt, clock.now() - started, policy, clock.random());
      if (d.action === 'done') {
        if (a.copysetId !== undefined && a.from !== undefined) this.cache.noteSuccess(a.copysetId, a.from);
        if (out && a.res?.status === STATUS.OK && a.res.data) a.res.data.copy(out, piece.bufferOffset, 0, piece.lengthBytes);
        return;
      }
      if (d.action === 'fail') {
        this.stats.failures++;
        throw new BlockError(d.error, `${this.o.volume}: ${op} of chunk piece failed: ${describe(a.outcome)}`);
      }
      tracker.retries++;
      this.stats.retries++;
      this.o.events?.retry();
      this.refresh(d.refresh, a);
      this.o.log?.debug({ backend: 'chunk', volume: this.o.volume, op, attempt, to: a.from, err: describe(a.outcome), delayMs: d.delayMs }, 'chunk request retry');
      if (d.delayMs > 0) await clock.sleep(d.delayMs);
    }
  }

  private async attempt(op: PieceOp, piece: IoPiece, data?: Buffer): Promise<Attempt> {
    let seg: SegmentInfo | null;
    try {
      seg = await this.segment(piece.segmentIndex, op === 'write');
    } catch (e) {
      return { outcome: mdsOutcome(e) };
    }
    if (seg === null) return { outcome: { kind: 'status', status: STATUS.CHUNK_NOT_EXIST } };
    const chunk = seg.chunks[piece.chunkIndex];
    if (!chunk) return { outcome: { kind: 'fatal', error: 'EIO' } };
    const copysetId = chunk.copysetId;
    try {
      await this.ensureCopyset(copysetId);
    } catch (e) {
      return { outcome: mdsOutcome(e), copysetId };
    }
    const from = this.cache.target(copysetId);
    if (from === undefined) return { outcome: { kind: 'unavailable' }, copysetId };
    const req = { copysetId, chunkId: chunk.chunkId, offset: piece.chunkOffset, length: piece.lengthBytes, seq: op === 'write' ? this.o.seq : 0 };
    try {
      const client = this.o.pool.client(from, this.o.sender);
      const res = await client.callChunk(op === 'write' ? MSG.WRITE_CHUNK : MSG.READ_CHUNK, data ? { ...req, data } : req, this.o.sender.callTimeoutMs);
      // A chunkserver creates chunks on write; "does not exist" there is a server bug.
      const status = op === 'write' && res.status === STATUS.CHUNK_NOT_EXIST ? STATUS.IO_ERROR : res.status;
      return { outcome: { kind: 'status', status, leaderHint: res.leaderHint }, copysetId, from, res };
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      return { outcome: { kind: 'rpc', error: e.kind, status: e.status }, copysetId, from };
    }
  }

  private refresh(r: Refresh, a: Attempt): void {
    const id = a.copysetId;
    if (id === undefined) return;
    const before = this.cache.target(id);
    const now = this.o.clock.now();
    if (r === 'copyset') this.cache.dropCopyset(id);
    else if (a.from === undefined) return;
    else if (r === 'leaderHint') this.cache.noteNotLeader(id, a.from, a.res?.leaderHint ?? '', a.res?.leaderHintId ?? 0, now);
    else if (r === 'nextMember') this.cache.noteUnreachable(id, a.from, now);
    else if (r === 'otherMember') this.cache.noteWrongMember(id, a.from, now);
    const after = this.cache.target(id);
    if (after !== before && after !== undefined) {
      this.stats.leaderChanges++;
      this.o.events?.failover();
      this.o.log?.debug({ backend: 'chunk', volume: this.o.volume, copyset: id, from: before, to: after }, 'chunk copyset target changed');
    }
  }

  /** The segment (from the cache, else the MDS); null = unallocated. Concurrent lookups share one MDS call. */
  async segment(index: number, allocate: boolean): Promise<SegmentInfo | null> {
    const cached = this.cache.segment(index, this.o.clock.now());
    if (cached) return cached;
    if (cached === null && !allocate) return null;
    const key = `${index}:${allocate}`;
    let p = this.segmentFetches.get(key);
    if (!p) {
      p = this.fetchSegment(index, allocate).finally(() => this.segmentFetches.delete(key));
      this.segmentFetches.set(key, p);
    }
    return p;
  }

  private async fetchSegment(index: number, allocate: boolean): Promise<SegmentInfo | null> {
    const seg = await this.o.mds.getSegment({ name: this.o.volume, offsetBytes: index * this.o.layout.segmentSizeBytes, allocate });
    this.cache.putSegment(index, seg, this.o.clock.now());
    if (seg) await this.fetchCopysets([...new Set(seg.chunks.map((c) => c.copysetId))]).catch(() => undefined);
    return seg;
  }

  private ensureCopyset(id: number): Promise<void> {
    if (this.cache.hasCopyset(id)) return Promise.resolve();
    return this.copysetFetches.get(id) ?? this.fetchCopysets([id]);
  }

  /** One GET_COPYSETS for the ids not cached nor already being fetched. */
  private fetchCopysets(ids: number[]): Promise<void> {
    const want = ids.filter((id) => !this.cache.hasCopyset(id) && !this.copysetFetches.has(id));
    const waits = ids.map((id) => this.copysetFetches.get(id)).filter((p) => p !== undefined);
    if (want.length > 0) {
      const p = this.o.mds.getCopysets(want).then((infos) => this.cache.putCopysets(infos, this.o.clock.now()));
      const tracked = p.finally(() => want.forEach((id) => this.copysetFetches.delete(id)));
      for (const id of want) this.copysetFetches.set(id, tracked);
      waits.push(tracked);
    }
    return Promise.all(waits).then(() => undefined);
  }
}

/** MDS failures: no active MDS is transient; a final answer is not. */
function mdsOutcome(e: unknown): AttemptOutcome {
  if (!(e instanceof MdsError)) return { kind: 'fatal', error: 'EIO' };
  if (e.status === STATUS.NOT_LEADER) return { kind: 'unavailable' };
  return { kind: 'fatal', error: e.status === STATUS.NO_SPACE ? 'ENOSPC' : 'EIO' };
}

function describe(o: AttemptOutcome): string {
  switch (o.kind) {
    case 'status':
      return statusName(o.status);
    case 'rpc':
      return o.error === 'REMOTE' && o.status !== undefined ? `REMOTE ${statusName(o.status)}` : o.error;
    case 'unavailable':
      return 'no reachable member or MDS';
    case 'fatal':
      return o.error;
  }
}
