/**
 * qemu (libiscsi) writes 1 GiB of verified patterns through the daemon and
 * reads them back, in 4 MiB requests against a target whose MaxBurstLength
 * is 256 KiB: every write needs 16 R2T bursts, every read 16 Data-In
 * sequences. Each 64 MiB region has its own pattern byte, so a request
 * landing at the wrong offset fails `read -P`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

const TARGET = 'iqn.2026-11.io.blockgate:qemu1g';
const GIB = 1024 * 1024 * 1024;
const REQ = 4 * 1024 * 1024;
const REGION = 64 * 1024 * 1024;
let daemon: DaemonHandle;
let image: string;

beforeAll(async () => {
  const dir = tempDir('bg-qemu1g-');
  image = path.join(dir, 'big.img');
  const cfg = path.join(dir, 'qemu.yaml');
  fs.writeFileSync(
    cfg,
    `targets:\n  - tid: 1\n    name: ${TARGET}\n    params:\n      MaxBurstLength: "262144"\n      FirstBurstLength: "65536"\n` +
      `    luns:\n      - lun: 1\n        bstype: file\n        backingStore: ${image}\n        sizeBytes: ${GIB}\n`,
  );
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
  fs.rmSync(path.dirname(image), { recursive: true, force: true });
});

function commands(verb: 'write' | 'read'): string[] {
  const out: string[] = [];
  for (let off = 0; off < GIB; off += REQ) out.push('-c', `${verb} -P 0x${(0x10 + Math.floor(off / REGION)).toString(16)} ${off} ${REQ}`);
  return out;
}

describe('qemu-io over libiscsi, 1 GiB, requests larger than MaxBurstLength', () => {
  test('write then read back verified patterns', async () => {
    const url = `iscsi://127.0.0.1:${daemon.iscsiPort}/${TARGET}/1`;
    const w = await run('qemu-io', ['-f', 'raw', ...commands('write'), url], { timeoutMs: 90_000 });
    expect(w.code, `${w.stdout.slice(-1500)}${w.stderr.slice(-1500)}`).toBe(0);
    expect(`${w.stdout}${w.stderr}`).not.toMatch(/error|failed/i);
    expect(w.stdout.match(/wrote 4194304\/4194304 bytes/g)?.length).toBe(GIB / REQ);

    const r = await run('qemu-io', ['-f', 'raw', '-r', ...commands('read'), url], { timeoutMs: 90_000 });
    expect(r.code, `${r.stdout.slice(-1500)}${r.stderr.slice(-1500)}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/Pattern verification failed|error/i);
    expect(r.stdout.match(/read 4194304\/4194304 bytes/g)?.length).toBe(GIB / REQ);

    // The bytes really are on the backing file where qemu put them.
    const fd = fs.openSync(image, 'r');
    const b = Buffer.alloc(16);
    for (const off of [0, REGION - 16, 5 * REGION + 12345, GIB - 16]) {
      fs.readSync(fd, b, 0, 16, off);
      expect(b.every((x) => x === 0x10 + Math.floor(off / REGION)), `offset ${off}`).toBe(true);
    }
    fs.closeSync(fd);
  }, 200_000);
});
