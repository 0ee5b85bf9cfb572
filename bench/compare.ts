/**
 * The side-by-side comparison: every (workload, protocol) cell is measured
 * on blockgate and on that protocol's reference daemon, alternating
 * A B, B A, A B ... over the rounds, with the daemons' CPU time sampled around each
 * measurement. qemu-img's request count is calibrated once per cell so
 * that a run lasts about `seconds` on the reference.
 */
import { fio, fioOverIscsi, qemuImgBench, type Sample } from './clients.js';
import { cpuSeconds } from './proc.js';
import type { Running } from './systems.js';
import { REFERENCE, type Protocol, type Workload } from './workloads.js';

export type SystemName = Running['system'];

export interface Cell {
  workload: Workload;
  protocol: Protocol;
  reference: SystemName;
  count?: number;
  samples: Partial<Record<SystemName, Sample[]>>;
}

export interface ResourceUse {
  cpuSeconds: number;
  bytes: number;
}

export interface CompareResult {
  cells: Cell[];
  /** Keyed `${system}/${protocol}`. */
  resources: Record<string, ResourceUse>;
}

export interface CompareOptions {
  rounds: number;
  seconds: number;
  workloads: Workload[];
  log: (msg: string) => void;
  /** Compare with this system instead of the protocol's reference daemon (A/B runs). */
  reference?: SystemName;
}

const WARMUP_COUNT: Record<Workload['kind'], number> = { latency: 500, iops: 5000, throughput: 0 };

function warmupCount(w: Workload): number {
  return WARMUP_COUNT[w.kind] || Math.max(64, Math.round((256 * 1024 * 1024) / w.blockBytes));
}

function urlOf(sys: Running, p: Protocol): string | undefined {
  return p === 'iscsi' ? sys.iscsiUrl : sys.nbdUrl;
}

/** One measurement of one cell on one system. */
export function measure(c: Cell, url: string, seconds: number): Promise<Sample> {
  if (c.workload.tool === 'fio') return c.protocol === 'iscsi' ? fioOverIscsi(c.workload, url, seconds) : fio(c.workload, url, seconds);
  return qemuImgBench(c.workload, url, c.count!);
}

async function calibrate(c: Cell, systems: Running[], seconds: number): Promise<void> {
  if (c.workload.tool !== 'qemu-img') return;
  // Step 1 warms both (JIT, page cache, connection paths) and guesses the rate;
  // step 2 measures it over about a second. A first guess from a cold run
  // is low, which made every later run much shorter than asked.
  let guess = Infinity;
  for (const s of systems) guess = Math.min(guess, (await qemuImgBench(c.workload, urlOf(s, c.protocol)!, warmupCount(c.workload))).iops);
  const n = Math.max(warmupCount(c.workload), Math.round(guess));
  let rate = Infinity;
  for (const s of systems) rate = Math.min(rate, (await qemuImgBench(c.workload, urlOf(s, c.protocol)!, n)).iops);
  // Size the run from the slower of the two so neither is shorter than asked.
  c.count = Math.max(n, Math.round(rate * seconds));
}

export async function compare(systems: Partial<Record<SystemName, Running>>, o: CompareOptions): Promise<CompareResult> {
  const cells: Cell[] = [];
  for (const w of o.workloads) {
    for (const p of w.protocols) {
      const ref = o.reference ?? REFERENCE[p];
      if (systems.blockgate && systems[ref]) cells.push({ workload: w, protocol: p, reference: ref, samples: {} });
    }
  }
  const resources: Record<string, ResourceUse> = {};
  for (const c of cells) {
    o.log(`calibrating ${c.workload.id} over ${c.protocol}`);
    await calibrate(c, [systems[c.reference]!, systems.blockgate!], o.seconds);
  }
  for (let round = 1; round <= o.rounds; round++) {
    for (const c of cells) {
      // A B in odd rounds, B A in even ones: neither system always runs first after the other's load.
      const order: SystemName[] = round % 2 ? ['blockgate', c.reference] : [c.reference, 'blockgate'];
      for (const name of order) {
        const sys = systems[name]!;
        const cpu0 = cpuSeconds(sys.pid);
        const s = await measure(c, urlOf(sys, c.protocol)!, o.seconds);
        const use = (resources[`${name}/${c.protocol}`] ??= { cpuSeconds: 0, bytes: 0 });
        use.cpuSeconds += cpuSeconds(sys.pid) - cpu0;
        use.bytes += s.bytes;
        (c.samples[name] ??= []).push(s);
        o.log(`round ${round} ${c.workload.id} ${c.protocol} ${name}: ${Math.round(s.iops)} IOPS, ${(s.bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s`);
      }
    }
  }
  return { cells, resources };
}
