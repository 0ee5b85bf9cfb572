/**
 * Small buffered writes straight into the page cache with a synchronous
 * pwrite(2) on the target's loop, as the inline reads do (nowait-read.ts).
 *
 * Why: a 4 KiB write into the page cache is a copy of a few microseconds,
 * while a threadpool request costs the loop a mutex, a futex wake and an
 * eventfd round trip, and the reply waits for another thread to be
 * scheduled (bench/README.md, "inline small writes"). ext4 refuses
 * pwritev2(RWF_NOWAIT) on buffered files, so unlike reads there is no
 * "would block" answer to ask for. The pwrite goes through koffi with the
 * buffer's address (ffi.ts), 0.5 µs cheaper per 4 KiB write than
 * fs.writeSync; a failed call is repeated through fs.writeSync, which
 * throws the errno as Node's usual error (rewriting the same bytes at the
 * same offset changes nothing).
 *
 * The risk is a write that does block: writeback throttling
 * (balance_dirty_pages) or a page fault on a cold page. Such a stall holds
 * only this target's loop (one target per worker), and SLOW_WRITES_TO_BACK_OFF
 * writes slower than SLOW_WRITE_MS within SLOW_WINDOW_MS turn inline
 * writes off for BACKOFF_MS, so the threadpool absorbs a throttled period.
 * One slow write alone does not: on a busy or virtual machine a preempted
 * thread makes an ordinary 4 KiB write look slow a few times a second
 * (three back-offs in a 5 s bench run sent 3 s of writes to the threadpool),
 * while throttling and disk-bound writes come in runs. FUA writes (the
 * O_DSYNC descriptor) never come here: they wait for the disk.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dataAddress, fileLibc, type Libc } from './ffi.js';

export const SLOW_WRITE_MS = 1;
export const SLOW_WRITES_TO_BACK_OFF = 3;
export const SLOW_WINDOW_MS = 1000;
export const BACKOFF_MS = 1000;

type Pwrite = (fd: number, address: number, length: number, offset: number) => number;

let pwrite: { libc: Libc; call: Pwrite } | null | undefined;

function bindPwrite(): typeof pwrite {
  if (pwrite !== undefined) return pwrite;
  const libc = fileLibc();
  try {
    const call = libc?.func('intptr_t pwrite(int, intptr_t, size_t, int64_t)');
    pwrite = libc && call ? { libc, call: (fd, at, len, off) => Number(call(fd, at, len, off)) } : null;
  } catch {
    pwrite = null;
  }
  return pwrite;
}

export class InlineWriter {
  private offUntil = 0;
  /** When the last SLOW_WRITES_TO_BACK_OFF slow writes finished (oldest first). */
  private readonly slowAt: number[] = [];
  /** How often a slow write turned inline writes off (tests and logs). */
  backoffs = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when `data` is in the page cache at `offset`; false: use the threadpool. Throws on I/O errors. */
  tryWrite(fd: number, data: Buffer, offset: number): boolean {
    if (data.length > this.maxBytes) return false;
    const t0 = this.now();
    if (t0 < this.offUntil) return false;
    let done = 0;
    const p = bindPwrite();
    if (p) {
      const at = dataAddress(p.libc, data);
      while (done < data.length) {
        const n = p.call(fd, at + done, data.length - done, offset + done);
        if (n <= 0) break; // fs.writeSync below repeats it and throws the error
        done += n;
      }
    }
    while (done < data.length) {
      done += fs.writeSync(fd, data, done, data.length - done, offset + done);
    }
    const t1 = this.now();
    if (t1 - t0 > SLOW_WRITE_MS) this.slowWrite(t1);
    return true;
  }

  private slowWrite(at: number): void {
    this.slowAt.push(at);
    if (this.slowAt.length > SLOW_WRITES_TO_BACK_OFF) this.slowAt.shift();
    if (this.slowAt.length === SLOW_WRITES_TO_BACK_OFF && at - this.slowAt[0]! <= SLOW_WINDOW_MS) {
      this.offUntil = at + BACKOFF_MS;
      this.backoffs++;
      this.slowAt.length = 0;
    }
  }
}
