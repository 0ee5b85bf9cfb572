/**
 * Write coalescing: writes that arrive in the same tick and continue one
 * another on the same descriptor (a sequential stream at queue depth > 1)
 * go to the kernel as one pwritev(2) instead of one threadpool request each.
 *
 * Why: every threadpool request costs the loop a mutex, a futex wake and an
 * eventfd round trip; on a busy machine the loop spends longer queueing a
 * 4 KiB write than the write takes (bench/README.md, "write coalescing").
 *
 * Only writes up to COALESCE_MAX_WRITE_BYTES are held back, and only a
 * write that starts where the newest pending run ends joins it, so
 * arrival order is kept and random writes pass through unchanged (one
 * pwrite each, one microtask later). A failed run fails every write in it;
 * none of them was acknowledged.
 */
import fs from 'node:fs';
import { writeFull } from './fd-io.js';

interface Run {
  fd: number;
  offset: number;
  end: number;
  bufs: Buffer[];
  done: Array<(err: Error | null) => void>;
}

/** Coalesced runs stop at this many bytes / buffers (IOV_MAX is 1024). */
const MAX_RUN_BYTES = 256 * 1024;
const MAX_RUN_BUFFERS = 8;
/**
 * Only writes up to this size are held for coalescing: for them the
 * dispatch costs more than the copy. Larger ones go out at once (in A/B
 * runs, merging 64 KiB writes made replies wait for each other).
 */
export const COALESCE_MAX_WRITE_BYTES = 16 * 1024;

export class WriteCoalescer {
  private runs: Run[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly enabled = true) {}

  /** Write all of `data` at `offset`; resolves when it is in the file (page cache or, for an O_DSYNC fd, stable). */
  write(fd: number, data: Buffer, offset: number): Promise<void> {
    if (!this.enabled || data.length > COALESCE_MAX_WRITE_BYTES) {
      this.submitHeld();
      return writeFull(fd, data, offset);
    }
    return new Promise((resolve, reject) => {
      const cb = (err: Error | null): void => (err ? reject(err) : resolve());
      const last = this.runs[this.runs.length - 1];
      if (last && last.fd === fd && last.end === offset && last.end - last.offset + data.length <= MAX_RUN_BYTES && last.bufs.length < MAX_RUN_BUFFERS) {
        last.bufs.push(data);
        last.done.push(cb);
        last.end += data.length;
      } else {
        this.runs.push({ fd, offset, end: offset + data.length, bufs: [data], done: [cb] });
      }
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(this.flushBound);
      }
    });
  }

  /** Send the writes held so far now, so a write that bypasses the batch is not overtaken by them. */
  submitHeld(): void {
    if (this.runs.length) this.flush();
  }

  private flush(): void {
    const runs = this.runs;
    this.runs = [];
    this.scheduled = false;
    for (const r of runs) {
      const finish = (err: Error | null): void => r.done.forEach((cb) => cb(err));
      if (r.bufs.length === 1) writeFull(r.fd, r.bufs[0]!, r.offset).then(() => finish(null), finish);
      else writeRun(r).then(() => finish(null), finish);
    }
  }
}

/** pwritev the run; a short write finishes buffer by buffer. */
function writeRun(r: Run): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.writev(r.fd, r.bufs, r.offset, (err, n) => {
      if (err) return reject(err);
      if (n === r.end - r.offset) return resolve();
      void finishShort(r, n).then(resolve, reject);
    });
  });
}

async function finishShort(r: Run, written: number): Promise<void> {
  let pos = r.offset;
  for (const b of r.bufs) {
    const skip = Math.min(b.length, Math.max(0, r.offset + written - pos));
    if (skip < b.length) await writeFull(r.fd, b.subarray(skip), pos + skip);
    pos += b.length;
  }
}
