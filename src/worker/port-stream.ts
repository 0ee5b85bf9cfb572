/**
 * A Duplex over a MessagePort: how a connection whose socket cannot move to
 * the target's thread (a TLS session lives in the thread that negotiated it)
 * still gets its I/O done there. The management plane keeps the TLS socket
 * and pipes its plaintext through a MessageChannel; the target loop sees an
 * ordinary Duplex. Each chunk is copied once and the copy transferred: the
 * writer may still hold the original (TLS is not the hot path).
 *
 * Flow control: the reading side acknowledges bytes once its consumer
 * takes them (push() accepted them, or _read asked for more); the writing
 * side stops at WINDOW_BYTES unacknowledged, so a slow peer cannot make the
 * other thread buffer without bound. Acknowledging on arrival instead let
 * a TLS client that never reads grow the main thread's buffer forever.
 */
import { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';

const WINDOW_BYTES = 4 * 1024 * 1024;

type Frame = { d: Uint8Array } | { ack: number } | { end: true } | { destroy: true };

export class PortStream extends Duplex {
  private unacked = 0;
  /** Bytes received but not acknowledged: the consumer has not asked for more yet. */
  private unackedIn = 0;
  private pendingWrite: (() => void) | undefined;

  constructor(private readonly port: MessagePort) {
    super({ allowHalfOpen: true });
    port.on('message', (f: Frame) => this.onFrame(f));
    port.on('close', () => this.destroy());
  }

  private onFrame(f: Frame): void {
    if ('d' in f) {
      const buf = Buffer.from(f.d.buffer, f.d.byteOffset, f.d.byteLength);
      if (this.push(buf)) this.port.postMessage({ ack: buf.length } satisfies Frame);
      else this.unackedIn += buf.length;
    } else if ('ack' in f) {
      this.unacked -= f.ack;
      if (this.unacked < WINDOW_BYTES && this.pendingWrite) {
        const cb = this.pendingWrite;
        this.pendingWrite = undefined;
        cb();
      }
    } else if ('end' in f) {
      this.push(null);
    } else {
      this.destroy();
    }
  }

  override _read(): void {
    // Frames are pushed as they arrive; the window bounds buffering. Asked for more: release what was held.
    if (this.unackedIn === 0) return;
    const n = this.unackedIn;
    this.unackedIn = 0;
    this.port.postMessage({ ack: n } satisfies Frame);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const data = new Uint8Array(chunk);
    this.port.postMessage({ d: data } satisfies Frame, [data.buffer as ArrayBuffer]);
    this.unacked += chunk.length;
    if (this.unacked >= WINDOW_BYTES) this.pendingWrite = cb;
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.port.postMessage({ end: true } satisfies Frame);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    try {
      this.port.postMessage({ destroy: true } satisfies Frame);
    } catch {
      // port already closed
    }
    this.port.close();
    cb(err);
  }
}
