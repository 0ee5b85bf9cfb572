/**
 * The `blockgate` command line: parse only, start nothing. src/bin/blockgate.ts
 * calls `parseBlockgateArgs(process.argv.slice(2))` and runs what it returns.
 *
 *   blockgate [serve] [--config f] [--data-dir d] [--iscsi-portal a:p|off]...
 *             [--nbd-listen a:p|unix:/path|off]... [--admin-socket p] [--metrics-listen a:p|off]
 *             [--log-level l] [--single-loop]
 *   blockgate mds | chunkserver | volume <action> | cluster <action>   (replicated backend)
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { parseHostPort, parseListenAddress } from '../config/address.js';
import { ISCSI_DEFAULT_PORT, LOG_LEVELS, NBD_DEFAULT_PORT, type DaemonConfig, type LogLevel } from '../config/schema.js';
import { parseSize } from '../config/size.js';

export interface ServeOptions {
  config?: string;
  dataDir?: string;
  /** undefined = not given (config/default applies); [] = `off`. */
  iscsiPortals?: string[];
  nbdListen?: string[];
  adminSocket?: string;
  /** "addr:port" or "off". */
  metricsListen?: string;
  logLevel?: LogLevel;
  singleLoop?: boolean;
}

/** Options shared by the replicated-backend subcommands; the lead wires them. */
export interface ClusterOptions {
  /** mds/chunkserver: own listen address. */
  listen?: string;
  /** MDS endpoints, "a:p,a:p". */
  mds?: string[];
  /** etcd endpoints for the MDS, "http://a:p,...". */
  etcd?: string[];
  dataDir?: string;
  zone?: string;
  /** volume create/extend: bytes. */
  sizeBytes?: number;
  /** cluster up: how many chunkservers. */
  chunkservers?: number;
  logLevel?: LogLevel;
  metricsListen?: string;
  /** volume / cluster status: print JSON instead of text. */
  json?: boolean;
}

export const VOLUME_ACTIONS = ['create', 'delete', 'extend', 'list', 'info'] as const;
export const CLUSTER_ACTIONS = ['status', 'up'] as const;

export type BlockgateCommand =
  | { command: 'serve'; options: ServeOptions }
  | { command: 'mds'; options: ClusterOptions }
  | { command: 'chunkserver'; options: ClusterOptions }
  | { command: 'volume'; action: (typeof VOLUME_ACTIONS)[number]; name?: string; options: ClusterOptions }
  | { command: 'cluster'; action: (typeof CLUSTER_ACTIONS)[number]; options: ClusterOptions }
  /** --help / --version: print `text` to stdout and exit 0. */
  | { command: 'print'; text: string }
  /** Bad command line: print `message` to stderr and exit with `exitCode`. */
  | { command: 'error'; message: string; exitCode: number };

class Usage extends Error {}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Parse user arguments (process.argv.slice(2)). Never throws, never exits. */
export function parseBlockgateArgs(args: readonly string[], version = '0.1.0'): BlockgateCommand {
  let result: BlockgateCommand | undefined;
  let out = '';
  const program = new Command('blockgate')
    .description('block-storage target gateway: iSCSI and NBD over file and replicated chunk backends')
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (out += s), writeErr: () => undefined, outputError: () => undefined });
  const serve = addServeOptions(program.command('serve', { isDefault: true }).description('run the gateway daemon (default)'));
  serve.action((opts: Record<string, unknown>) => {
    result = { command: 'serve', options: toServeOptions(opts) };
  });
  addClusterCommands(program, (r) => (result = r));
  try {
    program.parse([...args], { from: 'user' });
  } catch (e) {
    return errorResult(e, out);
  }
  return result ?? { command: 'error', message: 'blockgate: nothing to do\n', exitCode: 2 };
}

function addServeOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file: YAML, or tgt targets.conf syntax when it ends in .conf')
    .option('--data-dir <dir>', 'directory for LUN state and default files (see docs/config.md)')
    .option('--iscsi-portal <addr:port>', 'iSCSI listen address, repeatable (default 127.0.0.1:3260, loopback only); "off" disables iSCSI', collect)
    .option('--nbd-listen <addr:port>', 'NBD listen address (default 127.0.0.1:10809, loopback only) or unix:/path (a Unix socket, mode 0600), repeatable; "off" disables NBD', collect)
    .option('--admin-socket <path>', 'admin socket path (default: see docs/cli.md)')
    .option('--metrics-listen <addr:port>', 'Prometheus /metrics HTTP listener, or "off"')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS as string[]))
    .option('--single-loop', 'run every target on the main event loop (no per-target workers)');
}

function toServeOptions(o: Record<string, unknown>): ServeOptions {
  const s: ServeOptions = {};
  if (typeof o.config === 'string') s.config = o.config;
  if (typeof o.dataDir === 'string') s.dataDir = o.dataDir;
  if (Array.isArray(o.iscsiPortal)) s.iscsiPortals = listenList(o.iscsiPortal as string[], '--iscsi-portal', ISCSI_DEFAULT_PORT);
  if (Array.isArray(o.nbdListen)) s.nbdListen = listenList(o.nbdListen as string[], '--nbd-listen', NBD_DEFAULT_PORT, true);
  if (typeof o.adminSocket === 'string') s.adminSocket = o.adminSocket;
  if (typeof o.metricsListen === 'string') {
    if (o.metricsListen !== 'off') checkHostPort(o.metricsListen, '--metrics-listen', 9500);
    s.metricsListen = o.metricsListen;
  }
  if (typeof o.logLevel === 'string') s.logLevel = o.logLevel as LogLevel;
  if (o.singleLoop === true) s.singleLoop = true;
  return s;
}

