/**
 * Real-process chunk clusters for fault tests: MDS and chunkserver
 * processes (dist/ entry points, optionally inside a network namespace),
 * the blockgate daemon with an NBD export on a chunk volume, /metrics
 * scraping, kill -9 by PID and restart with the same options. Everything a
 * test starts is recorded so `cleanup()` can kill it (by PID) and remove
 * the temporary directory, even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import type { ClusterStatusResponse } from '../../backends/chunk/proto/mds-api.js';
import { MSG } from '../../backends/chunk/proto/messages.js';
import { RpcClient } from '../../backends/chunk/proto/rpc-client.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { until } from './chunk-cluster.js';
import { bgadm, ROOT, startDaemon, tempDir, type DaemonHandle } from './daemon.js';
import { freePort } from './etcd.js';

export const MiB = 1024 * 1024;
export const MDS_MAIN = 'dist/backends/chunk/mds/main.js';
export const CS_MAIN = 'dist/backends/chunk/chunkserver/main.js';

export interface Proc {
  name: string;
  entry: string;
  opts: Record<string, unknown>;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'ns1'] (it execs node: same PID). */
  wrap: string[];
  proc: ChildProcess;
  address: string;
  metrics: string | undefined;
  startedAt: number;
}

export class ChunkProcs {
  readonly dir = tempDir('bg-chunk-fault-');
  readonly procs = new Map<string, Proc>();
  daemon: DaemonHandle | undefined;

  /** Spawn a dist/ entry with JSON options; resolves once it logged `readyMsg`. */
  async start(name: string, entry: string, opts: Record<string, unknown>, wrap: string[] = []): Promise<Proc> {
    const readyMsg = entry === MDS_MAIN ? 'mds started' : 'chunkserver started';
    const argv = [...wrap, process.execPath, path.join(ROOT, entry), JSON.stringify(opts)];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Proc = { name, entry, opts, wrap, proc, address: '', metrics: undefined, startedAt: Date.now() };
    this.procs.set(name, p);
    const log = fs.createWriteStream(path.join(this.dir, `${name}.log`), { flags: 'a' });
    proc.stderr!.pipe(log);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${name} not ready in time`)), 30_000);
      let buf = '';
      proc.stdout!.on('data', (d: Buffer) => {
        log.write(d);
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes(`"${readyMsg}"`) || p.address) continue;
          const rec = JSON.parse(line) as { address: string; metricsPort?: number };
          p.address = rec.address;
          if (rec.metricsPort) p.metrics = `http://${rec.address.replace(/:\d+$/, '')}:${rec.metricsPort}/metrics`;
          clearTimeout(t);
          resolve(p);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${name} exited with ${code}`));
      });
    });
  }

  /** SIGKILL by PID; resolves when it exited. Returns the time of the kill. */
  async kill(name: string): Promise<number> {
    const p = this.procs.get(name)!;
    const at = Date.now();
    await killProc(p.proc);
    return at;
  }

  /** Start again with the same options (same data dir and listen address). */
  restart(name: string): Promise<Proc> {
    const p = this.procs.get(name)!;
    return this.start(name, p.entry, p.opts, p.wrap);
  }

  logOf(name: string): string {
    return fs.readFileSync(path.join(this.dir, `${name}.log`), 'utf8');
  }

  async cleanup(keepDir = process.env.BG_KEEP_FAULT_DIR !== undefined): Promise<void> {
    await this.daemon?.stop().catch(() => undefined);
    for (const p of this.procs.values()) await killProc(p.proc);
    if (!keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function killProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) return;
  const exited = new Promise((r) => proc.once('exit', r));
  process.kill(proc.pid, 'SIGKILL');
  await exited;
}

/** Chunkserver options for fast failover in tests (50 ms ticks: elections in 0.5–1 s). */
export async function chunkserverOpts(c: ChunkProcs, o: { index: number; zone: string; mds: string[]; host?: string; chunkSizeBytes: number; extra?: Record<string, unknown> }): Promise<Record<string, unknown>> {
  const host = o.host ?? '127.0.0.1';
  const [port, mport] = o.host ? [7000 + o.index, 9000 + o.index] : [await freePort(), await freePort()];
  return {
    listen: `${host}:${port}`, mds: o.mds, dataDir: path.join(c.dir, `cs${o.index}`), zone: o.zone, server: `host${o.index}`,
    capacityBytes: 1 << 30, chunkSizeBytes: o.chunkSizeBytes, poolFiles: 2, tickMs: 50, electionTicks: 10, heartbeatMs: 200,
    snapshotEntries: 400, keepLogEntries: 50, segmentBytes: 4 * MiB, metricsListen: `${host}:${mport}`, logLevel: 'info', ...o.extra,
  };
}

export interface CopysetMetrics {
  applied: number;
  leader: boolean;
  term: number;
}

/** Per-copyset gauges and the chunk request counters of one chunkserver. */
export async function scrape(metricsUrl: string): Promise<{ copysets: Map<number, CopysetMetrics>; requests: Map<string, number> }> {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(1500) })).text();
  const copysets = new Map<number, CopysetMetrics>();
  const get = (id: number): CopysetMetrics => {
    let m = copysets.get(id);
    if (!m) copysets.set(id, (m = { applied: 0, leader: false, term: 0 }));
    return m;
  };
  for (const m of text.matchAll(/^blockgate_chunkserver_copyset_(applied_index|is_leader|term)\{copyset="(\d+)"\} (\d+)/gm)) {
    const cs = get(Number(m[2]));
    if (m[1] === 'applied_index') cs.applied = Number(m[3]);
    else if (m[1] === 'is_leader') cs.leader = m[3] === '1';
    else cs.term = Number(m[3]);
  }
  const requests = new Map<string, number>();
  for (const m of text.matchAll(/^blockgate_chunkserver_chunk_requests_total\{op="(\w+)",status="(\w+)"\} (\d+)/gm)) requests.set(`${m[1]}/${m[2]}`, Number(m[3]));
  return { copysets, requests };
}

/** Wait until every copyset has three up members and a leader (no pending ops unless allowed). */
export async function waitHealthy(mds: string[], ms: number, what = 'a healthy cluster'): Promise<ClusterStatusResponse> {
  const admin = new MdsClient(mds, { callTimeoutMs: 2000, maxAttempts: 2 });
  try {
    return await until(what, ms, async () => {
      const s = await admin.clusterStatus();
      return s.copysets.total > 0 && s.copysets.healthy === s.copysets.total && s.copysets.leaderless === 0 ? s : undefined;
    }, 200);
  } finally {
    admin.close();
  }
}

/** The daemon with target 5 and LUN 1 on chunk volume `volume` (created here), exported over NBD as `volume`. */
export async function startChunkLun(c: ChunkProcs, o: { mds: string[]; volume: string; sizeBytes: number; bsopts?: string; listen?: string }): Promise<DaemonHandle> {
  const admin = new MdsClient(o.mds, { callTimeoutMs: 3000 });
  try {
    await admin.createVolume({ name: o.volume, sizeBytes: o.sizeBytes });
  } finally {
    admin.close();
  }
  const listen = o.listen ? `${o.listen}:0` : undefined;
  const d = (c.daemon = await startDaemon({ dataDir: path.join(c.dir, 'daemon'), iscsi: false, nbd: listen ?? true }));
  const bsopts = [`mds=${o.mds.join(',')}`, o.bsopts ?? 'timeout=60'].join(';');
  for (const args of [
    ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '5', '-T', 'iqn.2024-01.org.blockgate:fault'],
    ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '5', '--lun', '1', '--bstype', 'chunk', '--backing-store', o.volume,
      '--bsopts', bsopts, '-P', `nbd_export=${o.volume}`],
    ['--lld', 'iscsi', '--op', 'bind', '--mode', 'target', '--tid', '5', '-I', 'ALL'],
  ]) {
    const r = await bgadm(d, args);
    if (r.code !== 0) throw new Error(`bgadm ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  }
  return d;
}

