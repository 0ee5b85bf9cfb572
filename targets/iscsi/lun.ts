/**
 * The 8-byte LUN field (SAM-5 §4.7). We use single-level peripheral (LUN <
 * 256) and flat (LUN < 16384) addressing; anything else decodes as -1 (a LUN
 * that never exists, so the SCSI layer answers LOGICAL UNIT NOT SUPPORTED).
 */

export function lunToNumber(raw: bigint): number {
  const b0 = Number((raw >> 56n) & 0xffn);
  const b1 = Number((raw >> 48n) & 0xffn);
  if ((raw & 0xffffffffffffn) !== 0n) return -1;
  const method = b0 >> 6;
  if (method === 0 && (b0 & 0x3f) === 0) return b1;
  if (method === 1) return ((b0 & 0x3f) << 8) | b1;
  return -1;
}

export function lunFromNumber(lun: number): bigint {
  if (lun < 256) return BigInt(lun) << 48n;
  return (BigInt(0x40 | ((lun >> 8) & 0x3f)) << 56n) | (BigInt(lun & 0xff) << 48n);
}
