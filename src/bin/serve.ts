/**
 * `blockgate serve`: resolve the config (file, persisted embedded default, or
 * a fresh embedded default), apply command-line overrides, start the daemon.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseConfigYaml } from '../config/load.js';
import { resolveAdminSocketPath, defaultDataDir } from '../config/paths.js';
import { saveConfigAtomic } from '../config/save.js';
import { defaultConfig, type DaemonConfig } from '../config/schema.js';
import { nodeTargetsConfIo, parseTargetsConf } from '../config/targets-conf.js';
import { formatIssue } from '../config/validate.js';
import { Daemon, embeddedDefault } from '../mgmt/daemon.js';
import { workerSpawner } from '../mgmt/worker-spawner.js';
import { createLogger, flushLogger } from '../obs/log.js';
import { createReplyBudgetBuffer, replyLimits } from '../worker/reply-budget.js';
import { mergeServeOptions, type ServeOptions } from '../cli/blockgate.js';
import { FRONTENDS, targetParamDefaults } from './frontends.js';
import { singleLoopSpawner } from './single-loop.js';

export class ConfigRefused extends Error {}

/** Synchronous so the entry point can size the libuv threadpool before any async I/O. */
export function loadConfigSync(file: string): DaemonConfig {
  const result = file.endsWith('.conf')
    ? parseTargetsConf(file, nodeTargetsConfIo())
    : parseConfigYaml(readOrRefuse(file), file);
  if (!result.ok) throw new ConfigRefused(result.errors.map(formatIssue).join('\n'));
  return result.config;
}

function readOrRefuse(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigRefused(`${file}: ${(err as Error).message}`);
  }
}

export interface ResolvedConfig {
  config: DaemonConfig;
  /** Where changes are persisted. */
  savePath: string;
  dataDir: string;
  embedded: boolean;
}

export function resolveConfig(opts: ServeOptions): ResolvedConfig {
  if (opts.config) {
    const config = loadConfigSync(opts.config);
    const dataDir = path.resolve(opts.dataDir ?? config.dataDir ?? defaultDataDir());
    // tgt's targets.conf is imported, not rewritten: changes go to our own file.
    const savePath = opts.config.endsWith('.conf') ? path.join(dataDir, 'blockgate.yaml') : opts.config;
    return { config, savePath, dataDir, embedded: false };
  }
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir());
  const savePath = path.join(dataDir, 'blockgate.yaml');
  if (fs.existsSync(savePath)) return { config: loadConfigSync(savePath), savePath, dataDir, embedded: false };
  return { config: embeddedDefault(defaultConfig(), dataDir), savePath, dataDir, embedded: true };
}

export type { ServeOptions };

export async function runServe(opts: ServeOptions, resolved: ResolvedConfig = resolveConfig(opts)): Promise<Daemon> {
  const config = mergeServeOptions(resolved.config, opts);
  const level = config.logLevel ?? 'info';
  const log = createLogger(level);
  fs.mkdirSync(resolved.dataDir, { recursive: true });
  if (resolved.embedded) await saveConfigAtomic(resolved.savePath, resolved.config);
  const replyBudget = { sab: createReplyBudgetBuffer(), limits: replyLimits(config.replyBudget) };
  const spawn = config.singleLoop
    ? singleLoopSpawner(log, replyBudget)
    : workerSpawner(new URL('./target-worker.js', import.meta.url), level, log, replyBudget);
  const daemon = new Daemon({
    config,
    persistedConfig: resolved.config,
    configPath: resolved.savePath,
    dataDir: resolved.dataDir,
    adminSocket: resolveAdminSocketPath(config.adminSocket),
    log,
    spawn,
    frontends: FRONTENDS,
    targetParamDefaults,
    replyBudget: replyBudget.sab,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    void daemon.stop(signal).finally(() => {
      flushLogger(log);
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await daemon.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'start-up failed');
    await daemon.stop('start-up failed').catch(() => undefined);
    flushLogger(log);
    throw err;
  }
  if (resolved.embedded || config.targets.length > 0) printHowToConnect(daemon);
  return daemon;
}

function printHowToConnect(daemon: Daemon): void {
  const iscsi = daemon.portals.find((p) => p.lld === 'iscsi');
  const nbd = daemon.portals.find((p) => p.lld === 'nbd');
  const host = (a: string): string => (a === '0.0.0.0' || a === '::' ? '127.0.0.1' : a.includes(':') ? `[${a}]` : a);
  const lines: string[] = [];
  for (const t of daemon.registry.targets.values()) {
    const lun = [...t.luns.keys()].sort((a, b) => a - b)[0];
    if (iscsi && t.cfg.lld === 'iscsi' && lun !== undefined) {
      const h = host(iscsi.address);
      lines.push(`iSCSI  ${t.cfg.name} LUN ${lun}:`);
      lines.push(`  iscsiadm -m discovery -t sendtargets -p ${h}:${iscsi.port}`);
      lines.push(`  qemu-img info iscsi://${h}:${iscsi.port}/${t.cfg.name}/${lun}`);
      lines.push(`  iscsi-inq iscsi://${h}:${iscsi.port}/${t.cfg.name}/${lun}`);
    }
    for (const [, l] of t.luns) {
      const name = l.cfg.nbdExport ?? (t.cfg.lld === 'nbd' ? t.cfg.name : undefined);
      if (!nbd || name === undefined) continue;
      const h = host(nbd.address);
      lines.push(`NBD    export "${name}":`);
      lines.push(`  nbdinfo nbd://${h}:${nbd.port}/${name}`);
      lines.push(`  nbd-client ${h} ${nbd.port} /dev/nbd0 -N ${name}`);
    }
  }
  if (lines.length > 0) process.stdout.write(`blockgate is serving:\n${lines.join('\n')}\n`);
}
