/**
 * A dependency-free SVG bar chart of the comparison: one panel for the
 * IOPS workloads and one for the throughput workloads, a pair of bars
 * (blockgate, reference) per workload and protocol, medians only.
 */
import type { Cell } from './compare.js';
import { cellMetric } from './report.js';

const ROW = 34;
const BAR = 13;
const LABEL_W = 250;
const PLOT_W = 430;
const COLORS: Record<string, string> = { blockgate: '#2a7ab9', tgtd: '#d9822b', nbdkit: '#6a9f3a', baseline: '#999999' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(title: string, unit: string, cells: Cell[], y0: number): { svg: string[]; height: number } {
  const values = cells.flatMap((c) => [cellMetric(c, 'blockgate').median, cellMetric(c, c.reference).median]).filter(Number.isFinite);
  const max = Math.max(1, ...values);
  const out = [`<text x="10" y="${y0 + 18}" font-weight="bold">${esc(title)} (${unit}, median)</text>`];
  cells.forEach((c, i) => {
    const y = y0 + 30 + i * ROW;
    out.push(`<text x="${LABEL_W - 8}" y="${y + BAR + 4}" text-anchor="end">${esc(`${c.workload.title} · ${c.protocol}`)}</text>`);
    (['blockgate', c.reference] as const).forEach((sys, k) => {
      const v = cellMetric(c, sys).median;
      const w = Number.isFinite(v) ? (v / max) * PLOT_W : 0;
      const by = y + k * BAR;
      out.push(`<rect x="${LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR - 2}" fill="${COLORS[sys]}"/>`);
      out.push(`<text x="${LABEL_W + w + 4}" y="${by + BAR - 3}" font-size="10">${esc(sys)} ${Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'}</text>`);
    });
  });
  return { svg: out, height: 40 + cells.length * ROW };
}

export function plotSvg(cells: Cell[], title: string): string {
  const iops = panel('IOPS', 'requests/s', cells.filter((c) => c.workload.kind !== 'throughput'), 30);
  const bw = panel('Throughput', 'MiB/s', cells.filter((c) => c.workload.kind === 'throughput'), 30 + iops.height);
  const height = 40 + iops.height + bw.height;
  const width = LABEL_W + PLOT_W + 140;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...iops.svg,
    ...bw.svg,
    '</svg>',
    '',
  ].join('\n');
}
