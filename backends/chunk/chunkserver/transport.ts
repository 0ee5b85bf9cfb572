/**
 * Multi-Raft transport: one RpcClient per peer chunkserver, shared by every
 * copyset (a RAFT_MESSAGE envelope carries the copyset id as groupId), and
 * the peer address book (chunkserver id → "host:port"), fed by the MDS
 * (copyset assignments, ops, GET_COPYSETS refreshes).
 *
 * Raft messages are one-way and best effort: a message to an unknown or
 * unconnected peer is dropped and reported, and Raft retransmits.
 */
import type { Message } from '../raft/index.js';
import { RpcClient } from '../proto/rpc-client.js';
import { encodeRaftMessage } from './codec.js';

export class PeerTransport {
  private readonly addresses = new Map<number, string>();
  private readonly clients = new Map<string, RpcClient>();

  constructor(
    readonly selfId: () => number,
    private readonly callTimeoutMs = 5000,
  ) {}

  /** Learn or update a peer's address (a restarted chunkserver may listen elsewhere). */
  setAddress(id: number, address: string): void {
    if (id === 0 || !address) return;
    const old = this.addresses.get(id);
    if (old === address) return;
    this.addresses.set(id, address);
    if (old && ![...this.addresses.values()].includes(old)) {
      this.clients.get(old)?.close();
      this.clients.delete(old);
    }
  }

  addressOf(id: number): string {
    return this.addresses.get(id) ?? '';
  }

  client(address: string): RpcClient {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = new RpcClient(address, { callTimeoutMs: this.callTimeoutMs, backoffMinMs: 20, backoffMaxMs: 500 })));
    return c;
  }

  /** Send one Raft message of group `groupId`; false when it was dropped (no address / not connected). */
  send(groupId: number, m: Message): boolean {
    const addr = this.addresses.get(m.to);
    if (!addr) return false;
    const payload = Buffer.concat(encodeRaftMessage(m));
    return this.client(addr).sendRaft({ groupId, payload });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
