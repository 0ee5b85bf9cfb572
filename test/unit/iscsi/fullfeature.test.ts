/**
 * The full feature phase end to end over an in-memory stream pair, with a
 * scripted SCSI server: CmdSN ordering, Data-In splitting with phase
 * collapse, R2T sequencing, and ABORT TASK waiting for in-flight I/O.
 */
import { Duplex } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { MemoryDevice } from '../../../backends/memory/device.js';
import { defaultLunParams, LocalTarget, Lun, PlainCounters } from '../../../src/worker/local-target.js';
import { Op, RESERVED_TAG, TmfFunction, TmfResponse } from '../../../targets/iscsi/constants.js';
import type { IscsiHandOffState } from '../../../targets/iscsi/directory.js';
import { encodePduBuffer, PduFramer } from '../../../targets/iscsi/framer.js';
import { toParams } from '../../../targets/iscsi/login/keys.js';
import { lunFromNumber } from '../../../targets/iscsi/lun.js';
import type { Draft, Pdu } from '../../../targets/iscsi/pdu-types.js';
import { IscsiTarget } from '../../../targets/iscsi/session/module.js';
import type { ScsiCommand, ScsiResult, ScsiTargetServer } from '../../../targets/scsi/types.js';

function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const mk = (i: number) =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        sides[1 - i]!.push(chunk);
        cb();
      },
      final(cb) {
        sides[1 - i]!.push(null);
        cb();
      },
    });
  sides.push(mk(0), mk(1));
  return [sides[0]!, sides[1]!];
}

class ScriptedScsi implements ScsiTargetServer {
  calls: { cmd: ScsiCommand; resolve: (r: ScsiResult) => void }[] = [];
  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    return new Promise((resolve) => this.calls.push({ cmd, resolve }));
  }
  addNexus(): void {}
  removeNexus(): void {}
  lunReset(): void {}
  targetReset(): void {}
  nexusReset(): void {}
  lunChanged(): void {}
}

const tick = () => new Promise((r) => setTimeout(r, 5));
let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

function setup(keys: [string, string][] = [], log = pino({ level: 'silent' })) {
  const counters = new PlainCounters();
  const target = new LocalTarget(1, 'iqn.t', log, counters, () => {});
  target.addLun(new Lun(1, new MemoryDevice({ sizeBytes: 1 << 20 }), defaultLunParams('s1'), counters, '/tmp'));
  const scsi = new ScriptedScsi();
  const proto = new IscsiTarget(target, () => scsi);
  const [server, client] = duplexPair();
  const params = toParams(new Map([['MaxRecvDataSegmentLength', '8192'], ['InitialR2T', 'Yes'], ['MaxBurstLength', '16384'], ...keys]), 65536);
  const state: IscsiHandOffState = {
    finalResponse: new Uint8Array(encodePduBuffer({ opcode: Op.LOGIN_RESP, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionActive: 0, isid: '400000000001', tsih: 1, itt: 0, statSN: 0, expCmdSN: 1, maxCmdSN: 128, statusClass: 0, statusDetail: 0 })),
    initiatorName: 'iqn.i', isid: '400000000001', tsih: 1, cid: 0, targetName: 'iqn.t', tpgt: 1, params,
    expCmdSN: 1, statSN: 1, addToSession: false, sendTargets: [['TargetName', 'iqn.t']],
  };
  proto.adopt({ stream: server, leftover: Buffer.alloc(0), state, sid: 1, cid: 0, peer: 'p', local: 'l' });
  const framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 24 });
  const got: Pdu[] = [];
  client.on('data', (c: Buffer) => {
    framer.push(c);
    for (let p = framer.next(); p; p = framer.next()) got.push(p as Pdu);
  });
  cleanup.push(() => void proto.shutdown('end').catch(() => {}), () => client.destroy());
  const send = (p: Draft<Pdu>) => client.write(encodePduBuffer(p));
  const cmd = (itt: number, cmdSN: number, o: { read?: boolean; write?: boolean; edtl?: number; data?: Buffer; final?: boolean } = {}) =>
    send({
      opcode: Op.SCSI_CMD, final: o.final ?? true, read: o.read ?? false, write: o.write ?? false, attr: 1, lun: lunFromNumber(1), itt,
      expectedDataTransferLength: o.edtl ?? 0, cmdSN, expStatSN: 0, cdb: Buffer.alloc(16), data: o.data ?? Buffer.alloc(0),
    });
  return { scsi, got, send, cmd };
}

