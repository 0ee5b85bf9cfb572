/**
 * The README's main command on a fresh data dir: the embedded default target
 * is reachable by real initiators over both protocols, and targets made with
 * bgadm survive a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

const IQN = 'iqn.2026-11.io.blockgate:default';
let daemon: DaemonHandle | undefined;

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

describe('embedded default', () => {
  it('serves one 1 GiB LUN that iscsi-inq, iscsi-readcapacity16 and nbdinfo see', async () => {
    daemon = await startDaemon();
    const inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/1`], { timeoutMs: 20_000 });
    expect(inq.code, inq.stderr).toBe(0);
    expect(inq.stdout).toMatch(/Peripheral Device Type:DIRECT_ACCESS/);
    expect(inq.stdout).toMatch(/Vendor:BLKGATE/);
    const cap = await run('iscsi-readcapacity16', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/1`], { timeoutMs: 20_000 });
    expect(cap.code, cap.stderr).toBe(0);
    expect(cap.stdout).toMatch(/Total size:1073741824/);
    const info = await run('nbdinfo', ['--json', `nbd://127.0.0.1:${daemon.nbdPort}/default`], { timeoutMs: 20_000 });
    expect(info.code, info.stderr).toBe(0);
    const json = JSON.parse(info.stdout) as { exports: { 'export-size': number; is_read_only: boolean }[] };
    expect(json.exports[0]!['export-size']).toBe(1024 ** 3);
    expect(json.exports[0]!.is_read_only).toBe(false);
    expect(fs.existsSync(path.join(daemon.dataDir, 'blockgate.yaml'))).toBe(true);
  });

  it('one device behind both protocols: written over iSCSI, read back over NBD', async () => {
    daemon = await startDaemon();
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 1M 2M', `iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/1`]);
    expect(w.code, w.stderr + w.stdout).toBe(0);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x5a 1M 2M', `nbd://127.0.0.1:${daemon.nbdPort}/default`]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/Pattern verification failed/);
  });

  it('keeps targets made with bgadm across a restart', async () => {
    const dataDir = tempDir();
    daemon = await startDaemon({ dataDir });
    const img = path.join(dataDir, 'extra.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 32 * 1024 * 1024);
    for (const args of [
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '2', '-T', 'iqn.2026-11.io.example:extra'],
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '1', '-b', img],
      ['--lld', 'iscsi', '--op', 'bind', '--mode', 'target', '--tid', '2', '-I', '127.0.0.1'],
      ['--lld', 'iscsi', '--op', 'new', '--mode', 'account', '--user', 'alice', '--password', 'alicesecret12'],
      ['--lld', 'iscsi', '--op', 'bind', '--mode', 'account', '--tid', '2', '--user', 'alice'],
    ]) {
      const r = await bgadm(daemon, args);
      expect(r.code, r.stderr).toBe(0);
    }
    const before = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    await daemon.stop();
    daemon = await startDaemon({ dataDir });
    const after = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    expect(after.stdout).toBe(before.stdout);
    expect(after.stdout).toMatch(/Target 2: iqn.2026-11.io.example:extra/);
    expect(after.stdout).toMatch(/Backing store path: .*extra.img/);
    expect(after.stdout).toMatch(/Account information:\n\s+alice/);
    const inq = await run('iscsi-inq', [`iscsi://alice%alicesecret12@127.0.0.1:${daemon.iscsiPort}/iqn.2026-11.io.example:extra/1`]);
    expect(inq.code, inq.stderr).toBe(0);
  });

  it('refuses a bad config with file, line and reason, and starts nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'targets:\n  - tid: 1\n    name: iqn.x:y\n    lld: iscsi\n    luns:\n      - lun: 99999\n        backingStore: /nonexistent\n        bstype: file\n');
    const r = await run(process.execPath, [path.resolve('dist/src/bin/blockgate.cjs'), '--config', file, '--data-dir', dir, '--admin-socket', path.join(dir, 's'), '--iscsi-portal', '127.0.0.1:0', '--nbd-listen', 'off', '--metrics-listen', 'off'], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}:6`);
    expect(fs.existsSync(path.join(dir, 's'))).toBe(false);
  });
});
