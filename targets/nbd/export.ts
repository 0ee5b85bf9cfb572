/**
 * What the handshake needs to know about one export, and the truthful
 * transmission flags and size constraints derived from it.
 */
import type { BlockDeviceInfo } from '../../src/block/device.js';
import {
  DEFAULT_MAX_PAYLOAD,
  NBD_FLAG_BLOCK_STATUS_PAYLOAD,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './constants.js';
import type { BlockSizes } from './wire.js';

/**
 * TLS policy of one export: 'off' and 'on' both allow plaintext (TLS is
 * used when the client starts it); 'require' makes it TLS-only
 * (proto.md SELECTIVETLS: NBD_REP_ERR_TLS_REQD before STARTTLS).
 */
export type NbdTlsPolicy = 'off' | 'on' | 'require';

export interface NbdExportEntry {
  /** Canonical export name (NBD_INFO_NAME, NBD_REP_SERVER). */
  name: string;
  tid: number;
  lun: number;
  /** The device's info at negotiation time (size, block sizes, capabilities). */
  info: BlockDeviceInfo;
  /** LUN parameter readonly=1 or a read-only device. */
  readOnly: boolean;
  /** Advertise NBD_FLAG_SEND_TRIM (LUN thin provisioning and a discarding device). */
  thinProvisioning: boolean;
  description?: string;
  tls: NbdTlsPolicy;
  /** Answer NBD_OPT_GO without NBD_INFO_BLOCK_SIZE with NBD_REP_ERR_BLOCK_SIZE_REQD. */
  blockSizeRequired?: boolean;
}

/** What the client negotiated that changes the flags (proto.md "Transmission flags"). */
export interface NegotiatedFeatures {
  /** Structured replies or extended headers: reply chunks are allowed. */
  replyChunks: boolean;
  extendedHeaders: boolean;
}

/**
 * Transmission flags; every flag set is backed by code in transmission.ts.
 * ROTATIONAL stays 0. CAN_MULTI_CONN: every connection of a LUN shares one
 * device and replies only after the device completed, so FLUSH covers all.
 */
export function transmissionFlags(e: NbdExportEntry, n: NegotiatedFeatures): number {
  let f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE;
  if (e.readOnly) f |= NBD_FLAG_READ_ONLY;
  else {
    f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    if (e.thinProvisioning && e.info.canDiscard) f |= NBD_FLAG_SEND_TRIM;
  }
  if (n.replyChunks) f |= NBD_FLAG_SEND_DF;
  // Every export offers base:allocation, so a payload naming contexts is
  // always meaningful once extended headers carry it (BLOCK_STATUS without
  // a selected context still fails with EINVAL in validate.ts).
  if (n.extendedHeaders) f |= NBD_FLAG_BLOCK_STATUS_PAYLOAD;
  return f;
}

/**
 * proto.md "Size constraints": minimum = the device's logical block (the
 * BlockDevice contract requires aligned I/O), preferred = the physical
 * block (>= 4096), maximum payload = the device limit capped at 32 MiB.
 */
export function blockSizes(info: BlockDeviceInfo): BlockSizes {
  const minBlockBytes = info.blockSize;
  const preferredBlockBytes = Math.max(info.physicalBlockSize, 4096, minBlockBytes);
  const maxPayloadBytes = Math.max(preferredBlockBytes, Math.min(info.maxTransferBytes, DEFAULT_MAX_PAYLOAD));
  return { minBlockBytes, preferredBlockBytes, maxPayloadBytes };
}
