/**
 * Task management (RFC 7143 §11.5, §11.6, §4.2.3.3). Aborted tasks get no
 * response; the TMF response is sent only after every affected task that
 * reached the backend has settled (its write may still land, but nothing is
 * reported for it).
 */
import type { ScsiNexus, ScsiTargetServer } from '../../scsi/types.js';
import type { TargetView } from '../../../src/worker/contract.js';
import { Op, TmfFunction, TmfResponse } from '../constants.js';
import { lunToNumber } from '../lun.js';
import type { TmfRequest } from '../pdu-types.js';
import type { Connection } from './connection.js';
import { snLt } from './sn.js';
import type { Task } from './task.js';

export interface TmfHost {
  readonly tasks: Map<number, Task>;
  readonly nexus: ScsiNexus;
  readonly scsi: ScsiTargetServer;
  readonly expCmdSN: number;
  readonly host: { target: TargetView; sessions(): Iterable<TmfHost & { close(reason: string): void }> };
  window: { remove(pred: (item: { task?: Task }) => boolean): unknown[] };
  respond(conn: Connection, pdu: Record<string, unknown> & { opcode: number }): void;
}

/** Mark matching tasks aborted, drop the queued ones; returns the in-flight promises to wait for. */
export function abortTasks(host: TmfHost, pred: (t: Task) => boolean): Promise<void>[] {
  const waits: Promise<void>[] = [];
  for (const task of [...host.tasks.values()]) {
    if (!pred(task)) continue;
    task.aborted = true;
    host.tasks.delete(task.itt);
    if (task.settled) waits.push(task.settled);
  }
  host.window.remove((item) => item.task !== undefined && item.task.aborted);
  return waits;
}

const LUN_SCOPED: ReadonlySet<number> = new Set([
  TmfFunction.ABORT_TASK_SET,
  TmfFunction.CLEAR_ACA,
  TmfFunction.CLEAR_TASK_SET,
  TmfFunction.LOGICAL_UNIT_RESET,
]);

export async function handleTmf(host: TmfHost, conn: Connection, pdu: TmfRequest): Promise<void> {
  const response = await performTmf(host, pdu);
  if (conn.closed) return;
  host.respond(conn, { opcode: Op.TMF_RESP, final: true, response, itt: pdu.itt });
  if (pdu.function === TmfFunction.TARGET_COLD_RESET && response === TmfResponse.FUNCTION_COMPLETE) {
    // §11.5.1: a cold reset also drops every connection of the target.
    for (const s of [...host.host.sessions()]) s.close('target cold reset');
  }
}

async function performTmf(host: TmfHost, pdu: TmfRequest): Promise<number> {
  const lun = lunToNumber(pdu.lun);
  if (LUN_SCOPED.has(pdu.function) && !host.host.target.lun(lun)) return TmfResponse.LUN_DOES_NOT_EXIST;
  switch (pdu.function) {
    case TmfFunction.ABORT_TASK:
      return abortOne(host, pdu);
    case TmfFunction.ABORT_TASK_SET:
      await Promise.allSettled(abortTasks(host, (t) => t.lun === lun && t.itt !== pdu.itt));
      return TmfResponse.FUNCTION_COMPLETE;
    case TmfFunction.CLEAR_TASK_SET:
      await Promise.allSettled(everySession(host, (t) => t.lun === lun));
      return TmfResponse.FUNCTION_COMPLETE;
    case TmfFunction.CLEAR_ACA:
      return TmfResponse.FUNCTION_COMPLETE;
    case TmfFunction.LOGICAL_UNIT_RESET:
      await Promise.allSettled(everySession(host, (t) => t.lun === lun));
      host.scsi.lunReset(lun, host.nexus);
      return TmfResponse.FUNCTION_COMPLETE;
    case TmfFunction.TARGET_WARM_RESET:
    case TmfFunction.TARGET_COLD_RESET:
      await Promise.allSettled(everySession(host, () => true));
      host.scsi.targetReset(host.nexus);
      return TmfResponse.FUNCTION_COMPLETE;
    case TmfFunction.TASK_REASSIGN:
      return TmfResponse.REASSIGNMENT_NOT_SUPPORTED; // ERL 0 (§11.5.1)
    default:
      return TmfResponse.FUNCTION_NOT_SUPPORTED;
  }
}

async function abortOne(host: TmfHost, pdu: TmfRequest): Promise<number> {
  const task = host.tasks.get(pdu.referencedTaskTag);
  if (!task) {
    // §11.5.1: a task not yet received (RefCmdSN ahead of ExpCmdSN) counts as aborted.
    return snLt(pdu.refCmdSN, host.expCmdSN) ? TmfResponse.TASK_DOES_NOT_EXIST : TmfResponse.FUNCTION_COMPLETE;
  }
  await Promise.allSettled(abortTasks(host, (t) => t === task));
  return TmfResponse.FUNCTION_COMPLETE;
}

function everySession(host: TmfHost, pred: (t: Task) => boolean): Promise<void>[] {
  const waits: Promise<void>[] = [];
  for (const s of host.host.sessions()) waits.push(...abortTasks(s, pred));
  return waits;
}
