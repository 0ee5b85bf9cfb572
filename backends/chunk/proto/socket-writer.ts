/**
 * Batching writer shared by RpcServer and RpcClient connections: frames
 * written in the same tick go out in one corked burst (fewer syscalls and
 * TCP segments when many pipelined requests complete together).
 */
import type net from 'node:net';

export class CorkedWriter {
  private corked = false;

  constructor(private readonly socket: net.Socket) {}

  /** Queue `parts`; returns false when the socket buffer is over its high-water mark. */
  write(parts: readonly Buffer[]): boolean {
    if (this.socket.destroyed) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        if (!this.socket.destroyed) this.socket.uncork();
      });
    }
    let ok = true;
    for (const p of parts) ok = this.socket.write(p) && ok;
    return ok;
  }
}
