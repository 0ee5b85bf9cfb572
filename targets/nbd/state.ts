/**
 * The state handed from option haggling (main thread) to transmission
 * (the target's loop). Structured-cloneable: it crosses postMessage, so it
 * holds only plain data (Buffers arrive as Uint8Array on the other side).
 */
import type { ReplyMode } from './replies.js';
import type { BlockSizes } from './wire.js';

export interface NbdHandOffState {
  protocol: 'nbd';
  /** Canonical export name. */
  exportName: string;
  tid: number;
  lun: number;
  /** 'simple' unless NBD_OPT_STRUCTURED_REPLY / NBD_OPT_EXTENDED_HEADERS succeeded. */
  replyMode: ReplyMode;
  /** Context ids selected by the last SET_META_CONTEXT for this export (base:allocation only). */
  metaContextIds: number[];
  /** NBD_FLAG_C_NO_ZEROES was negotiated. */
  noZeroes: boolean;
  /** STARTTLS succeeded (the stream is a TLS socket). */
  tls: boolean;
  /** The flags sent in NBD_INFO_EXPORT / the EXPORT_NAME reply; transmission enforces them. */
  transmissionFlags: number;
  /** Export size as sent to the client. */
  sizeBytes: number;
  /** Constraints sent in NBD_INFO_BLOCK_SIZE (enforced whether or not the client asked). */
  blockSizes: BlockSizes;
  /**
   * The final option reply (NBD_REP_ACK to NBD_OPT_GO, or the
   * NBD_OPT_EXPORT_NAME reply). Transmission sends it first, after it has
   * taken over reading, so no request byte is ever read by the main thread.
   */
  finalReply: Uint8Array;
}
