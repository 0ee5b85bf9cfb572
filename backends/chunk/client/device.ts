/**
 * `bstype chunk`: a volume of the replicated chunk backend as a BlockDevice,
 * opened inside a target worker (design.md §3 "Client").
 *
 * Durability: a write completes when every piece was committed by its
 * copyset's Raft majority, so there is no volatile cache: flush() only
 * checks that the device is open, and FUA needs nothing extra.
 * Thin provisioning: writes allocate segments at the MDS; reads of
 * unallocated segments (or of chunks never written) return zeroes, and
 * blockStatus reports unallocated segments as holes. Discard is not
 * supported (chunk files are not garbage-collected yet); writeZeroes
 * writes zeroes only where segments are allocated.
 *
 * Errors: EINVAL (range, bad options, no such volume), EROFS, ESHUTDOWN,
 * ENOTSUP (discard, shrink), and what chunk-io.ts produces (EIO, ENOSPC,
 * ETIMEDOUT).
 */
import type { Logger } from 'pino';
import { BlockError, type BlockDevice, type BlockDeviceInfo, type Extent, type WriteOptions, type WriteZeroesOptions } from '../../../src/block/device.js';
import { MdsClient, MdsError } from '../mds/admin-client.js';
import type { VolumeInfo } from '../proto/mds-api.js';
import { STATUS } from '../proto/status.js';
import { ChunkIo, realClock, type ChunkIoEvents, type ChunkIoStats, type Clock, type PieceOp } from './chunk-io.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { threadSenderPool, type SenderPool } from './sender-pool.js';
import { segmentsOf, splitIo } from './splitor.js';
import { IoTracker } from './tracker.js';

export interface ChunkVolumeOptions {
  volume: string;
  /** MDS endpoints "host:port". */
  mds: readonly string[];
  serial: string;
  readOnly?: boolean;
  /** Create the volume with this size (rounded up to 4 KiB) when it does not exist. */
  createSizeBytes?: number;
  /** 512 (default), 1024, 2048 or 4096: it must divide 4096, the volume size unit. */
  blockSize?: number;
  /** Total time one request keeps retrying (ms). Default 60 000. */
  deadlineMs?: number;
  /** Timeout of one chunk RPC (ms). Default 3000. */
  rpcTimeoutMs?: number;
  /** Connections per chunkserver. Default 1. */
  senders?: number;
  retry?: Partial<RetryPolicy>;
  /** How long "segment unallocated" is believed (ms). Default 1000. */
  holeTtlMs?: number;
  log?: Logger;
  /** Retry / failover listeners (the daemon's per-LUN metrics); `stats` counts the same events. */
  events?: ChunkIoEvents;
  /** Tests: the connection pool and the clock. */
  pool?: SenderPool;
  clock?: Clock;
}

/** A request that spent longer than this in retries is logged at warn. */
const SLOW_REQUEST_MS = 1000;
const ZERO_BUFFER_BYTES = 1024 * 1024;

export class ChunkVolumeDevice implements BlockDevice {
  readonly info: BlockDeviceInfo;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private zeroes: Buffer | undefined;

  private constructor(
    private readonly volume: VolumeInfo,
    private readonly mds: MdsClient,
    private readonly io: ChunkIo,
    private readonly pool: SenderPool,
    private readonly o: ChunkVolumeOptions,
  ) {
    const blockSize = o.blockSize ?? 512;
    this.info = {
      sizeBytes: volume.sizeBytes - (volume.sizeBytes % blockSize),
      blockSize,
      physicalBlockSize: 4096,
      readOnly: o.readOnly ?? false,
      canDiscard: false,
      canWriteZeroes: true,
      canBlockStatus: true,
      hasVolatileCache: false,
      maxTransferBytes: 32 * 1024 * 1024,
      serial: o.serial,
      // The volume's identity, the same for every gateway that opens it (SCSI VPD 0x80/0x83).
      ...(typeof volume.uuid === 'string' && volume.uuid !== '' ? { uuid: volume.uuid } : {}),
    };
  }

