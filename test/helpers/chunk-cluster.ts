/**
 * Test helpers for chunkserver clusters: a tiny leader-following chunk
 * client (NOT the block client in backends/chunk/client) and polling.
 * The client asks the MDS for a copyset's members, sends to the last known
 * leader, follows NOT_LEADER hints, and retries NOT_LEADER / OVERLOAD /
 * connection errors with a short backoff until a deadline.
 */
import type { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import type { ChunkRequest, ChunkResponse } from '../../backends/chunk/proto/chunk.js';
import { MSG } from '../../backends/chunk/proto/messages.js';
import { RpcClient, RpcError } from '../../backends/chunk/proto/rpc-client.js';
import { STATUS } from '../../backends/chunk/proto/status.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export class TestChunkClient {
  private readonly clients = new Map<string, RpcClient>();
  private readonly leaders = new Map<number, string>();
  /** Attempts that were redirected (NOT_LEADER) — lets tests see that hints were used. */
  redirects = 0;

  constructor(private readonly mds: MdsClient, private readonly callTimeoutMs = 2000) {}

  client(addr: string): RpcClient {
    let c = this.clients.get(addr);
    if (!c) this.clients.set(addr, (c = new RpcClient(addr, { callTimeoutMs: this.callTimeoutMs, backoffMinMs: 20, backoffMaxMs: 200 })));
    return c;
  }

  /** Send to the copyset leader; resolves with the first non-retryable answer. Rejects after `deadlineMs`. */
  async call(type: number, req: ChunkRequest, deadlineMs = 15_000): Promise<ChunkResponse> {
    const deadline = Date.now() + deadlineMs;
    let candidates: string[] = [];
    let last = '';
    while (Date.now() < deadline) {
      let addr = this.leaders.get(req.copysetId) ?? candidates.shift();
      if (!addr) {
        const [cs] = await this.mds.getCopysets([req.copysetId]).catch(() => []);
        candidates = cs ? cs.members.map((m) => m.address) : [];
        addr = candidates.shift();
        if (!addr) {
          await sleep(50);
          continue;
        }
      }
      try {
        const res = await this.client(addr).callChunk(type, req);
        if (res.status === STATUS.OK || res.status === STATUS.CHUNK_NOT_EXIST) {
          this.leaders.set(req.copysetId, addr);
          return res;
        }
        last = `status ${res.status}`;
        this.leaders.delete(req.copysetId);
        if (res.status === STATUS.NOT_LEADER) {
          this.redirects++;
          if (res.leaderHint) this.leaders.set(req.copysetId, res.leaderHint);
          else await sleep(30);
        } else if (res.status === STATUS.OVERLOAD || res.status === STATUS.NO_COPYSET) {
          await sleep(30);
        } else {
          return res;
        }
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
        last = e.message;
        this.leaders.delete(req.copysetId);
        await sleep(30);
      }
    }
    throw new Error(`copyset ${req.copysetId}: no answer before the deadline (${last})`);
  }

  write(copysetId: number, chunkId: number, offset: number, data: Buffer, seq = 1): Promise<ChunkResponse> {
    return this.call(MSG.WRITE_CHUNK, { copysetId, chunkId, offset, length: data.length, seq, data });
  }

  read(copysetId: number, chunkId: number, offset: number, length: number): Promise<ChunkResponse> {
    return this.call(MSG.READ_CHUNK, { copysetId, chunkId, offset, length, seq: 0 });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
