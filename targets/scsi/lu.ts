/**
 * Per-logical-unit SCSI state that outlives one command: mode parameters,
 * the SPC-2 reservation, persistent reservations, medium state and
 * PREVENT ALLOW holders. Owned by ScsiTargetDevice; handlers mutate it only
 * on the target loop, so no locking is needed.
 */
import type { LunHandle } from '../../src/worker/contract.js';
import type { ScsiNexus } from './types.js';

/** Changeable mode parameters (spc4r37 7.5.8 control page, sbc4r15 6.5.5 caching page). */
export interface ModeState {
  /** Caching page: write cache enabled. */
  wce: boolean;
  /** Control page: descriptor-format sense (D_SENSE). */
  dsense: boolean;
  /** Control page: software write protect (SWP). */
  swp: boolean;
  /** Informational exceptions page: MRIE method (0 = none). */
  mrie: number;
}

/** PR types (spc4r37 table 170). */
export const PR_TYPE = {
  WE: 1,
  EA: 3,
  WE_RO: 5,
  EA_RO: 6,
  WE_AR: 7,
  EA_AR: 8,
} as const;

export const PR_TYPES: readonly number[] = Object.values(PR_TYPE);

/** One registered I_T nexus (spc4r37 5.13.7). Identified by ports, not session. */
export interface Registration {
  key: bigint;
  initiatorName: string;
  isid: string;
  relativeTargetPort: number;
  /** Registered through every target port (ALL_TG_PT). */
  allTgPt: boolean;
}

export interface PrReservation {
  type: number;
  /** The holder; for all-registrants types every registrant holds it. */
  holder: Registration;
}

export interface PrState {
  generation: number;
  registrations: Registration[];
  reservation?: PrReservation;
  /** Activate persist through power loss: the state is saved in stateDir. */
  aptpl: boolean;
}

export function isAllRegistrants(type: number): boolean {
  return type === PR_TYPE.WE_AR || type === PR_TYPE.EA_AR;
}

export function regMatches(r: Registration, n: ScsiNexus): boolean {
  return (
    r.initiatorName.toLowerCase() === n.initiatorName.toLowerCase() &&
    r.isid.toLowerCase() === n.isid.toLowerCase() &&
    (r.allTgPt || r.relativeTargetPort === n.relativeTargetPort)
  );
}

export class LuState {
  mode: ModeState;
  /** SPC-2 RESERVE(6/10) holder, by nexus id. */
  spc2Holder: string | undefined;
  pr: PrState = { generation: 0, registrations: [], aptpl: false };
  /** Nexus ids holding PREVENT MEDIUM REMOVAL (sbc4r15 5.15). */
  readonly preventers = new Set<string>();
  /** Removable medium ejected by START STOP UNIT LOEJ. */
  ejected = false;

  constructor(readonly handle: LunHandle) {
    this.mode = defaultMode(handle);
  }

  get blockSize(): number {
    return this.handle.device.info.blockSize;
  }

  get blocks(): bigint {
    return BigInt(Math.floor(this.handle.device.info.sizeBytes / this.handle.device.info.blockSize));
  }

  get readOnly(): boolean {
    return this.handle.params.readOnly || this.handle.device.info.readOnly || this.mode.swp;
  }

  /** Logical block provisioning is advertised (LBPME). */
  get thin(): boolean {
    return this.handle.params.thinProvisioning && this.handle.device.info.canDiscard;
  }

  registrationOf(n: ScsiNexus): Registration | undefined {
    return this.pr.registrations.find((r) => regMatches(r, n));
  }

  /** The nexus holds the persistent reservation (spc4r37 5.13.10). */
  isPrHolder(n: ScsiNexus): boolean {
    const res = this.pr.reservation;
    if (!res) return false;
    if (isAllRegistrants(res.type)) return this.registrationOf(n) !== undefined;
    return regMatches(res.holder, n);
  }

  /** No reservation of either kind: the fast path skips all conflict checks. */
  get unreserved(): boolean {
    return this.spc2Holder === undefined && this.pr.reservation === undefined;
  }
}

export function defaultMode(handle: LunHandle): ModeState {
  return { wce: handle.params.writeCache, dsense: false, swp: false, mrie: 0 };
}
