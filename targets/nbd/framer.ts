/**
 * Splits the transmission byte stream into requests (header + payload).
 *
 * Pure and incremental: `push(bytes)` appends, `next()` returns the next
 * complete request, a connection-fatal violation, or undefined when more
 * bytes are needed. A payload that lies inside one received chunk is
 * returned as a subarray of it (no copy); only payloads split across
 * chunks are gathered into a new Buffer. Oversized payloads that can still
 * be skipped are consumed without being buffered, and the request is
 * returned with `payloadDiscarded` so that it can be failed with EINVAL.
 */
import { NBD_CMD_FLAG_PAYLOAD_LEN, NBD_CMD_WRITE } from './constants.js';
import { COMPACT_REQUEST_BYTES, EXTENDED_REQUEST_BYTES, decodeRequestHeader, type RequestHeader } from './wire.js';

export interface FramerLimits {
  extended: boolean;
  maxPayloadBytes: number;
  /** Compact writes up to this size beyond the maximum are skipped and failed; larger ones disconnect. */
  discardLimitBytes: number;
}

export interface FramedRequest {
  header: RequestHeader;
  payload: Buffer | undefined;
  payloadDiscarded: boolean;
}

export type FramerEvent = { kind: 'request'; req: FramedRequest } | { kind: 'violation'; reason: string };

export class RequestFramer {
  private chunks: Buffer[] = [];
  private head = 0;
  private avail = 0;
  private pending: { header: RequestHeader; need: number; discard: boolean } | undefined;
  private broken = false;

  constructor(private readonly limits: FramerLimits) {}

  /** Bytes buffered but not yet returned. */
  get buffered(): number {
    return this.avail;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0 || this.broken) return;
    this.chunks.push(bytes);
    this.avail += bytes.length;
  }

  next(): FramerEvent | undefined {
    if (this.broken) return undefined;
    if (!this.pending) {
      const size = this.limits.extended ? EXTENDED_REQUEST_BYTES : COMPACT_REQUEST_BYTES;
      if (this.avail < size) return undefined;
      const h = decodeRequestHeader(this.take(size), this.limits.extended);
      if (!h.ok) return this.violation(h.violation);
      const p = this.payloadPlan(h.value);
      if ('violation' in p) return this.violation(p.violation);
      if (p.need === 0) return { kind: 'request', req: { header: h.value, payload: undefined, payloadDiscarded: false } };
      this.pending = { header: h.value, need: p.need, discard: p.discard };
    }
    return this.payload();
  }

  /**
   * Copy the bytes not yet returned into a buffer of the framer's own: the
   * caller is about to reuse the memory it pushed (a socket receive buffer).
   */
  own(): void {
    if (this.avail === 0) return;
    const rest = Buffer.allocUnsafe(this.avail);
    this.copyBufferedInto(rest);
    this.chunks = [rest];
    this.head = 0;
  }

  /**
   * Hand over a payload of at least `minBytes` whose header is parsed but
   * whose bytes have not all arrived: the caller gets a buffer of the full
   * payload length holding the `filled` bytes buffered so far, reads the
   * rest into it and frames the request itself. Undefined: nothing such.
   */
  claimPayload(minBytes: number): { header: RequestHeader; payload: Buffer; filled: number } | undefined {
    const p = this.pending;
    if (!p || p.discard || p.need < minBytes || this.avail >= p.need) return undefined;
    const payload = Buffer.allocUnsafeSlow(p.need);
    const filled = this.avail;
    this.copyBufferedInto(payload);
    this.chunks = [];
    this.head = 0;
    this.avail = 0;
    this.pending = undefined;
    return { header: p.header, payload, filled };
  }

  /** Every byte buffered and not yet returned, in order, to the start of `out`. */
  private copyBufferedInto(out: Buffer): void {
    for (let i = 0, at = 0; i < this.chunks.length; i++) at += this.chunks[i]!.copy(out, at, i === 0 ? this.head : 0);
  }

  private payload(): FramerEvent | undefined {
    const p = this.pending!;
    if (p.discard) {
      const n = Math.min(p.need, this.avail);
      this.skip(n);
      p.need -= n;
      if (p.need > 0) return undefined;
      this.pending = undefined;
      return { kind: 'request', req: { header: p.header, payload: undefined, payloadDiscarded: true } };
    }
    if (this.avail < p.need) return undefined;
    this.pending = undefined;
    return { kind: 'request', req: { header: p.header, payload: this.take(p.need), payloadDiscarded: false } };
  }

  /**
   * How many payload bytes follow the header (proto.md "Request message";
   * ext-header NBD_CMD_FLAG_PAYLOAD_LEN). A WRITE always carries its length
   * in data, flag or not: a client that leaves the flag off still sends the
   * bytes (libnbd does with strict mode off), and reading them keeps the
   * stream in step so the request can fail with EINVAL instead of the
   * connection dying on "bad magic".
   */
  private payloadPlan(h: RequestHeader): { need: number; discard: boolean } | { violation: string } {
    const hasPayload = h.type === NBD_CMD_WRITE || (this.limits.extended && (h.flags & NBD_CMD_FLAG_PAYLOAD_LEN) !== 0);
    if (!hasPayload) return { need: 0, discard: false };
    if (h.length <= BigInt(this.limits.maxPayloadBytes)) return { need: Number(h.length), discard: false };
    // Extended: SHOULD hard-disconnect on a payload beyond the maximum.
    if (this.limits.extended || h.length > BigInt(this.limits.discardLimitBytes)) {
      return { violation: `request payload of ${h.length} bytes exceeds the maximum` };
    }
    return { need: Number(h.length), discard: true };
  }

  private violation(reason: string): FramerEvent {
    this.broken = true;
    this.chunks = [];
    this.avail = 0;
    return { kind: 'violation', reason };
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const b = first.subarray(this.head, this.head + n);
      this.advance(n);
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.head, n - filled);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  private skip(n: number): void {
    let left = n;
    while (left > 0) {
      const k = Math.min(this.chunks[0]!.length - this.head, left);
      this.advance(k);
      left -= k;
    }
  }

  /** Consume k bytes, all within the first chunk. */
  private advance(k: number): void {
    this.head += k;
    this.avail -= k;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
