/**
 * SANITIZE (sbc4r15 5.29). Supported service actions:
 * - BLOCK ERASE (02h), only on LUNs with logical block provisioning
 *   (LBPME = 1: thin and a device that can discard): every logical block is
 *   deallocated; reads afterwards succeed and return zeroes (VPD B1h
 *   WABEREQ = 01b, LBPRZ). After a block erase GET LBA STATUS must report
 *   every LBA deallocated or anchored (libiscsi Sanitize.BlockErase checks
 *   it), which a fully provisioned LUN cannot do, so there it is not
 *   offered: not run, not in REPORT SUPPORTED OPERATION CODES, WABEREQ 0.
 * - EXIT FAILURE MODE (1Fh): nothing can fail half-way here, so there is no
 *   failure mode to leave; accepted with a zero parameter list.
 * OVERWRITE (01h) and CRYPTO ERASE (03h) are optional (sbc4r15 4.11) and not
 * offered: no encryption, and an overwrite is what BLOCK ERASE already does
 * without holding the initiator for a full-LUN write (docs/iscsi-conformance.md).
 * The operation completes before status is returned, with IMMED set or not
 * (an early GOOD would be allowed; a late one is never wrong).
 */
import { checkCondition, GOOD, type Ctx, type Reply } from '../command.js';
import type { LuState } from '../lu.js';
import { deviceOp, isReply } from '../io.js';
import { invalidFieldInCdb, WRITE_PROTECTED } from '../sense.js';

/** Largest single discard / write-zeroes request a sanitize issues. */
const SANITIZE_CHUNK_BYTES = 1 << 30;

/** Byte 1 bit 6 and bytes 2..6 are reserved (sbc4r15 table 63). */
function reservedField(cdb: Buffer): Reply | undefined {
  if (cdb[1]! & 0x40) return checkCondition(invalidFieldInCdb(1, 6));
  for (let i = 2; i <= 6; i++) if (cdb[i] !== 0) return checkCondition(invalidFieldInCdb(i));
  return undefined;
}

/** BLOCK ERASE and EXIT FAILURE MODE take no parameter list (sbc4r15 5.29.2). */
function noParameters(cdb: Buffer): Reply | undefined {
  return cdb.readUInt16BE(7) !== 0 ? checkCondition(invalidFieldInCdb(7)) : undefined;
}

export function sanitizeBlockEraseOffered(lu: LuState): boolean {
  return lu.thin;
}

export async function sanitizeBlockErase(ctx: Ctx): Promise<Reply> {
  const { cdb, lu } = ctx;
  const bad = reservedField(cdb) ?? noParameters(cdb);
  if (bad) return bad;
  if (lu.readOnly) return checkCondition(WRITE_PROTECTED);
  const size = Number(lu.blocks) * lu.blockSize;
  const device = lu.handle.device;
  for (let at = 0; at < size; at += SANITIZE_CHUNK_BYTES) {
    const n = Math.min(SANITIZE_CHUNK_BYTES, size - at);
    const r = await deviceOp(lu, true, () => device.discard(at, n));
    if (isReply(r)) return r;
  }
  return GOOD;
}

export function sanitizeExitFailureMode(ctx: Ctx): Reply {
  return reservedField(ctx.cdb) ?? noParameters(ctx.cdb) ?? GOOD;
}
