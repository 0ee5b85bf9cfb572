/**
 * Per-target scaling (design §2, curve-tgt's 38.8K vs 60.9K IOPS): three
 * targets, each a memory-backed LUN so the disk is not the bottleneck, each
 * driven by its own client process at the same time. Two daemons with the
 * same config run side by side — one with a worker loop per target, one
 * with `--single-loop` — and the clients alternate between them over the
 * rounds. The figure is the sum of the three clients' IOPS.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fio, iscsiPerf, type Sample } from './clients.js';
import { summarize, type Summary } from './stats.js';
import { startBlockgate, type Running } from './systems.js';
import type { Protocol, Workload } from './workloads.js';

export const SCALING_TARGETS = 3;
export const SCALING_WORKLOAD: Workload = {
  id: 'scaling-16k-randread', title: '16 KiB random read QD32 ×3 targets', kind: 'iops', tool: 'fio',
  protocols: ['nbd', 'iscsi'], blockBytes: 16 * 1024, depth: 32,
};

export interface ScalingResult {
  protocol: Protocol;
  perTarget: Summary;
  singleLoop: Summary;
  ratio: Summary;
  commands: string[];
}

const iqn = (i: number): string => `iqn.2026-11.io.blockgate.bench:scale${i}`;

/** YAML for three iSCSI targets, each with one 1 GiB memory LUN also exported over NBD as `scale<i>`. */
export function scalingConfig(): string {
  const lines = ['targets:'];
  for (let i = 1; i <= SCALING_TARGETS; i++) {
    lines.push(
      `  - tid: ${i}`,
      `    name: ${iqn(i)}`,
      '    luns:',
      '      - lun: 1',
      `        backingStore: mem-scale${i}`,
      '        bstype: memory',
      '        sizeBytes: 1GiB',
      `        nbdExport: scale${i}`,
    );
  }
  return lines.join('\n') + '\n';
}

function urls(sys: Running, p: Protocol): string[] {
  const base = p === 'nbd' ? sys.nbdUrl! : sys.iscsiUrl!;
  const hostPort = base.split('/')[2]!;
  return Array.from({ length: SCALING_TARGETS }, (_, k) =>
    p === 'nbd' ? `nbd://${hostPort}/scale${k + 1}` : `iscsi://${hostPort}/${iqn(k + 1)}/1`,
  );
}

/** Three clients at once, one per target, all time based (fio over NBD, iscsi-perf over iSCSI); IOPS summed. */
async function drive(sys: Running, p: Protocol, seconds: number): Promise<Sample[]> {
  const w = SCALING_WORKLOAD;
  return Promise.all(urls(sys, p).map((u) => (p === 'nbd' ? fio(w, u, seconds, 'randread') : iscsiPerf(w, u, seconds))));
}

export async function runScaling(dir: string, protocols: Protocol[], rounds: number, seconds: number, log: (m: string) => void): Promise<ScalingResult[]> {
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'scaling.yaml');
  fs.writeFileSync(config, scalingConfig());
  const modes: Record<string, Running> = {};
  try {
    for (const m of ['perTarget', 'singleLoop']) {
      const dataDir = path.join(dir, m);
      fs.mkdirSync(dataDir, { recursive: true });
      const cfg = path.join(dataDir, 'scaling.yaml');
      fs.copyFileSync(config, cfg);
      modes[m] = await startBlockgate({ dataDir, config: cfg, singleLoop: m === 'singleLoop' });
    }
    const out: ScalingResult[] = [];
    for (const p of protocols) out.push(await scaleOne(modes, p, rounds, seconds, log));
    return out;
  } finally {
    for (const r of Object.values(modes)) await r.stop();
  }
}

async function scaleOne(modes: Record<string, Running>, p: Protocol, rounds: number, seconds: number, log: (m: string) => void): Promise<ScalingResult> {
  for (const m of ['perTarget', 'singleLoop']) await drive(modes[m]!, p, 1); // warm-up (JIT, sessions, pages)
  const totals: Record<string, number[]> = { perTarget: [], singleLoop: [] };
  const ratios: number[] = [];
  const commands = new Set<string>();
  for (let r = 1; r <= rounds; r++) {
    // A B, B A, ...: neither mode always runs right after the other's load.
    const order = r % 2 === 1 ? ['perTarget', 'singleLoop'] : ['singleLoop', 'perTarget'];
    for (const m of order) {
      const samples = await drive(modes[m]!, p, seconds);
      samples.forEach((s) => commands.add(s.command.replace(/:\d+\//, ':PORT/')));
      totals[m]!.push(samples.reduce((a, s) => a + s.iops, 0));
      log(`scaling round ${r} ${p} ${m}: ${Math.round(totals[m]!.at(-1)!)} IOPS`);
    }
    ratios.push(totals.perTarget!.at(-1)! / totals.singleLoop!.at(-1)!);
  }
  return {
    protocol: p,
    perTarget: summarize(totals.perTarget!),
    singleLoop: summarize(totals.singleLoop!),
    ratio: summarize(ratios),
    commands: [...commands],
  };
}
