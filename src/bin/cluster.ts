/**
 * The replicated backend's commands: `blockgate mds`, `blockgate chunkserver`,
 * `blockgate volume <action>` and `blockgate cluster status` (`cluster up`
 * is in cluster-up.ts). Each returns an exit status, or undefined while a
 * server keeps running in the foreground.
 */
import path from 'node:path';
import { MdsClient, MdsError, runVolumeAction, type VolumeAction } from '../../backends/chunk/mds/admin-client.js';
import { runChunkserver } from '../../backends/chunk/chunkserver/server.js';
import { runMds } from '../../backends/chunk/mds/server.js';
import { MSG, RpcClient, type MdsLeaderResponse, type VolumeInfo } from '../../backends/chunk/proto/index.js';
import type { ClusterOptions } from '../cli/blockgate.js';
import { defaultDataDir } from '../config/paths.js';
import { formatClusterReport, formatVolumes, type ClusterReport, type MdsProbe } from './cluster-format.js';

/** Default MDS endpoint of `blockgate mds` and of the admin commands. */
export const DEFAULT_MDS_ADDRESS = '127.0.0.1:6700';

export function mdsEndpoints(o: ClusterOptions): string[] {
  if (o.mds && o.mds.length > 0) return o.mds;
  const env = process.env.BLOCKGATE_MDS?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return env && env.length > 0 ? env : [DEFAULT_MDS_ADDRESS];
}

/** Run a server until SIGINT/SIGTERM, then close it and exit 0. */
function untilSignal(close: () => Promise<void>): void {
  const stop = (): void => {
    close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** A server that fails to start (address in use, bad data dir) exits 1 with one line, not a stack. */
async function startServer(name: string, start: () => Promise<{ close(): Promise<void> }>): Promise<number | undefined> {
  try {
    const server = await start();
    untilSignal(() => server.close());
    return undefined;
  } catch (e) {
    process.stderr.write(`blockgate: ${name} failed to start: ${(e as Error).message}\n`);
    return 1;
  }
}

export function runMdsCommand(o: ClusterOptions): Promise<number | undefined> {
  const etcd = o.etcd?.filter((e) => e !== 'off') ?? [];
  return startServer('mds', () => runMds({
    listen: o.listen ?? DEFAULT_MDS_ADDRESS,
    dataDir: path.resolve(o.dataDir ?? path.join(defaultDataDir(), 'mds')),
    ...(etcd.length > 0 ? { etcdEndpoints: etcd } : {}),
    ...(o.metricsListen && o.metricsListen !== 'off' ? { metricsListen: o.metricsListen } : {}),
    logLevel: o.logLevel ?? 'info',
  }));
}

export function runChunkserverCommand(o: ClusterOptions): Promise<number | undefined> {
  return startServer('chunkserver', () => runChunkserver({
    listen: o.listen ?? '127.0.0.1:6800',
    mds: mdsEndpoints(o),
    dataDir: path.resolve(o.dataDir ?? path.join(defaultDataDir(), 'chunkserver')),
    zone: o.zone ?? 'zone1',
    ...(o.metricsListen && o.metricsListen !== 'off' ? { metricsListen: o.metricsListen } : {}),
    logLevel: o.logLevel ?? 'info',
  }));
}

export async function runVolumeCommand(action: VolumeAction, name: string | undefined, o: ClusterOptions): Promise<number> {
  try {
    const r = await runVolumeAction(mdsEndpoints(o), action, { ...(name !== undefined ? { name } : {}), ...(o.sizeBytes !== undefined ? { sizeBytes: o.sizeBytes } : {}) });
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else if (Array.isArray(r)) process.stdout.write(formatVolumes(r));
    else if ('deleted' in r) process.stdout.write(`deleted volume ${r.deleted}\n`);
    else process.stdout.write(formatVolume(r));
    return 0;
  } catch (e) {
    return reportMdsError(e);
  }
}

function formatVolume(v: VolumeInfo): string {
  return Object.entries(v).map(([k, val]) => `${k}: ${String(val)}`).join('\n') + '\n';
}

function reportMdsError(e: unknown): number {
  if (!(e instanceof MdsError)) throw e;
  process.stderr.write(`blockgate: ${e.statusName}: ${e.message}\n`);
  return e.statusName === 'NOT_FOUND' || e.statusName === 'EXISTS' || e.statusName === 'INVALID' ? 1 : 3;
}

export async function runClusterStatus(o: ClusterOptions): Promise<number> {
  const endpoints = mdsEndpoints(o);
  const client = new MdsClient(endpoints, { callTimeoutMs: 3000 });
  try {
    const report = await collectClusterReport(client, endpoints);
    process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatClusterReport(report));
    return report.status.chunkservers.every((c) => c.state === 'up') && report.copysets.every((c) => c.state === 'healthy') ? 0 : 4;
  } catch (e) {
    return reportMdsError(e);
  } finally {
    client.close();
  }
}

/** CLUSTER_STATUS (with its per-copyset list) and each MDS's role. */
export async function collectClusterReport(client: MdsClient, endpoints: readonly string[]): Promise<ClusterReport> {
  const { copysetList, ...status } = await client.clusterStatus();
  return { mds: await Promise.all(endpoints.map(probeMds)), status, copysets: copysetList ?? [] };
}

async function probeMds(address: string): Promise<MdsProbe> {
  const c = new RpcClient(address, { callTimeoutMs: 2000, connectTimeoutMs: 2000 });
  try {
    const r = await c.callJson<MdsLeaderResponse>(MSG.GET_MDS_LEADER, {});
    return { address, role: r.isLeader ? 'active' : `standby (active: ${r.leader || 'none'})` };
  } catch {
    return { address, role: 'unreachable' };
  } finally {
    c.close();
  }
}
