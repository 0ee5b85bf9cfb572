import { describe, expect, it } from 'vitest';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { naaDesignator } from '../../../targets/scsi/handlers/inquiry.js';
import { BLOCKS, BS, cdb10, cdb16, exec, rig, sense } from './harness.js';

function unmapParam(ranges: Array<[number, number]>): Buffer {
  const p = Buffer.alloc(8 + 16 * ranges.length);
  p.writeUInt16BE(6 + 16 * ranges.length, 0);
  p.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    p.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    p.writeUInt32BE(n, 16 + 16 * i);
  });
  return p;
}

async function lbaStatus(r: ReturnType<typeof rig>, lba: number): Promise<Buffer> {
  const c = cdb16(0x9e, BigInt(lba), 0, 0x12);
  c.writeUInt32BE(24, 10);
  return (await exec(r, c)).dataIn!;
}

describe('provisioning and atomic commands', () => {
  it('UNMAP deallocates; GET LBA STATUS sees it', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 0, 256), { dataOut: Buffer.alloc(256 * BS, 0x61) });
    expect((await lbaStatus(r, 0))[8 + 12]).toBe(0);
    const p = unmapParam([[0, 256]]);
    expect((await exec(r, [0x42, 0, 0, 0, 0, 0, 0, 0, p.length, 0], { dataOut: p })).status).toBe(0);
    const st = await lbaStatus(r, 0);
    expect(st.readBigUInt64BE(8)).toBe(0n);
    expect(st[8 + 12]).toBe(1);
    expect((await exec(r, cdb10(0x28, 0, 1))).dataIn!.every((b) => b === 0)).toBe(true);
  });

  it('UNMAP validates descriptors', async () => {
    const r = rig();
    const oob = unmapParam([[BLOCKS - 1, 2]]);
    expect(sense(await exec(r, [0x42, 0, 0, 0, 0, 0, 0, 0, oob.length, 0], { dataOut: oob })).asc).toBe(ASC.LBA_OUT_OF_RANGE);
    const short = Buffer.alloc(4);
    expect(sense(await exec(r, [0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0], { dataOut: short })).asc).toBe(ASC.PARAMETER_LIST_LENGTH_ERROR);
    const many = unmapParam(Array.from({ length: 257 }, (_, i) => [i, 1] as [number, number]));
    expect(sense(await exec(r, [0x42, 0, 0, 0, 0, 0, 0, (many.length >> 8) & 0xff, many.length & 0xff, 0], { dataOut: many })).asc).toBe(
      ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    );
    expect((await exec(r, [0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0])).status).toBe(0);
  });

  it('GET LBA STATUS asks the device for no more extents than the allocation length can carry', async () => {
    const r = rig();
    const asked: Array<number | undefined> = [];
    const inner = r.mem.blockStatus.bind(r.mem);
    r.mem.blockStatus = (off: number, len: number, max?: number) => {
      asked.push(max);
      return inner(off, len, max);
    };
    await lbaStatus(r, 0); // 24 bytes: the header and one descriptor
    const c = cdb16(0x9e, 0n, 0, 0x12);
    c.writeUInt32BE(8 + 3 * 16, 10);
    await exec(r, c);
    expect(asked).toEqual([1, 3]);
  });

  it('GET LBA STATUS beyond the end is LBA OUT OF RANGE', async () => {
    const r = rig();
    const c = cdb16(0x9e, BigInt(BLOCKS + 1), 0, 0x12);
    c.writeUInt32BE(24, 10);
    expect(sense(await exec(r, c)).asc).toBe(ASC.LBA_OUT_OF_RANGE);
  });

  it('WRITE SAME writes a pattern, unmaps zeroes, checks ANCHOR and data-out size', async () => {
    const r = rig();
    const block = Buffer.alloc(BS, 0x33);
    expect((await exec(r, cdb10(0x41, 10, 8), { dataOut: block })).status).toBe(0);
    const rd = await exec(r, cdb10(0x28, 10, 8));
    expect(rd.dataIn!.every((b) => b === 0x33)).toBe(true);
    expect((await exec(r, cdb10(0x41, 10, 8, 0x08), { dataOut: Buffer.alloc(BS) })).status).toBe(0);
    expect((await exec(r, cdb10(0x28, 10, 8))).dataIn!.every((b) => b === 0)).toBe(true);
    expect(sense(await exec(r, cdb10(0x41, 0, 1, 0x10), { dataOut: Buffer.alloc(BS) })).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    expect(sense(await exec(r, cdb10(0x41, 0, 1), { dataOut: Buffer.alloc(BS / 2) })).key).toBe(SENSE_KEY.ILLEGAL_REQUEST);
    expect(sense(await exec(r, cdb10(0x41, BLOCKS + 1, 0), { dataOut: block })).asc).toBe(ASC.LBA_OUT_OF_RANGE);
    // NUMBER OF LOGICAL BLOCKS 0 runs to the end of the LUN.
    expect((await exec(r, cdb10(0x41, BLOCKS - 4, 0), { dataOut: block })).status).toBe(0);
    expect((await exec(r, cdb10(0x28, BLOCKS - 4, 4))).dataIn!.every((b) => b === 0x33)).toBe(true);
    // NDOB writes zeroes without data-out.
    const ws16 = cdb16(0x93, BigInt(BLOCKS - 4), 4, 0x01);
    expect((await exec(r, ws16)).transferLength).toBe(0);
    expect((await exec(r, cdb10(0x28, BLOCKS - 4, 4))).dataIn!.every((b) => b === 0)).toBe(true);
  });

  it('COMPARE AND WRITE writes on match and reports the miscompare offset otherwise', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 0, 2), { dataOut: Buffer.alloc(2 * BS, 0x41) });
    const caw = cdb16(0x89, 0n, 0);
    caw[13] = 2;
    const good = Buffer.concat([Buffer.alloc(2 * BS, 0x41), Buffer.alloc(2 * BS, 0x42)]);
    expect((await exec(r, caw, { dataOut: good })).status).toBe(0);
    const bad = Buffer.concat([Buffer.alloc(2 * BS, 0x42), Buffer.alloc(2 * BS, 0x43)]);
    bad[BS + 7] = 0x00;
    const res = await exec(r, caw, { dataOut: bad });
    expect(sense(res)).toMatchObject({ key: SENSE_KEY.MISCOMPARE, information: BigInt(BS + 7) });
    expect((await exec(r, cdb10(0x28, 0, 2))).dataIn!.every((b) => b === 0x42)).toBe(true);
    expect(sense(await exec(r, caw, { dataOut: good.subarray(0, 3 * BS) })).key).toBe(SENSE_KEY.ILLEGAL_REQUEST);
  });

  it('COMPARE AND WRITE is atomic against racing writes', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(BS, 0) });
    const caw = cdb16(0x89, 0n, 0);
    caw[13] = 1;
    // 20 CAWs each expecting value v and writing v+1, racing plain writes of other blocks.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, v) => [
        exec(r, caw, { dataOut: Buffer.concat([Buffer.alloc(BS, v), Buffer.alloc(BS, v + 1)]) }),
        exec(r, cdb10(0x2a, 1 + v, 1), { dataOut: Buffer.alloc(BS, 0xee) }),
      ]).flat(),
    );
    expect(results.every((x) => x.status === 0)).toBe(true);
    expect((await exec(r, cdb10(0x28, 0, 1))).dataIn!.every((b) => b === 20)).toBe(true);
  });

  it('EXTENDED COPY copies blocks within the LUN and keeps the copy status', async () => {
    const r = rig();
    await exec(r, cdb10(0x2a, 0, 16), { dataOut: Buffer.alloc(16 * BS, 0x77) });
    const p = Buffer.alloc(16 + 32 + 28);
    p[0] = 1; // LIST ID, usage 00b: hold status
    p.writeUInt16BE(32, 2);
    p.writeUInt32BE(28, 8);
    const t = p.subarray(16, 48);
    t[0] = 0xe4;
    t[4] = 1;
    t[5] = 3;
    t[7] = 16;
    naaDesignator(r.target.lun(0)!.params.naaId).copy(t, 8);
    t.writeUIntBE(BS, 29, 3);
    const s = p.subarray(48);
    s[0] = 0x02;
    s.writeUInt16BE(0x18, 2);
    s.writeUInt16BE(16, 10);
    s.writeBigUInt64BE(0n, 12);
    s.writeBigUInt64BE(1000n, 20);
    const xc = [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, p.length, 0, 0];
    expect(sense(await exec(r, [0x84, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0])).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    expect((await exec(r, xc, { dataOut: p })).status).toBe(0);
    expect((await exec(r, cdb10(0x28, 1000, 16))).dataIn!.every((b) => b === 0x77)).toBe(true);
    const st = await exec(r, [0x84, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
    expect(st.dataIn![4]).toBe(1);
    const trunc = [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, p.length - 1, 0, 0];
    expect(sense(await exec(r, trunc, { dataOut: p.subarray(0, p.length - 1) })).asc).toBe(ASC.PARAMETER_LIST_LENGTH_ERROR);
    s.writeBigUInt64BE(BigInt(BLOCKS - 1), 20);
    expect(sense(await exec(r, xc, { dataOut: p })).key).toBe(SENSE_KEY.COPY_ABORTED);
  });
});
