/**
 * #12 item 5: the SCSI identity derived from a LUN's id, and what INQUIRY
 * reports from it (VPD 0x80, NAA 6 bit layout, T10 designator, scsi_id).
 */
import { describe, expect, it } from 'vitest';
import { deriveLunIdentity, DEFAULT_NAA_COMPANY_ID, lunStateDir } from '../../../src/worker/lun-identity.js';
import { exec, rig } from '../scsi/harness.js';

const ID = '8018cc768acae1e29eab5eff525a0af0';

function designatorsOf(page: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let at = 4; at + 4 <= 4 + page.readUInt16BE(2); at += 4 + page[at + 3]!) {
    if (((page[at + 1]! >> 4) & 3) === 0) out.set(page[at + 1]! & 0x0f, page.subarray(at + 4, at + 4 + page[at + 3]!));
  }
  return out;
}

describe('LUN identity', () => {
  it('NAA 6: NAA nibble, 24-bit company id, then the id\'s leading 100 bits', () => {
    const id = deriveLunIdentity({ uuid: ID, companyId: 0xacde48 });
    expect(id.naaId).toBe('6acde48' + ID.slice(0, 25));
    expect(id.naaId).toHaveLength(32);
    expect(id.serial).toBe(ID);
    expect(id.t10Id).toBeUndefined();
    expect(DEFAULT_NAA_COMPANY_ID).toBe(0x001405);
  });

  it('the device\'s own id (a chunk volume\'s) wins over the configured one; explicit serial and scsi_id stay', () => {
    const other = 'ffeeddccbbaa99887766554433221100';
    const id = deriveLunIdentity({ uuid: ID, serial: 'beaf11', scsiId: 'IET     00010001', companyId: DEFAULT_NAA_COMPANY_ID }, other);
    expect(id).toEqual({ uuid: other, serial: 'beaf11', naaId: '6001405' + other.slice(0, 25), t10Id: 'IET     00010001' });
    expect(() => deriveLunIdentity({ companyId: 1 })).toThrow(/no identity/);
    expect(lunStateDir('/d/state', ID)).toBe(`/d/state/lu-${ID}`);
  });

  it('INQUIRY reports it: VPD 0x80 serial, 0x83 NAA bytes and T10 designator (default and scsi_id)', async () => {
    const id = deriveLunIdentity({ uuid: ID, companyId: DEFAULT_NAA_COMPANY_ID });
    const r = rig({ params: id });
    const sn = (await exec(r, [0x12, 1, 0x80, 0, 255, 0])).dataIn!;
    expect(sn.subarray(4, 4 + sn.readUInt16BE(2)).toString('latin1')).toBe(ID);
    const d = designatorsOf((await exec(r, [0x12, 1, 0x83, 0, 255, 0])).dataIn!);
    const naa = d.get(3)!;
    expect(naa).toHaveLength(16);
    expect(naa[0]! >> 4).toBe(6);
    expect(((naa.readUInt32BE(0) >>> 4) & 0xffffff)).toBe(0x001405);
    expect(naa.toString('hex')).toBe(id.naaId);
    expect(d.get(1)!.toString('latin1')).toBe(`BLKGATE ${ID}`);

    const tgt = rig({ params: deriveLunIdentity({ uuid: ID, serial: 'beaf11', scsiId: 'IET     00010001', companyId: DEFAULT_NAA_COMPANY_ID }) });
    const d2 = designatorsOf((await exec(tgt, [0x12, 1, 0x83, 0, 255, 0])).dataIn!);
    expect(d2.get(1)!.toString('latin1')).toBe('IET     00010001');
    const sn2 = (await exec(tgt, [0x12, 1, 0x80, 0, 255, 0])).dataIn!;
    expect(sn2.subarray(4).toString('latin1')).toBe('beaf11');
  });
});
