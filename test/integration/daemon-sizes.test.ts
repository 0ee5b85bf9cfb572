/**
 * bgadm sizes against the running daemon: `--params size=` takes units on
 * LUN creation and on resize (1024-based, as in tgt), and a refused size
 * says why in plain text, not only with --json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bgadm, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

let d: DaemonHandle;
let dir: string;

beforeAll(async () => {
  dir = tempDir('bg-sizes-');
  d = await startDaemon({ dataDir: dir });
  expect((await bgadm(d, ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '2', '-T', 'iqn.2026-12.test:sizes'])).code).toBe(0);
});

afterAll(async () => {
  await d?.stop();
});

interface LunShowJson {
  lun: number;
  sizeBytes: number;
}

async function lunSizes(): Promise<Map<number, number>> {
  const r = await bgadm(d, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const show = (JSON.parse(r.stdout) as { show: { targets: { tid: number; luns: LunShowJson[] }[] } }).show;
  return new Map(show.targets.find((t) => t.tid === 2)!.luns.map((l) => [l.lun, l.sizeBytes]));
}

describe('bgadm sizes with units', () => {
  it('creates LUNs of size=128M, 512M and 10G and reports those sizes', async () => {
    const want: [number, string, number][] = [[1, '128M', 128 * MiB], [2, '512M', 512 * MiB], [3, '10G', 10 * GiB]];
    for (const [lun, size] of want) {
      const r = await bgadm(d, ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', String(lun), '-b', path.join(dir, `lun${lun}.img`), '--params', `size=${size}`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const sizes = await lunSizes();
    for (const [lun, , bytes] of want) {
      expect(sizes.get(lun)).toBe(bytes);
      expect(fs.statSync(path.join(dir, `lun${lun}.img`)).size).toBe(bytes);
    }
    // tgt's show layout prints decimal megabytes, as tgtadm does.
    const text = await bgadm(d, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    expect(text.stdout).toContain('Size: 134 MB');
    expect(text.stdout).toContain('Size: 10737 MB');
  });

  it('resizes with a unit (--op update --params size=256M)', async () => {
    const r = await bgadm(d, ['--lld', 'iscsi', '--op', 'update', '--mode', 'logicalunit', '--tid', '2', '--lun', '1', '--params', 'size=256M']);
    expect(r.code, r.stderr).toBe(0);
    expect((await lunSizes()).get(1)).toBe(256 * MiB);
  });

  it('a refused size says why in plain text and with --json, exit 22', async () => {
    const args = ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '4', '-b', path.join(dir, 'lun4.img'), '--params', 'size=12Q'];
    for (const extra of [[], ['--json']]) {
      const r = await bgadm(d, [...args, ...extra]);
      expect(r.code).toBe(22);
      expect(r.stderr).toBe('bgadm: invalid size "12Q": expected a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)\n');
    }
    expect(fs.existsSync(path.join(dir, 'lun4.img'))).toBe(false);
    // Refused by the daemon (not by bgadm's own checks): the reason is printed too.
    const zero = await bgadm(d, ['--lld', 'iscsi', '--op', 'update', '--mode', 'logicalunit', '--tid', '2', '--lun', '1', '--params', 'size=0']);
    expect(zero.code).toBe(22);
    expect(zero.stderr).toBe('bgadm: invalid request: size: a LUN cannot shrink to 0 bytes\n');
    expect((await lunSizes()).get(1)).toBe(256 * MiB);
  });
});
