/**
 * The storage contract every backend implements and every wire protocol calls.
 *
 * It is deliberately the narrowest of blockgate's three contracts (network,
 * protocol core, storage): byte offsets and lengths, no SCSI or NBD notions.
 * Protocol cores validate requests against `info` before calling; backends
 * assert the same invariants again (see `checked.ts`) and reject with a
 * `BlockError` whose kind the protocol maps to its own error (SCSI sense,
 * NBD errno). Backends never build sense data.
 *
 * Buffer ownership: `read` returns a Buffer the caller owns. A caller may
 * offer `into` (at least `lengthBytes` long, e.g. from a pool): the device
 * may read into it and return `into.subarray(0, lengthBytes)`, or ignore it
 * and return a buffer of its own, so callers always use what is returned.
 * `write` borrows `data` until its promise settles; the caller must not
 * reuse it before then.
 *
 * Fast paths: a backend that can finish a small request without waiting
 * (a page-cache hit, a buffered write, memory) may implement `readNow` /
 * `writeNow`. They run synchronously on the caller's loop and return false
 * when the request must take the promise path instead; protocols then reply
 * within the same callback, with no promise, microtask or threadpool hop.
 */

export type BlockErrorKind =
  | 'EIO'
  | 'ENOSPC'
  | 'EROFS'
  | 'EPERM'
  | 'EINVAL'
  | 'ENOTSUP'
  | 'ESHUTDOWN'
  | 'EOVERFLOW'
  | 'ETIMEDOUT';

export class BlockError extends Error {
  constructor(
    readonly kind: BlockErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'BlockError';
  }
}

/** Plain form of a BlockError, safe to send through postMessage. */
export interface BlockErrorData {
  code: BlockErrorKind;
  message: string;
}

export function toBlockError(err: unknown): BlockError {
  if (err instanceof BlockError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  switch (e?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BlockError('ENOSPC', e.message);
    case 'EROFS':
      return new BlockError('EROFS', e.message);
    case 'EPERM':
    case 'EACCES':
      return new BlockError('EPERM', e.message);
    case 'EINVAL':
      return new BlockError('EINVAL', e.message);
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
      return new BlockError('ENOTSUP', e.message);
    case 'ETIMEDOUT':
      return new BlockError('ETIMEDOUT', e.message);
    case 'EBADF':
    case 'ESHUTDOWN':
      return new BlockError('ESHUTDOWN', e.message);
    default:
      return new BlockError('EIO', e?.message ?? String(err));
  }
}

export interface BlockDeviceInfo {
  /** Size in bytes; a multiple of `blockSize`. */
  sizeBytes: number;
  /** Logical block size the device is addressed in (512 or 4096). */
  blockSize: number;
  /** Physical block size hint (>= blockSize, power of two). */
  physicalBlockSize: number;
  readOnly: boolean;
  /** Discard really deallocates (reads of discarded ranges return zeroes). */
  canDiscard: boolean;
  /** writeZeroes is cheaper than writing a zero buffer. */
  canWriteZeroes: boolean;
  /** blockStatus reports holes; false means everything reads as data. */
  canBlockStatus: boolean;
  /** The device has a volatile cache that flush() makes durable. */
  hasVolatileCache: boolean;
  /** Largest single request the backend accepts, in bytes. */
  maxTransferBytes: number;
  /** Stable identifier (serial / NAA source); survives restarts. */
  serial: string;
  /**
   * The device's own 128-bit identity (32 hex digits) when it has one that
   * every opener sees (a chunk volume's MDS record): the LUN's SCSI identity
   * is then derived from it instead of the LUN's configured id.
   */
  uuid?: string;
}

export interface WriteOptions {
  /** Force unit access: durable before the promise resolves. */
  fua?: boolean;
}

export interface WriteZeroesOptions extends WriteOptions {
  /** The range may be deallocated (read back as zeroes) instead of written. */
  mayDeallocate?: boolean;
}

/** One run of the allocation map; runs are contiguous and cover the query. */
export interface Extent {
  offsetBytes: number;
  lengthBytes: number;
  /** Not allocated: reads return zeroes. */
  hole: boolean;
  /** Known to read as zeroes (true for holes). */
  zero: boolean;
}

/** Protocols try `readNow` / `writeNow` for requests up to this size. */
export const FAST_PATH_MAX_BYTES = 32 * 1024;
/** Protocols try `sendTo` for reads at least this long (smaller ones are cheaper to copy). */
export const SEND_FROM_DEVICE_MIN_BYTES = 64 * 1024;

export interface BlockDevice {
  readonly info: BlockDeviceInfo;
  /** Preconditions for every I/O: offset/length are block-aligned and in range. */
  read(offsetBytes: number, lengthBytes: number, into?: Buffer): Promise<Buffer>;
  write(offsetBytes: number, data: Buffer, opts?: WriteOptions): Promise<void>;
  /**
   * Optional: copy [offset, offset+length) into `into` at `intoOffset` now,
   * if that cannot block. False: nothing useful was done, call `read`.
   * Throws only for requests `read` would reject the same way.
   */
  readNow?(offsetBytes: number, lengthBytes: number, into: Buffer, intoOffset: number): boolean;
  /**
   * Optional: a write without FUA done now, if that cannot wait for the
   * disk. False: call `write`. Throws a BlockError when the write failed.
   */
  writeNow?(offsetBytes: number, data: Buffer): boolean;
  /**
   * Optional: write `prefix`, then the bytes of [offset, offset+length),
   * straight to the non-blocking TCP socket `sockFd` (nothing else may be
   * queued on it), if that cannot wait for the disk. Returns the bytes
   * written — possibly short when the socket buffer fills; the caller
   * writes the rest — or -1 when nothing was written: use `read`.
   */
  sendTo?(sockFd: number, prefix: Buffer, offsetBytes: number, lengthBytes: number): number;
  /** Make every completed write durable (fdatasync). */
  flush(): Promise<void>;
  /** Deallocate; afterwards the range reads as zeroes. Rejects ENOTSUP if !canDiscard. */
  discard(offsetBytes: number, lengthBytes: number): Promise<void>;
  writeZeroes(offsetBytes: number, lengthBytes: number, opts?: WriteZeroesOptions): Promise<void>;
  /**
   * Allocation status for [offset, offset+length), clipped to the device end.
   * `maxExtents`: the caller uses no more than this many; a device may stop
   * after about that many and return contiguous extents from `offset` that
   * cover less than asked (a fragmented file would otherwise be walked to
   * the end for a reply that carries one descriptor).
   */
  blockStatus(offsetBytes: number, lengthBytes: number, maxExtents?: number): Promise<Extent[]>;
  /** Change the size (grow or shrink). Rejects ENOTSUP where impossible. */
  resize(sizeBytes: number): Promise<void>;
  /** Release resources; pending I/O settles first. Later calls reject ESHUTDOWN. */
  close(): Promise<void>;
}
