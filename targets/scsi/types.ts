/**
 * The contract between a SCSI transport (targets/iscsi) and the SCSI device
 * emulation (targets/scsi). Transport-independent: the transport gathers all
 * data-out before `execute`, and sends data-in / status afterwards.
 */
import type { BlockDevice } from '../../src/block/device.js';

/** An I_T nexus: one initiator port talking to one target port. */
export interface ScsiNexus {
  /** Unique within the target, stable for the nexus lifetime, e.g. "iqn.x,i,0x<isid>". */
  id: string;
  /** TransportID material (iSCSI initiator name, ISID as 12 hex digits). */
  initiatorName: string;
  isid: string;
  /** Relative target port identifier and target portal group tag (VPD 0x83, ALUA). */
  relativeTargetPort: number;
  targetPortalGroup: number;
}

export type DataDirection = 'none' | 'read' | 'write' | 'bidi';

export type TaskAttribute = 'simple' | 'ordered' | 'head' | 'aca';

export interface ScsiCommand {
  nexus: ScsiNexus;
  lun: number;
  cdb: Buffer;
  /** Direction and length the transport announced (iSCSI R/W bits and EDTL). */
  direction: DataDirection;
  expectedLength: number;
  /** Every data-out byte the initiator sent, at most expectedLength. */
  dataOut?: Buffer;
  taskAttr: TaskAttribute;
  /** Transport task tag, for aborts. */
  taskTag: number;
  /**
   * The transport can send a large READ's data straight from the device
   * (BlockDevice.sendTo): the result may then carry `dataInFrom` instead
   * of `dataIn`.
   */
  canSendFromDevice?: boolean;
}

/**
 * Data-in not read yet: `lengthBytes` of `device` from `offsetBytes`, GOOD
 * status if it all gets sent. The transport sends it with `device.sendTo`
 * and reports `sent`; where it cannot (nothing was sent), it calls `read`
 * for the command's ordinary result (data-in, or CHECK CONDITION when the
 * read fails) and sends that instead.
 */
export interface DeferredDataIn {
  device: BlockDevice;
  offsetBytes: number;
  lengthBytes: number;
  read(): Promise<ScsiResult>;
  /** Account the transfer (per-LUN stats) once it went out through sendTo. */
  sent(): void;
}

export interface ScsiResult {
  /** SAM status: 0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY, 0x18 RESERVATION CONFLICT, ... */
  status: number;
  /** Sense data (fixed or descriptor format) when status is CHECK CONDITION. */
  sense?: Buffer;
  /** Data-in, already truncated to the CDB's allocation length; never longer than expectedLength. */
  dataIn?: Buffer;
  /** Instead of `dataIn`, only when the command allowed it (`canSendFromDevice`). */
  dataInFrom?: DeferredDataIn;
  /**
   * Bytes the command would move per its CDB (data-in or data-out). The
   * transport derives residual over/underflow from this vs expectedLength.
   */
  transferLength: number;
}

/** What the SCSI core asks of the transport (PREEMPT AND ABORT, resets). */
export interface ScsiTransportHooks {
  /** Abort every task of these nexuses on this LUN (no response is sent for them). */
  abortTasks(nexusIds: string[], lun: number): void;
}

/**
 * The SCSI emulation of one target as a transport sees it. Implemented by
 * `ScsiTargetDevice` in targets/scsi; one instance per target, living on the
 * target's event loop, shared by every session and connection of it.
 */
export interface ScsiTargetServer {
  /**
   * Execute one command. Never rejects: every failure is a CHECK CONDITION
   * result. A command that needed no waiting (a READ from the page cache, a
   * buffered WRITE: BlockDevice.readNow / writeNow) returns its result
   * directly, so the transport can answer within the same callback.
   */
  execute(cmd: ScsiCommand): ScsiResult | Promise<ScsiResult>;
  /** A new I_T nexus (iSCSI session) logged in: it gets a POWER ON/RESET unit attention. */
  addNexus(nexus: ScsiNexus): void;
  /** The nexus is gone (session closed): drop its UAs and registrations that are not APTPL-held. */
  removeNexus(nexusId: string): void;
  /** LOGICAL UNIT RESET from `by`: reservations (not PR) cleared, UA for every other nexus. */
  lunReset(lun: number, by: ScsiNexus): void;
  /** TARGET WARM/COLD RESET from `by`. */
  targetReset(by: ScsiNexus): void;
  /** I_T NEXUS RESET. */
  nexusReset(nexusId: string): void;
  /** LUN table changed (capacity change / REPORTED LUNS DATA HAS CHANGED unit attentions). */
  lunChanged(change: { kind: 'added' | 'removed' | 'resized' | 'params'; lun: number }): void;
}
