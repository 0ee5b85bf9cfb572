/**
 * The chunkserver process: `runChunkserver(options)` opens the ChunkStore,
 * listens for chunk and Raft RPCs, registers with the MDS (the id it gets
 * is kept in `<dataDir>/chunkserver.json` and sent again after a restart),
 * reopens the copysets found on disk, ticks their Raft groups, heartbeats
 * (disk usage + per-copyset leader/term/members/applied index; the reply
 * creates/removes copysets and carries membership ops), and serves
 * /metrics and pino logs. `blockgate chunkserver` (src/bin) maps its flags
 * to ChunkserverOptions.
 *
 * Chunk RPC answers (docs/chunk-backend.md "Chunkserver"): NO_COPYSET when
 * the copyset is not hosted here, NOT_LEADER (+ leader id and address when
 * known) from a non-leader, INVALID for a range beyond the chunk size,
 * OVERLOAD when too many writes are queued, IO_ERROR after a disk failure.
 */
import { statfs } from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import { createLogger, flushLogger, type Logger } from '../../../src/obs/log.js';
import { serveMetrics } from '../../../src/obs/metrics.js';
import { mkdirPrivate } from '../../../src/util/private-fs.js';
import { MdsClient, MdsError } from '../mds/admin-client.js';
import { chunkResponse, type ChunkRequest, type ChunkResponse } from '../proto/chunk.js';
import type { HeartbeatResponse } from '../proto/mds-api.js';
import { MSG } from '../proto/messages.js';
import { parseAddress } from '../proto/rpc-client.js';
import { RpcServer } from '../proto/rpc-server.js';
import { STATUS, statusName } from '../proto/status.js';
import { ChunkStore } from './chunk-store.js';
import { decodeRaftMessage } from './codec.js';
import type { Copyset } from './copyset.js';
import { CopysetManager, type GroupTuning } from './copysets.js';
import { readChunkserverId, writeChunkserverId } from './id-file.js';
import { ChunkserverMetrics, type ChunkOpName } from './metrics.js';
import { serveSnapshotFiles } from './snapshot-transfer.js';
import { PeerTransport } from './transport.js';

export interface ChunkserverOptions extends GroupTuning {
  /** RPC listen address "host:port" (port 0 = ephemeral). */
  listen: string;
  /** Address peers and clients use; default = the bound listen address. */
  advertise?: string;
  /** MDS RPC addresses (any of them; standbys redirect). */
  mds: string[];
  dataDir: string;
  zone: string;
  /** Topology "server" (host name). Default os.hostname(). */
  server?: string;
  /** Reported capacity. Default: the size of the file system holding dataDir. */
  capacityBytes?: number;
  /** Default 16 MiB; must match the MDS's chunkSizeBytes. */
  chunkSizeBytes?: number;
  /** Pre-allocated chunk files to keep ready. Default 4. */
  poolFiles?: number;
  /** Raft tick (ms). Default 100; the election timeout is electionTicks (10) ticks. */
  tickMs?: number;
  /** MDS heartbeat period (ms). Default 1000. */
  heartbeatMs?: number;
  /** "host:port" for GET /metrics; absent = none. */
  metricsListen?: string;
  logLevel?: string;
  log?: Logger;
}

export interface ChunkserverHandle {
  /** The advertised RPC address. */
  address: string;
  chunkserverId: number;
  metricsPort?: number;
  /** The hosted copysets (tests, diagnostics). */
  copysets: CopysetManager;
  store: ChunkStore;
  close(): Promise<void>;
}

