/**
 * HOOK (lead): chunk backend vs file backend. `startChunkCluster` runs
 * `blockgate cluster up` (one MDS + three chunkservers on ephemeral
 * loopback ports, MDS state in a file) and hands back the MDS address;
 * the chunk LUN's `sizeBytes` creates the volume on first start
 * (conf/chunk.yaml). Whenever that cannot be done — the subcommand is
 * missing or fails, or the LUN does not open — the comparison reports
 * "not available" with the reason instead of failing the whole run.
 * `runChunkComparison` starts one blockgate with a file LUN (NBD export
 * `file`) and a chunk LUN (NBD export `chunk`) and compares them over NBD
 * with the 4 KiB QD32 and 1 MiB workloads, alternating over the rounds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { qemuImgBench } from './clients.js';
import { startDaemon, stopPid } from './proc.js';
import { summarize, type Summary } from './stats.js';
import { BUILD, createFilledImage, startBlockgate, type Running } from './systems.js';
import { WORKLOADS, type Workload } from './workloads.js';

export interface ChunkCluster {
  volume: string;
  bsopts: string;
  stop(): Promise<void>;
}

export class NotAvailable extends Error {}

/** `blockgate cluster up` in the foreground; resolves once it printed the MDS address. */
export async function startChunkCluster(dir: string): Promise<ChunkCluster> {
  fs.mkdirSync(dir, { recursive: true });
  const args = [path.join(BUILD, 'src/bin/blockgate.cjs'), 'cluster', 'up', '--data-dir', dir, '--listen', '127.0.0.1:0', '--etcd', 'off', '--log-level', 'warn'];
  let mds = '';
  try {
    const d = await startDaemon(process.execPath, args, (l) => {
      const m = /^MDS: (\S+)/.exec(l);
      if (m) mds = m[1]!;
      return m !== null;
    }, 90_000);
    return { volume: 'benchvol', bsopts: `mds=${mds}`, stop: () => stopPid(d.pid, 20_000) };
  } catch (err) {
    throw new NotAvailable(`chunk cluster did not start (${String((err as Error).message).split('\n')[0]})`);
  }
}

export const CHUNK_WORKLOADS: Workload[] = WORKLOADS.filter((w) => ['read-4k-qd32', 'write-4k-qd32', 'read-1m-seq', 'write-1m-seq'].includes(w.id));

/**
 * Both LUNs are this small so that writing the chunk volume once stays
 * short (chunk writes run at tens of MiB/s here); qemu-img wraps its
 * offsets at the end of the LUN, so every read hits written data.
 */
const LUN_MIB = 256;

/** 1 MiB sequential writes over the whole chunk volume. */
const FILL: Workload = { ...WORKLOADS.find((w) => w.id === 'write-1m-seq')! };

/** Requests for about `seconds` on the chunk LUN (the slower side), from a short warm-up. */
async function chunkCount(w: Workload, url: string, seconds: number): Promise<number> {
  const warm = w.kind === 'throughput' ? 32 : 1000;
  const s = await qemuImgBench(w, url, warm);
  return Math.max(warm, Math.round(s.iops * seconds));
}

export type ChunkResult =
  | { available: false; reason: string }
  | { available: true; rows: { workload: Workload; file: Summary; chunk: Summary; ratio: Summary }[] };

function config(image: string, cluster: ChunkCluster): string {
  return [
    'targets:',
    '  - tid: 1',
    '    name: iqn.2026-11.io.blockgate.bench:file',
    '    luns: [{ lun: 1, backingStore: "' + image + '", nbdExport: file }]',
    '  - tid: 2',
    '    name: iqn.2026-11.io.blockgate.bench:chunk',
    `    luns: [{ lun: 1, bstype: chunk, backingStore: "${cluster.volume}", bsopts: "${cluster.bsopts}", sizeBytes: ${LUN_MIB}MiB, nbdExport: chunk }]`,
    '',
  ].join('\n');
}

export async function runChunkComparison(dir: string, rounds: number, seconds: number, log: (m: string) => void): Promise<ChunkResult> {
  let cluster: ChunkCluster;
  try {
    cluster = await startChunkCluster(path.join(dir, 'cluster'));
  } catch (err) {
    if (err instanceof NotAvailable) return { available: false, reason: err.message };
    throw err;
  }
  let bg: Running | undefined;
  try {
    fs.mkdirSync(path.join(dir, 'bg'), { recursive: true });
    const image = path.join(dir, 'file.img');
    createFilledImage(image, LUN_MIB * 2 ** 20);
    const cfg = path.join(dir, 'bg', 'chunk.yaml');
    fs.writeFileSync(cfg, config(image, cluster));
    try {
      bg = await startBlockgate({ dataDir: path.join(dir, 'bg'), config: cfg });
    } catch (err) {
      return { available: false, reason: `blockgate did not serve the chunk LUN (${String((err as Error).message).split('\n').slice(-1)[0]})` };
    }
    const url = (kind: string): string => `nbd://${bg!.nbdUrl!.split('/')[2]!}/${kind}`;
    // Never-written chunk space reads as zeroes without a chunkserver: write the volume once first.
    log('chunk: filling the chunk volume');
    await qemuImgBench(FILL, url('chunk'), LUN_MIB);
    const rows = [];
    for (const w of CHUNK_WORKLOADS) {
      const count = await chunkCount(w, url('chunk'), seconds);
      const got: Record<string, number[]> = { file: [], chunk: [] };
      const ratios: number[] = [];
      for (let r = 1; r <= rounds; r++) {
        for (const kind of r % 2 ? ['chunk', 'file'] : ['file', 'chunk']) {
          const s = await qemuImgBench(w, url(kind), count);
          got[kind]!.push(s.iops);
          log(`chunk round ${r} ${w.id} ${kind}: ${Math.round(s.iops)} IOPS`);
        }
        ratios.push(got.chunk!.at(-1)! / got.file!.at(-1)!);
      }
      rows.push({ workload: w, file: summarize(got.file!), chunk: summarize(got.chunk!), ratio: summarize(ratios) });
    }
    return { available: true, rows };
  } finally {
    await bg?.stop();
    await cluster.stop();
  }
}
