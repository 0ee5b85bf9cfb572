/**
 * Real NBD peers against a LUN on the replicated chunk backend (MDS + three
 * chunkserver processes, the daemon from dist/): nbdinfo --json (size and
 * truthful flags: a chunk volume cannot discard, so no NBD_FLAG_SEND_TRIM),
 * nbdcopy of 128 MiB of random data in and out with 1 and 4 connections,
 * qemu-io patterns with flush, FUA and write -z, and fio's nbd engine with
 * crc32c verification.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChunkCluster, type ChunkCluster } from '../helpers/chunk-procs.js';
import { startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { runTool } from '../helpers/run-tool.js';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const COPY = 128 * MiB;
const dir = tempDir('bg-chunk-nbd-');
let cluster: ChunkCluster | undefined;
let daemon: DaemonHandle | undefined;
let uri = '';

function writeConfig(mdsAddr: string): string {
  const text = `targets:
  - tid: 1
    name: iqn.2026-11.io.blockgate:chunk-nbd
    luns:
      - lun: 1
        bstype: chunk
        backingStore: nbdvol
        bsopts: mds=${mdsAddr};timeout=30
        sizeBytes: ${SIZE}
        thinProvisioning: true
        nbdExport: chunk
`;
  const file = path.join(dir, 'chunk-nbd.yaml');
  fs.writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  cluster = await startChunkCluster({ dir });
  daemon = await startDaemon({ dataDir: path.join(dir, 'daemon'), args: ['--config', writeConfig(cluster.mdsAddr)], iscsi: false });
  uri = `nbd://127.0.0.1:${daemon.nbdPort}/chunk`;
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function sha256Of(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function sha256(file: string): string {
  return sha256Of(fs.readFileSync(file));
}

function randomFile(name: string, bytes: number): string {
  const p = path.join(dir, name);
  const fd = fs.openSync(p, 'w');
  for (let done = 0; done < bytes; done += 4 * MiB) fs.writeSync(fd, crypto.randomBytes(Math.min(4 * MiB, bytes - done)));
  fs.closeSync(fd);
  return p;
}

describe('NBD peers on a chunk-backed LUN', () => {
  it('nbdinfo --json: size and flags as the chunk device really is (no trim, thin LUN or not)', async () => {
    const j = JSON.parse((await runTool('nbdinfo', ['--json', uri], 20_000)).stdout);
    const e = j.exports[0];
    expect(e['export-name']).toBe('chunk');
    expect(e['export-size']).toBe(SIZE);
    expect(e.is_read_only).toBe(false);
    expect(e.can_trim).toBe(false); // canDiscard is false: never advertise what would be a no-op
    for (const k of ['can_flush', 'can_fua', 'can_zero', 'can_multi_conn', 'can_df']) expect(e[k], k).toBe(true);
    expect(e.contexts).toContain('base:allocation');
    expect([e.block_size_minimum, e.block_size_preferred]).toEqual([512, 4096]);
  });

  for (const conns of [1, 4]) {
    it(`nbdcopy: 128 MiB of random data in and out with ${conns} connection(s)`, async () => {
      const src = randomFile(`src-${conns}`, COPY);
      const dst = path.join(dir, `dst-${conns}`);
      await runTool('nbdcopy', ['-C', String(conns), '-T', String(conns * 2), src, uri], 300_000);
      await runTool('nbdcopy', ['-C', String(conns), '-T', String(conns * 2), uri, dst], 300_000);
      // nbdcopy 1.14 has no --length: the whole 256 MiB export comes back; beyond the copy it is never-written space.
      expect(fs.statSync(dst).size).toBe(SIZE);
      const back = fs.readFileSync(dst);
      expect(sha256Of(back.subarray(0, COPY))).toBe(sha256(src));
      if (conns === 1) expect(back.subarray(COPY).every((b) => b === 0)).toBe(true);
      fs.rmSync(src);
      fs.rmSync(dst);
    }, 600_000);
  }

  it('qemu-io: patterns across chunk and segment boundaries, flush, FUA, write -z, aio', async () => {
    const ops = [
      'write -P 0xab 7M 2M', // crosses the 8 MiB segment boundary
      'read -P 0xab 7M 2M',
      'write -P 0xcd 150M 1M',
      'write -z 150M 512k',
      'read -P 0 150M 512k',
      'read -P 0xcd 154112k 512k',
      'write -z 200M 4M', // never allocated: stays a hole
      'read -P 0 200M 4M',
      'flush',
      'write -f -P 0x77 255M 64k',
      'read -P 0x77 255M 64k',
      'aio_write -P 0x55 160M 64k',
      'aio_flush',
      'read -P 0x55 160M 64k',
    ];
    const out = (await runTool('qemu-io', ['-f', 'raw', ...ops.flatMap((o) => ['-c', o]), uri], 120_000)).stdout;
    expect(out).not.toMatch(/Pattern verification failed|error|failed/i);
    expect(out.match(/^read /gm)?.length).toBe(6);
  });

  it('fio nbd engine: random writes verified with crc32c, then mixed random I/O', async () => {
    const args = [
      '--name=chunkverify', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bs=4k', '--offset=64M', '--size=16M', '--iodepth=16',
      '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--output-format=json',
    ];
    const r = await runTool('fio', args, 240_000);
    const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(16 * MiB);
    expect(job.read.io_bytes).toBe(16 * MiB); // the verify pass read everything back
    const rw = await runTool('fio', [...args.slice(0, 3), '--rw=randrw', '--bs=16k', '--offset=64M', '--size=16M', '--iodepth=32', '--output-format=json'], 240_000);
    expect(JSON.parse(rw.stdout.slice(rw.stdout.indexOf('{'))).jobs[0].error).toBe(0);
  }, 600_000);
});
