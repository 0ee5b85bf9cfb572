/**
 * A LUN whose device cannot discard (the chunk backend: canDiscard false)
 * must not advertise logical block provisioning even when the LUN is
 * configured thin: initiators (libiscsi's iscsi-test-cu, Linux) then skip
 * UNMAP instead of sending commands that would fail (SBC-4 §4.7.3).
 */
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../../backends/memory/device.js';
import { defaultLunParams, LocalTarget, Lun, PlainCounters } from '../../../src/worker/local-target.js';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { ScsiTargetDevice } from '../../../targets/scsi/index.js';
import { BS, cdb10, cdb16, exec, rig, sense, type Rig } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'scsi-nodiscard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function noDiscardRig(): Rig {
  const counters = new PlainCounters();
  const target = new LocalTarget(1, 'iqn.test:tgt', pino({ level: 'silent' }), counters, () => undefined);
  const mem = new MemoryDevice({ sizeBytes: 2048 * BS, blockSize: BS });
  Object.defineProperty(mem, 'info', { value: { ...mem.info, canDiscard: false } });
  target.addLun(new Lun(0, mem, defaultLunParams('SER0001', { thinProvisioning: true }), counters, dir));
  return { target, dev: new ScsiTargetDevice(target, { abortTasks: () => undefined }), mem, stateDir: dir, aborted: [] };
}

describe('thin LUN on a device that cannot discard', () => {
  it('READ CAPACITY(16) has LBPME = LBPRZ = 0; the LBP VPD page offers no unmap method', async () => {
    const r = noDiscardRig();
    const rc = (await exec(r, cdb16(0x9e, 0n, 32, 0x10))).dataIn!;
    expect(rc[14]! & 0xc0).toBe(0);
    const lbp = (await exec(r, [0x12, 1, 0xb2, 0, 64, 0])).dataIn!;
    expect(lbp[1]).toBe(0xb2);
    expect(lbp[5]! & 0xe0).toBe(0); // LBPU, LBPWS, LBPWS10
    expect(lbp[6]! & 0x07).toBe(0); // PROVISIONING TYPE: full
    const limits = (await exec(r, [0x12, 1, 0xb0, 0, 64, 0])).dataIn!;
    expect(limits.readUInt32BE(20)).toBe(0); // MAXIMUM UNMAP LBA COUNT
  });

  it('UNMAP and WRITE SAME with UNMAP are refused; plain WRITE SAME and GET LBA STATUS work', async () => {
    const r = noDiscardRig();
    const p = Buffer.alloc(24);
    p.writeUInt16BE(22, 0);
    p.writeUInt16BE(16, 2);
    p.writeUInt32BE(8, 16);
    const unmap = sense(await exec(r, [0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], { dataOut: p }));
    expect([unmap.key, unmap.asc]).toEqual([SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_OPERATION_CODE]);
    const ws = sense(await exec(r, cdb10(0x41, 0, 8, 0x08), { dataOut: Buffer.alloc(BS) }));
    expect([ws.key, ws.asc]).toEqual([SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB]);
    expect((await exec(r, cdb10(0x41, 16, 8), { dataOut: Buffer.alloc(BS, 0x5a) })).status).toBe(0);
    expect((await exec(r, cdb10(0x28, 16, 8))).dataIn!.every((b) => b === 0x5a)).toBe(true);
    const c = cdb16(0x9e, 100n, 0, 0x12);
    c.writeUInt32BE(24, 10);
    const st = (await exec(r, c)).dataIn!;
    expect(st.readBigUInt64BE(8)).toBe(100n);
    expect(st[8 + 12]).toBe(0); // never written, but reported mapped: no deallocated state without LBP
  });

  it('SANITIZE BLOCK ERASE and UNMAP are not offered: not reported, not run, WABEREQ 0', async () => {
    const listed = async (r: Rig): Promise<string[]> => {
      const all = (await exec(r, [0xa3, 0x0c, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0])).dataIn!;
      const out: string[] = [];
      for (let at = 4; at + 8 <= 4 + all.readUInt32BE(0); at += 8) out.push(`${all[at]!.toString(16)}/${all.readUInt16BE(at + 2).toString(16)}`);
      return out;
    };
    const r = noDiscardRig();
    const ops = await listed(r);
    expect(ops).not.toContain('42/0'); // UNMAP
    expect(ops).not.toContain('48/2'); // SANITIZE BLOCK ERASE
    expect(ops).toContain('48/1f'); // EXIT FAILURE MODE stays
    const one = (await exec(r, [0xa3, 0x0c, 2, 0x48, 0, 0x02, 0, 0, 1, 0, 0, 0])).dataIn!;
    expect(one[1]! & 0x07).toBe(1); // SUPPORT 001b: not supported
    await exec(r, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(BS, 0x61) });
    const se = sense(await exec(r, [0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect([se.key, se.asc]).toEqual([SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB]);
    expect((await exec(r, cdb10(0x28, 0, 1))).dataIn!.every((b) => b === 0x61)).toBe(true); // nothing was erased
    const bdc = (await exec(r, [0x12, 1, 0xb1, 0, 64, 0])).dataIn!;
    expect((bdc[7]! >> 6) & 0x03).toBe(0); // WABEREQ
    // The same LUN on a discarding device (the default rig) offers both.
    const thin = rig();
    expect(await listed(thin)).toEqual(expect.arrayContaining(['42/0', '48/2']));
    expect(((await exec(thin, [0x12, 1, 0xb1, 0, 64, 0])).dataIn![7]! >> 6) & 0x03).toBe(1);
  });
});
