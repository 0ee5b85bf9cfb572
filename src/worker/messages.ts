/**
 * Typed messages between the management plane and a target loop. They cross
 * postMessage, so they are plain structured-cloneable data; errors are
 * `{ code, message }`, never Error objects.
 */
import type { MessagePort } from 'node:worker_threads';
import type { BlockDeviceInfo } from '../block/device.js';
import type { LunParams, ProtocolName, SessionEvent } from './contract.js';
import type { LunIdentity, LunIdentitySpec } from './lun-identity.js';

/** How a target loop opens a LUN's backend (the opener lives in src/bin). */
export interface BackendSpec {
  bstype: 'file' | 'memory' | 'chunk';
  /** File path, or chunk volume name. */
  path: string;
  /** Create a sparse file / volume of this size when it does not exist. */
  createSizeBytes?: number;
  readOnly?: boolean;
  blockSize?: number;
  serial: string;
  /** Backend options string (tgt --bsopts), e.g. "mds=127.0.0.1:6700". */
  bsopts?: string;
}

/** A snapshot of a LUN device's info as the management plane keeps it (plain data). */
export type LunDeviceInfo = BlockDeviceInfo;

export type ControlRequest =
  | {
      type: 'addLun';
      lun: number;
      backend: BackendSpec;
      params: LunParams;
      /** What params' identity was derived from: re-derived when the device has its own id. */
      identity: LunIdentitySpec;
      stats: SharedArrayBuffer;
      /** The data dir's state/ directory; the LUN's own is lunStateDir(stateRoot, its uuid). */
      stateRoot: string;
      /** The pre-identity state directory (state/<target>/lun<N>): its PR file moves to the LUN's own once. */
      legacyStateDir?: string;
    }
  | { type: 'removeLun'; lun: number; drainMs: number }
  | { type: 'resizeLun'; lun: number; sizeBytes: number }
  /** New serial / T10 designator (bgadm update scsi_sn / scsi_id): initiators get INQUIRY DATA HAS CHANGED. */
  | { type: 'setLunIdentity'; lun: number; identity: LunIdentity }
  | {
      type: 'adopt';
      protocol: ProtocolName;
      /** A dup(2)'d socket descriptor, or a port carrying a bridged (TLS) stream. */
      fd?: number;
      port?: MessagePort;
      leftover: Uint8Array;
      state: unknown;
      sid: number;
      cid: number;
      peer: string;
      local: string;
    }
  | { type: 'closeSession'; protocol: ProtocolName; sid: number; reason: string }
  | { type: 'closeConnection'; protocol: ProtocolName; sid: number; cid: number; reason: string }
  | { type: 'shutdown'; reason: string };

export type ControlEnvelope = ControlRequest & { id: number };

export interface ControlError {
  code: string;
  message: string;
}

export type LoopMessage =
  | { type: 'reply'; id: number; ok: true; data?: LunDeviceInfo | Record<string, unknown> }
  | { type: 'reply'; id: number; ok: false; error: ControlError }
  | { type: 'event'; event: SessionEvent }
  | { type: 'ready' };
