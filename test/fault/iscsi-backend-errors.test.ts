/**
 * Bad input and a failing backend get a clear SCSI error and lose nothing,
 * through the real daemon:
 * - LUN 1: writes fail while a trigger file exists (`error-file`, `error-write=EIO`):
 *   MEDIUM ERROR / WRITE ERROR, earlier data intact, writes work again after;
 * - LUN 2: every read fails (`error-read=EIO@1`): MEDIUM ERROR / UNRECOVERED READ ERROR;
 *   qemu-io (libiscsi) sees an I/O error too;
 * - out-of-range LBA: ILLEGAL REQUEST / LBA OUT OF RANGE;
 * the daemon keeps serving throughout (a new session and iscsi-inq work).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { Cdb, RawInitiator, senseOf } from '../helpers/iscsi-initiator.js';

const TARGET = 'iqn.2026-11.io.blockgate:faulty';
const BS = 512;
let daemon: DaemonHandle;
let trigger: string;

beforeAll(async () => {
  const dir = tempDir('bg-fault-');
  trigger = path.join(dir, 'broken');
  const lun = (n: number, bsopts: string) =>
    `      - lun: ${n}\n        bstype: file\n        backingStore: ${path.join(dir, `l${n}.img`)}\n        sizeBytes: 8MiB\n        bsopts: "${bsopts}"\n`;
  const cfg = path.join(dir, 'faulty.yaml');
  fs.writeFileSync(cfg, `targets:\n  - tid: 1\n    name: ${TARGET}\n    luns:\n${lun(1, `error-write=EIO,error-file=${trigger}`)}${lun(2, 'error-read=EIO@1')}`);
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

async function session(name: string): Promise<RawInitiator> {
  const ini = await RawInitiator.connect(daemon.iscsiPort!);
  expect(await ini.login({ initiatorName: `iqn.2026-11.test:${name}`, targetName: TARGET })).toBe(0);
  for (const lun of [1, 2]) await ini.command(Cdb.testUnitReady(), { lun }).done; // POWER ON unit attentions
  return ini;
}

const block = (v: number, n = 8): Buffer => Buffer.alloc(n * BS, v);

describe('backend errors and bad input through the daemon', () => {
  test('a vanished backend: MEDIUM ERROR / WRITE ERROR, nothing lost, recovers', async () => {
    const ini = await session('fault');
    expect((await ini.command(Cdb.write10(16, 8), { lun: 1, dataOut: block(0x11) }).done).status).toBe(0);
    fs.writeFileSync(trigger, '');
    const failed = await ini.command(Cdb.write10(16, 8), { lun: 1, dataOut: block(0x22) }).done;
    expect(failed.status).toBe(0x02);
    expect(senseOf(failed.sense)).toEqual({ key: 0x03, asc: 0x0c00 }); // MEDIUM ERROR / WRITE ERROR
    const rd = await ini.command(Cdb.read10(16, 8), { lun: 1, readLength: 8 * BS }).done;
    expect(rd.status).toBe(0);
    expect(rd.dataIn.equals(block(0x11))).toBe(true); // the failed write changed nothing
    fs.rmSync(trigger);
    expect((await ini.command(Cdb.write10(16, 8), { lun: 1, dataOut: block(0x33) }).done).status).toBe(0);
    expect((await ini.command(Cdb.read10(16, 8), { lun: 1, readLength: 8 * BS }).done).dataIn.equals(block(0x33))).toBe(true);
    ini.close();
  }, 20_000);

  test('failing reads: MEDIUM ERROR / UNRECOVERED READ ERROR; qemu-io reports an I/O error', async () => {
    const ini = await session('fault-read');
    const rd = await ini.command(Cdb.read10(0, 8), { lun: 2, readLength: 8 * BS }).done;
    expect(rd.status).toBe(0x02);
    expect(senseOf(rd.sense)).toEqual({ key: 0x03, asc: 0x1100 });
    ini.close();
    const q = await run('qemu-io', ['-f', 'raw', '-r', '-c', 'read 0 4k', `iscsi://127.0.0.1:${daemon.iscsiPort}/${TARGET}/2`], { timeoutMs: 30_000 });
    expect(`${q.stdout}${q.stderr}`).toMatch(/Input\/output error|I\/O error/i);
  }, 40_000);

  test('out-of-range LBA and oversized transfer: ILLEGAL REQUEST / LBA OUT OF RANGE', async () => {
    const ini = await session('bad-input');
    const blocks = (8 * 1024 * 1024) / BS;
    const beyond = await ini.command(Cdb.read10(blocks, 1), { lun: 1, readLength: BS }).done;
    expect(senseOf(beyond.sense)).toEqual({ key: 0x05, asc: 0x2100 });
    const across = await ini.command(Cdb.write10(blocks - 4, 8), { lun: 1, dataOut: block(0x44) }).done;
    expect(senseOf(across.sense)).toEqual({ key: 0x05, asc: 0x2100 });
    ini.close();
  }, 20_000);

  test('the daemon kept serving: new session, iscsi-inq, warn line for the fault LUNs', async () => {
    const ini = await session('after');
    expect((await ini.command(Cdb.read10(0, 1), { lun: 1, readLength: BS }).done).status).toBe(0);
    ini.close();
    const inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${TARGET}/1`], { timeoutMs: 20_000 });
    expect(inq.code, inq.stderr).toBe(0);
    expect(daemon.proc.exitCode).toBeNull();
    expect(daemon.logs.join('')).toContain('fault injection enabled on this LUN');
  }, 30_000);
});
