import { describe, expect, it } from 'vitest';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { cdb16, exec, nexus, rig, sense } from './harness.js';

describe('SPC commands', () => {
  it('standard INQUIRY identifies an SPC-4 disk with ALUA and version descriptors', async () => {
    const r = rig();
    const res = await exec(r, [0x12, 0, 0, 1, 4, 0]);
    const d = res.dataIn!;
    expect(d[0]).toBe(0);
    expect(d[2]).toBe(6);
    expect(d[3]! & 0x0f).toBe(2);
    expect(d[5]! & 0x30).toBe(0x10);
    expect(d[4]).toBe(d.length - 5);
    expect(d.subarray(8, 16).toString('latin1').trim()).toBe('BLKGATE');
    const versions = [0, 1, 2, 3].map((i) => d.readUInt16BE(58 + 2 * i));
    expect(versions).toContain(0x04c0);
  });

  it('INQUIRY: page code without EVPD is invalid; unknown VPD is invalid', async () => {
    const r = rig();
    expect(sense(await exec(r, [0x12, 0, 1, 1, 0, 0])).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    expect(sense(await exec(r, [0x12, 1, 0x42, 1, 0, 0])).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
  });

  it('every supported VPD page is served, in ascending order', async () => {
    const r = rig();
    const sup = (await exec(r, [0x12, 1, 0, 0, 255, 0])).dataIn!;
    const pages = [...sup.subarray(4, 4 + sup.readUInt16BE(2))];
    expect(pages).toEqual([...pages].sort((a, b) => a - b));
    expect(pages).toEqual(expect.arrayContaining([0x80, 0x83, 0xb0, 0xb1, 0xb2]));
    for (const p of pages) {
      const res = await exec(r, [0x12, 1, p, 0, 255, 0]);
      expect(res.status).toBe(0);
      expect(res.dataIn![1]).toBe(p);
    }
    const bl = (await exec(r, [0x12, 1, 0xb0, 0, 255, 0])).dataIn!;
    expect(bl.readUInt16BE(2)).toBe(0x3c);
    expect(bl.readUInt32BE(20)).toBeGreaterThan(0); // MAXIMUM UNMAP LBA COUNT
    const lbp = (await exec(r, [0x12, 1, 0xb2, 0, 255, 0])).dataIn!;
    expect(lbp[5]! & 0xe0).toBe(0xe0);
    const di = (await exec(r, [0x12, 1, 0x83, 0, 255, 0])).dataIn!;
    expect(di[4 + 1]! & 0x0f).toBe(3); // first designator: NAA
    expect(di[4 + 4]! >> 4).toBe(6);
  });

  it('a missing LUN answers INQUIRY with qualifier 011b and other commands with LUN NOT SUPPORTED', async () => {
    const r = rig();
    const inq = await exec(r, [0x12, 0, 0, 0, 96, 0], { lun: 5 });
    expect(inq.dataIn![0]).toBe(0x7f);
    expect(sense(await exec(r, [0, 0, 0, 0, 0, 0], { lun: 5 })).asc).toBe(ASC.LUN_NOT_SUPPORTED);
    const rl = await exec(r, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { lun: 5 });
    expect(rl.dataIn!.readUInt32BE(0)).toBe(8);
  });

  it('unknown opcodes give INVALID COMMAND OPERATION CODE', async () => {
    const r = rig();
    expect(sense(await exec(r, [0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).asc).toBe(ASC.INVALID_OPERATION_CODE);
  });

  it('new nexus gets POWER ON UA once; INQUIRY neither reports nor clears it', async () => {
    const r = rig();
    const n = nexus(3);
    r.dev.addNexus(n);
    expect((await exec(r, [0x12, 0, 0, 0, 96, 0], { nexus: n })).status).toBe(0);
    const tur = await exec(r, [0, 0, 0, 0, 0, 0], { nexus: n });
    expect(sense(tur)).toMatchObject({ key: SENSE_KEY.UNIT_ATTENTION, asc: ASC.POWER_ON_RESET });
    expect((await exec(r, [0, 0, 0, 0, 0, 0], { nexus: n })).status).toBe(0);
  });

  it('REQUEST SENSE returns and clears a pending UA', async () => {
    const r = rig();
    const n = nexus(4);
    r.dev.addNexus(n);
    r.dev.lunChanged({ kind: 'resized', lun: 0 });
    const rs = await exec(r, [0x03, 0, 0, 0, 252, 0], { nexus: n });
    expect(rs.status).toBe(0);
    expect(rs.dataIn![12]).toBe(0x29);
    const rs2 = await exec(r, [0x03, 0, 0, 0, 252, 0], { nexus: n });
    expect(rs2.dataIn![12]).toBe(0x2a);
    expect(rs2.dataIn![13]).toBe(0x09);
  });

  it('MODE SELECT of D_SENSE switches to descriptor sense and tells other nexuses', async () => {
    const r = rig();
    const other = nexus(9);
    r.dev.addNexus(other);
    await exec(r, [0x03, 0, 0, 0, 252, 0], { nexus: other });
    const cur = (await exec(r, [0x1a, 0x08, 0x0a, 0, 255, 0])).dataIn!;
    const page = Buffer.from(cur.subarray(4));
    page[2]! |= 0x04;
    const param = Buffer.concat([Buffer.alloc(4), page]);
    expect((await exec(r, [0x15, 0x10, 0, 0, param.length, 0], { dataOut: param })).status).toBe(0);
    const bad = await exec(r, cdb16(0x88, 0xffffffffffffffffn, 1));
    expect(bad.sense![0]).toBe(0x72);
    expect(sense(bad).asc).toBe(ASC.LBA_OUT_OF_RANGE);
    expect(sense(await exec(r, [0, 0, 0, 0, 0, 0], { nexus: other })).asc).toBe(ASC.MODE_PARAMETERS_CHANGED);
    // A non-changeable bit is refused.
    page[3] = 0x00;
    const p2 = Buffer.concat([Buffer.alloc(4), page]);
    expect(sense(await exec(r, [0x15, 0x10, 0, 0, p2.length, 0], { dataOut: p2 })).asc).toBe(ASC.INVALID_FIELD_IN_PARAMETER_LIST);
  });

  it('SWP makes the LUN write protected', async () => {
    const r = rig();
    const chg = (await exec(r, [0x1a, 0x08, 0x4a, 0, 255, 0])).dataIn!;
    expect(chg[4 + 4]! & 0x08).toBe(0x08);
    const page = Buffer.from((await exec(r, [0x1a, 0x08, 0x0a, 0, 255, 0])).dataIn!.subarray(4));
    page[4]! |= 0x08;
    const param = Buffer.concat([Buffer.alloc(4), page]);
    await exec(r, [0x15, 0x10, 0, 0, param.length, 0], { dataOut: param });
    const w = await exec(r, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { dataOut: Buffer.alloc(512) });
    expect(sense(w)).toMatchObject({ key: SENSE_KEY.DATA_PROTECT, asc: ASC.WRITE_PROTECTED });
  });

  it('MODE SENSE(10) with LLBAA returns a long block descriptor; saved values are not supported', async () => {
    const r = rig();
    const ms = (await exec(r, [0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0])).dataIn!;
    expect(ms.readUInt16BE(6)).toBe(16);
    expect(ms.readBigUInt64BE(8)).toBe(2048n);
    expect(sense(await exec(r, [0x1a, 0, 0xc8, 0, 255, 0])).asc).toBe(ASC.SAVING_PARAMETERS_NOT_SUPPORTED);
    expect((await exec(r, [0x1a, 0, 0x3f, 0, 4, 0], { expectedLength: 4 })).dataIn!.length).toBe(4);
  });

  it('READ CAPACITY(16) reports LBPME/LBPRZ for thin LUNs', async () => {
    const r = rig();
    const rc = (await exec(r, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0])).dataIn!;
    expect(rc.readBigUInt64BE(0)).toBe(2047n);
    expect(rc.readUInt32BE(8)).toBe(512);
    expect(rc[14]! & 0xc0).toBe(0xc0);
    const rc10 = (await exec(r, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).dataIn!;
    expect(rc10.readUInt32BE(0)).toBe(2047);
  });

  it('REPORT SUPPORTED OPERATION CODES lists every table row and answers one-command queries', async () => {
    const r = rig();
    const all = (await exec(r, [0xa3, 0x0c, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])).dataIn!;
    const n = all.readUInt32BE(0) / 8;
    expect(n).toBe(r.dev.opcodes.length);
    const one = (await exec(r, [0xa3, 0x0c, 1, 0x28, 0, 0, 0, 1, 0, 0, 0, 0])).dataIn!;
    expect(one[1]! & 7).toBe(3);
    expect(one[4]).toBe(0x28);
    expect(one[5]! & 0x18).toBe(0x18);
    expect(sense(await exec(r, [0xa3, 0x0c, 1, 0x9e, 0, 0x10, 0, 1, 0, 0, 0, 0])).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    const sa = (await exec(r, [0xa3, 0x0c, 2, 0x9e, 0, 0x10, 0, 1, 0, 0, 0, 0])).dataIn!;
    expect(sa[4]).toBe(0x9e);
    const rctd = (await exec(r, [0xa3, 0x0c, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0])).dataIn!;
    expect(rctd.readUInt32BE(0)).toBe(20 * r.dev.opcodes.length);
    expect(rctd.readUInt16BE(12)).toBe(0x0a);
  });

  it('START STOP UNIT ejects a removable medium unless prevented', async () => {
    const r = rig({ params: { removable: true } });
    expect((await exec(r, [0x1e, 0, 0, 0, 1, 0])).status).toBe(0);
    expect(sense(await exec(r, [0x1b, 0, 0, 0, 0x02, 0])).asc).toBe(ASC.MEDIUM_REMOVAL_PREVENTED);
    await exec(r, [0x1e, 0, 0, 0, 0, 0]);
    expect((await exec(r, [0x1b, 0, 0, 0, 0x02, 0])).status).toBe(0);
    expect(sense(await exec(r, [0, 0, 0, 0, 0, 0]))).toMatchObject({ key: SENSE_KEY.NOT_READY, asc: ASC.MEDIUM_NOT_PRESENT });
    expect(sense(await exec(r, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).asc).toBe(ASC.MEDIUM_NOT_PRESENT);
    await exec(r, [0x1b, 0, 0, 0, 0x03, 0]);
    expect((await exec(r, [0, 0, 0, 0, 0, 0])).status).toBe(0);
  });

  it('REPORT TARGET PORT GROUPS reports one active/optimized group', async () => {
    const r = rig();
    const d = (await exec(r, [0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])).dataIn!;
    expect(d.readUInt32BE(0)).toBe(12);
    expect(d[4]! & 0x0f).toBe(0);
    expect(d.readUInt16BE(6)).toBe(1);
  });
});
