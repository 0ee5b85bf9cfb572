/**
 * nbdcopy, qemu-io, qemu-img and fio against blockgate's NBD front end.
 * NBD_COPY_MIB sets the nbdcopy size (default 64; 512 is the acceptance size).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { runTool } from '../helpers/run-tool.js';

const MiB = 1 << 20;
const COPY_MIB = Number(process.env.NBD_COPY_MIB ?? 64);
let s: Standalone;

beforeAll(async () => {
  s = await startStandalone({
    exports: [
      { name: 'copy', sizeBytes: COPY_MIB * MiB, backend: 'file' },
      { name: 'qemu', sizeBytes: 64 * MiB },
      { name: 'img', sizeBytes: 32 * MiB, backend: 'file' },
      { name: 'fio', sizeBytes: 64 * MiB, backend: 'file' },
    ],
  });
});
afterAll(async () => s.close());

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function randomFile(name: string, bytes: number): string {
  const p = path.join(s.tmpDir, name);
  const fd = fs.openSync(p, 'w');
  for (let done = 0; done < bytes; done += 4 * MiB) fs.writeSync(fd, crypto.randomBytes(Math.min(4 * MiB, bytes - done)));
  fs.closeSync(fd);
  return p;
}

describe('nbdcopy', () => {
  for (const conns of [1, 4]) {
    it(`copies ${COPY_MIB} MiB of random data in and out with ${conns} connection(s)`, async () => {
      const src = randomFile(`src-${conns}`, COPY_MIB * MiB);
      const dst = path.join(s.tmpDir, `dst-${conns}`);
      await runTool('nbdcopy', ['-C', String(conns), '-T', String(conns * 2), src, s.uri('copy')], 300_000);
      await runTool('nbdcopy', ['-C', String(conns), '-T', String(conns * 2), s.uri('copy'), dst], 300_000);
      expect(sha256(dst)).toBe(sha256(src));
      fs.rmSync(src);
      fs.rmSync(dst);
    }, 600_000);
  }
});

describe('qemu', () => {
  it('qemu-io: pattern write/read, discard, write -z, -z -u, flush, FUA writes', async () => {
    const ops = [
      'write -P 0xab 0 1M',
      'read -P 0xab 0 1M',
      'discard 0 64k',
      'read -P 0 0 64k',
      'write -P 0xcd 2M 1M',
      'write -z 2M 512k',
      'read -P 0 2M 512k',
      'read -P 0xcd 2560k 512k',
      'write -P 0xee 4M 1M',
      'write -z -u 4M 1M',
      'read -P 0 4M 1M',
      'flush',
      'write -f -P 0x77 8M 64k',
      'read -P 0x77 8M 64k',
      'aio_write -P 0x55 16M 64k',
      'aio_flush',
      'read -P 0x55 16M 64k',
    ];
    const out = (await runTool('qemu-io', ['-f', 'raw', ...ops.flatMap((o) => ['-c', o]), s.uri('qemu')], 60_000)).stdout;
    expect(out).not.toMatch(/Pattern verification failed|error|failed/i);
    expect(out.match(/^read /gm)?.length).toBe(7);
  });

  it('qemu-img convert into the export and compare', async () => {
    const src = path.join(s.tmpDir, 'src.qcow2');
    await runTool('qemu-img', ['create', '-f', 'qcow2', src, '32M'], 20_000);
    await runTool('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 1M 3M', '-c', 'write -P 0x43 20M 1M', src], 20_000);
    await runTool('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', src, s.uri('img')], 60_000);
    const r = await runTool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', src, s.uri('img')], 60_000);
    expect(r.stdout).toMatch(/Images are identical/);
    const back = path.join(s.tmpDir, 'back.raw');
    await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', s.uri('img'), back], 60_000);
    const buf = fs.readFileSync(back);
    expect(buf.length).toBe(32 * MiB);
    expect(buf.subarray(MiB, 4 * MiB).every((b) => b === 0x42)).toBe(true);
  });
});

describe('fio', () => {
  it('nbd engine random read/write with crc32c verification', async () => {
    const args = [
      '--name=nbdverify',
      '--ioengine=nbd',
      `--uri=${s.uri('fio')}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=16M',
      '--iodepth=16',
      '--verify=crc32c',
      '--do_verify=1',
      '--verify_fatal=1',
      '--verify_state_save=0',
      '--output-format=json',
    ];
    const r = await runTool('fio', args, 120_000);
    const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(16 * MiB);
    expect(job.read.io_bytes).toBe(16 * MiB); // the verify pass read everything back
    const rw = await runTool('fio', [...args.slice(0, 3), '--rw=randrw', '--bs=16k', '--size=16M', '--iodepth=32', '--output-format=json'], 120_000);
    expect(JSON.parse(rw.stdout.slice(rw.stdout.indexOf('{'))).jobs[0].error).toBe(0);
  }, 300_000);
});
