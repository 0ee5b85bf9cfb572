import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASC, SENSE_KEY } from '../../../targets/scsi/constants.js';
import { BS, cdb10, exec, nexus, rig, sense, type Rig } from './harness.js';

const A = nexus(1);
const B = nexus(2);

function prout(sa: number, type: number, key: bigint, saKey: bigint, flags = 0): [number[], Buffer] {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(saKey, 8);
  p[20] = flags;
  return [[0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0], p];
}

async function out(r: Rig, n: typeof A, sa: number, type: number, key: bigint, saKey: bigint, flags = 0) {
  const [c, p] = prout(sa, type, key, saKey, flags);
  return exec(r, c, { nexus: n, dataOut: p });
}

async function readKeys(r: Rig, n = A): Promise<{ gen: number; keys: bigint[] }> {
  const res = await exec(r, [0x5e, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], { nexus: n });
  const d = res.dataIn!;
  const keys: bigint[] = [];
  for (let i = 8; i < 8 + d.readUInt32BE(4); i += 8) keys.push(d.readBigUInt64BE(i));
  return { gen: d.readUInt32BE(0), keys };
}

const canRead = async (r: Rig, n: typeof A) => (await exec(r, cdb10(0x28, 0, 1), { nexus: n })).status === 0;
const canWrite = async (r: Rig, n: typeof A) => (await exec(r, cdb10(0x2a, 0, 1), { nexus: n, dataOut: Buffer.alloc(BS) })).status === 0;