export interface ClusterSpec {
  /** etcd endpoint: MDS state in etcd, election through a lease. Absent = FileStore, one MDS. */
  etcd?: string;
  mdsCount?: number;
  /** Zones of the chunkservers cs1, cs2, ... */
  zones: string[];
  chunkSizeBytes: number;
  segmentSizeBytes: number;
  mdsConfig?: Record<string, unknown>;
  /** Chunkserver option overrides (e.g. snapshotEntries). */
  chunkserver?: Record<string, unknown>;
  /** Listen host for the MDSs (default 127.0.0.1). */
  mdsHost?: string;
  /** Per chunkserver: [command prefix, listen host] (network namespaces); default loopback. */
  placeChunkserver?: (index: number) => { wrap: string[]; host: string } | undefined;
}

/** MDS(s) and chunkservers named mds1.., cs1..; resolves with the MDS addresses once healthy. */
export async function startCluster(c: ChunkProcs, s: ClusterSpec): Promise<string[]> {
  const mds: string[] = [];
  for (let i = 1; i <= (s.mdsCount ?? 1); i++) {
    const p = await c.start(`mds${i}`, MDS_MAIN, {
      listen: `${s.mdsHost ?? '127.0.0.1'}:0`, dataDir: path.join(c.dir, `mds${i}`), ...(s.etcd ? { etcdEndpoints: [s.etcd] } : {}),
      leaseTtlSeconds: 2, electionPollMs: 200, tickMs: 200, copysetSettleMs: 300, logLevel: 'info',
      config: { segmentSizeBytes: s.segmentSizeBytes, chunkSizeBytes: s.chunkSizeBytes, copysetsPerChunkserver: 4, maxCopysetsPerChunkserver: 8, heartbeatTimeoutMs: 3000, ...s.mdsConfig },
    });
    mds.push(p.address);
    if (i === 1 && s.etcd) await waitActive(mds, 15_000);
  }
  for (const [i, zone] of s.zones.entries()) {
    const place = s.placeChunkserver?.(i + 1);
    const opts = await chunkserverOpts(c, { index: i + 1, zone, mds, host: place?.host, chunkSizeBytes: s.chunkSizeBytes, extra: s.chunkserver });
    await c.start(`cs${i + 1}`, CS_MAIN, opts, place?.wrap ?? []);
  }
  await waitHealthy(mds, 30_000);
  return mds;
}

