/**
 * ScsiTargetDevice: the SCSI emulation of one target (SAM-5 / SPC-4 /
 * SBC-4), shared by every session of it and living on the target's loop.
 *
 * execute() never rejects: it validates the CDB once (LUN, unit attention,
 * reservation conflict, medium), runs the row's handler from the opcode
 * table and turns the handler's Reply into a ScsiResult with sense in the
 * format the LUN's D_SENSE selects. Programmer bugs surface as CHECK
 * CONDITION / HARDWARE ERROR / INTERNAL TARGET FAILURE and are logged.
 */
import type { LunHandle, TargetView } from '../../src/worker/contract.js';
import { checkCondition, type Core, type Ctx, type NexusState, type OpRow, type Reply } from './command.js';
import { ASC, SENSE_KEY } from './constants.js';
import { isAllRegistrants, LuState, PR_TYPE } from './lu.js';
import { rwXfer } from './io.js';
import { cdbLength, findRow, OPCODES, SA_OPCODES } from './opcodes.js';
import { loadPr, savePrFile } from './pr-store.js';
import { encodeSense, illegalRequest, INTERNAL_TARGET_FAILURE, INVALID_OPCODE, invalidFieldInCdb } from './sense.js';
import type { DeferredDataIn, ScsiCommand, ScsiNexus, ScsiResult, ScsiTargetServer, ScsiTransportHooks } from './types.js';

/** Pending unit attentions kept per I_T_L nexus; older ones win when full. */
const MAX_PENDING_UA = 16;
const RESERVATION_CONFLICT: Reply = { status: 0x18 };
const MEDIUM_NOT_PRESENT = { key: SENSE_KEY.NOT_READY, asc: ASC.MEDIUM_NOT_PRESENT };

export class ScsiTargetDevice implements ScsiTargetServer, Core {
  readonly opcodes: readonly OpRow[] = OPCODES;
  private readonly lus = new Map<number, LuState>();
  private readonly nexusTable = new Map<string, NexusState>();

  constructor(
    readonly target: TargetView,
    readonly hooks: ScsiTransportHooks,
  ) {
    for (const h of target.luns()) this.attach(h);
  }

  // ---- Core (what handlers use) ---------------------------------------------

  lu(lun: number): LuState | undefined {
    const h = this.target.lun(lun);
    if (!h) {
      this.lus.delete(lun);
      return undefined;
    }
    const cur = this.lus.get(lun);
    return cur && cur.handle === h ? cur : this.attach(h);
  }

  lunNumbers(): number[] {
    return this.target.luns().map((l) => l.lun);
  }

  nexuses(): Iterable<NexusState> {
    return this.nexusTable.values();
  }

  queueUa(lun: number, asc: number, exceptId?: string): void {
    for (const ns of this.nexusTable.values()) if (ns.nexus.id !== exceptId) pushUa(ns, lun, asc);
  }

  queueUaWhere(lun: number, asc: number, match: (n: ScsiNexus) => boolean): void {
    for (const ns of this.nexusTable.values()) if (match(ns.nexus)) pushUa(ns, lun, asc);
  }

  async savePr(lu: LuState): Promise<void> {
    try {
      await savePrFile(lu.handle.stateDir, lu.pr);
    } catch (err) {
      this.target.log.error({ lun: lu.handle.lun, err }, 'persisting PR state failed');
    }
  }

  // ---- ScsiTargetServer -------------------------------------------------------

  execute(cmd: ScsiCommand): ScsiResult | Promise<ScsiResult> {
    try {
      const r = this.dispatch(cmd);
      return r instanceof Promise ? r.catch((err: unknown) => this.handlerFailed(cmd, err)) : r;
    } catch (err) {
      return this.handlerFailed(cmd, err);
    }
  }

  private handlerFailed(cmd: ScsiCommand, err: unknown): ScsiResult {
    this.target.log.error({ lun: cmd.lun, op: cmd.cdb[0], err }, 'SCSI command handler failed');
    return { status: 0x02, sense: encodeSense(INTERNAL_TARGET_FAILURE, false), transferLength: 0 };
  }

  addNexus(nexus: ScsiNexus): void {
    const ns: NexusState = { nexus, ua: new Map() };
    this.nexusTable.set(nexus.id, ns);
    for (const lun of this.lunNumbers()) pushUa(ns, lun, ASC.POWER_ON_RESET);
  }

