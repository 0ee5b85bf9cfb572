/**
 * Starts the real daemon (`node dist/src/bin/blockgate.cjs`, built by
 * `npm test`) on ephemeral loopback ports with a temporary data dir, and
 * tells the test where everything is from its "blockgate ready" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolEnv } from './run-tool.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BLOCKGATE = path.join(ROOT, 'dist/src/bin/blockgate.cjs');
export const BGADM = path.join(ROOT, 'dist/src/bin/bgadm.js');

export interface DaemonHandle {
  proc: ChildProcess;
  dataDir: string;
  adminSocket: string;
  iscsiPort: number | undefined;
  nbdPort: number | undefined;
  metricsUrl: string | undefined;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  dataDir?: string;
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  /** false = off; a string = that listen address; null = no flag (config or built-in default); default 127.0.0.1:0. */
  iscsi?: boolean | string | null;
  nbd?: boolean | string | null;
  /** Command and arguments to run the daemon under (e.g. `unshare -n`); it must exec, keeping the pid. */
  wrap?: string[];
  timeoutMs?: number;
}

function listenArgs(flag: string, v: boolean | string | null | undefined): string[] {
  if (v === null) return [];
  return [flag, v === false ? 'off' : typeof v === 'string' ? v : '127.0.0.1:0'];
}

export function tempDir(prefix = 'bg-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const dataDir = opts.dataDir ?? tempDir();
  const adminSocket = path.join(dataDir, 'admin.sock');
  const args = [
    BLOCKGATE,
    'serve',
    '--data-dir', dataDir,
    '--admin-socket', adminSocket,
    ...listenArgs('--iscsi-portal', opts.iscsi),
    ...listenArgs('--nbd-listen', opts.nbd),
    '--metrics-listen', '127.0.0.1:0',
    ...(opts.args ?? []),
  ];
  const [cmd, ...cmdArgs] = [...(opts.wrap ?? []), process.execPath, ...args] as [string, ...string[]];
  const proc = spawn(cmd, cmdArgs, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const h: DaemonHandle = {
    proc,
    dataDir,
    adminSocket,
    iscsiPort: undefined,
    nbdPort: undefined,
    metricsUrl: undefined,
    logs,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        proc.once('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        proc.kill(signal);
      }),
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // the caller never gets a handle to stop it
      reject(new Error(`daemon not ready in time:\n${logs.join('')}`));
    }, opts.timeoutMs ?? 20_000);
    const onLine = (line: string): void => {
      logs.push(line + '\n');
      if (!line.includes('"blockgate ready"')) return;
      const rec = JSON.parse(line) as { portals: string[]; metrics: string };
      for (const p of rec.portals) {
        const m = /^(iscsi|nbd):\/\/.*:(\d+)$/.exec(p);
        if (m?.[1] === 'iscsi') h.iscsiPort ??= Number(m[2]);
        if (m?.[1] === 'nbd') h.nbdPort ??= Number(m[2]);
      }
      if (rec.metrics !== 'off') h.metricsUrl = rec.metrics;
      clearTimeout(timer);
      resolve();
    };
    lines(proc.stdout!, onLine);
    lines(proc.stderr!, (l) => logs.push(l + '\n'));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}:\n${logs.join('')}`));
    });
  });
  return h;
}

function lines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program with a hard timeout; never rejects. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string>; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...toolEnv, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('error', (err) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    p.stdin.on('error', () => undefined); // a tool that exits without reading its input
    p.stdin.end(opts.input ?? '');
  });
}

export function bgadm(h: DaemonHandle, args: string[]): Promise<RunResult> {
  return run(process.execPath, [BGADM, '--admin-socket', h.adminSocket, ...args], { timeoutMs: 30_000 });
}
