/**
 * Task management with commands in flight, through the real daemon: a LUN
 * whose writes take 300 ms (fault backend), many WRITE(10)s pipelined by the
 * raw initiator, then ABORT TASK for one and LOGICAL UNIT RESET for the rest.
 *
 * Asserted (RFC 7143 §4.2.3.3, §11.5/11.6, SAM-5 §7):
 * - both TMF responses arrive with FUNCTION COMPLETE;
 * - an aborted task never gets a response: nothing for the ABORT TASK
 *   target, and no task response at all after the LUN RESET response;
 * - nothing stays stuck: the next TEST UNIT READY reports the reset's unit
 *   attention, then GOOD, and READs complete on the same session; a new
 *   session logs in and works;
 * - no torn data: every block reads back as its old or its new content,
 *   and the blocks of every task that completed GOOD hold the new content.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TmfFunction, TmfResponse } from '../../targets/iscsi/constants.js';
import { startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { Cdb, RawInitiator, senseOf, type ScsiOutcome } from '../helpers/iscsi-initiator.js';

const TARGET = 'iqn.2026-11.io.blockgate:tmf';
const BS = 512;
const TASKS = 24;
/** Blocks per task; tasks 0..7 are big enough to need R2Ts (beyond FirstBurstLength). */
const blocksOf = (k: number): number => (k < 8 ? 256 : 8);
const SLOT = 256;

/** Block content: task, generation and block index in every 8 bytes, so a torn block is visible. */
function pattern(k: number, gen: number, blocks: number): Buffer {
  const b = Buffer.alloc(blocks * BS);
  for (let i = 0; i < blocks; i++) {
    for (let w = 0; w < BS; w += 8) {
      b.writeUInt32BE(((k << 20) | (gen << 16) | i) >>> 0, i * BS + w);
      b.writeUInt32BE((0xb10c0000 | w) >>> 0, i * BS + w + 4);
    }
  }
  return b;
}

let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-tmf-');
  const cfg = path.join(dir, 'tmf.yaml');
  fs.writeFileSync(
    cfg,
    `targets:\n  - tid: 1\n    name: ${TARGET}\n    luns:\n      - lun: 1\n        bstype: memory\n        backingStore: slow\n        sizeBytes: 16MiB\n        bsopts: "delay-write=300ms"\n`,
  );
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

async function session(name: string): Promise<RawInitiator> {
  const ini = await RawInitiator.connect(daemon.iscsiPort!);
  const status = await ini.login({ initiatorName: `iqn.2026-11.test:${name}`, targetName: TARGET });
  expect(status).toBe(0);
  return ini;
}

/** TEST UNIT READY until GOOD; returns the unit attentions seen on the way. */
async function clearUa(ini: RawInitiator): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await within(ini.command(Cdb.testUnitReady(), { lun: 1 }).done, 5000);
    if (r.status === 0) return seen;
    const s = senseOf(r.sense);
    expect(s?.key).toBe(0x06);
    seen.push(s!.asc);
  }
  throw new Error('TEST UNIT READY never became GOOD');
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);
}

describe('TMF with commands in flight (delayed LUN)', () => {
  test('ABORT TASK + LUN RESET: responses, no answer for aborted tasks, no stuck command, no torn blocks', async () => {
    const ini = await session('tmf');
    await clearUa(ini);
    // Old content, written and acknowledged.
    const old = await Promise.all(Array.from({ length: TASKS }, (_, k) => ini.command(Cdb.write10(k * SLOT, blocksOf(k)), { lun: 1, dataOut: pattern(k, 1, blocksOf(k)) }).done));
    expect(old.map((o) => o.status)).toEqual(old.map(() => 0));

    // New content, pipelined: all in flight in the 300 ms backend delay.
    const started = Array.from({ length: TASKS }, (_, k) => ini.command(Cdb.write10(k * SLOT, blocksOf(k)), { lun: 1, dataOut: pattern(k, 2, blocksOf(k)) }));
    const outcomes = new Map<number, ScsiOutcome>();
    for (const s of started) void s.done.then((o) => outcomes.set(s.itt, o));
    await new Promise((r) => setTimeout(r, 50));
    const victim = started[5]!;
    const abort = ini.tmf(TmfFunction.ABORT_TASK, { lun: 1, referencedTaskTag: victim.itt, refCmdSN: (ini.cmdSN - TASKS + 5) >>> 0 });
    const reset = ini.tmf(TmfFunction.LOGICAL_UNIT_RESET, { lun: 1 });
    const [a, r] = await within(Promise.all([abort, reset]), 10_000);
    expect(a.response).toBe(TmfResponse.FUNCTION_COMPLETE);
    expect(r.response).toBe(TmfResponse.FUNCTION_COMPLETE);

    // Give a misbehaving target time to (wrongly) answer aborted tasks.
    await new Promise((res) => setTimeout(res, 700));
    expect(ini.responsesFor(victim.itt)).toEqual([]);
    for (const s of started) for (const resp of ini.responsesFor(s.itt)) expect(resp.seq).toBeLessThan(r.seq);

    // Nothing stuck: the reset's unit attention, then GOOD, then reads.
    const uas = await clearUa(ini);
    expect(uas).toContain(0x2903); // BUS DEVICE RESET FUNCTION OCCURRED
    for (let k = 0; k < TASKS; k++) {
      const rd = await within(ini.command(Cdb.read10(k * SLOT, blocksOf(k)), { lun: 1, readLength: blocksOf(k) * BS }).done, 5000);
      expect(rd.status).toBe(0);
      const before = pattern(k, 1, blocksOf(k));
      const after = pattern(k, 2, blocksOf(k));
      const good = outcomes.get(started[k]!.itt)?.status === 0;
      for (let i = 0; i < blocksOf(k); i++) {
        const blk = rd.dataIn.subarray(i * BS, (i + 1) * BS);
        const isNew = blk.equals(after.subarray(i * BS, (i + 1) * BS));
        const isOld = blk.equals(before.subarray(i * BS, (i + 1) * BS));
        expect(isNew || isOld, `task ${k} block ${i} is neither old nor new`).toBe(true);
        if (good) expect(isNew, `task ${k} completed GOOD but block ${i} is old`).toBe(true);
      }
    }
    expect(ini.closed).toBe(false);
    expect(await ini.logout()).toBe(true);
    ini.close();

    // A fresh session works too.
    const again = await session('tmf-2');
    await clearUa(again);
    const rd = await within(again.command(Cdb.read10(0, 8), { lun: 1, readLength: 8 * BS }).done, 5000);
    expect(rd.status).toBe(0);
    again.close();
  }, 40_000);

  test('ABORT TASK SET on a queue of delayed writes, then the session keeps working', async () => {
    const ini = await session('tmf-set');
    await clearUa(ini);
    const started = Array.from({ length: 8 }, (_, k) => ini.command(Cdb.write10(8000 + k * 8, 8), { lun: 1, dataOut: pattern(k, 3, 8) }));
    await new Promise((r) => setTimeout(r, 30));
    const res = await within(ini.tmf(TmfFunction.ABORT_TASK_SET, { lun: 1 }), 10_000);
    expect(res.response).toBe(TmfResponse.FUNCTION_COMPLETE);
    await new Promise((r) => setTimeout(r, 500));
    for (const s of started) for (const resp of ini.responsesFor(s.itt)) expect(resp.seq).toBeLessThan(res.seq);
    const tur = await within(ini.command(Cdb.testUnitReady(), { lun: 1 }).done, 5000);
    expect(tur.status).toBe(0); // ABORT TASK SET establishes no unit attention for the caller
    ini.close();
  }, 20_000);
});
