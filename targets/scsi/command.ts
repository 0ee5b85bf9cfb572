/**
 * What a command handler sees and returns, and the shape of one row of the
 * opcode table. Handlers are pure over (ctx) apart from device I/O and the
 * LU/nexus state they are documented to change; they never throw for a
 * command outcome: failures are `Reply` values carrying a `SenseSpec`.
 */
import type { TargetView } from '../../src/worker/contract.js';
import type { LuState } from './lu.js';
import type { SenseSpec } from './sense.js';
import type { ScsiCommand, ScsiNexus, ScsiTransportHooks } from './types.js';

export interface Reply {
  status: number;
  sense?: SenseSpec;
  dataIn?: Buffer;
  /** A READ whose data the transport sends from the device (ScsiResult.dataInFrom); `read` is the ordinary way. */
  dataInFrom?: { offsetBytes: number; lengthBytes: number; read(): Promise<Reply> };
}

export const GOOD: Reply = Object.freeze({ status: 0x00 }) as Reply;

export function checkCondition(sense: SenseSpec): Reply {
  return { status: 0x02, sense };
}

export function dataIn(data: Buffer, allocationLength: number): Reply {
  return { status: 0x00, dataIn: data.length > allocationLength ? data.subarray(0, allocationLength) : data };
}

/** Unit attentions pending for one nexus, per LUN (SAM-5 5.14: per I_T_L nexus). */
export interface NexusState {
  readonly nexus: ScsiNexus;
  readonly ua: Map<number, number[]>;
}

/** What handlers need from the target-wide emulation. */
export interface Core {
  readonly target: TargetView;
  readonly hooks: ScsiTransportHooks;
  lu(lun: number): LuState | undefined;
  /** Configured LUN numbers, ascending. */
  lunNumbers(): number[];
  nexuses(): Iterable<NexusState>;
  /** Queue a unit attention for `lun` on every nexus except `exceptId`. */
  queueUa(lun: number, asc: number, exceptId?: string): void;
  /** Queue a unit attention for `lun` on nexuses whose ScsiNexus matches. */
  queueUaWhere(lun: number, asc: number, match: (n: ScsiNexus) => boolean): void;
  /** Persist the LUN's PR state when APTPL is active; resolves when durable. */
  savePr(lu: LuState): Promise<void>;
  readonly opcodes: readonly OpRow[];
}

export interface Ctx<L extends LuState | undefined = LuState> {
  readonly cmd: ScsiCommand;
  readonly cdb: Buffer;
  readonly nexus: NexusState;
  readonly core: Core;
  readonly lu: L;
}

/**
 * How a command behaves while another nexus holds a reservation
 * (spc4r37 table 62 / sbc4r15 table 13, "commands allowed in the presence of
 * various reservations").
 * - always: allowed under every reservation type;
 * - read:   allowed under Write Exclusive types, conflicts under Exclusive Access;
 * - write:  conflicts under every type;
 * Registrants of RO/AR types are treated as holders for access.
 */
export type PrClass = 'always' | 'read' | 'write';

export interface OpRow {
  readonly name: string;
  readonly op: number;
  /** Service action, for opcodes that carry one (byte 1 bits 4..0). */
  readonly sa?: number;
  readonly direction: 'none' | 'read' | 'write';
  /** CDB usage data for REPORT SUPPORTED OPERATION CODES (spc4r37 6.35.3); [0] is the opcode. */
  readonly usage: readonly number[];
  /** Bytes the CDB asks to move (data-in or data-out). */
  xfer(cdb: Buffer, blockSize: number): number;
  /** Runs when the LUN exists. */
  readonly run?: (ctx: Ctx) => Reply | Promise<Reply>;
  /** Runs whether or not the LUN exists (INQUIRY, REPORT LUNS, REQUEST SENSE). */
  readonly runAny?: (ctx: Ctx<LuState | undefined>) => Reply | Promise<Reply>;
  readonly pr: PrClass | ((ctx: Ctx) => PrClass);
  /** Allowed while another nexus holds an SPC-2 RESERVE (spc2r20 5.5.1). */
  readonly spc2Allowed?: boolean;
  /** Neither reports nor clears unit attentions (SAM-5 5.14: INQUIRY, REPORT LUNS). */
  readonly skipUa?: boolean;
  /** Needs the medium: NOT READY / MEDIUM NOT PRESENT when ejected. */
  readonly medium?: boolean;
  /** Nominal / recommended timeouts in seconds for RCTD. */
  readonly timeout?: number;
  /**
   * Offered on this LU only when true (features that depend on the LU's
   * provisioning or backend). An LU that is not offered a row neither runs
   * it (answered as an unsupported opcode / service action) nor lists it in
   * REPORT SUPPORTED OPERATION CODES. Absent = always offered.
   */
  readonly offered?: (lu: LuState) => boolean;
}
