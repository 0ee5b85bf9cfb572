/**
 * Size syntax, the one parser for every size blockgate accepts: the YAML
 * `sizeBytes`, targets.conf `size`, `bgadm --params size=`, `blockgate
 * volume create|extend --size`. Pure.
 *
 *   4096   4096B   512K   128M   1.5G   10G   2T   (case-insensitive, blanks allowed before the unit)
 *
 * Every unit is 1024-based, as in tgt and qemu-img: K = KB = KiB = 1024,
 * M = MB = MiB = 1024², G = GB = GiB = 1024³, T = TB = TiB = 1024⁴; B = bytes.
 * A fraction is allowed when the result is a whole number of bytes.
 */

const UNIT_SHIFT: Record<string, number> = {
  '': 0, B: 0,
  K: 10, KB: 10, KIB: 10,
  M: 20, MB: 20, MIB: 20,
  G: 30, GB: 30, GIB: 30,
  T: 40, TB: 40, TIB: 40,
};

export const SIZE_SYNTAX = 'a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)';

/** Bytes, or the reason the text is not a size (a sentence naming the input). */
export function parseSize(v: string | number): number | string {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : `invalid size ${v}: expected a whole number of bytes`;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  const shift = m === null ? undefined : UNIT_SHIFT[m[2]!.toUpperCase()];
  if (m === null || shift === undefined) return `invalid size ${JSON.stringify(v)}: expected ${SIZE_SYNTAX}`;
  const bytes = Number(m[1]) * 2 ** shift;
  if (!Number.isInteger(bytes)) return `invalid size ${JSON.stringify(v)}: not a whole number of bytes`;
  if (!Number.isSafeInteger(bytes)) return `invalid size ${JSON.stringify(v)}: too large (at most 8 PiB)`;
  return bytes;
}
