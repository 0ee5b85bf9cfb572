/** Median and spread of a handful of rounds (no distribution assumed). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: number[]): Summary {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Half the min–max range as a percentage of the median: "±x%". */
export function spreadPercent(s: Summary): number {
  return s.median ? ((s.max - s.min) / 2 / s.median) * 100 : NaN;
}

export function fmtNumber(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtSummary(s: Summary, digits = 0): string {
  if (!s.n) return 'n/a';
  return `${fmtNumber(s.median, digits)} ±${fmtNumber(spreadPercent(s), 0)}%`;
}

export function fmtRatio(s: Summary): string {
  if (!s.n) return 'n/a';
  return `**×${s.median.toFixed(2)}** (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}
