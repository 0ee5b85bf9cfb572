import { describe, expect, test } from 'vitest';
import { crc32c } from '../../../src/util/crc32c.js';
import { Op, RejectReason } from '../../../targets/iscsi/constants.js';
import { encodePdu, encodePduBuffer, PduFramer } from '../../../targets/iscsi/framer.js';
import { lunFromNumber, lunToNumber } from '../../../targets/iscsi/lun.js';
import { decodeAhs, decodePdu } from '../../../targets/iscsi/pdu.js';
import { isViolation, type Draft, type Pdu, type PduViolation, type ScsiCommandPdu } from '../../../targets/iscsi/pdu-types.js';

const NO_DIGEST = { headerDigest: false, dataDigest: false };

function frame(bytes: Buffer, limits = { ...NO_DIGEST, maxRecvDataSegmentLength: 1 << 20 }): (Pdu | PduViolation)[] {
  const f = new PduFramer(limits);
  f.push(bytes);
  const out: (Pdu | PduViolation)[] = [];
  for (let p = f.next(); p; p = f.next()) out.push(p);
  return out;
}

const samples: Draft<Pdu>[] = [
  { opcode: Op.NOP_OUT, immediate: true, final: true, lun: 0n, itt: 7, ttt: 0xffffffff, cmdSN: 5, expStatSN: 9, data: Buffer.from('ping') },
  { opcode: Op.TMF_REQ, immediate: true, final: true, function: 5, lun: lunFromNumber(3), itt: 1, referencedTaskTag: 0xffffffff, cmdSN: 1, expStatSN: 2, refCmdSN: 3, expDataSN: 4 },
  { opcode: Op.LOGIN_REQ, immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid: '400001370000', tsih: 0, itt: 0, cid: 1, cmdSN: 1, expStatSN: 0, data: Buffer.from('InitiatorName=iqn.x\0') },
  { opcode: Op.TEXT_REQ, immediate: false, final: true, cont: false, lun: 0n, itt: 3, ttt: 0xffffffff, cmdSN: 8, expStatSN: 1, data: Buffer.from('SendTargets=All\0') },
  { opcode: Op.DATA_OUT, final: true, lun: lunFromNumber(1), itt: 4, ttt: 99, expStatSN: 3, dataSN: 2, bufferOffset: 8192, data: Buffer.alloc(13, 1) },
  { opcode: Op.LOGOUT_REQ, immediate: true, final: true, reason: 1, itt: 5, cid: 2, cmdSN: 4, expStatSN: 4 },
  { opcode: Op.SNACK, final: true, type: 1, lun: 0n, itt: 6, ttt: 0, expStatSN: 1, begRun: 2, runLength: 3 },
  { opcode: Op.NOP_IN, final: true, lun: 0n, itt: 0xffffffff, ttt: 42, statSN: 1, expCmdSN: 2, maxCmdSN: 3 },
  {
    opcode: Op.SCSI_RESP, final: true, bidiOverflow: false, bidiUnderflow: true, overflow: false, underflow: true, response: 0, status: 2,
    itt: 9, snackTag: 0, statSN: 10, expCmdSN: 11, maxCmdSN: 12, expDataSN: 1, bidiResidualCount: 5, residualCount: 512, data: Buffer.from([0, 2, 0x70, 0]),
  },
  { opcode: Op.TMF_RESP, final: true, response: 1, itt: 2, statSN: 1, expCmdSN: 1, maxCmdSN: 1 },
  {
    opcode: Op.LOGIN_RESP, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionActive: 0, isid: '400001370000', tsih: 12,
    itt: 0, statSN: 1, expCmdSN: 1, maxCmdSN: 128, statusClass: 2, statusDetail: 3,
  },
  { opcode: Op.TEXT_RESP, final: false, cont: true, lun: 0n, itt: 3, ttt: 17, statSN: 2, expCmdSN: 9, maxCmdSN: 200 },
  {
    opcode: Op.DATA_IN, final: true, ack: false, overflow: true, underflow: false, hasStatus: true, status: 0, lun: lunFromNumber(300),
    itt: 1, ttt: 0xffffffff, statSN: 4, expCmdSN: 5, maxCmdSN: 6, dataSN: 7, bufferOffset: 8, residualCount: 9, data: Buffer.alloc(3, 9),
  },
  { opcode: Op.LOGOUT_RESP, final: true, response: 0, itt: 5, statSN: 1, expCmdSN: 2, maxCmdSN: 3, time2Wait: 2, time2Retain: 20 },
  { opcode: Op.R2T, final: true, lun: 0n, itt: 1, ttt: 2, statSN: 3, expCmdSN: 4, maxCmdSN: 5, r2tSN: 6, bufferOffset: 7, desiredDataTransferLength: 8 },
  {
    opcode: Op.ASYNC, final: true, lun: 0n, itt: 0xffffffff, statSN: 1, expCmdSN: 2, maxCmdSN: 3, asyncEvent: 1, asyncVCode: 0,
    parameter1: 0, parameter2: 0, parameter3: 2,
  },
  { opcode: Op.REJECT, final: true, reason: RejectReason.PROTOCOL_ERROR, itt: 0xffffffff, statSN: 1, expCmdSN: 2, maxCmdSN: 3, dataSN: 0, data: Buffer.alloc(48) },
];

