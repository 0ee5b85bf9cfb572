/**
 * The MDS process: `runMds(options)` starts the RPC listener, the store
 * (etcd when endpoints are given, else a FileStore in dataDir), the
 * election, the scheduler, pino logs and a prom-client /metrics endpoint.
 * `blockgate mds` (src/cli) maps its flags to MdsOptions and calls runMds.
 */
import path from 'node:path';
import type http from 'node:http';
import client from 'prom-client';
import { createLogger, flushLogger, type Logger } from '../../../src/obs/log.js';
import { serveMetrics } from '../../../src/obs/metrics.js';
import { parseAddress } from '../proto/rpc-client.js';
import { RpcServer } from '../proto/rpc-server.js';
import { EtcdElection, LocalElection, type Election } from './election.js';
import { EtcdClient } from './etcd-client.js';
import { EtcdStore } from './etcd-store.js';
import { FileStore } from './file-store.js';
import { MdsService } from './service.js';
import { clusterStatus } from './status.js';
import type { KvStore } from './store.js';
import { DEFAULT_MDS_CONFIG, type MdsConfig } from './types.js';

export interface MdsOptions {
  /** RPC listen address "host:port" (port 0 = ephemeral). */
  listen: string;
  /** Address other processes use to reach this MDS; default = the bound listen address. */
  advertise?: string;
  /** etcd client URLs ("http://127.0.0.1:2379"); absent/empty = FileStore in dataDir (single MDS). */
  etcdEndpoints?: string[];
  /** FileStore location (`<dataDir>/mds-state.json`). */
  dataDir: string;
  /** Election lease TTL in seconds (etcd rounds up to its minimum, ~2 s). Default 10. */
  leaseTtlSeconds?: number;
  /** Standby poll period (ms). Default 1000. */
  electionPollMs?: number;
  /** "host:port" for GET /metrics, or undefined for none. */
  metricsListen?: string;
  logLevel?: string;
  /** Overrides of DEFAULT_MDS_CONFIG (segment/chunk sizes, heartbeat timeout, ...). */
  config?: Partial<MdsConfig>;
  /** Scheduler period (ms). Default 1000. */
  tickMs?: number;
  /** Default 5000. */
  copysetSettleMs?: number;
  /** Use this logger instead of creating one. */
  log?: Logger;
}

export interface MdsHandle {
  /** The bound RPC address. */
  address: string;
  metricsPort?: number;
  service: MdsService;
  election: Election;
  /** Resign, stop serving, close the store. */
  close(): Promise<void>;
}

export async function runMds(o: MdsOptions): Promise<MdsHandle> {
  const log = o.log ?? createLogger(o.logLevel ?? 'info', { proc: 'mds' });
  const { host, port } = parseAddress(o.listen);
  const rpc = new RpcServer({ log, maxBodyBytes: 4 * 1024 * 1024 });
  const bound = await rpc.listen(host, port);
  const self = o.advertise ?? `${host}:${bound}`;
  const config = { ...DEFAULT_MDS_CONFIG, ...o.config };
  const { store, election } = await openBackend(o, self, log);
  const service = new MdsService({
    self, store, election, config, log,
    tickMs: o.tickMs ?? 1000,
    copysetSettleMs: o.copysetSettleMs ?? 5000,
  });
  service.register(rpc);
  let metricsServer: http.Server | undefined;
  let metricsPort: number | undefined;
  if (o.metricsListen) {
    const m = parseAddress(o.metricsListen);
    ({ server: metricsServer, port: metricsPort } = await serveMetrics(createMdsMetrics(service, self), m.host, m.port));
  }
  election.start();
  log.info({ address: self, etcd: o.etcdEndpoints ?? [], metricsPort }, 'mds started');
  return {
    address: self,
    metricsPort,
    service,
    election,
    async close() {
      service.stop();
      await election.stop();
      await rpc.close();
      await store.close();
      if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
      log.info('mds stopped');
      flushLogger(log);
    },
  };
}

async function openBackend(o: MdsOptions, self: string, log: Logger): Promise<{ store: KvStore; election: Election }> {
  if (o.etcdEndpoints && o.etcdEndpoints.length > 0) {
    const etcd = new EtcdClient(o.etcdEndpoints);
    const election = new EtcdElection(etcd, { self, ttlSeconds: o.leaseTtlSeconds ?? 10, pollMs: o.electionPollMs ?? 1000, log });
    return { store: new EtcdStore(etcd), election };
  }
  return { store: await FileStore.open(path.join(o.dataDir, 'mds-state.json')), election: new LocalElection(self) };
}

/** Gauges read at scrape time from the active state (all zero on a standby, except is_leader). */
export function createMdsMetrics(service: MdsService, self: string): client.Registry {
  const reg = new client.Registry();
  client.collectDefaultMetrics({ register: reg, prefix: 'blockgate_mds_process_' });
  const status = () => {
    const core = service.active;
    return core ? clusterStatus(core, Date.now(), true, self) : undefined;
  };
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: client.Gauge) => void) =>
    new client.Gauge({ name, help, labelNames, registers: [reg], collect(this: client.Gauge) { collect(this); } });
  gauge('blockgate_mds_is_leader', '1 when this MDS is the active one.', [], (g) => g.set(service.active ? 1 : 0));
  gauge('blockgate_mds_copysets', 'Copysets by state (healthy: all members up; degraded: otherwise).', ['state'], (g) => {
    const s = status();
    g.set({ state: 'healthy' }, s?.copysets.healthy ?? 0);
    g.set({ state: 'degraded' }, s?.copysets.degraded ?? 0);
    g.set({ state: 'leaderless' }, s?.copysets.leaderless ?? 0);
  });
  gauge('blockgate_mds_chunkservers', 'Registered chunkservers by heartbeat state.', ['state'], (g) => {
    const cs = status()?.chunkservers ?? [];
    g.set({ state: 'up' }, cs.filter((c) => c.state === 'up').length);
    g.set({ state: 'down' }, cs.filter((c) => c.state === 'down').length);
  });
  gauge('blockgate_mds_volumes', 'Volumes.', [], (g) => g.set(status()?.volumes ?? 0));
  gauge('blockgate_mds_pending_ops', 'Scheduler ops waiting to be seen done.', [], (g) => g.set(status()?.pendingOps ?? 0));
  return reg;
}
