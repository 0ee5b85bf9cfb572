/**
 * Large reads sent from the page cache to a TCP socket with sendfile(2),
 * never copied through user space.
 *
 * Why: a 1 MiB read served with pread + write copies the data twice on our
 * side (page cache → buffer on a threadpool thread, buffer → socket on the
 * loop); iperf3, the loopback yardstick of bench/, copies once. sendfile
 * hands the socket references to the cached pages instead.
 *
 * Rules that keep it safe on an event loop:
 * - only a range that is all in the page cache (cachestat(2), Linux 6.5)
 *   and has no hole (lseek SEEK_HOLE) is sent, so the call cannot wait for
 *   the disk and holes still go the sparse-reply way; where cachestat is
 *   missing the whole path is off;
 * - the socket is non-blocking (libuv made it so): a full send buffer makes
 *   the call return short, and the caller sends the rest the ordinary way;
 * - a call slower than SLOW_SEND_MS (pages evicted between the check and
 *   the send) turns the path off for BACKOFF_MS, as inline writes do.
 *
 * Bound through koffi (ffi.ts) with integer arguments only.
 */
import { performance } from 'node:perf_hooks';
import { SEEK_HOLE, seekAllocationNow } from '../../src/util/libc.js';
import { fileLibc } from './ffi.js';

const SYS_CACHESTAT = 451; // the same number on every architecture (unified syscall table)
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_MORE = 0x8000;
const EAGAIN = 11;
const CACHESTAT_MISSING = new Set([1 /* EPERM */, 38 /* ENOSYS */, 95 /* EOPNOTSUPP */]);
const PAGE_BYTES = 4096;
export const SLOW_SEND_MS = 20;
export const BACKOFF_MS = 1000;

interface Bound {
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  sendfile(out: number, inFd: number, offp: number, count: number): number;
  cachestat(fd: number, range: number, stat: number): number;
  errno(): number;
  /** Scratch structs with fixed addresses: [0..2) off_t for sendfile, [2..6) cachestat_range, [6..16) cachestat. */
  words: Uint32Array;
  offAddr: number;
  rangeAddr: number;
  statAddr: number;
}

let bound: Bound | null | undefined;
let offUntil = 0;

function bind(): Bound | null {
  if (bound !== undefined) return bound;
  const libc = fileLibc();
  if (!libc) return (bound = null);
  try {
    const send = libc.func('intptr_t send(int, void *, size_t, int)');
    const sendfile = libc.func('intptr_t sendfile(int, int, intptr_t, size_t)');
    const syscall = libc.func('long syscall(long, int, intptr_t, intptr_t, uint32_t)');
    const scratch = Buffer.allocUnsafeSlow(64);
    const base = libc.addressOf(scratch);
    const b: Bound = {
      send: (fd, buf, len, flags) => Number(send(fd, buf, len, flags)),
      sendfile: (out, inFd, offp, count) => Number(sendfile(out, inFd, offp, count)),
      cachestat: (fd, range, stat) => Number(syscall(SYS_CACHESTAT, fd, range, stat, 0)),
      errno: libc.errno,
      words: new Uint32Array(scratch.buffer, scratch.byteOffset, 16),
      offAddr: base,
      rangeAddr: base + 8,
      statAddr: base + 24,
    };
    bound = b;
  } catch {
    bound = null;
  }
  return bound;
}

function setU64(w: Uint32Array, at: number, v: number): void {
  w[at] = v % 0x1_0000_0000;
  w[at + 1] = Math.floor(v / 0x1_0000_0000);
}

function getU64(w: Uint32Array, at: number): number {
  return w[at]! + w[at + 1]! * 0x1_0000_0000;
}

/** False once sendfile with the page-cache check turned out unavailable here (known after the first call). */
export function sendfileSupported(): boolean {
  return bind() !== null;
}

/** Every page of [offset, offset+length) of `fd` is in the page cache, and none of it is a hole. */
function cachedAndAllocated(b: Bound, fd: number, offset: number, length: number): boolean {
  const w = b.words;
  setU64(w, 2, offset);
  setU64(w, 4, length);
  if (b.cachestat(fd, b.rangeAddr, b.statAddr) !== 0) {
    // No cachestat here (kernel < 6.5, or a seccomp filter): off for good.
    if (CACHESTAT_MISSING.has(b.errno())) bound = null;
    return false;
  }
  const pages = Math.floor((offset + length - 1) / PAGE_BYTES) - Math.floor(offset / PAGE_BYTES) + 1;
  if (getU64(w, 6) < pages) return false;
  try {
    return seekAllocationNow(fd, offset, SEEK_HOLE) >= offset + length;
  } catch {
    return false; // the ordinary path reads it and reports any error
  }
}

/**
 * Send `prefix`, then `length` bytes of file `fileFd` from `offset`, to
 * socket `sockFd`. Returns the bytes sent (prefix included), which may be
 * short of `prefix.length + length` when the socket buffer fills; or -1
 * when nothing was sent because the path does not apply (not cached, a
 * hole, unsupported, backing off, socket busy). Throws nothing.
 */
export function sendPrefixAndFile(sockFd: number, prefix: Buffer, fileFd: number, offset: number, length: number): number {
  const b = bind();
  if (!b || length <= 0) return -1;
  const t0 = performance.now();
  if (t0 < offUntil || !cachedAndAllocated(b, fileFd, offset, length)) return -1;
  const head = b.send(sockFd, prefix, prefix.length, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
  if (head < 0) return -1; // EAGAIN (buffer full) or a dead socket: the ordinary path will see it
  if (head < prefix.length) return head;
  let sent = 0;
  while (sent < length) {
    setU64(b.words, 0, offset + sent);
    const n = b.sendfile(sockFd, fileFd, b.offAddr, length - sent);
    if (n <= 0) {
      if (n < 0 && b.errno() !== EAGAIN) offUntil = performance.now() + BACKOFF_MS;
      break;
    }
    sent += n;
  }
  if (performance.now() - t0 > SLOW_SEND_MS) offUntil = performance.now() + BACKOFF_MS;
  return head + sent;
}
