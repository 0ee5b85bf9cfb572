/**
 * The daemon: the management plane's top level. Loads the config, builds
 * the registry through the same admin requests bgadm sends, opens the
 * protocol listeners, the admin socket and the metrics endpoint, persists
 * every change atomically, and shuts down cleanly on SIGTERM/SIGINT.
 *
 * Protocol front ends are injected (src/bin wires targets/ in), so nothing
 * in src/mgmt depends on a wire protocol.
 */
import path from 'node:path';
import type http from 'node:http';
import type { Logger } from 'pino';
import { parseHostPort } from '../config/address.js';
import { parseNaaCompanyId } from '../config/lun-params.js';
import { saveConfigAtomic } from '../config/save.js';
import type { DaemonConfig } from '../config/schema.js';
import { configToRequests } from '../config/to-requests.js';
import { createMetricsRegistry, serveMetrics } from '../obs/metrics.js';
import { mkdirPrivateSync } from '../util/private-fs.js';
import type { PortalShow, ShowData, TgtadmRequest } from './admin-protocol.js';
import { executeAdmin, type AdminContext } from './admin-ops.js';
import { AdminServer } from './admin-server.js';
import { BackgroundPool } from './background.js';
import { Registry } from './registry.js';
import type { LoopSpawner } from './target-runtime.js';

export interface Frontend {
  readonly protocol: 'iscsi' | 'nbd';
  /** Listen on "addr:port" and resolve with the address actually bound (port 0 → real port). */
  listen(address: string): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

export interface DaemonServices {
  registry: Registry;
  config(): DaemonConfig;
  /** Portals bound so far (SendTargets lists every iSCSI portal). */
  portals(): PortalShow[];
  log: Logger;
}

export type FrontendFactory = (services: DaemonServices) => Frontend;

export interface DaemonOptions {
  /** The effective config: the file's, with command-line overrides. */
  config: DaemonConfig;
  /** The file's own config: what is persisted (overrides are not). */
  persistedConfig: DaemonConfig;
  /** Where bgadm changes are persisted; undefined = not persisted. */
  configPath?: string;
  dataDir: string;
  adminSocket: string;
  log: Logger;
  spawn: LoopSpawner;
  frontends: FrontendFactory[];
  /** Default target parameters per protocol, for `show --tid` (from the protocol front ends). */
  targetParamDefaults?: (lld: 'iscsi' | 'nbd') => [string, string][];
  /** The reply budget every target loop shares (metrics read it). */
  replyBudget?: SharedArrayBuffer;
}

export class Daemon {
  readonly registry: Registry;
  private readonly bound: PortalShow[] = [];
  private readonly frontends = new Map<string, Frontend>();
  private admin: AdminServer | undefined;
  private metricsServer: http.Server | undefined;
  metricsPort: number | undefined;
  metricsAddress: string | undefined;
  private config: DaemonConfig;
  private persisted: DaemonConfig;
  private readonly ctx: AdminContext;
  private readonly background = new BackgroundPool();

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.persisted = opts.persistedConfig;
    const naaCompanyId = opts.config.naaCompanyId !== undefined ? parseNaaCompanyId(opts.config.naaCompanyId) : undefined;
    this.registry = new Registry({ spawn: opts.spawn, dataDir: opts.dataDir, log: opts.log, ...(naaCompanyId !== undefined ? { naaCompanyId } : {}) });
    this.ctx = {
      registry: this.registry,
      onChange: () => this.persist(),
      dump: (): ShowData => ({ kind: 'dump', config: this.runningConfig() }),
      portals: (): ShowData => ({ kind: 'portals', portals: [...this.bound] }),
      portalOp: (req) => this.portalOp(req),
      background: this.background,
      ...(opts.targetParamDefaults ? { targetParamDefaults: opts.targetParamDefaults } : {}),
    };
  }

  get portals(): PortalShow[] {
    return this.bound;
  }

  async start(): Promise<void> {
    mkdirPrivateSync(this.opts.dataDir);
    await this.applyConfig();
    const services: DaemonServices = {
      registry: this.registry,
      config: () => this.config,
      portals: () => this.bound,
      log: this.opts.log,
    };
    for (const make of this.opts.frontends) {
      const f = make(services);
      this.frontends.set(f.protocol, f);
    }
    for (const addr of this.config.iscsiPortals) await this.listen('iscsi', addr);
    for (const addr of this.config.nbdListen) await this.listen('nbd', addr);
    this.admin = new AdminServer(this.opts.adminSocket, (req) => executeAdmin(this.ctx, req), this.opts.log);
    await this.admin.listen();
    await this.startMetrics();
    this.opts.log.info(
      {
        portals: this.bound.map(portalUri),
        admin: this.opts.adminSocket,
        metrics: this.metricsAddress ?? 'off',
        targets: this.registry.targets.size,
      },
      'blockgate ready',
    );
  }

