import { describe, expect, it } from 'vitest';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { BLOCKS, BS, cdb10, cdb16, exec, nexus, rig, sense } from './harness.js';

describe('READ/WRITE family', () => {
  it('writes and reads back with WRITE(10)/READ(10)', async () => {
    const r = rig();
    const data = Buffer.alloc(2 * BS, 0x5a);
    const w = await exec(r, cdb10(0x2a, 10, 2), { dataOut: data });
    expect(w).toMatchObject({ status: 0, transferLength: 2 * BS });
    const rd = await exec(r, cdb10(0x28, 10, 2));
    expect(rd.status).toBe(0);
    expect(rd.dataIn).toEqual(data);
  });

  it('small READ/WRITE finish synchronously through the device fast path; FUA and large ones return a promise', async () => {
    const r = rig();
    const run = (cdb: number[], dataOut?: Buffer) =>
      r.dev.execute({
        nexus: nexus(1), lun: 0, cdb: Buffer.from(cdb), direction: dataOut ? 'write' : 'read',
        expectedLength: dataOut?.length ?? 128 * BS, dataOut, taskAttr: 'simple', taskTag: 1,
      });
    await exec(r, [0x00, 0, 0, 0, 0, 0]); // TEST UNIT READY: takes the power-on unit attention
    const data = Buffer.alloc(8 * BS, 0x3c);
    const w = run(cdb10(0x2a, 20, 8), data);
    expect(w).not.toBeInstanceOf(Promise);
    expect(w).toMatchObject({ status: 0, transferLength: 8 * BS });
    const rd = run(cdb10(0x28, 20, 8));
    expect(rd).not.toBeInstanceOf(Promise);
    expect((rd as { dataIn?: Buffer }).dataIn).toEqual(data);
    const fua = run(cdb10(0x2a, 20, 8, 0x08), data);
    expect(fua).toBeInstanceOf(Promise);
    expect(await fua).toMatchObject({ status: 0 });
    const big = run(cdb10(0x28, 0, 128)); // 64 KiB: above the fast-path size
    expect(big).toBeInstanceOf(Promise);
    expect((await big).dataIn?.length).toBe(128 * BS);
  });

  it('READ(6) with length 0 transfers 256 blocks', async () => {
    const r = rig();
    const res = await exec(r, [0x08, 0, 0, 0, 0, 0], { expectedLength: 256 * BS });
    expect(res.status).toBe(0);
    expect(res.dataIn?.length).toBe(256 * BS);
  });

  it('rejects LBAs beyond the end with LBA OUT OF RANGE', async () => {
    const r = rig();
    for (const c of [cdb10(0x28, BLOCKS - 1, 2), cdb10(0x28, BLOCKS + 1, 0), cdb16(0x88, 0xffffffffffffffffn, 1), cdb16(0x8a, 1n << 63n, 0)]) {
      const res = await exec(r, c);
      expect(res.status).toBe(2);
      expect(sense(res)).toMatchObject({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.LBA_OUT_OF_RANGE });
    }
  });

  it('rejects RDPROTECT with INVALID FIELD IN CDB and accepts DPO/FUA', async () => {
    const r = rig();
    const bad = await exec(r, cdb10(0x28, 0, 1, 0x20));
    expect(sense(bad).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    expect((await exec(r, cdb10(0x28, 0, 1, 0x18))).status).toBe(0);
    expect((await exec(r, cdb10(0x2a, 0, 1, 0x08), { dataOut: Buffer.alloc(BS) })).status).toBe(0);
  });

  it('truncates data-in to the expected length', async () => {
    const r = rig();
    const res = await exec(r, cdb10(0x28, 0, 4), { expectedLength: 200 });
    expect(res.dataIn?.length).toBe(200);
    expect(res.transferLength).toBe(4 * BS);
  });

  it('writes only the whole blocks received when data-out is short', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 0, 2), { dataOut: Buffer.alloc(2 * BS, 0x61) });
    const w = await exec(r, cdb10(0x2a, 0, 2), { dataOut: Buffer.alloc(BS, 0x62), expectedLength: BS });
    expect(w.status).toBe(0);
    const rd = await exec(r, cdb10(0x28, 0, 2));
    expect(rd.dataIn!.subarray(0, BS).every((b) => b === 0x62)).toBe(true);
    expect(rd.dataIn!.subarray(BS).every((b) => b === 0x61)).toBe(true);
  });

  it('refuses writes to a read-only LUN with DATA PROTECT / WRITE PROTECTED', async () => {
    const r = rig({ params: { readOnly: true } });
    const res = await exec(r, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(BS) });
    expect(sense(res)).toMatchObject({ key: SENSE_KEY.DATA_PROTECT, asc: ASC.WRITE_PROTECTED });
    const ms = await exec(r, [0x1a, 0, 0x3f, 0, 255, 0]);
    expect(ms.dataIn![2]! & 0x80).toBe(0x80);
  });

  it('VERIFY with BYTCHK reports the miscompare offset in INFORMATION', async () => {
    const r = rig();
    const data = Buffer.alloc(4 * BS, 7);
    await exec(r, cdb10(0x2a, 100, 4), { dataOut: data });
    expect((await exec(r, cdb10(0x2f, 100, 4, 0x02), { dataOut: data })).status).toBe(0);
    const bad = Buffer.from(data);
    bad[1000] = 9;
    const res = await exec(r, cdb10(0x2f, 100, 4, 0x02), { dataOut: bad });
    expect(sense(res)).toMatchObject({ key: SENSE_KEY.MISCOMPARE, asc: ASC.MISCOMPARE_DURING_VERIFY, information: 1000n });
    expect((await exec(r, cdb10(0x2f, 100, 4, 0x00))).transferLength).toBe(0);
  });

  it('ORWRITE ORs the data in', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 5, 1), { dataOut: Buffer.alloc(BS, 0x0f) });
    expect((await exec(r, cdb16(0x8b, 5n, 1), { dataOut: Buffer.alloc(BS, 0xf0) })).status).toBe(0);
    const rd = await exec(r, cdb10(0x28, 5, 1));
    expect(rd.dataIn!.every((b) => b === 0xff)).toBe(true);
  });

  it('SYNCHRONIZE CACHE succeeds and validates its range', async () => {
    const r = rig();
    expect((await exec(r, cdb10(0x35, 0, 0))).status).toBe(0);
    expect(sense(await exec(r, cdb10(0x35, BLOCKS + 5, 1))).asc).toBe(ASC.LBA_OUT_OF_RANGE);
  });

  it('maps backend EIO to MEDIUM ERROR', async () => {
    const r = rig();
    r.mem.readNow = () => false; // not in cache: the promise path reports the error
    r.mem.read = async () => {
      throw Object.assign(new Error('boom'), { code: 'EIO' });
    };
    const res = await exec(r, cdb10(0x28, 3, 1));
    expect(sense(res)).toMatchObject({ key: SENSE_KEY.MEDIUM_ERROR, asc: ASC.UNRECOVERED_READ_ERROR, information: 3n });
  });
});