  /** Open (or create, with createSizeBytes) the volume at the MDS. */
  static async open(o: ChunkVolumeOptions): Promise<ChunkVolumeDevice> {
    if (o.mds.length === 0) throw new BlockError('EINVAL', 'chunk backend: no MDS address');
    const bs = o.blockSize ?? 512;
    if (![512, 1024, 2048, 4096].includes(bs)) throw new BlockError('EINVAL', `chunk backend: block size ${bs} (512, 1024, 2048 or 4096)`);
    const mds = new MdsClient(o.mds, { callTimeoutMs: Math.min(o.rpcTimeoutMs ?? 3000, 5000) });
    let volume: VolumeInfo;
    try {
      volume = await openVolume(mds, o.volume, o.createSizeBytes);
    } catch (e) {
      mds.close();
      throw e;
    }
    const pool = o.pool ?? threadSenderPool;
    const io = new ChunkIo({
      volume: o.volume,
      layout: volume,
      seq: volume.seq,
      mds,
      pool,
      sender: { senders: o.senders ?? 1, callTimeoutMs: o.rpcTimeoutMs ?? 3000 },
      policy: { ...DEFAULT_RETRY_POLICY, ...o.retry, ...(o.deadlineMs !== undefined ? { deadlineMs: o.deadlineMs } : {}) },
      holeTtlMs: o.holeTtlMs ?? 1000,
      clock: o.clock ?? realClock,
      ...(o.log ? { log: o.log } : {}),
      ...(o.events ? { events: o.events } : {}),
    });
    pool.acquire();
    o.log?.info({ backend: 'chunk', volume: o.volume, sizeBytes: volume.sizeBytes, mds: o.mds }, 'chunk volume opened');
    return new ChunkVolumeDevice(volume, mds, io, pool, o);
  }

  get stats(): Readonly<ChunkIoStats> {
    return this.io.stats;
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.check(offsetBytes, lengthBytes, false);
    const out = Buffer.alloc(lengthBytes);
    await this.submit('read', offsetBytes, lengthBytes, undefined, out);
    return out;
  }

  async write(offsetBytes: number, data: Buffer, _opts?: WriteOptions): Promise<void> {
    this.check(offsetBytes, data.length, true);
    await this.submit('write', offsetBytes, data.length, data);
  }

  /** Raft-committed writes leave nothing to flush. */
  async flush(): Promise<void> {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
  }

