/**
 * #12 item 5: a chunk volume's identity is a property of the volume, kept
 * in the MDS store (file store and etcd): generated at create, assigned
 * once (in one commit) to volumes from before it existed, and the same for
 * every MDS that loads the store afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdsCore } from '../../backends/chunk/mds/core.js';
import { EtcdClient } from '../../backends/chunk/mds/etcd-client.js';
import { EtcdStore } from '../../backends/chunk/mds/etcd-store.js';
import { FileStore } from '../../backends/chunk/mds/file-store.js';
import { KEYS, type KvStore } from '../../backends/chunk/mds/store.js';
import { DEFAULT_MDS_CONFIG } from '../../backends/chunk/mds/types.js';
import { createVolume, getVolume } from '../../backends/chunk/mds/volumes.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';

let etcd: EtcdHandle;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-volid-'));
beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A volume record as MDSs before volume identities wrote it. */
function legacyVolume(id: number, name: string): string {
  return JSON.stringify({ id, name, sizeBytes: 1 << 22, segmentSizeBytes: 1 << 22, chunkSizeBytes: 1 << 20, seq: 1, createdAt: '2026-01-01T00:00:00.000Z' });
}

const stores: Array<[string, (n: number) => Promise<KvStore>]> = [
  ['file store', (n) => FileStore.open(path.join(dir, `mds-${n}.json`))],
  ['etcd', async () => new EtcdStore(new EtcdClient([etcd.endpoint]))],
];

describe.each(stores)('volume identity in the %s', (_name, open) => {
  let n = 0;
  it('create gives each volume its own uuid; old volumes get one once, kept by the next MDS', async () => {
    const s = await open(++n);
    await s.commit([{ op: 'deletePrefix', prefix: '/blockgate/' }]);
    await s.commit([
      { op: 'put', key: KEYS.volume('old1'), value: legacyVolume(1, 'old1') },
      { op: 'put', key: KEYS.volume('old2'), value: legacyVolume(2, 'old2') },
      { op: 'put', key: KEYS.counters, value: JSON.stringify({ nextChunkserverId: 1, nextCopysetId: 1, nextVolumeId: 3, nextChunkId: 1 }) },
    ]);
    let commits = 0;
    const counting: KvStore = { get: (k) => s.get(k), list: (p) => s.list(p), commit: (ops) => (commits++, s.commit(ops)), close: () => s.close() };
    const core = await MdsCore.load(counting, DEFAULT_MDS_CONFIG, Date.now());
    expect(commits).toBe(1); // both volumes in one commit
    const u1 = core.volumes.get('old1')!.uuid;
    const u2 = core.volumes.get('old2')!.uuid;
    expect(u1).toMatch(/^[0-9a-f]{32}$/);
    expect(u2).toMatch(/^[0-9a-f]{32}$/);
    expect(u1).not.toBe(u2);
    const made = await createVolume(core, { name: 'fresh', sizeBytes: 1 << 22 }, Date.now());
    expect(made.status).toBe(0);
    const fresh = (made as { volume: { uuid: string } }).volume.uuid;
    expect(fresh).toMatch(/^[0-9a-f]{32}$/);
    expect([u1, u2]).not.toContain(fresh);

    // Another MDS loading the same store sees the same identities and assigns nothing.
    commits = 0;
    const next = await MdsCore.load(counting, DEFAULT_MDS_CONFIG, Date.now());
    expect(commits).toBe(0);
    expect(next.volumes.get('old1')!.uuid).toBe(u1);
    expect((getVolume(next, { name: 'fresh' }) as { volume: { uuid: string } }).volume.uuid).toBe(fresh);
    await s.close();
  });
});
