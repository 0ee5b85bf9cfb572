/**
 * The systems under test: blockgate (this repo's daemon), tgtd (Debian
 * `tgt`, the iSCSI reference) and nbdkit's file plugin (the NBD reference).
 * Each is started on loopback ports the kernel picked, serves one LUN/export
 * backed by its own copy of the same kind of file, and is stopped by PID.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, freePort, run, sleep, startDaemon, stopPid, type Daemon } from './proc.js';

/** Build root this runner was compiled into (dist/, from dist/bench/); the daemon is taken from the same build. */
export const BUILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Repository root, where results and the README are written. */
export const REPO = path.resolve(process.env.BENCH_REPO ?? path.join(BUILD, '..'));
export const BLOCKGATE_IQN = 'iqn.2026-11.io.blockgate:default';
export const TGT_IQN = 'iqn.2026-11.io.blockgate.bench:tgtd';

export interface Running {
  system: 'blockgate' | 'tgtd' | 'nbdkit' | 'baseline';
  pid: number;
  iscsiUrl?: string;
  nbdUrl?: string;
  /** How it was started, for the report. */
  commands: string[];
  stop(): Promise<void>;
}

export interface BlockgateOptions {
  dataDir: string;
  singleLoop?: boolean;
  config?: string;
  /** Directory for `--cpu-prof` output; unset = no profiling. */
  cpuProfDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Report as this system (A/B runs start a second blockgate as 'baseline'). */
  as?: 'blockgate' | 'baseline';
  /** Build root to take the daemon from (default: the runner's own build). */
  build?: string;
}

/** `blockgate serve`; with no config it serves the embedded default (LUN 1 = dataDir/default.img). */
export async function startBlockgate(o: BlockgateOptions): Promise<Running> {
  const [iscsiPort, nbdPort] = [await freePort(), await freePort()];
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const args = [
    ...nodeArgs,
    path.join(o.build ?? BUILD, 'src/bin/blockgate.cjs'),
    'serve',
    '--data-dir', o.dataDir,
    '--admin-socket', path.join(o.dataDir, 'admin.sock'),
    '--iscsi-portal', `127.0.0.1:${iscsiPort}`,
    '--nbd-listen', `127.0.0.1:${nbdPort}`,
    '--metrics-listen', 'off',
    ...(o.singleLoop ? ['--single-loop'] : []),
    ...(o.config ? ['--config', o.config] : []),
  ];
  const d = await startDaemon(process.execPath, args, (l) => l.includes('"msg":"blockgate ready"'), 30_000, o.env);
  drain(d);
  return {
    system: o.as ?? 'blockgate',
    pid: d.pid,
    iscsiUrl: `iscsi://127.0.0.1:${iscsiPort}/${BLOCKGATE_IQN}/1`,
    nbdUrl: `nbd://127.0.0.1:${nbdPort}/default`,
    commands: [commandLine('node', args, envDiff(o.env))],
    stop: () => stopPid(d.pid, 15_000),
  };
}

/** tgtd in the foreground on its own control port, one target with the image as LUN 1. */
export async function startTgtd(image: string): Promise<Running> {
  if (process.getuid?.() !== 0) throw new Error('tgtd needs root');
  const port = await freePort();
  const control = await freeControlPort();
  const args = ['-f', '-C', String(control), '--iscsi', `portal=127.0.0.1:${port}`];
  const d = await startDaemon('tgtd', args, null);
  drain(d);
  const adm = (...a: string[]): Promise<unknown> => run('tgtadm', ['-C', String(control), '--lld', 'iscsi', ...a]);
  const setup = [
    ['--op', 'new', '--mode', 'target', '--tid', '1', '-T', TGT_IQN],
    ['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '-b', image],
    ['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL'],
  ];
  try {
    await retry(() => adm('--op', 'show', '--mode', 'sys'));
    for (const s of setup) await adm(...s);
  } catch (err) {
    await stopPid(d.pid);
    throw err;
  }
  return {
    system: 'tgtd',
    pid: d.pid,
    iscsiUrl: `iscsi://127.0.0.1:${port}/${TGT_IQN}/1`,
    commands: [commandLine('tgtd', args), ...setup.map((s) => commandLine('tgtadm', ['-C', String(control), '--lld', 'iscsi', ...s]))],
    // tgtd ignores SIGTERM while it has targets; it holds no state worth a clean exit here.
    stop: () => stopPid(d.pid, 1000),
  };
}

/** `nbdkit file` in the foreground (its default 16 threads). */
export async function startNbdkit(image: string, dir: string): Promise<Running> {
  const port = await freePort();
  const args = ['-f', '-p', String(port), '-i', '127.0.0.1', '--pidfile', path.join(dir, 'nbdkit.pid'), 'file', image];
  const d = await startDaemon('nbdkit', args, null);
  drain(d);
  try {
    await retry(() => connectOnce(port));
  } catch (err) {
    await stopPid(d.pid);
    throw err;
  }
  return {
    system: 'nbdkit',
    pid: d.pid,
    nbdUrl: `nbd://127.0.0.1:${port}/`,
    commands: [commandLine('nbdkit', args)],
    stop: () => stopPid(d.pid),
  };
}

/** Variables that differ from the runner's own environment (shown in the command line). */
function envDiff(env: NodeJS.ProcessEnv | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) if (v !== undefined && process.env[k] !== v) out[k] = v;
  return out;
}

/** Keep reading the daemon's output so a full pipe never stalls it. */
function drain(d: Daemon): void {
  d.child.stdout?.resume();
  d.child.stderr?.resume();
}

async function freeControlPort(): Promise<number> {
  for (;;) {
    // tgtd and tgtadm accept control ports 0..32767.
    const n = 1000 + Math.floor(Math.random() * 31_000);
    if (!fs.existsSync(`/var/run/tgtd/socket.${n}`)) return n;
  }
}

async function retry<T>(f: () => Promise<T>, tries = 50, delayMs = 100): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (err) {
      if (i >= tries) throw err;
      await sleep(delayMs);
    }
  }
}

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
}

/** Write `sizeBytes` of non-zero data, so reads hit real (cached) blocks rather than holes. */
export function createFilledImage(file: string, sizeBytes: number): void {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i += 8) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < sizeBytes; off += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - off), off);
  } finally {
    fs.closeSync(fd);
  }
}
