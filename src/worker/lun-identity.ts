/**
 * A LUN's SCSI identity, derived from its 128-bit id (docs/scsi.md,
 * "Device identity"):
 *
 *   VPD 0x80 unit serial   the explicit `scsi_sn`, else the id's 32 hex digits
 *   VPD 0x83 NAA 6         NAA=6 | IEEE company id (24 bits) | the id's top 100 bits
 *   VPD 0x83 T10 vendor id the explicit `scsi_id` verbatim (tgt), else vendor id + serial
 *
 * A device with an identity of its own (a chunk volume, `BlockDeviceInfo.uuid`)
 * supplies the id, so every gateway exporting it reports the same identity.
 * Pure: the same spec always gives the same identity.
 */
import { join } from 'node:path';

/**
 * LIO's IEEE company id (OUI 00-14-05), LIO's own default. blockgate has no
 * registered OUI; an installation that owns one sets `naaCompanyId`.
 */
export const DEFAULT_NAA_COMPANY_ID = 0x001405;

export interface LunIdentitySpec {
  /** 32 hex digits; undefined when the device must supply it (chunk volumes). */
  uuid?: string;
  /** Explicit unit serial (tgt scsi_sn). */
  serial?: string;
  /** Explicit T10 vendor identification designator (tgt scsi_id). */
  scsiId?: string;
  /** 24-bit IEEE company id of the NAA designator. */
  companyId: number;
}

export interface LunIdentity {
  uuid: string;
  serial: string;
  /** The NAA 6 designator, 32 hex digits (16 bytes). */
  naaId: string;
  /** Explicit T10 designator; absent = vendor id + serial. */
  t10Id?: string;
}

export function deriveLunIdentity(spec: LunIdentitySpec, deviceUuid?: string): LunIdentity {
  const uuid = deviceUuid ?? spec.uuid;
  if (uuid === undefined || !/^[0-9a-f]{32}$/.test(uuid)) throw new Error(`LUN has no identity (uuid ${String(uuid)})`);
  const naaId = '6' + (spec.companyId & 0xffffff).toString(16).padStart(6, '0') + uuid.slice(0, 25);
  return {
    uuid,
    serial: spec.serial ?? uuid,
    naaId,
    ...(spec.scsiId !== undefined ? { t10Id: spec.scsiId } : {}),
  };
}

/**
 * Where a LUN's SCSI state (persistent reservations) lives: keyed by its
 * identity, not its target or number, so a new LUN never finds an old
 * LUN's state and a renamed target keeps its LUNs'.
 */
export function lunStateDir(stateRoot: string, uuid: string): string {
  return join(stateRoot, `lu-${uuid}`);
}
