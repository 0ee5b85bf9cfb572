/**
 * Acknowledged durable writes survive the daemon being killed: data written
 * with FUA (iSCSI WRITE with FUA, NBD_CMD_FLAG_FUA) or followed by a flush
 * (SYNCHRONIZE CACHE, NBD_CMD_FLUSH) reads back after `kill -9` and a
 * restart on the same data directory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { T1, writeThreeTargetConfig } from '../helpers/three-targets.js';

let daemon: DaemonHandle | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

describe('kill -9 after acknowledged durable writes', () => {
  it('FUA and flushed writes over both protocols read back after a restart', { timeout: 150_000 }, async () => {
    const dir = tempDir('bg-kill-');
    const config = writeThreeTargetConfig(dir, 64 * 1024 * 1024);
    daemon = await startDaemon({ dataDir: dir, args: ['--config', config], timeoutMs: 60_000 });
    const iscsi = `iscsi://127.0.0.1:${daemon.iscsiPort}/${T1}/1`;
    const nbd = `nbd://127.0.0.1:${daemon.nbdPort}/t1`;
    const a = await run('qemu-io', ['-f', 'raw', '-c', 'write -f -P 0xa1 0 2M', iscsi]); // FUA
    expect(a.code, a.stderr).toBe(0);
    const b = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xb2 2M 2M', '-c', 'flush', iscsi]); // SYNCHRONIZE CACHE
    expect(b.code, b.stderr).toBe(0);
    const c = await run('qemu-io', ['-f', 'raw', '-c', 'write -f -P 0xc3 4M 2M', nbd]); // NBD FUA
    expect(c.code, c.stderr).toBe(0);
    const d = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xd4 6M 2M', '-c', 'flush', nbd]); // NBD_CMD_FLUSH
    expect(d.code, d.stderr).toBe(0);
    await daemon.stop('SIGKILL');
    // A restart on a loaded host can spend seconds reopening LUN files
    // (seen: 13 s for one with 60 % steal while other suites wrote GiBs).
    daemon = await startDaemon({ dataDir: dir, args: ['--config', config], timeoutMs: 60_000 });
    const check = await run('qemu-io', ['-f', 'raw', '-r',
      '-c', 'read -P 0xa1 0 2M', '-c', 'read -P 0xb2 2M 2M', '-c', 'read -P 0xc3 4M 2M', '-c', 'read -P 0xd4 6M 2M',
      `nbd://127.0.0.1:${daemon.nbdPort}/t1`]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).not.toContain('Pattern verification failed');
    expect(check.stdout.match(/^read 2097152\/2097152 bytes/gm)?.length).toBe(4);
  });
});
