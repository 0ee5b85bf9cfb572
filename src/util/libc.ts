/**
 * The few libc calls Node does not expose: dup(2) for handing a socket to a
 * target worker, fallocate(2) for hole punching / zeroing, lseek(2) with
 * SEEK_DATA/SEEK_HOLE for allocation maps. Bound through koffi (a maintained
 * FFI whose npm package ships prebuilt binaries), loaded lazily so code that
 * never calls them does not pay for it. Linux only.
 *
 * Blocking calls (fallocate, lseek on a file) run on the libuv threadpool
 * through koffi's async calls; dup is instant and called synchronously.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  6: 'ENXIO',
  9: 'EBADF',
  22: 'EINVAL',
  28: 'ENOSPC',
  30: 'EROFS',
  95: 'EOPNOTSUPP',
};

interface AsyncFn {
  (...args: unknown[]): number | bigint;
  async(...args: unknown[]): void;
}

interface Libc {
  dup: (fd: number) => number;
  fallocate: AsyncFn;
  lseek: AsyncFn;
  errno: () => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const koffi = require('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    dup: lib.func('int dup(int)'),
    fallocate: lib.func('int fallocate(int, int, int64_t, int64_t)'),
    lseek: lib.func('int64_t lseek(int, int64_t, int)'),
    errno: () => koffi.errno() as number,
  };
  return libc;
}

export class ErrnoError extends Error {
  constructor(
    readonly code: string,
    readonly errno: number,
    syscall: string,
  ) {
    super(`${syscall}: ${code}`);
  }
}

function errnoError(syscall: string): ErrnoError {
  const n = load().errno();
  return new ErrnoError(ERRNO_NAMES[n] ?? `ERRNO_${n}`, n, syscall);
}

/** dup(2): a second descriptor for the same open socket/file. */
export function dupFd(fd: number): number {
  const r = load().dup(fd);
  if (r < 0) throw errnoError('dup');
  return r;
}

/** fallocate(2) on the threadpool. Rejects with ErrnoError (code EOPNOTSUPP when unsupported). */
export function fallocate(fd: number, mode: number, offset: number, length: number): Promise<void> {
  const l = load();
  return new Promise((resolve, reject) => {
    // errno must be read on the thread that made the call; koffi keeps it per call.
    l.fallocate.async(fd, mode, offset, length, (err: Error | null, r: number) => {
      if (err) reject(err);
      else if (r < 0) reject(errnoError('fallocate'));
      else resolve();
    });
  });
}

/**
 * lseek(2) with SEEK_DATA / SEEK_HOLE. Resolves the resulting offset, or -1
 * when there is no more data past `offset` (ENXIO).
 */
export function seekAllocation(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE): Promise<number> {
  const l = load();
  return new Promise((resolve, reject) => {
    l.lseek.async(fd, offset, whence, (err: Error | null, r: number | bigint) => {
      if (err) return reject(err);
      try {
        resolve(allocationOffset(r));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * seekAllocation on the calling thread: for short walks, where two
 * threadpool round trips per data run cost far more than the lookup (the
 * extent tree is normally in memory; a cold one means a metadata read).
 */
export function seekAllocationNow(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE): number {
  return allocationOffset(load().lseek(fd, offset, whence));
}

/** An lseek result: the offset, -1 for ENXIO (nothing past it), or the errno thrown. */
function allocationOffset(r: number | bigint): number {
  const v = Number(r);
  if (v >= 0) return v;
  const e = errnoError('lseek');
  if (e.code === 'ENXIO') return -1;
  throw e;
}

/** lseek(fd, 0, SEEK_END): the size of a block device. */
export function seekEnd(fd: number): Promise<number> {
  const l = load();
  return new Promise((resolve, reject) => {
    l.lseek.async(fd, 0, 2, (err: Error | null, r: number | bigint) => {
      if (err) return reject(err);
      const v = Number(r);
      if (v < 0) reject(errnoError('lseek'));
      else resolve(v);
    });
  });
}

/** Name the calling thread (visible in /proc/<pid>/task/<tid>/comm and `top -H`); 15 bytes max. */
export function setThreadName(name: string): void {
  const koffi = require('koffi');
  const prctl = koffi.load('libc.so.6').func('int prctl(int, const char *, unsigned long, unsigned long, unsigned long)');
  const PR_SET_NAME = 15;
  prctl(PR_SET_NAME, name.slice(0, 15), 0, 0, 0);
}
