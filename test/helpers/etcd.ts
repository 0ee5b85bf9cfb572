/**
 * Starts a real single-node etcd (Debian etcd-server) on loopback with
 * ephemeral ports and a temporary data dir; stop() kills it by PID and
 * removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EtcdHandle {
  endpoint: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startEtcd(timeoutMs = 15_000): Promise<EtcdHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const proc = spawn('etcd', [
    '--name', 'test', '--data-dir', dir,
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `test=http://127.0.0.1:${peer}`, '--log-level', 'error',
  ], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid) {
      const exited = new Promise((r) => proc.once('exit', r));
      process.kill(proc.pid, 'SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return { endpoint, proc, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('etcd did not become healthy');
}