export async function runChunkserver(o: ChunkserverOptions): Promise<ChunkserverHandle> {
  const log = o.log ?? createLogger(o.logLevel ?? 'info', { proc: 'chunkserver' });
  await mkdirPrivate(o.dataDir);
  const store = await ChunkStore.open({ dataDir: o.dataDir, chunkSizeBytes: o.chunkSizeBytes, poolTarget: o.poolFiles, log });
  let manager: CopysetManager | undefined;
  const metrics = new ChunkserverMetrics(() => manager, store);
  const rpc = new RpcServer({ log });
  const transport = new PeerTransport(() => chunkserverId);
  registerChunkHandlers(rpc, () => manager, metrics);
  rpc.handleRaft((env) => {
    const m = decodeRaftMessage(env.payload);
    if (m) manager?.get(env.groupId)?.step(m);
  });
  serveSnapshotFiles(rpc, store, (id) => manager?.get(id)?.applied);
  const { host, port } = parseAddress(o.listen);
  const address = o.advertise ?? `${host}:${await rpc.listen(host, port)}`;
  const mds = new MdsClient(o.mds, { callTimeoutMs: 3000 });
  const capacityBytes = o.capacityBytes ?? (await fsSize(o.dataDir));
  const registration = { zone: o.zone, server: o.server ?? os.hostname(), address, capacityBytes };
  let chunkserverId = await register(mds, o.dataDir, registration, log);
  manager = new CopysetManager(o.dataDir, chunkserverId, store, transport, o, log);
  const existing = await manager.openExisting();
  await refreshAddresses(mds, transport, existing).catch(() => undefined);
  manager.start(o.tickMs ?? 100);
  const beat = new Heartbeater(o.heartbeatMs ?? 1000, async () => {
    const res = await sendHeartbeat(mds, chunkserverId, address, capacityBytes, store, manager!).catch(async (e: unknown) => {
      if (!(e instanceof MdsError) || e.status !== STATUS.NOT_FOUND) throw e;
      chunkserverId = await register(mds, o.dataDir, registration, log); // the MDS forgot us (fresh state)
      return undefined;
    });
    if (res) await manager!.applyHeartbeat(res);
    await refreshAddresses(mds, transport, manager!.all().map((g) => g.id));
  }, log);
  beat.start();
  let metricsServer: http.Server | undefined;
  let metricsPort: number | undefined;
  if (o.metricsListen) {
    const m = parseAddress(o.metricsListen);
    ({ server: metricsServer, port: metricsPort } = await serveMetrics(metrics.registry, m.host, m.port));
  }
  log.info({ address, chunkserverId, copysets: existing.length, metricsPort }, 'chunkserver started');
  return {
    address, chunkserverId, metricsPort, copysets: manager, store,
    async close() {
      await beat.stop();
      await manager!.close();
      await rpc.close();
      transport.close();
      mds.close();
      await store.close();
      if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
      log.info({ chunkserverId }, 'chunkserver stopped');
      flushLogger(log);
    },
  };
}

type ChunkHandler = (g: Copyset, req: ChunkRequest) => Promise<ChunkResponse>;

const CHUNK_HANDLERS: ReadonlyArray<[number, ChunkOpName, ChunkHandler]> = [
  [MSG.WRITE_CHUNK, 'write', (g, r) => g.write(r)],
  [MSG.READ_CHUNK, 'read', (g, r) => g.read(r)],
  [MSG.DELETE_CHUNK, 'delete', (g, r) => g.delete(r)],
  [MSG.GET_CHUNK_INFO, 'info', (g, r) => g.info(r)],
];

function registerChunkHandlers(rpc: RpcServer, manager: () => CopysetManager | undefined, metrics: ChunkserverMetrics): void {
  for (const [type, op, h] of CHUNK_HANDLERS) {
    rpc.handleChunk(type, async (req) => {
      const g = manager()?.get(req.copysetId);
      const res = g ? await h(g, req) : chunkResponse(STATUS.NO_COPYSET);
      metrics.count(op, statusName(res.status), res.status === STATUS.OK && (op === 'write' || op === 'read') ? req.length : 0);
      return res;
    });
  }
}

/** Register (retrying until an MDS answers) and persist the id we got. */
async function register(mds: MdsClient, dataDir: string, req: { zone: string; server: string; address: string; capacityBytes: number }, log: Logger): Promise<number> {
  const known = await readChunkserverId(dataDir);
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await mds.registerChunkserver({ ...req, ...(known ? { chunkserverId: known } : {}) });
      if (res.chunkserverId !== known) await writeChunkserverId(dataDir, res.chunkserverId);
      log.info({ chunkserver: res.chunkserverId, address: req.address }, 'registered with the mds');
      return res.chunkserverId;
    } catch (e) {
      if (e instanceof MdsError && e.status !== STATUS.NOT_LEADER) throw e; // refused (zone changed, unknown id)
      if (attempt % 10 === 0) log.warn({ err: (e as Error).message }, 'mds registration failed; retrying');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
    }
  }
}

async function fsSize(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.blocks * s.bsize;
}

async function sendHeartbeat(mds: MdsClient, id: number, address: string, capacityBytes: number, store: ChunkStore, m: CopysetManager): Promise<HeartbeatResponse> {
  return mds.heartbeat({ chunkserverId: id, address, capacityBytes, usedBytes: store.usedBytes, copysets: m.reports() });
}

/** Peer addresses from the MDS: a restarted chunkserver may listen on a new port. */
async function refreshAddresses(mds: MdsClient, transport: PeerTransport, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  for (const cs of await mds.getCopysets(ids)) for (const p of cs.members) transport.setAddress(p.id, p.address);
}

/** Runs `beat` every periodMs, never two at once; failures are logged (rate-limited), never fatal. */
class Heartbeater {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly periodMs: number,
    private readonly beat: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.fire(), this.periodMs);
    this.fire();
  }

  private fire(): void {
    if (this.running || this.stopped) return;
    this.running = this.beat().then(
      () => void (this.failures = 0),
      (e: unknown) => {
        if (this.failures++ % 10 === 0) this.log.warn({ err: (e as Error).message }, 'mds heartbeat failed');
      },
    ).finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
