/**
 * `blockgate cluster up` starts a complete local cluster (MDS + three
 * chunkservers as child processes; etcd is skipped with --etcd off to keep
 * the test short — the etcd path is the MDS's own tests), prints the MDS
 * address and commands, `cluster status` sees it healthy, a volume can be
 * created, and SIGTERM stops every child.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOCKGATE, run, tempDir } from '../helpers/daemon.js';

const dir = tempDir('bg-cluster-up-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('blockgate cluster up', () => {
  it('brings up MDS and chunkservers, reports them, and stops them on SIGTERM', async () => {
    const proc = spawn(process.execPath, [BLOCKGATE, 'cluster', 'up', '--listen', '127.0.0.1:0', '--etcd', 'off', '--data-dir', dir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`cluster not up:\n${out}`)), 70_000);
        const poll = setInterval(() => {
          if (out.includes('Ctrl-C stops the cluster.')) {
            clearTimeout(t);
            clearInterval(poll);
            resolve();
          }
        }, 100);
        proc.once('exit', (code) => reject(new Error(`cluster up exited with ${code}:\n${out}`)));
      });
      const mds = /^MDS: (\S+)$/m.exec(out)![1]!;
      expect(out).toContain(`--bstype chunk --backing-store vol1 --bsopts mds=${mds}`);
      const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(4);
      const st = await run(process.execPath, [BLOCKGATE, 'cluster', 'status', '--mds', mds], { timeoutMs: 20_000 });
      expect(st.code, st.stdout + st.stderr).toBe(0);
      expect(st.stdout).toContain(`mds ${mds}: active`);
      expect(st.stdout).toMatch(/chunkservers: 3 up, 0 down/);
      expect(st.stdout).toMatch(/copysets: (\d+) total, \1 healthy/);
      const v = await run(process.execPath, [BLOCKGATE, 'volume', 'create', 'vol1', '--size', '1GiB', '--mds', mds], { timeoutMs: 20_000 });
      expect(v.code, v.stderr).toBe(0);
      expect(fs.existsSync(path.join(dir, 'logs', 'chunkserver1.log'))).toBe(true);
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      expect(proc.exitCode).toBe(0);
      for (const pid of pids) expect(alive(pid)).toBe(false);
    } finally {
      // on failure: let cluster up stop its children, then make sure
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      for (const m of out.matchAll(/pid (\d+)/g)) if (alive(Number(m[1]))) process.kill(Number(m[1]), 'SIGKILL');
    }
  }, 100_000);
});
