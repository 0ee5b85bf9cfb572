/**
 * REPORT SUPPORTED OPERATION CODES (spc4r37 6.35), generated from the
 * opcode table so the report cannot drift from what the dispatcher runs.
 */
import { checkCondition, dataIn, type Ctx, type OpRow, type Reply } from '../command.js';
import { invalidFieldInCdb } from '../sense.js';

function timeouts(row: OpRow): Buffer {
  const t = Buffer.alloc(12);
  t.writeUInt16BE(0x0a, 0);
  t.writeUInt32BE(row.timeout ?? 30, 4);
  t.writeUInt32BE(row.timeout ?? 30, 8);
  return t;
}

function allCommands(rows: readonly OpRow[], rctd: boolean): Buffer {
  const descs = rows.map((r) => {
    const d = Buffer.alloc(8);
    d[0] = r.op;
    d.writeUInt16BE(r.sa ?? 0, 2);
    d[5] = (rctd ? 0x02 : 0) | (r.sa !== undefined ? 0x01 : 0);
    d.writeUInt16BE(r.usage.length, 6);
    return rctd ? Buffer.concat([d, timeouts(r)]) : d;
  });
  const body = Buffer.concat(descs);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

function oneCommand(row: OpRow | undefined, rctd: boolean): Buffer {
  if (!row) {
    const b = Buffer.alloc(4);
    b[1] = 0x01; // SUPPORT 001b: not supported
    return b;
  }
  const h = Buffer.alloc(4);
  h[1] = (rctd ? 0x80 : 0) | 0x03; // CTDP, SUPPORT 011b
  h.writeUInt16BE(row.usage.length, 2);
  const parts: Buffer[] = [h, Buffer.from(row.usage)];
  if (rctd) parts.push(timeouts(row));
  return Buffer.concat(parts);
}

export function reportSupportedOpcodes(ctx: Ctx): Reply {
  const { cdb } = ctx;
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  const op = cdb[3]!;
  const sa = cdb.readUInt16BE(4);
  const alloc = cdb.readUInt32BE(6);
  const rows = ctx.core.opcodes.filter((r) => !r.offered || r.offered(ctx.lu));
  const hasSa = rows.some((r) => r.op === op && r.sa !== undefined);
  switch (options) {
    case 0:
      return dataIn(allCommands(rows, rctd), alloc);
    case 1:
      if (hasSa) return checkCondition(invalidFieldInCdb(3));
      return dataIn(oneCommand(rows.find((r) => r.op === op), rctd), alloc);
    case 2:
      if (!hasSa && rows.some((r) => r.op === op)) return checkCondition(invalidFieldInCdb(3));
      return dataIn(oneCommand(rows.find((r) => r.op === op && r.sa === sa), rctd), alloc);
    case 3:
      return dataIn(oneCommand(rows.find((r) => r.op === op && (r.sa === undefined || r.sa === sa)), rctd), alloc);
    default:
      return checkCondition(invalidFieldInCdb(2, 0));
  }
}
