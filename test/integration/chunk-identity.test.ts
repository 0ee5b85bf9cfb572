/**
 * #12 item 5: a chunk volume's SCSI identity belongs to the volume (its MDS
 * record), so two gateways exporting it report the same VPD 0x80/0x83 —
 * what multipath needs to see one disk through both — while each gateway's
 * file LUNs keep identities of their own. Bounded: one small cluster, two
 * daemons, a handful of INQUIRYs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startChunkCluster, type ChunkCluster } from '../helpers/chunk-procs.js';
import { BLOCKGATE, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { identity } from '../helpers/scsi-identity.js';

const MiB = 1024 * 1024;
const IQN = 'iqn.2026-11.io.blockgate:chunk-id';
const dir = tempDir('bg-chunk-id-');
let cluster: ChunkCluster | undefined;
const daemons: DaemonHandle[] = [];

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(name: string, mds: string): string {
  const sub = path.join(dir, name);
  fs.mkdirSync(sub, { recursive: true });
  const file = path.join(sub, 'cfg.yaml');
  fs.writeFileSync(file, [
    'targets:',
    `  - { tid: 1, name: ${IQN}, lld: iscsi, acl: { addresses: [ALL], names: [] },`,
    '      luns: [',
    `        { lun: 1, bstype: chunk, backingStore: idvol, bsopts: "mds=${mds}", sizeBytes: ${16 * MiB} },`,
    `        { lun: 2, bstype: file, backingStore: ${path.join(sub, 'f.img')}, sizeBytes: ${4 * MiB} } ] }`,
    '',
  ].join('\n'));
  return file;
}

describe('chunk volume identity (#12 item 5)', () => {
  it('two gateways exporting one volume report the same identity, taken from the MDS', async () => {
    cluster = await startChunkCluster({ dir, mdsConfig: { segmentSizeBytes: 4 * MiB, chunkSizeBytes: MiB } });
    for (const name of ['gw1', 'gw2']) {
      daemons.push(await startDaemon({ dataDir: path.join(dir, name), args: ['--config', config(name, cluster.mdsAddr)], nbd: false }));
    }
    const [a, b] = daemons as [DaemonHandle, DaemonHandle];
    const volA = await identity(a, IQN, 1);
    const volB = await identity(b, IQN, 1);
    expect(volA.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(volB).toEqual(volA);
    const list = await run(process.execPath, [BLOCKGATE, 'volume', 'list', '--mds', cluster.mdsAddr], { timeoutMs: 20_000 });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^idvol\\s.*\\s${volA.serial}$`, 'm'));
    // The file LUNs behind the same tid/LUN numbers are different disks.
    const fileA = await identity(a, IQN, 2);
    const fileB = await identity(b, IQN, 2);
    expect(fileA.naa).not.toBe(fileB.naa);
    expect(fileA.naa).not.toBe(volA.naa);
    // The chunk LUN's saved config carries no id of its own: the volume's is the identity.
    expect(fs.readFileSync(path.join(dir, 'gw1', 'cfg.yaml'), 'utf8').match(/uuid:/g)?.length).toBe(1);
  }, 120_000);
});