  async discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.check(offsetBytes, lengthBytes, true);
    throw new BlockError('ENOTSUP', 'the chunk backend does not deallocate');
  }

  /** Zeroes go only to allocated segments: unallocated ones already read as zeroes. */
  async writeZeroes(offsetBytes: number, lengthBytes: number, _opts?: WriteZeroesOptions): Promise<void> {
    this.check(offsetBytes, lengthBytes, true);
    const segBytes = this.volume.segmentSizeBytes;
    for (const index of segmentsOf(this.volume, offsetBytes, lengthBytes)) {
      const from = Math.max(offsetBytes, index * segBytes);
      const to = Math.min(offsetBytes + lengthBytes, (index + 1) * segBytes);
      if ((await this.io.segment(index, false).catch(() => 'unknown' as const)) === null) continue;
      for (let at = from; at < to; at += ZERO_BUFFER_BYTES) {
        const n = Math.min(ZERO_BUFFER_BYTES, to - at);
        await this.submit('write', at, n, this.zeroBuffer().subarray(0, n));
      }
    }
  }

  /** Unallocated segments are holes; allocated ones are data (chunk-level detail would cost an RPC per chunk). */
  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    this.check(offsetBytes, 0, false);
    const end = Math.min(offsetBytes + lengthBytes, this.info.sizeBytes);
    const segBytes = this.volume.segmentSizeBytes;
    const extents: Extent[] = [];
    for (const index of segmentsOf(this.volume, offsetBytes, end - offsetBytes)) {
      const from = Math.max(offsetBytes, index * segBytes);
      const to = Math.min(end, (index + 1) * segBytes);
      const hole = (await this.io.segment(index, false).catch(() => 'unknown' as const)) === null;
      const last = extents[extents.length - 1];
      if (last && last.hole === hole) last.lengthBytes += to - from;
      else extents.push({ offsetBytes: from, lengthBytes: to - from, hole, zero: hole });
    }
    return extents;
  }

  /** Grow through the MDS (EXTEND_VOLUME); shrinking is not supported. */
  async resize(sizeBytes: number): Promise<void> {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % 4096 !== 0) throw new BlockError('EINVAL', 'volume sizes are multiples of 4096');
    if (sizeBytes < this.info.sizeBytes) throw new BlockError('ENOTSUP', 'chunk volumes cannot shrink');
    if (sizeBytes === this.info.sizeBytes) return;
    try {
      const v = await this.mds.extendVolume({ name: this.o.volume, sizeBytes });
      this.info.sizeBytes = v.sizeBytes - (v.sizeBytes % this.info.blockSize);
    } catch (e) {
      throw mdsBlockError(e, this.o.volume);
    }
  }

  /** Pending requests settle first; then the MDS client closes and the shared connections are released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    this.mds.close();
    this.pool.release();
    this.o.log?.info({ backend: 'chunk', volume: this.o.volume, ...this.io.stats }, 'chunk volume closed');
  }

  private submit(op: PieceOp, offsetBytes: number, lengthBytes: number, data?: Buffer, out?: Buffer): Promise<void> {
    const started = Date.now();
    const pieces = splitIo(this.volume, offsetBytes, lengthBytes);
    const tracker = IoTracker.run(pieces, (p, t) =>
      this.io.runPiece(op, p, t, data?.subarray(p.bufferOffset, p.bufferOffset + p.lengthBytes), out),
    );
    const p = tracker.promise.finally(() => {
      this.inflight.delete(p);
      const ms = Date.now() - started;
      if (tracker.retries > 0 && ms > SLOW_REQUEST_MS) {
        this.o.log?.warn({ backend: 'chunk', volume: this.o.volume, op, offsetBytes, lengthBytes, retries: tracker.retries, ms }, 'chunk request slowed by retries');
      }
    });
    this.inflight.add(p);
    return p;
  }

  private zeroBuffer(): Buffer {
    return (this.zeroes ??= Buffer.alloc(ZERO_BUFFER_BYTES));
  }

  private check(offsetBytes: number, lengthBytes: number, writing: boolean): void {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (writing && this.info.readOnly) throw new BlockError('EROFS', 'device is read-only');
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.info.sizeBytes) {
      throw new BlockError('EINVAL', `range ${offsetBytes}+${lengthBytes} beyond device end ${this.info.sizeBytes}`);
    }
  }
}

async function openVolume(mds: MdsClient, name: string, createSizeBytes: number | undefined): Promise<VolumeInfo> {
  try {
    return await mds.getVolume(name);
  } catch (e) {
    if (!(e instanceof MdsError && e.status === STATUS.NOT_FOUND) || createSizeBytes === undefined) throw mdsBlockError(e, name);
  }
  try {
    return await mds.createVolume({ name, sizeBytes: Math.ceil(createSizeBytes / 4096) * 4096 });
  } catch (e) {
    if (e instanceof MdsError && e.status === STATUS.EXISTS) return mds.getVolume(name).catch((e2: unknown) => Promise.reject(mdsBlockError(e2, name)));
    throw mdsBlockError(e, name);
  }
}

/** MDS answers → BlockError kinds (open, resize). */
function mdsBlockError(e: unknown, name: string): BlockError {
  if (e instanceof BlockError) return e;
  if (!(e instanceof MdsError)) return new BlockError('EIO', `volume ${name}: ${(e as Error)?.message ?? String(e)}`);
  const kind = e.status === STATUS.NOT_FOUND || e.status === STATUS.INVALID ? 'EINVAL' : e.status === STATUS.NOT_LEADER ? 'ETIMEDOUT' : e.status === STATUS.NO_SPACE ? 'ENOSPC' : 'EIO';
  return new BlockError(kind, `volume ${name}: ${e.message}`);
}
