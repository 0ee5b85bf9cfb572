import { describe, expect, test } from 'vitest';
import { RESERVED_TAG } from '../../../targets/iscsi/constants.js';
import { CmdSnWindow, snLt } from '../../../targets/iscsi/session/sn.js';
import { Task } from '../../../targets/iscsi/session/task.js';
import { planDataIn, planR2Ts, residual, unsolicitedBytes } from '../../../targets/iscsi/session/transfer.js';

describe('CmdSN window (RFC 7143 §4.2.2.1)', () => {
  test('in-order delivery, out-of-order queueing, outside window dropped', () => {
    const w = new CmdSnWindow<string>(10, 4);
    expect(w.maxCmdSN).toBe(13);
    expect(w.offer(12, 'c')).toEqual([]);
    expect(w.offer(11, 'b')).toEqual([]);
    expect(w.offer(14, 'x')).toBeUndefined(); // beyond MaxCmdSN
    expect(w.offer(9, 'old')).toBeUndefined(); // already seen
    expect(w.offer(12, 'dup')).toBeUndefined();
    expect(w.offer(10, 'a')).toEqual(['a', 'b', 'c']);
    expect(w.expCmdSN).toBe(13);
    expect(w.maxCmdSN).toBe(16);
  });

  test('serial arithmetic wraps at 2^32', () => {
    expect(snLt(0xffffffff, 0)).toBe(true);
    expect(snLt(0, 0xffffffff)).toBe(false);
    const w = new CmdSnWindow<number>(0xfffffffe, 8);
    expect(w.offer(0, 3)).toEqual([]);
    expect(w.offer(0xfffffffe, 1)).toEqual([1]);
    expect(w.offer(0xffffffff, 2)).toEqual([2, 3]);
    expect(w.expCmdSN).toBe(1);
  });

  test('remove drops queued items', () => {
    const w = new CmdSnWindow<string>(0, 8);
    w.offer(2, 'x');
    expect(w.remove((i) => i === 'x')).toEqual(['x']);
    expect(w.offer(0, 'a')).toEqual(['a']);
    expect(w.offer(1, 'b')).toEqual(['b']);
    expect(w.expCmdSN).toBe(2);
  });
});

describe('transfer planning', () => {
  test('R2T bursts honour MaxBurstLength', () => {
    expect(planR2Ts(8192, 8192 + 300000, 131072)).toEqual([
      { offset: 8192, length: 131072 },
      { offset: 139264, length: 131072 },
      { offset: 270336, length: 37856 },
    ]);
    expect(planR2Ts(100, 100, 10)).toEqual([]);
  });

  test('unsolicited amount (InitialR2T, F bit, FirstBurstLength)', () => {
    expect(unsolicitedBytes(1 << 20, 4096, false, { initialR2T: false, firstBurstLength: 65536 })).toBe(65536);
    expect(unsolicitedBytes(1 << 20, 4096, true, { initialR2T: false, firstBurstLength: 65536 })).toBe(4096);
    expect(unsolicitedBytes(1 << 20, 4096, false, { initialR2T: true, firstBurstLength: 65536 })).toBe(4096);
    expect(unsolicitedBytes(1000, 0, false, { initialR2T: false, firstBurstLength: 65536 })).toBe(1000);
  });

  test('Data-In split at MaxRecvDataSegmentLength with F at each MaxBurstLength', () => {
    const p = planDataIn(20000, 8192, 10000);
    expect(p).toEqual([
      { offset: 0, length: 8192, final: false, last: false },
      { offset: 8192, length: 1808, final: true, last: false },
      { offset: 10000, length: 8192, final: false, last: false },
      { offset: 18192, length: 1808, final: true, last: true },
    ]);
    expect(planDataIn(0, 8192, 8192)).toEqual([]);
  });

  test('residuals', () => {
    expect(residual(512, 512)).toEqual({ overflow: false, underflow: false, residualCount: 0 });
    expect(residual(1024, 512)).toEqual({ overflow: true, underflow: false, residualCount: 512 });
    expect(residual(200, 512)).toEqual({ overflow: false, underflow: true, residualCount: 312 });
  });
});

describe('Task write data gathering', () => {
  const params = { initialR2T: false, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 1 };
  const mk = (imm: Buffer, final: boolean, edtl = 5120) => new Task(1, 0, 0, 0n, Buffer.alloc(16), 'write', edtl, 0, false, 1, imm, final, params);

  test('immediate + unsolicited + solicited sequences, MaxOutstandingR2T', () => {
    const t = mk(Buffer.alloc(512, 1), false);
    let ttt = 100;
    const r1 = t.takeR2Ts(() => ttt++);
    expect(r1.map((b) => [b.offset, b.length, b.ttt])).toEqual([[1024, 2048, 100]]);
    expect(t.takeR2Ts(() => ttt++)).toEqual([]); // one outstanding at a time
    expect(t.acceptData(RESERVED_TAG, 512, Buffer.alloc(512, 2), true, 0)).toBeUndefined();
    expect(t.acceptData(100, 1024, Buffer.alloc(2048, 3), true, 0)).toBeUndefined();
    const r2 = t.takeR2Ts(() => ttt++);
    expect(r2.map((b) => [b.offset, b.length])).toEqual([[3072, 2048]]);
    expect(t.dataComplete).toBe(false);
    expect(t.acceptData(101, 3072, Buffer.alloc(1024, 4), false, 0)).toBeUndefined();
    expect(t.acceptData(101, 4096, Buffer.alloc(1024, 5), true, 1)).toBeUndefined();
    expect(t.dataComplete).toBe(true);
    const d = t.dataOut!;
    expect([d[0], d[600], d[1100], d[3100], d[5000]]).toEqual([1, 2, 3, 4, 5]);
  });

  test('out-of-order offsets, bad DataSN, unknown TTT and overruns are refused', () => {
    const t = mk(Buffer.alloc(0), false);
    expect(t.acceptData(RESERVED_TAG, 512, Buffer.alloc(512), false, 0)).toMatch(/range/);
    expect(t.acceptData(RESERVED_TAG, 0, Buffer.alloc(512), false, 1)).toMatch(/DataSN/);
    expect(t.acceptData(RESERVED_TAG, 0, Buffer.alloc(2048), false, 0)).toMatch(/range/);
    expect(t.acceptData(77, 0, Buffer.alloc(10), false, 0)).toMatch(/TTT/);
  });

  test('whole write as immediate data is not copied', () => {
    const imm = Buffer.alloc(1024, 9);
    const t = mk(imm, true, 1024);
    expect(t.dataComplete).toBe(true);
    expect(t.dataOut).toBe(imm);
  });
});
