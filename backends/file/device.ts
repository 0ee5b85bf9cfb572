/**
 * The embedded default backend: a regular file (sparse) or a block device.
 *
 * Durability: writes go through the page cache; flush() is fdatasync(2).
 * FUA writes use a second descriptor opened with O_DSYNC, so a FUA write is
 * durable when it completes without flushing unrelated dirty data. Discard
 * punches holes (fallocate PUNCH_HOLE|KEEP_SIZE); allocation status comes
 * from lseek(SEEK_DATA/SEEK_HOLE). I/O runs on the libuv threadpool, whose
 * size the daemon sets from the number of LUNs, except small reads that hit
 * the page cache (nowait-read.ts) and small non-FUA writes (inline-write.ts),
 * which are done on the target's loop.
 */
import fs from 'node:fs';
import {
  BlockError,
  toBlockError,
  type BlockDevice,
  type BlockDeviceInfo,
  type Extent,
  type WriteOptions,
  type WriteZeroesOptions,
} from '../../src/block/device.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  SEEK_DATA,
  SEEK_HOLE,
  fallocate,
  seekAllocation,
  seekAllocationNow,
  seekEnd,
} from '../../src/util/libc.js';
import { PRIVATE_FILE_MODE } from '../../src/util/private-fs.js';
import { fchmod, fdatasync, fstat, ftruncate, readFull, writeFull, closeFd } from './fd-io.js';
import { InlineWriter } from './inline-write.js';
import { readNowait } from './nowait-read.js';
import { sendPrefixAndFile } from './sendfile.js';
import { WriteCoalescer } from './write-batch.js';

export interface FileDeviceOptions {
  path: string;
  /** Create a sparse file of this size when the path does not exist. */
  createSizeBytes?: number;
  readOnly?: boolean;
  blockSize?: number;
  serial: string;
}

const ZERO_CHUNK_BYTES = 1024 * 1024;
/** Block-status walks of up to this many extents call lseek on the loop (see blockStatus). */
const SEEK_ON_LOOP_MAX_EXTENTS = 64;
/**
 * Reads up to this size try the page cache inline first (nowait-read.ts).
 * Longer copies go to the threadpool so they overlap the loop's network
 * work on another core (bench/README.md, "inline cached reads").
 */
export const INLINE_READ_MAX_BYTES = envBytes('BLOCKGATE_FILE_INLINE_READ_MAX_BYTES', 32 * 1024);

/** Non-FUA writes up to this size are written inline (inline-write.ts); `0` turns it off. */
export const INLINE_WRITE_MAX_BYTES = envBytes('BLOCKGATE_FILE_INLINE_WRITE_MAX_BYTES', 32 * 1024);

/** Large cached reads may go from the page cache straight to the socket (sendfile.ts); `0` turns it off. */
const SENDFILE = envBytes('BLOCKGATE_FILE_SENDFILE', 1) !== 0;

/** Adjacent writes of one tick become one pwritev (write-batch.ts); `0` turns it off. */
const COALESCE_WRITES = envBytes('BLOCKGATE_FILE_COALESCE_WRITES', 1) !== 0;

/** A tuning knob from the environment (0 turns inline reads off; bench/ compares both). */
function envBytes(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isSafeInteger(v) && v >= 0 ? v : dflt;
}

export class FileDevice implements BlockDevice {
  private closed = false;
  private punchSupported: boolean;
  private zeroRangeSupported = true;
  private zeroChunk: Buffer | undefined;
  private readonly writes = new WriteCoalescer(COALESCE_WRITES);
  private readonly inlineWrites = new InlineWriter(INLINE_WRITE_MAX_BYTES);

  private constructor(
    private readonly fd: number,
    private readonly fuaFd: number,
    readonly info: BlockDeviceInfo,
    readonly isBlockDevice: boolean,
    readonly path: string,
  ) {
    this.punchSupported = !isBlockDevice;
  }

  static async open(opts: FileDeviceOptions): Promise<FileDevice> {
    const readOnly = opts.readOnly ?? false;
    const blockSize = opts.blockSize ?? 512;
    try {
      if (opts.createSizeBytes !== undefined && !fs.existsSync(opts.path)) {
        await createSparse(opts.path, opts.createSizeBytes);
      }
      const flags = readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
      const fd = await openFd(opts.path, flags);
      const fuaFd = readOnly ? fd : await openFd(opts.path, flags | fs.constants.O_DSYNC);
      const st = await fstat(fd);
      const isBlock = st.isBlockDevice();
      const size = isBlock ? await blockDeviceSize(fd) : st.size;
      const info: BlockDeviceInfo = {
        sizeBytes: size - (size % blockSize),
        blockSize,
        physicalBlockSize: Math.max(blockSize, 4096),
        readOnly,
        canDiscard: !isBlock && !readOnly,
        canWriteZeroes: !readOnly,
        canBlockStatus: !isBlock,
        hasVolatileCache: true,
        maxTransferBytes: 32 * 1024 * 1024,
        serial: opts.serial,
      };
      return new FileDevice(fd, fuaFd, info, isBlock, opts.path);
    } catch (err) {
      throw toBlockError(err);
    }
  }

