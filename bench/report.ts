/**
 * The results as Markdown: the comparison table (blockgate vs the reference
 * measured in the same run, as a ratio), the targets with pass/fail,
 * resources, loopback, per-target scaling, the chunk hook, and the exact
 * commands that produced every figure.
 */
import type { ChunkResult } from './chunk.js';
import type { Cell, CompareResult, SystemName } from './compare.js';
import type { ScalingResult } from './scaling.js';
import { fmtNumber, fmtRatio, fmtSummary, summarize, type Summary } from './stats.js';

export interface BenchReport {
  date: string;
  machine: string[];
  settings: string;
  invocation: string;
  compare: CompareResult;
  peakRssBytes: Partial<Record<SystemName, number>>;
  daemonCommands: Partial<Record<SystemName, string[]>>;
  loopback?: { summary: Summary; command: string };
  scaling: ScalingResult[] | string;
  chunk: ChunkResult;
}

const MiB = 2 ** 20;

/** Throughput rows compare MiB/s, the rest IOPS (the same ratio either way). */
export function cellMetric(c: Cell, sys: SystemName): Summary {
  const xs = c.samples[sys] ?? [];
  return summarize(xs.map((s) => (c.workload.kind === 'throughput' ? s.bytesPerSecond / MiB : s.iops)));
}

export function cellRatio(c: Cell): Summary {
  const a = c.samples.blockgate ?? [];
  const b = c.samples[c.reference] ?? [];
  return summarize(a.map((s, i) => s.iops / (b[i]?.iops ?? NaN)));
}

const latency = (c: Cell, sys: SystemName): Summary => summarize((c.samples[sys] ?? []).map((s) => s.meanLatencyUs));

function comparisonTable(r: CompareResult): string[] {
  const out = [
    '| Workload | Proto | Unit | blockgate | Reference | Reference figure | blockgate ÷ reference | Mean latency µs (bg / ref) |',
    '| --- | --- | --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const c of r.cells) {
    const unit = c.workload.kind === 'throughput' ? 'MiB/s' : 'IOPS';
    const lat = `${fmtNumber(latency(c, 'blockgate').median, 0)} / ${fmtNumber(latency(c, c.reference).median, 0)}`;
    out.push(
      `| ${c.workload.title} | ${c.protocol} | ${unit} | ${fmtSummary(cellMetric(c, 'blockgate'))} | ${c.reference} | ${fmtSummary(cellMetric(c, c.reference))} | ${fmtRatio(cellRatio(c))} | ${lat} |`,
    );
  }
  return out;
}

function find(r: CompareResult, id: string, p: string): Cell | undefined {
  // A/B runs compare with another blockgate: the targets do not apply.
  return r.cells.find((c) => c.workload.id === id && c.protocol === p && c.reference !== 'baseline');
}

function targetRows(rep: BenchReport): string[] {
  const out = ['| Target | Goal | Measured | Met |', '| --- | --- | ---: | --- |'];
  const row = (name: string, goal: number, got: number, note = ''): void => {
    out.push(`| ${name} | ≥ ${goal} | ${Number.isFinite(got) ? got.toFixed(2) : 'n/a'}${note} | ${Number.isFinite(got) ? (got >= goal ? 'yes' : '**no**') : 'n/a'} |`);
  };
  for (const [p, ref] of [['iscsi', 'tgtd'], ['nbd', 'nbdkit']] as const) {
    for (const op of ['read', 'write']) {
      const c = find(rep.compare, `${op}-4k-qd32`, p);
      row(`${p} 4 KiB QD32 ${op}s vs ${ref}`, 1.0, c ? cellRatio(c).median : NaN);
    }
  }
  for (const p of ['iscsi', 'nbd']) {
    const c = find(rep.compare, 'read-1m-seq', p);
    const bw = c ? cellMetric(c, 'blockgate').median * MiB : NaN;
    const lo = rep.loopback?.summary.median ?? NaN;
    row(`${p} 1 MiB seq read, one connection ÷ loopback (iperf3)`, 0.8, bw / lo, ` (${fmtNumber(bw / MiB)} of ${fmtNumber(lo / MiB)} MiB/s)`);
  }
  if (Array.isArray(rep.scaling)) {
    for (const s of rep.scaling) row(`${s.protocol} per-target loops ÷ single loop, 3 targets`, 1.5, s.ratio.median, ` (CPU ceiling on ${s.cores} cores: ${s.ceiling.toFixed(2)})`);
  }
  return out;
}