describe('persistent reservations', () => {
  it('registers, rejects a wrong key, unregisters', async () => {
    const r = rig();
    expect((await out(r, A, 6, 0, 0n, 0xabn)).status).toBe(0);
    expect((await readKeys(r)).keys).toEqual([0xabn]);
    expect((await out(r, A, 0, 0, 0x99n, 0xacn)).status).toBe(0x18);
    expect((await out(r, A, 0, 0, 0xabn, 0n)).status).toBe(0);
    expect((await readKeys(r)).keys).toEqual([]);
  });

  // [type, registered B read, registered B write, unregistered B read, unregistered B write] (libiscsi prout_reserve_access)
  const access: Array<[number, boolean, boolean, boolean, boolean]> = [
    [1, true, false, true, false],
    [3, false, false, false, false],
    [5, true, true, true, false],
    [6, true, true, false, false],
    [7, true, true, true, false],
    [8, true, true, false, false],
  ];
  for (const [type, rr, rw, ur, uw] of access) {
    it(`enforces access for type ${type}`, async () => {
      const r = rig();
      await out(r, A, 6, 0, 0n, 1n);
      await out(r, B, 6, 0, 0n, 2n);
      expect((await out(r, A, 1, type, 1n, 0n)).status).toBe(0);
      expect(await canRead(r, A)).toBe(true);
      expect(await canWrite(r, A)).toBe(true);
      expect(await canRead(r, B)).toBe(rr);
      expect(await canWrite(r, B)).toBe(rw);
      await out(r, B, 0, 0, 2n, 0n);
      expect(await canRead(r, B)).toBe(ur);
      expect(await canWrite(r, B)).toBe(uw);
      expect((await out(r, A, 2, type, 1n, 0n)).status).toBe(0);
      expect(await canWrite(r, B)).toBe(true);
    });
  }

  it('READ RESERVATION reports key 0 for all-registrants types', async () => {
    const r = rig();
    await out(r, A, 6, 0, 0n, 5n);
    await out(r, A, 1, 7, 5n, 0n);
    const res = await exec(r, [0x5e, 1, 0, 0, 0, 0, 0, 0, 64, 0], { nexus: A });
    expect(res.dataIn!.readUInt32BE(4)).toBe(16);
    expect(res.dataIn!.readBigUInt64BE(8)).toBe(0n);
    expect(res.dataIn![21]).toBe(7);
  });

  it('PREEMPT removes the other registration, bumps the generation and queues a UA', async () => {
    const r = rig();
    r.dev.addNexus(A);
    r.dev.addNexus(B);
    await exec(r, [0, 0, 0, 0, 0, 0], { nexus: A });
    await exec(r, [0, 0, 0, 0, 0, 0], { nexus: B });
    await out(r, A, 6, 0, 0n, 1n);
    await out(r, B, 6, 0, 0n, 2n);
    const before = await readKeys(r);
    expect((await out(r, B, 5, 3, 2n, 1n)).status).toBe(0);
    const after = await readKeys(r, B);
    expect(after.keys).toEqual([2n]);
    expect(after.gen).toBe(before.gen + 1);
    expect(r.aborted).toEqual([{ ids: [A.id], lun: 0 }]);
    const ua = await exec(r, [0, 0, 0, 0, 0, 0], { nexus: A });
    expect(sense(ua)).toMatchObject({ key: SENSE_KEY.UNIT_ATTENTION, asc: ASC.REGISTRATIONS_PREEMPTED });
  });

  it('PR IN rejects service actions above 3; PR OUT checks the parameter length', async () => {
    const r = rig();
    for (let sa = 4; sa < 0x20; sa++) expect(sense(await exec(r, [0x5e, sa, 0, 0, 0, 0, 0, 0, 64, 0])).asc).toBe(ASC.INVALID_FIELD_IN_CDB);
    const res = await exec(r, [0x5f, 0, 0, 0, 0, 0, 0, 0, 20, 0], { dataOut: Buffer.alloc(20) });
    expect(sense(res).asc).toBe(ASC.PARAMETER_LIST_LENGTH_ERROR);
  });

  it('READ KEYS truncated to 8 bytes keeps ADDITIONAL LENGTH', async () => {
    const r = rig();
    await out(r, A, 6, 0, 0n, 1n);
    const res = await exec(r, [0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0], { expectedLength: 8 });
    expect(res.dataIn!.length).toBe(8);
    expect(res.dataIn!.readUInt32BE(4)).toBe(8);
  });

  it('persists APTPL state and reloads it in a new ScsiTargetDevice', async () => {
    const r = rig();
    await out(r, A, 6, 0, 0n, 0x1234n, 0x01);
    await out(r, A, 1, 1, 0x1234n, 0n);
    expect(existsSync(join(r.stateDir, 'scsi-pr.json'))).toBe(true);
    const r2 = rig({ stateDir: r.stateDir });
    expect((await readKeys(r2)).keys).toEqual([0x1234n]);
    expect(await canWrite(r2, B)).toBe(false);
    expect(await canWrite(r2, A)).toBe(true);
    // Clearing APTPL removes the file.
    await out(r2, A, 0, 0, 0x1234n, 0x1234n, 0);
    expect(existsSync(join(r.stateDir, 'scsi-pr.json'))).toBe(false);
  });

  it('SPC-2 RESERVE conflicts for the other nexus; RELEASE from it is a no-op', async () => {
    const r = rig();
    expect((await exec(r, [0x16, 0, 0, 0, 0, 0], { nexus: A })).status).toBe(0);
    expect((await exec(r, [0x16, 0, 0, 0, 0, 0], { nexus: A })).status).toBe(0);
    expect((await exec(r, [0x16, 0, 0, 0, 0, 0], { nexus: B })).status).toBe(0x18);
    expect((await exec(r, [0x17, 0, 0, 0, 0, 0], { nexus: B })).status).toBe(0);
    expect((await exec(r, [0x1a, 0, 0x3f, 0, 255, 0], { nexus: B })).status).toBe(0x18);
    expect((await exec(r, [0x12, 0, 0, 0, 96, 0], { nexus: B })).status).toBe(0);
    r.dev.removeNexus(A.id);
    expect((await exec(r, [0x16, 0, 0, 0, 0, 0], { nexus: B })).status).toBe(0);
  });
});
