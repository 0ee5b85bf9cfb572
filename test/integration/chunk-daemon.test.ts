/**
 * The whole replicated path with real processes: an MDS and three
 * chunkservers (dist/ entry points), the blockgate daemon with LUNs on
 * chunk volumes made with `blockgate volume create` and bgadm
 * (`--bstype chunk --backing-store vol1 --bsopts mds=...`, and tgt Curve
 * driver's `--bstype curve --backing-store cbd:pool//vol2_test_`), real
 * initiators (qemu-io over iSCSI and NBD, nbdinfo), and a chunkserver
 * killed with SIGKILL between writes: I/O goes on without an error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { startChunkCluster, type ChunkCluster } from '../helpers/chunk-procs.js';
import { bgadm, BLOCKGATE, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

const MiB = 1024 * 1024;
const dir = tempDir('bg-chunk-daemon-');
let cluster: ChunkCluster | undefined;
let mdsAddr = '';
let daemon: DaemonHandle | undefined;

const blockgate = (args: string[]) => run(process.execPath, [BLOCKGATE, ...args], { timeoutMs: 30_000 });

beforeAll(async () => {
  cluster = await startChunkCluster({ dir });
  mdsAddr = cluster.mdsAddr;
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('blockgate daemon on the replicated chunk backend', () => {
  it('manages volumes and reports the cluster from the CLI', async () => {
    const c = await blockgate(['volume', 'create', 'vol1', '--size', '48MiB', '--mds', mdsAddr]);
    expect(c.code, c.stderr).toBe(0);
    expect((await blockgate(['volume', 'create', 'vol1', '--size', '48MiB', '--mds', mdsAddr])).stderr).toContain('EXISTS');
    const list = await blockgate(['volume', 'list', '--json', '--mds', mdsAddr]);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'vol1', sizeBytes: 48 * MiB, chunkSizeBytes: MiB }]);
    const st = await blockgate(['cluster', 'status', '--json', '--mds', mdsAddr]);
    expect(st.code, st.stdout + st.stderr).toBe(0);
    const report = JSON.parse(st.stdout) as { mds: Array<{ role: string }>; status: { chunkservers: Array<{ state: string }> }; copysets: Array<{ state: string; leaderId: number }> };
    expect(report.mds[0]!.role).toBe('active');
    expect(report.status.chunkservers.map((c) => c.state)).toEqual(['up', 'up', 'up']);
    expect(report.copysets.length).toBeGreaterThan(0);
    expect(report.copysets.every((c) => c.state === 'healthy' && c.leaderId > 0)).toBe(true);
    const text = await blockgate(['cluster', 'status', '--mds', mdsAddr]);
    expect(text.stdout).toMatch(/chunkservers: 3 up, 0 down/);
  });

  it('serves LUNs on chunk volumes over iSCSI and NBD (bgadm --bstype chunk and curve)', async () => {
    daemon = await startDaemon({ dataDir: path.join(dir, 'daemon') });
    for (const args of [
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '2', '-T', 'iqn.2024-01.org.blockgate:chunk'],
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '1', '--bstype', 'chunk', '--backing-store', 'vol1',
        '--bsopts', `mds=${mdsAddr};timeout=30`, '-P', 'nbd_export=vol1'],
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '2', '--bstype', 'curve', '--backing-store', 'cbd:pool//vol2_test_',
        '--bsopts', `mds=${mdsAddr}`, '-P', 'size=16M,nbd_export=vol2'],
      ['--lld', 'iscsi', '--op', 'bind', '--mode', 'target', '--tid', '2', '-I', 'ALL'],
    ]) {
      const r = await bgadm(daemon, args);
      expect(r.code, r.stderr + r.stdout).toBe(0);
    }
    const iscsi = (lun: number) => `iscsi://127.0.0.1:${daemon!.iscsiPort}/iqn.2024-01.org.blockgate:chunk/${lun}`;
    const nbd = (name: string) => `nbd://127.0.0.1:${daemon!.nbdPort}/${name}`;
    // 3 MiB from 0.5 MiB: four chunks, pieces cut at every 1 MiB boundary
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xa5 512k 3M', '-c', 'read -P 0xa5 512k 3M', '-c', 'read -P 0 12M 1M', iscsi(1)]);
    expect(w.code, w.stderr + w.stdout).toBe(0);
    expect(w.stdout).not.toMatch(/verification failed/);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xa5 512k 3M', '-c', 'read -P 0 0 512k', nbd('vol1')]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/verification failed/);
    const info = await run('nbdinfo', ['--json', nbd('vol1')], { timeoutMs: 20_000 });
    expect(info.code, info.stderr).toBe(0);
    expect((JSON.parse(info.stdout) as { exports: Array<{ 'export-size': number }> }).exports[0]!['export-size']).toBe(48 * MiB);
    const info2 = await run('nbdinfo', ['--size', nbd('vol2')], { timeoutMs: 20_000 });
    expect(info2.stdout.trim()).toBe(String(16 * MiB));
    const w2 = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x3c 15M 1M', '-c', 'read -P 0x3c 15M 1M', nbd('vol2')]);
    expect(w2.code, w2.stderr + w2.stdout).toBe(0);
  });

  it('keeps serving without an error when the leader of the chunk being written is killed', async () => {
    const admin = new MdsClient([mdsAddr], { callTimeoutMs: 2000 });
    const seg = await admin.getSegment({ name: 'vol1', offsetBytes: 8 * MiB, allocate: true });
    const [cs] = await admin.getCopysets([seg!.chunks[0]!.copysetId]);
    admin.close();
    const leaderAddr = cs!.members.find((m) => m.id === cs!.leaderId)!.address;
    const victim = cluster!.chunkservers.find((c) => c.address === leaderAddr)!;
    expect(victim).toBeDefined();
    const iscsi = `iscsi://127.0.0.1:${daemon!.iscsiPort}/iqn.2024-01.org.blockgate:chunk/1`;
    // Rewrite the range many times; the leader dies while these are in flight.
    const cmds = Array.from({ length: 12 }, (_, i) => ['-c', `write -P ${i % 2 ? '0x11' : '0x5e'} 8M 6M`]).flat();
    const load = run('qemu-io', ['-f', 'raw', ...cmds, '-c', 'read -P 0x11 8M 6M', '-c', 'read -P 0xa5 512k 3M', iscsi], { timeoutMs: 90_000 });
    await new Promise((r) => setTimeout(r, 300));
    victim.proc.kill('SIGKILL');
    await new Promise((r) => victim.proc.once('exit', r));
    const w = await load;
    expect(w.code, w.stderr + w.stdout).toBe(0);
    expect(w.stdout).not.toMatch(/verification failed|error/i);
    expect(w.stdout.match(/^wrote 6291456\/6291456 bytes/gm)).toHaveLength(12);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x11 8M 6M', `nbd://127.0.0.1:${daemon!.nbdPort}/vol1`]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/verification failed/);
    // The chunk client's retries and its move to the new leader reach the daemon's metrics.
    const metrics = await (await fetch(daemon!.metricsUrl!)).text();
    const value = (name: string): number =>
      Number(new RegExp(`^${name}\\{target="iqn\\.2024-01\\.org\\.blockgate:chunk",lun="1"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? -1);
    expect(value('blockgate_backend_retries_total'), metrics).toBeGreaterThan(0);
    expect(value('blockgate_backend_failovers_total')).toBeGreaterThan(0);
    expect(value('blockgate_backend_failovers_total')).toBeLessThanOrEqual(value('blockgate_backend_retries_total'));
  });
});