  removeNexus(nexusId: string): void {
    this.nexusTable.delete(nexusId);
    // Registrations stay (spc4r37 5.13.11.1: PR state survives I_T nexus loss).
    for (const lu of this.lus.values()) this.dropNexusState(lu, nexusId);
  }

  /**
   * SAM-5 §5.8.7 / §6.3.3: a logical unit reset establishes the unit
   * attention for every I_T nexus, the one that asked included (libiscsi
   * MultipathIO.Reset checks every path; tgt and LIO do the same).
   */
  lunReset(lun: number, _by: ScsiNexus): void {
    const lu = this.lu(lun);
    if (!lu) return;
    lu.spc2Holder = undefined;
    lu.preventers.clear();
    this.queueUa(lun, ASC.BUS_DEVICE_RESET);
  }

  targetReset(_by: ScsiNexus): void {
    for (const lun of this.lunNumbers()) {
      const lu = this.lu(lun);
      if (!lu) continue;
      lu.spc2Holder = undefined;
      lu.preventers.clear();
      this.queueUa(lun, ASC.POWER_ON_RESET);
    }
  }

  nexusReset(nexusId: string): void {
    const ns = this.nexusTable.get(nexusId);
    for (const lu of this.lus.values()) this.dropNexusState(lu, nexusId);
    if (ns) for (const lun of this.lunNumbers()) pushUa(ns, lun, ASC.I_T_NEXUS_LOSS);
  }

