/**
 * `blockgate cluster up`: a complete replicated backend on one machine for
 * trying it out — etcd (when `etcd` is on PATH; else the MDS keeps its
 * state in a file), one MDS and N chunkservers (default 3, zones zone1..3)
 * on 127.0.0.1, each a child process running this same program, with logs
 * in <data-dir>/logs. Prints the MDS address and ready-to-paste commands,
 * stays in the foreground, and stops everything on SIGINT/SIGTERM.
 *
 * Ports: MDS = --listen (127.0.0.1:6700), chunkservers the next N ports,
 * etcd client/peer = MDS port + 90/91. With port 0 everything is ephemeral
 * (tests).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { parseAddress } from '../../backends/chunk/proto/rpc-client.js';
import type { ClusterOptions } from '../cli/blockgate.js';
import { defaultDataDir } from '../config/paths.js';
import { mkdirPrivateSync, PRIVATE_FILE_MODE } from '../util/private-fs.js';
import { DEFAULT_MDS_ADDRESS } from './cluster.js';

interface Child {
  name: string;
  proc: ChildProcess;
}

const READY_TIMEOUT_MS = 60_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runClusterUp(o: ClusterOptions): Promise<number | undefined> {
  const dir = path.resolve(o.dataDir ?? path.join(defaultDataDir(), 'cluster'));
  const logs = path.join(dir, 'logs');
  mkdirPrivateSync(logs);
  const { host, port } = parseAddress(o.listen ?? DEFAULT_MDS_ADDRESS);
  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    stopping = true;
    for (const c of [...children].reverse()) await stopChild(c);
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  const spawnChild = (name: string, cmd: string, args: string[]): Child => {
    const out = fs.openSync(path.join(logs, `${name}.log`), 'a', PRIVATE_FILE_MODE);
    const proc = spawn(cmd, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const c = { name, proc };
    children.push(c);
    proc.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`cluster: ${name} (pid ${proc.pid}) exited (${signal ?? code}); see ${path.join(logs, `${name}.log`)}\n`);
    });
    return c;
  };
  try {
    const etcd = await startEtcd(o, dir, host, port, spawnChild);
    const mdsAddr = port === 0 ? `${host}:${await freePort(host)}` : `${host}:${port}`;
    const self = [process.argv[1]!];
    spawnChild('mds', process.execPath, [...self, 'mds', '--listen', mdsAddr, '--data-dir', path.join(dir, 'mds'), ...(etcd ? ['--etcd', etcd] : []), '--log-level', o.logLevel ?? 'info']);
    const n = o.chunkservers ?? 3;
    for (let i = 0; i < n; i++) {
      const csPort = port === 0 ? await freePort(host) : port + 1 + i;
      spawnChild(`chunkserver${i + 1}`, process.execPath, [...self, 'chunkserver', '--listen', `${host}:${csPort}`, '--mds', mdsAddr,
        '--data-dir', path.join(dir, `chunkserver${i + 1}`), '--zone', `zone${(i % 3) + 1}`, '--log-level', o.logLevel ?? 'info']);
    }
    await waitReady(mdsAddr, n, children);
    process.stdout.write(readyText(mdsAddr, etcd, n, logs, children));
  } catch (e) {
    process.stderr.write(`blockgate: cluster up failed: ${(e as Error).message}\n`);
    await stopAll(1);
  }
  return undefined;
}

/** etcd when asked (--etcd URLs), or when installed (unless --etcd off). Returns the client URL or undefined. */
async function startEtcd(o: ClusterOptions, dir: string, host: string, port: number, spawnChild: (n: string, c: string, a: string[]) => Child): Promise<string | undefined> {
  if (o.etcd?.includes('off')) return undefined;
  if (o.etcd && o.etcd.length > 0) return o.etcd.join(',');
  if (spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const client = `http://${host}:${port === 0 ? await freePort(host) : port + 90}`;
  const peer = `http://${host}:${port === 0 ? await freePort(host) : port + 91}`;
  spawnChild('etcd', 'etcd', ['--name', 'blockgate', '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `blockgate=${peer}`, '--log-level', 'warn']);
  for (const deadline = Date.now() + READY_TIMEOUT_MS; Date.now() < deadline; await sleep(200)) {
    if (await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return client;
  }
  throw new Error('etcd did not become healthy');
}

/** Until the MDS answers, every chunkserver is up, and copysets exist with leaders. */
async function waitReady(mdsAddr: string, n: number, children: Child[]): Promise<void> {
  const mds = new MdsClient([mdsAddr], { callTimeoutMs: 1000, maxAttempts: 1 });
  try {
    for (const deadline = Date.now() + READY_TIMEOUT_MS; Date.now() < deadline; await sleep(300)) {
      const dead = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
      if (dead) throw new Error(`${dead.name} exited (${dead.proc.signalCode ?? dead.proc.exitCode})`);
      const s = await mds.clusterStatus().catch(() => undefined);
      if (s && s.chunkservers.filter((c) => c.state === 'up').length >= n && s.copysets.total > 0 && s.copysets.leaderless === 0) return;
    }
    throw new Error(`not ready within ${READY_TIMEOUT_MS / 1000} s`);
  } finally {
    mds.close();
  }
}

function readyText(mds: string, etcd: string | undefined, n: number, logs: string, children: Child[]): string {
  return [
    `cluster up: 1 MDS, ${n} chunkservers, state in ${etcd ? `etcd ${etcd}` : 'the MDS file store'}`,
    `MDS: ${mds}`,
    ...children.map((c) => `  ${c.name.padEnd(13)} pid ${c.proc.pid}`),
    `logs: ${logs}`,
    '',
    'Try it (with a running `blockgate serve`):',
    `  blockgate volume create vol1 --size 10GiB --mds ${mds}`,
    '  bgadm --lld iscsi --mode target --op new --tid 2 --targetname iqn.2024-01.org.blockgate:vol1',
    `  bgadm --lld iscsi --mode logicalunit --op new --tid 2 --lun 1 --bstype chunk --backing-store vol1 --bsopts mds=${mds} -P nbd_export=vol1`,
    '  bgadm --lld iscsi --mode target --op bind --tid 2 --initiator-address ALL',
    `  blockgate cluster status --mds ${mds}`,
    '',
    'Ctrl-C stops the cluster.',
    '',
  ].join('\n');
}

async function stopChild(c: Child): Promise<void> {
  const p = c.proc;
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