function resourceRows(rep: BenchReport): string[] {
  const out = ['| Daemon | Protocol | CPU s per GiB moved | Peak RSS MiB |', '| --- | --- | ---: | ---: |'];
  for (const [key, use] of Object.entries(rep.compare.resources)) {
    const [sys, p] = key.split('/') as [SystemName, string];
    const rss = rep.peakRssBytes[sys];
    out.push(`| ${sys} | ${p} | ${(use.cpuSeconds / (use.bytes / 2 ** 30)).toFixed(2)} | ${rss ? fmtNumber(rss / MiB, 1) : 'n/a'} |`);
  }
  return out;
}

function scalingRows(s: ScalingResult[] | string): string[] {
  if (typeof s === 'string') return [s];
  const out = [
    '| Protocol | Per-target loops IOPS | Single loop IOPS | Ratio | Daemon CPU µs/request (per-target / single) | Clients CPU µs/request | Cores busy (per-target / single) | CPU ceiling |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const x of s) {
    const { perTarget: p, singleLoop: q } = x.cpu;
    out.push(
      `| ${x.protocol} | ${fmtSummary(x.perTarget)} | ${fmtSummary(x.singleLoop)} | ${fmtRatio(x.ratio)} | ${p.daemonUsPerRequest.toFixed(1)} / ${q.daemonUsPerRequest.toFixed(1)} | ${p.clientUsPerRequest.toFixed(1)} | ${p.coresBusy.toFixed(2)} / ${q.coresBusy.toFixed(2)} | ×${x.ceiling.toFixed(2)} |`,
    );
  }
  out.push('', 'CPU ceiling: what per-target loops could gain over the single loop here if only CPU limited them, from the costs measured in this run (bench/README.md, "Reading the numbers on a small shared machine").');
  return out;
}

function chunkRows(c: ChunkResult): string[] {
  if (!c.available) return [`Not available: ${c.reason}.`];
  const out = ['| Workload (NBD) | file IOPS | chunk IOPS | chunk ÷ file |', '| --- | ---: | ---: | ---: |'];
  for (const r of c.rows) out.push(`| ${r.workload.title} | ${fmtSummary(r.file)} | ${fmtSummary(r.chunk)} | ${fmtRatio(r.ratio)} |`);
  return out;
}

function commandRows(rep: BenchReport): string[] {
  const out = ['Daemons (ports are ephemeral, picked per run):', '', '```sh'];
  for (const cmds of Object.values(rep.daemonCommands)) out.push(...(cmds ?? []));
  out.push('```', '', 'Clients (one line per cell and system; every round runs the same line):', '', '```sh');
  for (const c of rep.compare.cells) {
    for (const sys of ['blockgate', c.reference] as SystemName[]) {
      const s = c.samples[sys]?.[0];
      if (s) out.push(s.command);
    }
  }
  if (rep.loopback) out.push(rep.loopback.command);
  if (Array.isArray(rep.scaling)) for (const s of rep.scaling) out.push(...s.commands);
  out.push('```');
  return out;
}

/** The comparison table and targets alone (for the README section). */
export function summaryMarkdown(rep: BenchReport): string {
  return [...comparisonTable(rep.compare), '', ...targetRows(rep), '', ...scalingRows(rep.scaling)].join('\n');
}

export function reportMarkdown(rep: BenchReport): string {
  return [
    `# blockgate benchmark, ${rep.date}`,
    '',
    `Produced by \`${rep.invocation}\`. ${rep.settings}`,
    '',
    ...rep.machine.map((m) => `- ${m}`),
    '',
    '## blockgate vs tgtd (iSCSI) and nbdkit file (NBD)',
    '',
    'Median over the rounds ±half the min–max range; the ratio is the median of the per-round ratios (range in brackets). Above 1 = blockgate faster.',
    '',
    ...comparisonTable(rep.compare),
    '',
    '## Targets of issue #6',
    '',
    ...targetRows(rep),
    '',
    '## CPU and memory',
    '',
    'CPU = user + system time of the daemon process (all threads) during the measurements, per GiB moved. Peak RSS = VmHWM at the end of the run.',
    '',
    ...resourceRows(rep),
    '',
    '## Loopback',
    '',
    rep.loopback
      ? `iperf3, one TCP stream over 127.0.0.1: ${fmtNumber(rep.loopback.summary.median / MiB)} MiB/s median (range ${fmtNumber(rep.loopback.summary.min / MiB)}–${fmtNumber(rep.loopback.summary.max / MiB)}).`
      : 'Not measured (iperf3 missing or skipped).',
    '',
    '## Per-target loops vs single loop (3 memory-backed targets, one client each)',
    '',
    ...scalingRows(rep.scaling),
    '',
    '## Chunk backend vs file backend',
    '',
    ...chunkRows(rep.chunk),
    '',
    '## Commands',
    '',
    ...commandRows(rep),
    '',
  ].join('\n');
}
