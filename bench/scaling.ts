/**
 * Per-target scaling (design §2, curve-tgt's 38.8K vs 60.9K IOPS): three
 * targets, each a memory-backed LUN so the disk is not the bottleneck, each
 * driven by its own client process at the same time. Two daemons with the
 * same config run side by side — one with a worker loop per target, one
 * with `--single-loop` — and the clients alternate between them over the
 * rounds. The figure is the sum of the three clients' IOPS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fio, iscsiPerf, type Sample } from './clients.js';
import { cpuSeconds } from './proc.js';
import { summarize, type Summary } from './stats.js';
import { startBlockgate, type Running } from './systems.js';
import type { Protocol, Workload } from './workloads.js';

export const SCALING_TARGETS = 3;
export const SCALING_WORKLOAD: Workload = {
  id: 'scaling-16k-randread', title: '16 KiB random read QD32 ×3 targets', kind: 'iops', tool: 'fio',
  protocols: ['nbd', 'iscsi'], blockBytes: 16 * 1024, depth: 32,
};

/** Where the CPU went in one mode, medians over the rounds. */
export interface ScalingCpu {
  /** Daemon CPU (all threads) per request, µs. */
  daemonUsPerRequest: number;
  /** The three clients' CPU per request, µs. */
  clientUsPerRequest: number;
  /** (daemon + clients) CPU seconds per wall second. */
  coresBusy: number;
}

export interface ScalingResult {
  protocol: Protocol;
  perTarget: Summary;
  singleLoop: Summary;
  ratio: Summary;
  cpu: { perTarget: ScalingCpu; singleLoop: ScalingCpu };
  /**
   * The most per-target loops can gain on this machine at the measured
   * costs: a single loop does at most 1/d requests per second; per-target
   * loops at most min(cores / (d' + c'), targets / d'), d the daemon's and
   * c the clients' CPU per request (bench/README.md, "Reading the numbers").
   */
  ceiling: number;
  cores: number;
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

interface Drive {
  samples: Sample[];
  iops: number;
  requests: number;
  daemonCpu: number;
  clientCpu: number;
  wall: number;
}

/** Three clients at once, one per target, all time based (fio over NBD, iscsi-perf over iSCSI); IOPS summed. */
async function drive(sys: Running, p: Protocol, seconds: number): Promise<Drive> {
  const w = SCALING_WORKLOAD;
  const cpu0 = cpuSeconds(sys.pid);
  const t0 = process.hrtime.bigint();
  const samples = await Promise.all(urls(sys, p).map((u) => (p === 'nbd' ? fio(w, u, seconds, 'randread', true) : iscsiPerf(w, u, seconds, true))));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    samples,
    iops: samples.reduce((a, s) => a + s.iops, 0),
    requests: samples.reduce((a, s) => a + s.iops * s.seconds, 0),
    daemonCpu: cpuSeconds(sys.pid) - cpu0,
    clientCpu: samples.reduce((a, s) => a + (s.clientCpuSeconds ?? NaN), 0),
    wall,
  };
}

function cpuOf(ds: Drive[]): ScalingCpu {
  const med = (f: (d: Drive) => number): number => summarize(ds.map(f)).median;
  return {
    daemonUsPerRequest: med((d) => (d.daemonCpu / d.requests) * 1e6),
    clientUsPerRequest: med((d) => (d.clientCpu / d.requests) * 1e6),
    coresBusy: med((d) => (d.daemonCpu + d.clientCpu) / d.wall),
  };
}

/** Per-target ÷ single-loop throughput if each were limited only by CPU (see ScalingResult.ceiling). */
export function scalingCeiling(perTarget: ScalingCpu, singleLoop: ScalingCpu, cores: number, targets = SCALING_TARGETS): number {
  const d = perTarget.daemonUsPerRequest;
  const perTargetMax = Math.min(cores / (d + perTarget.clientUsPerRequest), targets / d);
  return perTargetMax * singleLoop.daemonUsPerRequest;
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
  const runs: Record<string, Drive[]> = { perTarget: [], singleLoop: [] };
  const ratios: number[] = [];
  const commands = new Set<string>();
  for (let r = 1; r <= rounds; r++) {
    // A B, B A, ...: neither mode always runs right after the other's load.
    const order = r % 2 === 1 ? ['perTarget', 'singleLoop'] : ['singleLoop', 'perTarget'];
    for (const m of order) {
      const d = await drive(modes[m]!, p, seconds);
      d.samples.forEach((s) => commands.add(s.command.replace(/:\d+\//, ':PORT/')));
      runs[m]!.push(d);
      log(`scaling round ${r} ${p} ${m}: ${Math.round(d.iops)} IOPS, daemon ${((d.daemonCpu / d.requests) * 1e6).toFixed(1)} µs/request, clients ${((d.clientCpu / d.requests) * 1e6).toFixed(1)} µs/request`);
    }
    ratios.push(runs.perTarget!.at(-1)!.iops / runs.singleLoop!.at(-1)!.iops);
  }
  const cpu = { perTarget: cpuOf(runs.perTarget!), singleLoop: cpuOf(runs.singleLoop!) };
  const cores = os.cpus().length;
  return {
    protocol: p,
    perTarget: summarize(runs.perTarget!.map((d) => d.iops)),
    singleLoop: summarize(runs.singleLoop!.map((d) => d.iops)),
    ratio: summarize(ratios),
    cpu,
    ceiling: scalingCeiling(cpu.perTarget, cpu.singleLoop, cores),
    cores,
    commands: [...commands],
  };
}
