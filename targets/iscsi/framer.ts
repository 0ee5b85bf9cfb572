/**
 * Byte stream ⇄ PDUs, with the negotiated digests (RFC 7143 §11.2, §13.1).
 *
 * `PduFramer.push(chunk)` accumulates bytes; `next()` returns one complete PDU,
 * a violation, or undefined when more bytes are needed. Pure (no sockets):
 * the connection shell feeds it from `data` events.
 *
 * Fatal violations (framing, header digest, oversized data segment) must close
 * the connection: after one the stream position is unknown. A data digest
 * error is reported with `fatal: false` and the BHS so the caller can Reject.
 */
import { crc32c, crc32cUpdate } from '../../src/util/crc32c.js';
import { BHS_BYTES, DIGEST_BYTES, RejectReason } from './constants.js';
import { decodePdu, encodeHeader, PADDING, padBytes } from './pdu.js';
import type { Draft, Pdu, PduViolation } from './pdu-types.js';

export interface DigestSettings {
  headerDigest: boolean;
  dataDigest: boolean;
}

export interface FramerLimits extends DigestSettings {
  /** Our (the receiver's) MaxRecvDataSegmentLength (RFC 7143 §13.12). */
  maxRecvDataSegmentLength: number;
}

export class PduFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** After a fatal violation the stream position is lost: nothing more is framed. */
  private broken = false;

  constructor(public limits: FramerLimits) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes received but not yet framed (handed to the next owner on migration). */
  takeLeftover(): Buffer {
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return out;
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  next(): Pdu | PduViolation | undefined {
    if (this.broken || this.buffered < BHS_BYTES) return undefined;
    const head = this.peek(BHS_BYTES);
    const ahsBytes = head[4]! * 4;
    const dsl = head.readUIntBE(5, 3);
    if (dsl > this.limits.maxRecvDataSegmentLength) {
      this.broken = true;
      return { violation: 'data-segment-too-long', fatal: true, rejectReason: RejectReason.PROTOCOL_ERROR, bhs: Buffer.from(head) };
    }
    const { headerDigest, dataDigest } = this.limits;
    const headerLen = BHS_BYTES + ahsBytes + (headerDigest ? DIGEST_BYTES : 0);
    const dataLen = dsl + padBytes(dsl) + (dataDigest && dsl > 0 ? DIGEST_BYTES : 0);
    if (this.buffered < headerLen + dataLen) return undefined;
    const pdu = this.take(headerLen + dataLen);
    return this.decodeFramed(pdu, ahsBytes, dsl);
  }

  private decodeFramed(pdu: Buffer, ahsBytes: number, dsl: number): Pdu | PduViolation {
    const { headerDigest, dataDigest } = this.limits;
    const bhs = pdu.subarray(0, BHS_BYTES);
    const hdrEnd = BHS_BYTES + ahsBytes;
    if (headerDigest && pdu.readUInt32LE(hdrEnd) !== crc32c(pdu, 0, hdrEnd)) {
      this.broken = true;
      return { violation: 'header-digest', fatal: true, bhs };
    }
    const dataStart = hdrEnd + (headerDigest ? DIGEST_BYTES : 0);
    const padded = dsl + padBytes(dsl);
    if (dataDigest && dsl > 0 && pdu.readUInt32LE(dataStart + padded) !== crc32c(pdu, dataStart, dataStart + padded)) {
      return { violation: 'data-digest', fatal: false, rejectReason: RejectReason.DATA_DIGEST_ERROR, bhs };
    }
    return decodePdu(bhs, pdu.subarray(BHS_BYTES, hdrEnd), pdu.subarray(dataStart, dataStart + dsl));
  }

  /** First `n` buffered bytes, without consuming (copies only across chunks). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  /** Consume `n` bytes; a slice when they lie in one chunk. */
  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      const parts: Buffer[] = [];
      let got = 0;
      while (got < n) {
        const c = this.chunks.shift()!;
        parts.push(c);
        got += c.length;
      }
      first = Buffer.concat(parts, got);
      this.chunks.unshift(first);
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/**
 * Encode a PDU as an iovec: header (+ header digest), data (not copied),
 * padding, data digest. Write the parts in order (socket.cork/uncork).
 */
export function encodePdu(pdu: Draft<Pdu>, digests: DigestSettings): Buffer[] {
  const header = encodeHeaderDigested(pdu, digests);
  const data = pdu.data;
  if (!data || data.length === 0) return [header];
  const pad = PADDING[padBytes(data.length)]!;
  const out = [header, data];
  if (pad.length) out.push(pad);
  if (digests.dataDigest) {
    const d = Buffer.allocUnsafe(DIGEST_BYTES);
    d.writeUInt32LE((crc32cUpdate(crc32cUpdate(0xffffffff, data), pad) ^ 0xffffffff) >>> 0, 0);
    out.push(d);
  }
  return out;
}

/**
 * The header (+ header digest) alone. `dataLength`: the DataSegmentLength
 * of a data segment sent separately (from the device, with no data digest).
 */
export function encodeHeaderDigested(pdu: Draft<Pdu>, digests: DigestSettings, dataLength?: number): Buffer {
  const header = encodeHeader(pdu, dataLength);
  if (!digests.headerDigest) return header;
  const h = Buffer.allocUnsafe(header.length + DIGEST_BYTES);
  header.copy(h);
  h.writeUInt32LE(crc32c(header), header.length);
  return h;
}

/** Convenience for tests and the login phase: one contiguous Buffer. */
export function encodePduBuffer(pdu: Draft<Pdu>, digests: DigestSettings = { headerDigest: false, dataDigest: false }): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}
