/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
 *
 * Used for iSCSI header and data digests (RFC 7143 §13.1, Appendix B).
 * Pure; imports nothing. `crc32c(buf)` is the finished CRC (initial value
 * 0xFFFFFFFF, final XOR 0xFFFFFFFF); `crc32cUpdate` lets a caller digest a
 * message held in several buffers without concatenating them.
 */

const POLY = 0x82f63b78;

/** TABLES[k][b]: CRC contribution of byte b followed by k zero bytes. */
const TABLES: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c >>> 0;
  }
  const tables = [t0];
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1]!;
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i++) t[i] = ((prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!) >>> 0;
    tables.push(t);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  Uint32Array, Uint32Array, Uint32Array, Uint32Array,
];

/**
 * Continue a CRC over `buf[start, end)`. `crc` is the running, *un-finalised*
 * register (start with 0xFFFFFFFF); returns the new register value.
 */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc >>> 0;
  let i = start;
  const fast = end - ((end - i) & 7);
  while (i < fast) {
    const lo = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    c =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[buf[i + 4]!]! ^
      T2[buf[i + 5]!]! ^
      T1[buf[i + 6]!]! ^
      T0[buf[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = T0[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The finished CRC32C of `buf` (crc32c("123456789") === 0xE3069283). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return (crc32cUpdate(0xffffffff, buf, start, end) ^ 0xffffffff) >>> 0;
}

/** Finished CRC32C over several buffers in order. */
export function crc32cOf(parts: readonly Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) c = crc32cUpdate(c, p);
  return (c ^ 0xffffffff) >>> 0;
}