  /** Build the registry from the config through the admin request path; any failure refuses the start. */
  private async applyConfig(): Promise<void> {
    for (const req of configToRequests(this.config)) {
      const reply = await executeAdmin({ ...this.ctx, onChange: async () => undefined }, req);
      if (!reply.ok) {
        throw new Error(`config: ${req.mode} ${req.op}${req.tid !== undefined ? ` tid ${req.tid}` : ''}${req.lun !== undefined ? ` lun ${req.lun}` : ''}: ${reply.error.message}${reply.error.details ? ` (${reply.error.details})` : ''}`);
      }
    }
    // LUNs loaded without an identity got one: save it now, so the next start reports the same one.
    const generated = this.config.targets.flatMap((t) => t.luns.filter((l) => l.uuid === undefined && l.bstype !== 'chunk').map((l) => `${t.name}/${l.lun}`));
    if (generated.length > 0) {
      try {
        await this.persist();
        this.opts.log.info({ luns: generated }, 'LUN identities generated and saved');
      } catch (err) {
        // Serving goes on; the identities are new again at the next start until the file can be written.
        this.opts.log.warn({ luns: generated, file: this.opts.configPath, err: (err as Error).message }, 'LUN identities generated but not saved');
      }
    }
  }

  private async listen(protocol: 'iscsi' | 'nbd', addr: string): Promise<void> {
    const f = this.frontends.get(protocol);
    if (!f) throw new Error(`no ${protocol} front end`);
    const bound = await f.listen(addr);
    this.bound.push({ lld: protocol, address: bound.address, port: bound.port, tpgt: 1 });
  }

  private async startMetrics(): Promise<void> {
    const where = this.config.metricsListen ?? '127.0.0.1:9470';
    if (where === 'off') return;
    const hp = parseHostPort(where, 9470);
    if (typeof hp === 'string') throw new Error(`metrics address: ${hp}`);
    const reg = createMetricsRegistry({
      luns: () =>
        [...this.registry.targets.values()].flatMap((t) =>
          [...t.luns].map(([lun, l]) => ({ target: t.cfg.name, lun, stats: l.stats, sizeBytes: l.info.sizeBytes })),
        ),
      targets: () => [...this.registry.targets.values()].map((t) => ({ target: t.cfg.name, lld: t.cfg.lld, counters: t.runtime.targetStats })),
      ...(this.opts.replyBudget ? { replyBudget: this.opts.replyBudget } : {}),
    });
    const { server, port } = await serveMetrics(reg, hp.host, hp.port);
    this.metricsServer = server;
    this.metricsPort = port;
    this.metricsAddress = `http://${fmt(hp.host, port)}/metrics`;
  }

  private async portalOp(req: TgtadmRequest): Promise<void> {
    if (req.op !== 'new' || !req.portal) throw new Error('only --op new --param portal=addr:port is supported');
    await this.listen(req.lld, req.portal);
    for (const c of [this.config, this.persisted]) (req.lld === 'iscsi' ? c.iscsiPortals : c.nbdListen).push(req.portal);
  }

  runningConfig(): DaemonConfig {
    return this.registry.snapshotConfig(this.config);
  }

  private async persist(): Promise<void> {
    this.persisted = this.registry.snapshotConfig(this.persisted);
    if (!this.opts.configPath) return;
    await saveConfigAtomic(this.opts.configPath, this.persisted);
    this.opts.log.info({ file: this.opts.configPath }, 'config saved');
  }

  async stop(reason: string): Promise<void> {
    this.opts.log.info({ reason }, 'shutting down');
    await this.admin?.close();
    for (const f of this.frontends.values()) await f.close().catch(() => undefined);
    await Promise.allSettled([...this.registry.targets.values()].map((t) => t.runtime.stop(reason)));
    this.registry.targets.clear();
    await this.background.close();
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
  }
}

/** "iscsi://127.0.0.1:3260", "nbd://[::1]:10809", "nbd+unix:///?socket=/run/x.sock" (the URI form nbdinfo takes). */
export function portalUri(p: PortalShow): string {
  if (p.address.startsWith('unix:')) return `${p.lld}+unix:///?socket=${p.address.slice('unix:'.length)}`;
  return `${p.lld}://${fmt(p.address, p.port)}`;
}

function fmt(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The config a daemon started without --config serves, persisted under the data dir. */
export function embeddedDefault(base: DaemonConfig, dataDir: string): DaemonConfig {
  return {
    ...base,
    metricsListen: base.metricsListen ?? '127.0.0.1:9470',
    nbd: { ...(base.nbd ?? {}), defaultExport: base.nbd?.defaultExport ?? 'default' },
    targets: [
      {
        tid: 1,
        name: 'iqn.2026-11.io.blockgate:default',
        lld: 'iscsi',
        luns: [
          {
            lun: 1,
            backingStore: path.join(dataDir, 'default.img'),
            bstype: 'file',
            sizeBytes: 1024 * 1024 * 1024,
            nbdExport: 'default',
          },
        ],
        incomingUsers: [],
        acl: { addresses: ['ALL'], names: [] },
        params: {},
      },
    ],
  };
}
