/**
 * Chunkserver connections shared by every volume of one thread (a target
 * worker, or the main thread in single-loop mode): one RpcClient (or
 * `senders` of them) per chunkserver address, pipelined, never one per
 * request.
 *
 * Sending off the user's call stack (design.md §3: Curve moved RPC sending
 * from the user thread to a queue drained by sender threads, 86.4K →
 * 130K IOPS): in Node there is no second thread to hand the socket to, but
 * the same effect comes from batching. `RpcClient.call` defers the write to
 * a microtask, and its CorkedWriter corks the socket for the rest of the
 * tick, so every piece of every request submitted in one event-loop turn
 * leaves in one writev(2) per connection instead of one syscall per piece.
 * `senders > 1` spreads a chunkserver's requests round-robin over several
 * connections, which helps when one socket's kernel buffer is the limit.
 */
import { RpcClient } from '../proto/rpc-client.js';

interface Entry {
  clients: RpcClient[];
  next: number;
}

export interface SenderOptions {
  senders: number;
  callTimeoutMs: number;
}

export class SenderPool {
  private readonly entries = new Map<string, Entry>();
  private users = 0;

  /** Register a user (a volume); `release` when it closes. */
  acquire(): void {
    this.users++;
  }

  /** The last user gone closes every connection. */
  release(): void {
    if (--this.users > 0) return;
    for (const e of this.entries.values()) for (const c of e.clients) c.close();
    this.entries.clear();
  }

  /** A connection to `address` (created lazily; connects on its first call). */
  client(address: string, o: SenderOptions): RpcClient {
    let e = this.entries.get(address);
    if (!e) {
      e = { clients: [], next: 0 };
      // Reconnect backoff stays short: the client moves to another member meanwhile.
      for (let i = 0; i < o.senders; i++) e.clients.push(new RpcClient(address, { callTimeoutMs: o.callTimeoutMs, backoffMinMs: 20, backoffMaxMs: 500 }));
      this.entries.set(address, e);
    }
    const c = e.clients[e.next % e.clients.length]!;
    e.next++;
    return c;
  }
}

/** The pool of this thread (each worker thread has its own module instance). */
export const threadSenderPool = new SenderPool();