describe('pdu codec', () => {
  test.each(samples.map((s) => [s.opcode, s] as const))('opcode 0x%s round-trips through encode/frame/decode', (_op, sample) => {
    for (const digests of [NO_DIGEST, { headerDigest: true, dataDigest: true }]) {
      const [pdu] = frame(encodePduBuffer(sample, digests), { ...digests, maxRecvDataSegmentLength: 1 << 20 });
      expect(isViolation(pdu)).toBe(false);
      const expected = { immediate: false, ahs: [], data: Buffer.alloc(0), ...sample };
      expect(pdu).toEqual(expected);
    }
  });

  test('SCSI command with extended CDB and bidi AHS', () => {
    const cdb32 = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
    const ext = Buffer.concat([Buffer.from([0]), cdb32.subarray(16)]);
    const bidi = Buffer.from([0, 0, 0, 0x10, 0]);
    const bytes = encodePduBuffer({
      opcode: Op.SCSI_CMD, final: true, read: true, write: true, attr: 1, lun: 0n, itt: 1, expectedDataTransferLength: 512,
      cmdSN: 1, expStatSN: 1, cdb: cdb32.subarray(0, 16), ahs: [{ type: 1, body: ext }, { type: 2, body: bidi }],
    });
    expect(bytes[4]).toBe((20 + 8) / 4);
    const [pdu] = frame(bytes) as ScsiCommandPdu[];
    expect(pdu!.cdb).toEqual(cdb32);
    expect(pdu!.bidiReadLength).toBe(0x1000);
  });

  test('AHS parser rejects lengths that do not add up', () => {
    expect(decodeAhs(Buffer.from([0, 0, 1, 0]))).toBeUndefined();
    expect(decodeAhs(Buffer.from([0, 9, 1, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(decodeAhs(Buffer.from([0, 1, 1, 0]))).toEqual([{ type: 1, body: Buffer.from([0]) }]);
  });

  test('unknown opcode is a non-fatal violation answered with COMMAND NOT SUPPORTED', () => {
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x1c;
    const v = decodePdu(bhs, Buffer.alloc(0), Buffer.alloc(0));
    expect(v).toMatchObject({ violation: 'unknown-opcode', fatal: false, rejectReason: RejectReason.COMMAND_NOT_SUPPORTED });
  });

  test('LUN encoding: peripheral and flat addressing', () => {
    expect(lunToNumber(lunFromNumber(0))).toBe(0);
    expect(lunToNumber(lunFromNumber(255))).toBe(255);
    expect(lunToNumber(lunFromNumber(1000))).toBe(1000);
    expect(lunFromNumber(1)).toBe(0x0001000000000000n);
    expect(lunToNumber(0x0001000000000001n)).toBe(-1);
  });
});

describe('framer', () => {
  const nop = (n: number): Draft<Pdu> => ({ opcode: Op.NOP_OUT, immediate: true, final: true, lun: 0n, itt: n, ttt: 0xffffffff, cmdSN: n, expStatSN: 0, data: Buffer.alloc(n, n) });

  test('byte-at-a-time delivery yields the same PDUs, padding stripped', () => {
    const bytes = Buffer.concat([1, 2, 3, 4, 5].map((n) => encodePduBuffer(nop(n), { headerDigest: true, dataDigest: true })));
    const f = new PduFramer({ headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: 8192 });
    const got: Pdu[] = [];
    for (const b of bytes) {
      f.push(Buffer.from([b]));
      for (let p = f.next(); p; p = f.next()) got.push(p as Pdu);
    }
    expect(got.map((p) => [p.itt, p.data.length])).toEqual([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
    expect(f.pendingBytes).toBe(0);
  });

  test('digests are CRC32C little-endian over header and padded data', () => {
    const parts = encodePdu(nop(3), { headerDigest: true, dataDigest: true });
    const buf = Buffer.concat(parts);
    expect(buf.readUInt32LE(48)).toBe(crc32c(buf.subarray(0, 48)));
    expect(buf.readUInt32LE(52 + 4)).toBe(crc32c(Buffer.from([3, 3, 3, 0])));
    const data = Buffer.alloc(3, 3);
    expect(encodePdu({ ...nop(3), data } as Draft<Pdu>, { headerDigest: false, dataDigest: false })[1]).toBe(data); // not copied
  });

  test('oversized data segment is connection-fatal', () => {
    const [v] = frame(encodePduBuffer(nop(100)), { ...NO_DIGEST, maxRecvDataSegmentLength: 64 });
    expect(v).toMatchObject({ violation: 'data-segment-too-long', fatal: true });
  });

  test('header digest error is fatal, data digest error is not', () => {
    const limits = { headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: 8192 };
    const a = encodePduBuffer(nop(4), limits);
    a[20] ^= 1;
    expect(frame(a, limits)[0]).toMatchObject({ violation: 'header-digest', fatal: true });
    const b = encodePduBuffer(nop(4), limits);
    b[53] ^= 1;
    expect(frame(b, limits)[0]).toMatchObject({ violation: 'data-digest', fatal: false, rejectReason: RejectReason.DATA_DIGEST_ERROR });
  });

  test('takeLeftover returns unframed bytes', () => {
    const f = new PduFramer({ ...NO_DIGEST, maxRecvDataSegmentLength: 8192 });
    const one = encodePduBuffer(nop(1));
    f.push(Buffer.concat([one, one.subarray(0, 10)]));
    expect(isViolation(f.next())).toBe(false);
    expect(f.next()).toBeUndefined();
    expect(f.takeLeftover()).toEqual(one.subarray(0, 10));
  });
});
