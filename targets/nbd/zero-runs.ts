/**
 * Splits read data into runs of all-zero and other granules, so a
 * structured READ reply can send zero runs as NBD_REPLY_TYPE_OFFSET_HOLE
 * ("the content of the region is all zeroes", proto.md "Structured reply
 * chunk message types") instead of their bytes.
 *
 * Scanning the data replaced asking the device for allocation first
 * (blockStatus = two lseek(2) threadpool round trips per read, before the
 * read itself): the scan stops at the first non-zero byte of a granule, so
 * ordinary data costs one comparison per granule, and written zeroes are
 * found as well as holes (bench/README.md, "zero scan for sparse reads").
 */
export interface ZeroRun {
  /** Offset within the buffer. */
  start: number;
  end: number;
  zero: boolean;
}

const ZEROES = Buffer.alloc(64 * 1024);

/** True when `b` (any length) holds only zero bytes. */
export function isAllZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += ZEROES.length) {
    const n = Math.min(ZEROES.length, b.length - i);
    if (b.compare(ZEROES, 0, n, i, i + n) !== 0) return false;
  }
  return true;
}

/** Runs of whole granules (the last may be shorter), neighbours of one kind merged. */
export function zeroRuns(data: Buffer, granuleBytes: number): ZeroRun[] {
  const out: ZeroRun[] = [];
  for (let start = 0; start < data.length; start += granuleBytes) {
    const end = Math.min(start + granuleBytes, data.length);
    const zero = isAllZero(data.subarray(start, end));
    const last = out[out.length - 1];
    if (last && last.zero === zero) last.end = end;
    else out.push({ start, end, zero });
  }
  return out;
}