  async read(offsetBytes: number, lengthBytes: number, into?: Buffer): Promise<Buffer> {
    this.check(offsetBytes, lengthBytes, false);
    const buf = into && into.length >= lengthBytes ? into.subarray(0, lengthBytes) : Buffer.allocUnsafe(lengthBytes);
    let done = lengthBytes <= INLINE_READ_MAX_BYTES ? readNowait(this.fd, buf, offsetBytes) : -1;
    if (done === 0) return buf.fill(0); // at or past end of file: a sparse tail
    if (done === lengthBytes) return buf;
    done = Math.max(done, 0);
    try {
      await readFull(this.fd, done ? buf.subarray(done) : buf, offsetBytes + done);
    } catch (err) {
      throw toBlockError(err);
    }
    return buf;
  }

  readNow(offsetBytes: number, lengthBytes: number, into: Buffer, intoOffset: number): boolean {
    if (lengthBytes > INLINE_READ_MAX_BYTES || lengthBytes === 0) return false;
    this.check(offsetBytes, lengthBytes, false);
    // A short copy (end of a sparse file, a partly cached range) goes the long way.
    return readNowait(this.fd, into, offsetBytes, intoOffset, lengthBytes) === lengthBytes;
  }

  /** Cached, allocated ranges go from the page cache to the socket (sendfile.ts). */
  sendTo(sockFd: number, prefix: Buffer, offsetBytes: number, lengthBytes: number): number {
    this.check(offsetBytes, lengthBytes, false);
    if (!SENDFILE || this.isBlockDevice) return -1; // block devices: their holes cannot be asked for
    return sendPrefixAndFile(sockFd, prefix, this.fd, offsetBytes, lengthBytes);
  }

  writeNow(offsetBytes: number, data: Buffer): boolean {
    this.check(offsetBytes, data.length, true);
    try {
      return this.inlineWrites.tryWrite(this.fd, data, offsetBytes);
    } catch (err) {
      throw toBlockError(err);
    }
  }

  async write(offsetBytes: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    this.check(offsetBytes, data.length, true);
    try {
      // Concurrent writes carry no order (SCSI SIMPLE tasks, NBD requests in
      // flight), so one written inline may overtake writes still queued.
      if (!opts?.fua && this.inlineWrites.tryWrite(this.fd, data, offsetBytes)) return;
      await this.writes.write(opts?.fua ? this.fuaFd : this.fd, data, offsetBytes);
    } catch (err) {
      throw toBlockError(err);
    }
  }

  async flush(): Promise<void> {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (this.info.readOnly) return;
    try {
      await fdatasync(this.fd);
    } catch (err) {
      throw toBlockError(err);
    }
  }

  async discard(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.check(offsetBytes, lengthBytes, true);
    if (!this.punchSupported) throw new BlockError('ENOTSUP', 'hole punching not supported here');
    if (lengthBytes === 0) return;
    try {
      await fallocate(this.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPNOTSUPP') {
        this.punchSupported = false;
        this.info.canDiscard = false;
        throw new BlockError('ENOTSUP', 'filesystem cannot punch holes');
      }
      throw toBlockError(err);
    }
  }

