/**
 * Exact sense and bits for #12 items 9, 11 and 12: EXTENDED COPY service
 * actions, WRITE SAME UNMAP on a read-only LUN, PTPL_A.
 */
import { describe, expect, it } from 'vitest';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { decodeSense } from '../../../targets/scsi/sense.js';
import { BS, cdb10, cdb16, exec, nexus, rig } from './harness.js';

const A = nexus(1);

function fieldPointer(senseBytes: Buffer): { cd: boolean; bit: number | undefined; byte: number } {
  // Fixed format: SKSV in byte 15, C/D bit 6, BPV bit 3, bit pointer 2..0, field pointer bytes 16-17.
  expect(senseBytes[0]! & 0x7f).toBe(0x70);
  expect(senseBytes[15]! & 0x80).toBe(0x80);
  return { cd: (senseBytes[15]! & 0x40) !== 0, bit: senseBytes[15]! & 0x08 ? senseBytes[15]! & 0x07 : undefined, byte: senseBytes.readUInt16BE(16) };
}

describe('EXTENDED COPY service actions (#12 item 9)', () => {
  // 83h: 01h EXTENDED COPY(LID4), 10h POPULATE TOKEN, 11h WRITE USING TOKEN, 1Ch COPY OPERATION ABORT; none implemented.
  for (const sa of [0x01, 0x10, 0x11, 0x1c]) {
    it(`service action ${sa.toString(16)}h is ILLEGAL REQUEST / INVALID FIELD IN CDB, byte 1, and writes nothing`, async () => {
      const r = rig();
      await exec(r, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(BS, 0x11) });
      // A WRITE USING TOKEN parameter list with a random ROD token (sbc4r15 5.53): 512-byte token, one range.
      const p = Buffer.alloc(16 + 512 + 16, 0);
      p.writeUInt16BE(p.length - 2, 0);
      for (let i = 16; i < 16 + 512; i++) p[i] = (i * 37) & 0xff;
      p.writeUInt16BE(16, 16 + 512 + 6); // BLOCK DEVICE RANGE DESCRIPTOR LENGTH: one range (LBA 0, 1 block)
      p.writeUInt32BE(1, 16 + 512 + 16 - 8 + 0);
      const cdb = Buffer.alloc(16);
      cdb[0] = 0x83;
      cdb[1] = sa;
      cdb.writeUInt32BE(p.length, 10);
      const res = await exec(r, cdb, { dataOut: p, nexus: A });
      expect(res.status).toBe(0x02);
      const s = decodeSense(res.sense!);
      expect(s.key).toBe(SENSE_KEY.ILLEGAL_REQUEST);
      expect(s.asc).toBe(ASC.INVALID_FIELD_IN_CDB);
      expect(fieldPointer(res.sense!)).toEqual({ cd: true, bit: 4, byte: 1 });
      const back = await exec(r, cdb10(0x28, 0, 1));
      expect(back.dataIn!.every((b) => b === 0x11)).toBe(true);
    });
  }

  it('EXTENDED COPY(LID1), service action 00h, still runs', async () => {
    const r = rig();
    const cdb = Buffer.alloc(16);
    cdb[0] = 0x83;
    expect((await exec(r, cdb)).status).toBe(0); // parameter list length 0: nothing to do (spc4r37 6.4.1)
  });

  it('REPORT SUPPORTED OPERATION CODES lists 83h with service action 00h only', async () => {
    const r = rig();
    const one = (sa: number) => exec(r, [0xa3, 0x0c, 0x02, 0x83, 0, sa, 0, 0, 1, 0, 0, 0]);
    expect((await one(0)).dataIn![1]! & 0x07).toBe(0x03);
    expect((await one(0x11)).dataIn![1]! & 0x07).toBe(0x01);
  });
});

describe('WRITE SAME with UNMAP on a read-only LUN (#12 item 11)', () => {
  for (const [name, cdb] of [
    ['WRITE SAME(10)', Buffer.from([0x41, 0x08, 0, 0, 0, 0, 0, 0, 8, 0])],
    ['WRITE SAME(16)', cdb16(0x93, 0n, 8, 0x08)],
  ] as const) {
    it(`${name} UNMAP=1 is DATA PROTECT / WRITE PROTECTED (07/27/00)`, async () => {
      const r = rig({ params: { readOnly: true } });
      // A read-only device cannot discard (the file backend opened O_RDONLY says so): thin provisioning is off.
      r.mem.info.canDiscard = false;
      const res = await exec(r, cdb, { dataOut: Buffer.alloc(BS) });
      expect(res.status).toBe(0x02);
      const s = decodeSense(res.sense!);
      expect([s.key, s.asc]).toEqual([SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED]);
      expect(ASC.WRITE_PROTECTED).toBe(0x2700);
    });
  }

  it('a writable LUN without thin provisioning still answers UNMAP=1 with INVALID FIELD IN CDB', async () => {
    const r = rig({ params: { thinProvisioning: false } });
    const res = await exec(r, [0x41, 0x08, 0, 0, 0, 0, 0, 0, 8, 0], { dataOut: Buffer.alloc(BS) });
    expect(decodeSense(res.sense!).key).toBe(SENSE_KEY.ILLEGAL_REQUEST);
    expect(decodeSense(res.sense!).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
  });
});

describe('PTPL_A (#12 item 12)', () => {
  async function capabilities(r: ReturnType<typeof rig>): Promise<Buffer> {
    const res = await exec(r, [0x5e, 0x02, 0, 0, 0, 0, 0, 0, 8, 0], { nexus: A });
    expect(res.status).toBe(0);
    return res.dataIn!;
  }
  async function register(r: ReturnType<typeof rig>, key: bigint, saKey: bigint, aptpl: boolean) {
    const p = Buffer.alloc(24);
    p.writeBigUInt64BE(key, 0);
    p.writeBigUInt64BE(saKey, 8);
    p[20] = aptpl ? 0x01 : 0;
    return exec(r, [0x5f, 0x06, 0, 0, 0, 0, 0, 0, 24, 0], { nexus: A, dataOut: p });
  }

  it('REPORT CAPABILITIES sets PTPL_A exactly while APTPL is active; PTPL_C always', async () => {
    const r = rig();
    let c = await capabilities(r);
    expect(c[2]! & 0x01).toBe(0x01); // PTPL_C
    expect(c[3]! & 0x01).toBe(0); // PTPL_A
    expect((await register(r, 0n, 0x42n, true)).status).toBe(0);
    c = await capabilities(r);
    expect(c[3]! & 0x01).toBe(0x01);
    expect(c[3]! & 0xf0).toBe(0x90); // TMV, ALLOW COMMANDS 001b unchanged
    // REGISTER AND IGNORE EXISTING KEY with APTPL=0 turns it off again.
    expect((await register(r, 0x42n, 0x43n, false)).status).toBe(0);
    c = await capabilities(r);
    expect(c[3]! & 0x01).toBe(0);
  });

  it('PTPL_A survives a reload of the persisted state', async () => {
    const r = rig();
    await register(r, 0n, 0x42n, true);
    const r2 = rig({ stateDir: r.stateDir });
    expect((await capabilities(r2))[3]! & 0x01).toBe(0x01);
  });
});