/** ["off"] → []; otherwise every entry must parse as addr[:port] (or unix:/path where `unix`). */
function listenList(list: string[], flag: string, port: number, unix = false): string[] {
  if (list.includes('off')) {
    if (list.length > 1) throw new Usage(`${flag} off cannot be combined with addresses`);
    return [];
  }
  for (const a of list) {
    if (!unix) checkHostPort(a, flag, port);
    else {
      const l = parseListenAddress(a, port);
      if (typeof l === 'string') throw new Usage(`${flag}: ${l}`);
    }
  }
  return list;
}

function checkHostPort(text: string, flag: string, port: number): void {
  const hp = parseHostPort(text, port);
  if (typeof hp === 'string') throw new Usage(`${flag}: ${hp}`);
}

function addClusterCommands(program: Command, done: (r: BlockgateCommand) => void): void {
  const common = (cmd: Command): Command =>
    cmd
      .option('--mds <addrs>', 'MDS endpoints, comma-separated addr:port')
      .option('--data-dir <dir>', 'data directory')
      .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS as string[]))
      .option('--metrics-listen <addr:port>', 'Prometheus listener or "off"');
  common(program.command('mds').description('run a metadata server').option('--listen <addr:port>', 'listen address')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated'))
    .action((o: Record<string, unknown>) => done({ command: 'mds', options: toClusterOptions(o) }));
  common(program.command('chunkserver').description('run a chunkserver').option('--listen <addr:port>', 'listen address')
    .option('--zone <name>', 'failure zone'))
    .action((o: Record<string, unknown>) => done({ command: 'chunkserver', options: toClusterOptions(o) }));
  common(program.command('volume').description('manage volumes of the replicated backend')
    .addArgument(new Argument('<action>', VOLUME_ACTIONS.join('|')).choices(VOLUME_ACTIONS))
    .argument('[name]', 'volume name').option('--size <size>', 'size, e.g. 10GiB').option('--json', 'print JSON'))
    .action((action: (typeof VOLUME_ACTIONS)[number], name: string | undefined, o: Record<string, unknown>) => {
      const r: BlockgateCommand = { command: 'volume', action, options: toClusterOptions(o) };
      if (name !== undefined) r.name = name;
      else if (action !== 'list') throw new Usage(`volume ${action} needs a volume name`);
      if ((action === 'create' || action === 'extend') && r.options.sizeBytes === undefined) throw new Usage(`volume ${action} needs --size`);
      done(r);
    });
  common(program.command('cluster').description('cluster status, or bring up a local cluster on loopback for trying it out')
    .addArgument(new Argument('<action>', CLUSTER_ACTIONS.join('|')).choices(CLUSTER_ACTIONS))
    .option('--chunkservers <n>', 'number of chunkservers for "up"')
    .option('--listen <addr:port>', '"up": MDS listen address (chunkservers take the next ports)')
    .option('--etcd <endpoints>', '"up": use this etcd instead of starting one; "off" = MDS file store')
    .option('--json', 'status: print JSON'))
    .action((action: (typeof CLUSTER_ACTIONS)[number], o: Record<string, unknown>) =>
      done({ command: 'cluster', action, options: toClusterOptions(o) }));
}

function toClusterOptions(o: Record<string, unknown>): ClusterOptions {
  const c: ClusterOptions = {};
  const list = (v: unknown): string[] => String(v).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (o.listen !== undefined) c.listen = String(o.listen);
  if (o.mds !== undefined) c.mds = list(o.mds);
  if (o.etcd !== undefined) c.etcd = list(o.etcd);
  if (o.dataDir !== undefined) c.dataDir = String(o.dataDir);
  if (o.zone !== undefined) c.zone = String(o.zone);
  if (o.logLevel !== undefined) c.logLevel = o.logLevel as LogLevel;
  if (o.metricsListen !== undefined) c.metricsListen = String(o.metricsListen);
  if (o.size !== undefined) c.sizeBytes = parseSizeOption(String(o.size));
  if (o.json === true) c.json = true;
  if (o.chunkservers !== undefined) {
    const n = Number(o.chunkservers);
    if (!Number.isInteger(n) || n < 1) throw new Usage('--chunkservers must be a positive integer');
    c.chunkservers = n;
  }
  return c;
}

function parseSizeOption(text: string): number {
  const bytes = parseSize(text);
  if (typeof bytes === 'string') throw new Usage(`--size: ${bytes}`);
  return bytes;
}

function errorResult(e: unknown, out: string): BlockgateCommand {
  if (e instanceof Usage) return { command: 'error', message: `blockgate: ${e.message}\n`, exitCode: 2 };
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
      return { command: 'print', text: out };
    }
    return { command: 'error', message: `blockgate: ${e.message.replace(/^error: /, '')}\n`, exitCode: 2 };
  }
  throw e;
}

/**
 * Command-line values override the config file: the daemon calls this after
 * loading `options.config` (or starting from defaultConfig()).
 */
export function mergeServeOptions(config: DaemonConfig, o: ServeOptions): DaemonConfig {
  const merged: DaemonConfig = { ...config };
  if (o.iscsiPortals !== undefined) merged.iscsiPortals = o.iscsiPortals;
  if (o.nbdListen !== undefined) merged.nbdListen = o.nbdListen;
  if (o.adminSocket !== undefined) merged.adminSocket = o.adminSocket;
  if (o.metricsListen !== undefined) merged.metricsListen = o.metricsListen;
  if (o.logLevel !== undefined) merged.logLevel = o.logLevel;
  if (o.dataDir !== undefined) merged.dataDir = o.dataDir;
  if (o.singleLoop === true) merged.singleLoop = true;
  return merged;
}
