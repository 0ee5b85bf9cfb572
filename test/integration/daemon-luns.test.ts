/**
 * LUN behaviour through the daemon: IPv6 portals, read-only LUNs on both
 * protocols, and a size change that initiators see.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

let daemon: DaemonHandle | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

const IQN = 'iqn.2026-11.io.blockgate:luns';

function config(dir: string, extraLun = ''): string {
  const file = path.join(dir, 'luns.yaml');
  fs.writeFileSync(file, [
    'targets:',
    `  - tid: 1`,
    `    name: ${IQN}`,
    '    lld: iscsi',
    '    acl: { addresses: [ALL], names: [] }',
    '    luns:',
    '      - lun: 1',
    `        backingStore: ${path.join(dir, 'rw.img')}`,
    '        bstype: file',
    '        sizeBytes: 16777216',
    '        nbdExport: rw',
    '      - lun: 2',
    `        backingStore: ${path.join(dir, 'ro.img')}`,
    '        bstype: file',
    '        sizeBytes: 16777216',
    '        readOnly: true',
    '        nbdExport: ro',
    extraLun,
    '',
  ].join('\n'));
  return file;
}

describe('LUNs through the daemon', () => {
  it('listens on IPv6 portals for both protocols', async () => {
    const dir = tempDir('bg-v6-');
    daemon = await startDaemon({ dataDir: dir, iscsi: '[::1]:0', nbd: '[::1]:0', args: ['--config', config(dir)] });
    const inq = await run('iscsi-inq', [`iscsi://[::1]:${daemon.iscsiPort}/${IQN}/1`]);
    expect(inq.code, inq.stderr).toBe(0);
    const info = await run('nbdinfo', ['--size', `nbd://[::1]:${daemon.nbdPort}/rw`]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout.trim()).toBe('16777216');
  });

  it('a read-only LUN refuses writes on both protocols and still reads', async () => {
    const dir = tempDir('bg-ro-');
    daemon = await startDaemon({ dataDir: dir, args: ['--config', config(dir)] });
    const info = await run('nbdinfo', ['--json', `nbd://127.0.0.1:${daemon.nbdPort}/ro`]);
    expect(JSON.parse(info.stdout).exports[0].is_read_only).toBe(true);
    const nbdWrite = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 1 0 4k', `nbd://127.0.0.1:${daemon.nbdPort}/ro`]);
    expect(nbdWrite.code).not.toBe(0);
    expect(nbdWrite.stderr).toMatch(/Permission denied/); // the export is advertised read-only
    const iscsiWrite = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 1 0 4k', `iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/2`]);
    expect(iscsiWrite.code).not.toBe(0);
    expect(iscsiWrite.stderr).toMatch(/LUN is write protected/); // MODE SENSE WP bit
    const read = await run('qemu-io', ['-f', 'raw', '-r', '-c', 'read -P 0 0 64k', `iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/2`]);
    expect(read.code, read.stderr).toBe(0);
  });

  it('growing a LUN with bgadm is seen by new and existing initiators', async () => {
    const dir = tempDir('bg-resize-');
    daemon = await startDaemon({ dataDir: dir, args: ['--config', config(dir)] });
    const url = `iscsi://127.0.0.1:${daemon.iscsiPort}/${IQN}/1`;
    const before = await run('iscsi-readcapacity16', [url]);
    expect(before.stdout).toMatch(/Total size:16777216/);
    const r = await bgadm(daemon, ['--op', 'update', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '--params', 'size=33554432']);
    expect(r.code, r.stderr).toBe(0);
    const after = await run('iscsi-readcapacity16', [url]);
    expect(after.stdout).toMatch(/Total size:33554432/);
    const nbd = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${daemon.nbdPort}/rw`]);
    expect(nbd.stdout.trim()).toBe('33554432');
    const show = await bgadm(daemon, ['--op', 'show', '--mode', 'target']);
    expect(show.stdout).toMatch(/LUN: 1\n\s+Type: disk[\s\S]*?Size: 34 MB/);
  });
});