describe('full feature phase', () => {
  test('final login response first; commands execute in CmdSN order', async () => {
    const s = setup();
    s.cmd(11, 2);
    s.cmd(12, 3);
    await tick();
    expect(s.got[0]!.opcode).toBe(Op.LOGIN_RESP);
    expect(s.scsi.calls).toHaveLength(0); // CmdSN 1 missing
    s.cmd(10, 1);
    await tick();
    expect(s.scsi.calls.map((c) => c.cmd.taskTag)).toEqual([10, 11, 12]);
  });

  test('Data-In split at the initiator MRDSL, F per MaxBurstLength, status collapsed with residual', async () => {
    const s = setup();
    s.cmd(1, 1, { read: true, edtl: 20480 });
    await tick();
    s.scsi.calls[0]!.resolve({ status: 0, dataIn: Buffer.alloc(20000, 7), transferLength: 20000 });
    await tick();
    const dataIns = s.got.filter((p) => p.opcode === Op.DATA_IN) as Extract<Pdu, { opcode: typeof Op.DATA_IN }>[];
    expect(dataIns.map((d) => [d.dataSN, d.bufferOffset, d.data.length, d.final, d.hasStatus])).toEqual([
      [0, 0, 8192, false, false],
      [1, 8192, 8192, true, false],
      [2, 16384, 3616, true, true],
    ]);
    expect(dataIns[2]).toMatchObject({ underflow: true, residualCount: 480, statSN: 1, status: 0 });
    expect(s.got.some((p) => p.opcode === Op.SCSI_RESP)).toBe(false);
  });

  test('CHECK CONDITION goes in a SCSI Response with length-prefixed sense', async () => {
    const s = setup();
    s.cmd(1, 1, { read: true, edtl: 512 });
    await tick();
    const sense = Buffer.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]);
    s.scsi.calls[0]!.resolve({ status: 2, sense, transferLength: 512 });
    await tick();
    const r = s.got.find((p) => p.opcode === Op.SCSI_RESP) as Extract<Pdu, { opcode: typeof Op.SCSI_RESP }>;
    expect(r).toMatchObject({ status: 2, itt: 1, underflow: true, residualCount: 512 });
    expect(r.data.readUInt16BE(0)).toBe(sense.length);
    expect(r.data.subarray(2)).toEqual(sense);
  });

  test('write: R2Ts per MaxBurstLength, data gathered before execution', async () => {
    const s = setup();
    s.cmd(5, 1, { write: true, edtl: 20000 });
    await tick();
    const r2ts = s.got.filter((p) => p.opcode === Op.R2T) as Extract<Pdu, { opcode: typeof Op.R2T }>[];
    expect(r2ts.map((r) => [r.r2tSN, r.bufferOffset, r.desiredDataTransferLength])).toEqual([[0, 0, 16384]]);
    s.send({ opcode: Op.DATA_OUT, final: true, lun: lunFromNumber(1), itt: 5, ttt: r2ts[0]!.ttt, expStatSN: 0, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(16384, 1) });
    await tick();
    const second = s.got.filter((p) => p.opcode === Op.R2T)[1] as Extract<Pdu, { opcode: typeof Op.R2T }>;
    expect([second.r2tSN, second.bufferOffset, second.desiredDataTransferLength]).toEqual([1, 16384, 3616]);
    expect(s.scsi.calls).toHaveLength(0);
    s.send({ opcode: Op.DATA_OUT, final: true, lun: lunFromNumber(1), itt: 5, ttt: second.ttt, expStatSN: 0, dataSN: 0, bufferOffset: 16384, data: Buffer.alloc(3616, 2) });
    await tick();
    expect(s.scsi.calls).toHaveLength(1);
    const out = s.scsi.calls[0]!.cmd.dataOut!;
    expect([out.length, out[0], out[19999]]).toEqual([20000, 1, 2]);
  });

  test('broken Data-Out sequences are each rejected, but logged at most 10 times (a peer can repeat them)', async () => {
    const lines: string[] = [];
    const s = setup([], pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }));
    const N = 30;
    for (let i = 0; i < N; i++) {
      s.cmd(100 + i, 1 + i, { write: true, edtl: 4096 });
      // Unsolicited data although InitialR2T=Yes: a data sequence error (§7.1.4).
      s.send({ opcode: Op.DATA_OUT, final: true, lun: lunFromNumber(1), itt: 100 + i, ttt: RESERVED_TAG, expStatSN: 0, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(4096) });
    }
    await tick();
    await tick();
    expect(s.got.filter((p) => p.opcode === Op.REJECT)).toHaveLength(N);
    const logged = lines.filter((l) => l.includes('iscsi data-out sequence error'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThanOrEqual(10);
  });

  test('ABORT TASK waits for the in-flight command and suppresses its response', async () => {
    const s = setup();
    s.cmd(1, 1, { read: true, edtl: 512 });
    s.cmd(2, 2, { read: true, edtl: 512 });
    await tick();
    s.send({ opcode: Op.TMF_REQ, immediate: true, final: true, function: TmfFunction.ABORT_TASK, lun: lunFromNumber(1), itt: 9, referencedTaskTag: 1, cmdSN: 3, expStatSN: 0, refCmdSN: 1, expDataSN: 0 });
    await tick();
    expect(s.got.some((p) => p.opcode === Op.TMF_RESP)).toBe(false); // task 1 still in flight
    s.scsi.calls[0]!.resolve({ status: 0, dataIn: Buffer.alloc(512), transferLength: 512 });
    await tick();
    expect(s.got.find((p) => p.opcode === Op.TMF_RESP)).toMatchObject({ itt: 9, response: TmfResponse.FUNCTION_COMPLETE });
    expect(s.got.some((p) => p.itt === 1 && (p.opcode === Op.DATA_IN || p.opcode === Op.SCSI_RESP))).toBe(false);
    s.scsi.calls[1]!.resolve({ status: 0, dataIn: Buffer.alloc(512), transferLength: 512 });
    await tick();
    expect(s.got.some((p) => p.itt === 2 && p.opcode === Op.DATA_IN)).toBe(true);
    s.send({ opcode: Op.TMF_REQ, immediate: true, final: true, function: TmfFunction.ABORT_TASK, lun: lunFromNumber(1), itt: 10, referencedTaskTag: 77, cmdSN: 3, expStatSN: 0, refCmdSN: 1, expDataSN: 0 });
    await tick();
    expect(s.got.filter((p) => p.opcode === Op.TMF_RESP)[1]).toMatchObject({ itt: 10, response: TmfResponse.TASK_DOES_NOT_EXIST });
  });

  test('NOP-Out ping is echoed; SNACK and unknown opcodes are rejected; logout closes', async () => {
    const s = setup();
    s.send({ opcode: Op.NOP_OUT, immediate: true, final: true, lun: 0n, itt: 4, ttt: RESERVED_TAG, cmdSN: 1, expStatSN: 0, data: Buffer.from('abc') });
    s.send({ opcode: Op.SNACK, final: true, type: 0, lun: 0n, itt: 5, ttt: 0, expStatSN: 0, begRun: 0, runLength: 0 });
    await tick();
    expect(s.got.find((p) => p.opcode === Op.NOP_IN)).toMatchObject({ itt: 4, ttt: RESERVED_TAG, data: Buffer.from('abc') });
    expect(s.got.find((p) => p.opcode === Op.REJECT)).toMatchObject({ reason: 0x04 });
    s.send({ opcode: Op.LOGOUT_REQ, immediate: true, final: true, reason: 0, itt: 6, cid: 0, cmdSN: 1, expStatSN: 0 });
    await tick();
    expect(s.got.find((p) => p.opcode === Op.LOGOUT_RESP)).toMatchObject({ itt: 6, response: 0 });
  });
});