  lunChanged(change: { kind: 'added' | 'removed' | 'resized' | 'params'; lun: number }): void {
    if (change.kind === 'resized') {
      this.queueUa(change.lun, ASC.CAPACITY_DATA_HAS_CHANGED);
      return;
    }
    if (change.kind === 'params') {
      // The LU is the same (its reservations and mode pages stay); INQUIRY reads the new params from its handle.
      this.queueUa(change.lun, 0x3f03); // INQUIRY DATA HAS CHANGED
      return;
    }
    if (change.kind === 'removed') {
      this.lus.delete(change.lun);
      for (const ns of this.nexusTable.values()) ns.ua.delete(change.lun);
    }
    // spc4r37 6.33: every LUN of the target reports the inventory change.
    for (const lun of this.lunNumbers()) this.queueUa(lun, ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
  }

  // ---- dispatch ---------------------------------------------------------------

  private attach(h: LunHandle): LuState {
    const lu = new LuState(h);
    try {
      const pr = loadPr(h.stateDir);
      if (pr) lu.pr = pr;
    } catch (err) {
      this.target.log.error({ lun: h.lun, err }, 'ignoring unreadable PR state');
    }
    this.lus.set(h.lun, lu);
    return lu;
  }

  private dropNexusState(lu: LuState, nexusId: string): void {
    if (lu.spc2Holder === nexusId) lu.spc2Holder = undefined;
    lu.preventers.delete(nexusId);
  }

  private nexusState(nexus: ScsiNexus): NexusState {
    let ns = this.nexusTable.get(nexus.id);
    if (!ns) {
      // A transport that skipped addNexus still gets a working nexus, without UA.
      ns = { nexus, ua: new Map() };
      this.nexusTable.set(nexus.id, ns);
    }
    return ns;
  }

  private dispatch(cmd: ScsiCommand): ScsiResult | Promise<ScsiResult> {
    const ns = this.nexusState(cmd.nexus);
    const lu = this.lu(cmd.lun);
    const op = cmd.cdb[0] ?? 0;
    const len = cdbLength(op);
    const bs = lu ? lu.blockSize : 512;
    if (cmd.cdb.length === 0 || (len > 0 && cmd.cdb.length < len)) return this.finish(cmd, lu, checkCondition(invalidFieldInCdb(0)), 0);
    const cdb = len > 0 && cmd.cdb.length > len ? cmd.cdb.subarray(0, len) : cmd.cdb;
    const row = findRow(cdb);
    if (!row || (!lu && !row.runAny) || (lu && row.offered && !row.offered(lu))) {
      return this.finish(cmd, lu, this.unsupported(ns, cmd.lun, lu !== undefined, cdb), 0);
    }
    const xfer = row.xfer(cdb, bs);
    const ctx: Ctx<LuState | undefined> = { cmd, cdb, nexus: ns, core: this, lu };
    if (lu) {
      const early = this.precheck(row, ctx as Ctx);
      if (early) return this.finish(cmd, lu, early, xfer);
    }
    const reply = row.run ? row.run(ctx as Ctx) : row.runAny!(ctx);
    if (reply instanceof Promise) return reply.then((r) => this.finishRow(cmd, lu, row, xfer, r));
    return this.finishRow(cmd, lu, row, xfer, reply);
  }

  private finishRow(cmd: ScsiCommand, lu: LuState | undefined, row: OpRow, xfer: number, reply: Reply): ScsiResult {
    // Data-in limited by an allocation length moves what was built, not the
    // allocation length: a short answer is an underflow (spc4r37 4.2.5.6).
    const moved = row.direction === 'read' && row.xfer !== rwXfer ? (reply.dataIn?.length ?? 0) : xfer;
    return this.finish(cmd, lu, reply, moved);
  }

  /** SAM-5 5.14 unit attention, SPC-4 5.13.1 reservation conflict, SBC-4 4.x medium presence. */
  private precheck(row: OpRow, ctx: Ctx): Reply | undefined {
    if (!row.skipUa) {
      const q = ctx.nexus.ua.get(ctx.cmd.lun);
      if (q && q.length > 0) return checkCondition({ key: SENSE_KEY.UNIT_ATTENTION, asc: q.shift()! });
    }
    if (!ctx.lu.unreserved && this.conflicts(row, ctx)) return RESERVATION_CONFLICT;
    if (row.medium && ctx.lu.ejected) return checkCondition(MEDIUM_NOT_PRESENT);
    return undefined;
  }

  private conflicts(row: OpRow, ctx: Ctx): boolean {
    const { lu } = ctx;
    const n = ctx.cmd.nexus;
    if (lu.spc2Holder !== undefined && lu.spc2Holder !== ctx.nexus.nexus.id) return !row.spc2Allowed;
    const res = lu.pr.reservation;
    if (!res) return false;
    const cls = typeof row.pr === 'function' ? row.pr(ctx) : row.pr;
    if (cls === 'always' || lu.isPrHolder(n)) return false;
    const registrantsShare = res.type === PR_TYPE.WE_RO || res.type === PR_TYPE.EA_RO || isAllRegistrants(res.type);
    if (registrantsShare && lu.registrationOf(n)) return false;
    const exclusiveAccess = res.type === PR_TYPE.EA || res.type === PR_TYPE.EA_RO || res.type === PR_TYPE.EA_AR;
    return cls === 'write' || exclusiveAccess;
  }

  private unsupported(ns: NexusState, lun: number, lunExists: boolean, cdb: Buffer): Reply {
    if (!lunExists) return checkCondition(illegalRequest(ASC.LUN_NOT_SUPPORTED));
    const q = ns.ua.get(lun);
    if (q && q.length > 0) return checkCondition({ key: SENSE_KEY.UNIT_ATTENTION, asc: q.shift()! });
    // A known opcode with an unknown service action: the SA field is what is wrong.
    return checkCondition(SA_OPCODES.has(cdb[0]!) ? invalidFieldInCdb(1, 4) : INVALID_OPCODE);
  }

  private finish(cmd: ScsiCommand, lu: LuState | undefined, reply: Reply, transferLength: number): ScsiResult {
    const out: ScsiResult = { status: reply.status, transferLength };
    if (reply.sense) out.sense = encodeSense(reply.sense, lu?.mode.dsense ?? false);
    if (reply.dataIn && reply.dataIn.length > 0) {
      out.dataIn = reply.dataIn.length > cmd.expectedLength ? reply.dataIn.subarray(0, cmd.expectedLength) : reply.dataIn;
    }
    if (reply.dataInFrom && lu) out.dataInFrom = this.deferred(cmd, lu, reply.dataInFrom, transferLength);
    return out;
  }

  private deferred(cmd: ScsiCommand, lu: LuState, d: NonNullable<Reply['dataInFrom']>, transferLength: number): DeferredDataIn {
    const t0 = process.hrtime.bigint();
    const stats = lu.handle.stats;
    return {
      device: lu.handle.device,
      offsetBytes: d.offsetBytes,
      lengthBytes: Math.min(d.lengthBytes, cmd.expectedLength),
      read: () => d.read().then((r) => this.finish(cmd, lu, r, transferLength)),
      sent: () => stats.record('read', d.lengthBytes, Number(process.hrtime.bigint() - t0), true),
    };
  }
}

function pushUa(ns: NexusState, lun: number, asc: number): void {
  let q = ns.ua.get(lun);
  if (!q) ns.ua.set(lun, (q = []));
  if (!q.includes(asc) && q.length < MAX_PENDING_UA) q.push(asc);
}