  async writeZeroes(offsetBytes: number, lengthBytes: number, opts?: WriteZeroesOptions): Promise<void> {
    this.check(offsetBytes, lengthBytes, true);
    if (lengthBytes === 0) return;
    if (opts?.mayDeallocate && this.punchSupported) {
      try {
        await this.discard(offsetBytes, lengthBytes);
        return opts.fua ? this.flush() : undefined;
      } catch (err) {
        if (!(err instanceof BlockError && err.kind === 'ENOTSUP')) throw err;
      }
    }
    if (this.zeroRangeSupported && !this.isBlockDevice) {
      try {
        await fallocate(this.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
        return opts?.fua ? this.flush() : undefined;
      } catch (err) {
        if ((err as { code?: string }).code !== 'EOPNOTSUPP') throw toBlockError(err);
        this.zeroRangeSupported = false;
      }
    }
    await this.writeZeroBuffers(offsetBytes, lengthBytes);
    if (opts?.fua) await this.flush();
  }

  /**
   * Walks SEEK_DATA / SEEK_HOLE until `end` or `maxExtents`: on the loop for
   * a few extents (GET LBA STATUS, NBD REQ_ONE — QEMU asks once per read
   * with cache=none), on the threadpool for longer walks.
   */
  async blockStatus(offsetBytes: number, lengthBytes: number, maxExtents = Infinity): Promise<Extent[]> {
    this.check(offsetBytes, 0, false);
    const seek = maxExtents <= SEEK_ON_LOOP_MAX_EXTENTS ? seekAllocationNow : seekAllocation;
    let end = Math.min(offsetBytes + lengthBytes, this.info.sizeBytes);
    if (!this.info.canBlockStatus) {
      return [{ offsetBytes, lengthBytes: end - offsetBytes, hole: false, zero: false }];
    }
    const extents: Extent[] = [];
    let pos = offsetBytes;
    try {
      while (pos < end) {
        if (extents.length >= maxExtents) {
          end = pos; // report up to here only: what lies beyond is unknown, not data
          break;
        }
        let dataAt = await seek(this.fd, pos, SEEK_DATA);
        if (dataAt < 0 || dataAt > end) dataAt = end;
        if (dataAt > pos) extents.push({ offsetBytes: pos, lengthBytes: dataAt - pos, hole: true, zero: true });
        if (dataAt >= end) break;
        let holeAt = await seek(this.fd, dataAt, SEEK_HOLE);
        if (holeAt < 0 || holeAt > end) holeAt = end;
        extents.push({ offsetBytes: dataAt, lengthBytes: holeAt - dataAt, hole: false, zero: false });
        pos = holeAt;
      }
    } catch (err) {
      throw toBlockError(err);
    }
    return alignExtents(extents, this.info.blockSize, offsetBytes, end);
  }

  async resize(sizeBytes: number): Promise<void> {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (this.info.readOnly) throw new BlockError('EROFS', 'device is read-only');
    if (this.isBlockDevice) throw new BlockError('ENOTSUP', 'cannot resize a block device');
    if (sizeBytes % this.info.blockSize !== 0) throw new BlockError('EINVAL', 'size is not a multiple of the block size');
    try {
      await ftruncate(this.fd, sizeBytes);
    } catch (err) {
      throw toBlockError(err);
    }
    this.info.sizeBytes = sizeBytes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fuaFd !== this.fd) await closeFd(this.fuaFd).catch(() => undefined);
    await closeFd(this.fd).catch(() => undefined);
  }

  private async writeZeroBuffers(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.zeroChunk ??= Buffer.alloc(ZERO_CHUNK_BYTES);
    let done = 0;
    try {
      while (done < lengthBytes) {
        const n = Math.min(ZERO_CHUNK_BYTES, lengthBytes - done);
        await writeFull(this.fd, this.zeroChunk.subarray(0, n), offsetBytes + done);
        done += n;
      }
    } catch (err) {
      throw toBlockError(err);
    }
  }

  private check(offsetBytes: number, lengthBytes: number, writing: boolean): void {
    if (this.closed) throw new BlockError('ESHUTDOWN', 'device closed');
    if (writing && this.info.readOnly) throw new BlockError('EROFS', 'device is read-only');
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.info.sizeBytes) {
      throw new BlockError('EINVAL', `range ${offsetBytes}+${lengthBytes} beyond device end ${this.info.sizeBytes}`);
    }
  }
}

/**
 * Filesystems report allocation in their own block units; protocols want
 * runs aligned to the logical block size. A partially allocated logical
 * block is reported as data (never claim zeroes that might not be).
 */
function alignExtents(extents: Extent[], blockSize: number, start: number, end: number): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    let s = e.offsetBytes;
    let f = e.offsetBytes + e.lengthBytes;
    if (e.hole) {
      s = Math.min(Math.ceil(s / blockSize) * blockSize, f);
      f = Math.max(Math.floor(f / blockSize) * blockSize, s);
    }
    push(out, Math.max(s, start), Math.min(f, end), e.hole);
  }
  // Fill the gaps left by shrinking holes with data runs.
  const filled: Extent[] = [];
  let pos = start;
  for (const e of out) {
    if (e.offsetBytes > pos) push(filled, pos, e.offsetBytes, false);
    push(filled, e.offsetBytes, e.offsetBytes + e.lengthBytes, e.hole);
    pos = e.offsetBytes + e.lengthBytes;
  }
  if (pos < end) push(filled, pos, end, false);
  return filled;
}

function push(out: Extent[], s: number, f: number, hole: boolean): void {
  if (f <= s) return;
  const last = out[out.length - 1];
  if (last && last.hole === hole && last.offsetBytes + last.lengthBytes === s) {
    last.lengthBytes += f - s;
    return;
  }
  out.push({ offsetBytes: s, lengthBytes: f - s, hole, zero: hole });
}

function openFd(path: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/**
 * A new image is 0600 whatever the umask (anyone who can read it reads the
 * disk). An existing file is never created here, so it keeps its owner's mode.
 */
async function createSparse(path: string, sizeBytes: number): Promise<void> {
  const fd = await openFd(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, PRIVATE_FILE_MODE);
  try {
    await fchmod(fd, PRIVATE_FILE_MODE);
    await ftruncate(fd, sizeBytes);
  } finally {
    await closeFd(fd);
  }
}

/** Size of a block device: fstat reports 0, so seek to its end. */
function blockDeviceSize(fd: number): Promise<number> {
  return seekEnd(fd);
}
