import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPCODES } from '../../../targets/scsi/opcodes.js';
import { decodeSense } from '../../../targets/scsi/sense.js';
import { exec, nexus, rig } from './harness.js';
import { xorshift32 as prng } from '../../helpers/rng.js';

const SAM_STATUS = new Set([0x00, 0x02, 0x04, 0x08, 0x18, 0x28, 0x30, 0x40]);


describe('fuzz', () => {
  it('random CDBs never reject and always yield a SAM status', async () => {
    const r = rig({ params: { removable: true } });
    const rnd = prng(0x5c5c1);
    const ops = OPCODES.map((o) => o.op);
    for (let i = 0; i < 1500; i++) {
      const len = [6, 10, 12, 16][Math.floor(rnd() * 4)]!;
      const cdb = Buffer.alloc(len);
      for (let j = 0; j < len; j++) cdb[j] = Math.floor(rnd() * 256);
      if (rnd() < 0.7) cdb[0] = ops[Math.floor(rnd() * ops.length)]!;
      // Keep transfer lengths small so the memory device is not asked for gigabytes.
      if (len >= 10 && rnd() < 0.8) cdb.fill(0, len - 6, len - 2);
      const dataOut = rnd() < 0.5 ? Buffer.alloc(Math.floor(rnd() * 2048), Math.floor(rnd() * 256)) : undefined;
      const res = await exec(r, cdb, { dataOut, expectedLength: 4096, nexus: nexus(1 + (i % 3)), lun: rnd() < 0.05 ? 3 : 0 });
      expect(SAM_STATUS.has(res.status)).toBe(true);
      if (res.status === 0x02) {
        expect(res.sense && res.sense.length >= 8).toBe(true);
        // A handler bug shows up as HARDWARE ERROR / INTERNAL TARGET FAILURE.
        expect(decodeSense(res.sense!).asc, cdb.toString('hex')).not.toBe(0x4400);
      }
      if (res.dataIn) expect(res.dataIn.length).toBeLessThanOrEqual(4096);
    }
  });
});

describe('docs/scsi.md', () => {
  it('lists every command of the opcode table and nothing else', () => {
    const doc = readFileSync(new URL('../../../docs/scsi.md', import.meta.url), 'utf8');
    const listed = [...doc.matchAll(/^\| `([0-9A-F]{2}h(?:\/[0-9A-F]{2}h)?)` \| ([^|]+?) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0') + 'h';
    const table = OPCODES.map((o) => `${hex(o.op)}${o.sa !== undefined ? '/' + hex(o.sa) : ''} ${o.name}`);
    expect(listed).toEqual(table);
  });
});
