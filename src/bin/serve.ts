/**
 * `blockgate serve`: resolve the config (file, persisted embedded default, or
 * a fresh embedded default), apply command-line overrides, start the daemon.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseConfigYaml } from '../config/load.js';
import { resolveAdminSocketPath, defaultDataDir } from '../config/paths.js';
import { saveConfigAtomic } from '../config/save.js';
import { defaultConfig, ISCSI_DEFAULT_PORT, NBD_DEFAULT_PORT, type DaemonConfig } from '../config/schema.js';
import { UNIX_LISTEN_PREFIX } from '../config/address.js';
import { adoptSavedIdentities } from '../config/saved-identities.js';
import { nodeTargetsConfIo, parseTargetsConf } from '../config/targets-conf.js';
import { formatIssue } from '../config/validate.js';
import { Daemon, embeddedDefault, portalUri } from '../mgmt/daemon.js';
import { workerSpawner } from '../mgmt/worker-spawner.js';
import { createLogger, flushLogger } from '../obs/log.js';
import { mkdirPrivateSync } from '../util/private-fs.js';
import { isWildcardAddress } from '../util/self-endpoint.js';
import type { Logger } from 'pino';
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
    const withIds = savePath !== opts.config && fs.existsSync(savePath) ? adoptSavedIdentities(config, loadConfigSync(savePath)) : config;
    return { config: withIds, savePath, dataDir, embedded: false };
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
  mkdirPrivateSync(resolved.dataDir);
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
  warnOpenToEveryHost(daemon, log);
  return daemon;
}

function printHowToConnect(daemon: Daemon): void {
  const tcp = daemon.portals.filter((p) => !p.address.startsWith(UNIX_LISTEN_PREFIX));
  const iscsi = tcp.find((p) => p.lld === 'iscsi');
  const nbd = tcp.find((p) => p.lld === 'nbd');
  const nbdUnix = daemon.portals.filter((p) => p.lld === 'nbd' && p.address.startsWith(UNIX_LISTEN_PREFIX));
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
      if ((!nbd && nbdUnix.length === 0) || name === undefined) continue;
      lines.push(`NBD    export "${name}":`);
      if (nbd) {
        const h = host(nbd.address);
        lines.push(`  nbdinfo nbd://${h}:${nbd.port}/${name}`);
        lines.push(`  nbd-client ${h} ${nbd.port} /dev/nbd0 -N ${name}`);
      }
      for (const u of nbdUnix) lines.push(`  nbdinfo 'nbd+unix:///${name}?socket=${u.address.slice(UNIX_LISTEN_PREFIX.length)}'`);
    }
  }
  if (lines.length === 0) return;
  process.stdout.write(`blockgate is serving:\n${lines.join('\n')}\n${loopbackNote(tcp)}`);
}

/**
 * A target anyone may use (iSCSI: no CHAP account and ACL ALL; NBD: TLS off)
 * on a wildcard listener is reachable, unauthenticated, from every host: say
 * so once at start. A blockgate.yaml saved by a release whose default was
 * 0.0.0.0 still asks for that.
 */
function warnOpenToEveryHost(daemon: Daemon, log: Logger): void {
  const wildcard = (lld: 'iscsi' | 'nbd'): string | undefined =>
    daemon.portals.filter((p) => p.lld === lld && isWildcardAddress(p.address)).map(portalUri)[0];
  const iscsi = wildcard('iscsi');
  const tls = daemon.runningConfig().nbd?.tls;
  const nbd = tls === undefined || tls === 'off' ? wildcard('nbd') : undefined;
  const open: string[] = [];
  for (const t of daemon.registry.targets.values()) {
    if (t.luns.size === 0) continue;
    if (iscsi && t.cfg.lld === 'iscsi' && t.cfg.incomingUsers.length === 0 && t.cfg.acl.addresses.includes('ALL') && t.cfg.acl.names.length === 0) {
      open.push(`${t.cfg.name} on ${iscsi}`);
    }
    const exported = [...t.luns.values()].some((l) => l.cfg.nbdExport !== undefined) || t.cfg.lld === 'nbd';
    if (nbd && exported) open.push(`${t.cfg.name} on ${nbd}`);
  }
  if (open.length === 0) return;
  log.warn({ targets: open }, 'targets served without authentication on every interface');
  process.stdout.write(`Warning: served to every host without authentication: ${open.join(', ')}. Bind to loopback (--iscsi-portal 127.0.0.1:3260 --nbd-listen 127.0.0.1:10809), add CHAP accounts or an ACL, or NBD TLS.\n`);
}

/** The banner says when no TCP listener is reachable from another host, and how to change that. */
function loopbackNote(tcp: Daemon['portals']): string {
  const isLoopback = (a: string): boolean => a.startsWith('127.') || a === '::1' || a === 'localhost';
  const flags: string[] = [];
  for (const [lld, flag, port] of [['iscsi', '--iscsi-portal', ISCSI_DEFAULT_PORT], ['nbd', '--nbd-listen', NBD_DEFAULT_PORT]] as const) {
    const mine = tcp.filter((p) => p.lld === lld);
    if (mine.length > 0 && mine.every((p) => isLoopback(p.address))) flags.push(`${flag} 0.0.0.0:${port}`);
  }
  if (flags.length === 0) return '';
  const local = tcp.filter((p) => isLoopback(p.address)).map((p) => portalUri(p)).join(', ');
  return `Listening on loopback only (${local}): other hosts cannot connect. To serve them, pass ${flags.join(' ')} (or set iscsiPortals / nbdListen in the config).\n`;
}