async function waitActive(mds: string[], ms: number): Promise<void> {
  const admin = new MdsClient(mds, { callTimeoutMs: 1000, maxAttempts: 1 });
  try {
    await until('an active MDS', ms, async () => ((await admin.clusterStatus()).mds.isLeader ? true : undefined), 200);
  } finally {
    admin.close();
  }
}

/** Every copyset's leader chunkserver name (from /metrics), applied indexes per chunkserver. */
export async function copysetView(c: ChunkProcs, names: string[]): Promise<{ leaders: Map<number, string>; applied: Map<string, Map<number, number>> }> {
  const leaders = new Map<number, string>();
  const applied = new Map<string, Map<number, number>>();
  for (const name of names) {
    const p = c.procs.get(name);
    if (!p?.metrics || p.proc.exitCode !== null || p.proc.signalCode !== null) continue;
    const m = await scrape(p.metrics).catch(() => undefined);
    if (!m) continue;
    applied.set(name, new Map([...m.copysets].map(([id, v]) => [id, v.applied])));
    for (const [id, v] of m.copysets) if (v.leader) leaders.set(id, name);
  }
  return { leaders, applied };
}

/** The copyset whose applied index grew most over `ms`, and its leader's name. */
export async function busiestCopyset(c: ChunkProcs, names: string[], ms: number): Promise<{ copysetId: number; leader: string }> {
  const a = await copysetView(c, names);
  await new Promise((r) => setTimeout(r, ms));
  const b = await copysetView(c, names);
  let best = { copysetId: 0, grew: -1, leader: '' };
  for (const [id, leader] of b.leaders) {
    const grew = (b.applied.get(leader)?.get(id) ?? 0) - (a.applied.get(leader)?.get(id) ?? 0);
    if (grew > best.grew) best = { copysetId: id, grew, leader };
  }
  if (!best.leader) throw new Error('no copyset leader found in /metrics');
  return best;
}

/** Wait until `name`'s applied index reaches the leader's for every copyset it hosts. */
export async function waitCaughtUp(c: ChunkProcs, name: string, names: string[], ms: number): Promise<Map<number, number>> {
  return until(`${name} to catch up`, ms, async () => {
    const v = await copysetView(c, names);
    const mine = v.applied.get(name);
    if (!mine || mine.size === 0) return undefined;
    for (const [id, applied] of mine) {
      const leader = v.leaders.get(id);
      if (!leader) return undefined;
      if (applied < (v.applied.get(leader)?.get(id) ?? Infinity)) return undefined;
    }
    return mine;
  }, 200);
}

/** Sum of a request counter (e.g. "write/OVERLOAD") over the named chunkservers that are running. */
export async function requestCount(c: ChunkProcs, names: string[], key: string): Promise<number> {
  let n = 0;
  for (const name of names) {
    const p = c.procs.get(name);
    if (!p?.metrics || p.proc.exitCode !== null || p.proc.signalCode !== null) continue;
    n += (await scrape(p.metrics).catch(() => undefined))?.requests.get(key) ?? 0;
  }
  return n;
}

/** Ask each named chunkserver about each copyset (GET_CHUNK_INFO); returns the leader hints of NOT_LEADER answers. */
export async function leaderHints(c: ChunkProcs, names: string[], copysetIds: number[]): Promise<Array<{ from: string; copysetId: number; hint: string }>> {
  const out: Array<{ from: string; copysetId: number; hint: string }> = [];
  for (const name of names) {
    const client = new RpcClient(c.procs.get(name)!.address, { callTimeoutMs: 2000 });
    try {
      for (const copysetId of copysetIds) {
        const res = await client.callChunk(MSG.GET_CHUNK_INFO, { copysetId, chunkId: 1, offset: 0, length: 0, seq: 0 });
        if (res.status === STATUS.NOT_LEADER) out.push({ from: name, copysetId, hint: res.leaderHint ?? '' });
      }
    } finally {
      client.close();
    }
  }
  return out;
}
