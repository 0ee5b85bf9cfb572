import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll } from 'vitest';
import { MemoryDevice } from '../../../backends/memory/device.js';
import { defaultLunParams, LocalTarget, Lun, PlainCounters } from '../../../src/worker/local-target.js';
import type { LunParams } from '../../../src/worker/contract.js';
import { ScsiTargetDevice } from '../../../targets/scsi/index.js';
import { decodeSense } from '../../../targets/scsi/sense.js';
import type { ScsiNexus, ScsiResult } from '../../../targets/scsi/types.js';

export const BS = 512;

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
export const BLOCKS = 2048;

export function nexus(n: number, port = 1): ScsiNexus {
  const isid = `40000000000${n}`;
  return { id: `iqn.test:init${n},i,0x${isid},${port}`, initiatorName: `iqn.test:init${n}`, isid, relativeTargetPort: port, targetPortalGroup: 1 };
}

export interface Rig {
  target: LocalTarget;
  dev: ScsiTargetDevice;
  mem: MemoryDevice;
  stateDir: string;
  aborted: Array<{ ids: string[]; lun: number }>;
}

export function rig(opts: { params?: Partial<LunParams>; stateDir?: string; blocks?: number } = {}): Rig {
  const log = pino({ level: 'silent' });
  const counters = new PlainCounters();
  const target = new LocalTarget(1, 'iqn.test:tgt', log, counters, () => undefined);
  const mem = new MemoryDevice({ sizeBytes: (opts.blocks ?? BLOCKS) * BS, blockSize: BS });
  let stateDir = opts.stateDir;
  if (!stateDir) tempDirs.push((stateDir = mkdtempSync(join(tmpdir(), 'scsi-test-'))));
  target.addLun(new Lun(0, mem, defaultLunParams('SER0001', opts.params ?? {}), counters, stateDir));
  const aborted: Rig['aborted'] = [];
  const dev = new ScsiTargetDevice(target, { abortTasks: (ids, lun) => aborted.push({ ids, lun }) });
  return { target, dev, mem, stateDir, aborted };
}

export interface ExecOpts {
  lun?: number;
  dataOut?: Buffer;
  expectedLength?: number;
  nexus?: ScsiNexus;
}

export function exec(r: Rig, cdb: number[] | Buffer, o: ExecOpts = {}): Promise<ScsiResult> {
  const c = Buffer.isBuffer(cdb) ? cdb : Buffer.from(cdb);
  return Promise.resolve(r.dev.execute({
    nexus: o.nexus ?? nexus(1),
    lun: o.lun ?? 0,
    cdb: c,
    direction: o.dataOut ? 'write' : 'read',
    expectedLength: o.expectedLength ?? o.dataOut?.length ?? 65536,
    dataOut: o.dataOut,
    taskAttr: 'simple',
    taskTag: 1,
  }));
}

export function sense(res: ScsiResult): { key: number; asc: number; information?: bigint; descriptor: boolean } {
  if (!res.sense) throw new Error(`no sense, status ${res.status}`);
  return decodeSense(res.sense);
}

export function cdb10(op: number, lba: number, blocks: number, flags = 0): number[] {
  return [op, flags, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, (blocks >> 8) & 0xff, blocks & 0xff, 0];
}

export function cdb16(op: number, lba: bigint, blocks: number, flags = 0): Buffer {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = flags;
  b.writeBigUInt64BE(lba, 2);
  b.writeUInt32BE(blocks, 10);
  return b;
}
