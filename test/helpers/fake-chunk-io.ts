/**
 * Fake chunkservers that speak the real chunk RPC (RpcServer) for client
 * tests: no Raft, one shared copy of the data (what a committed Raft log
 * would give), and one leader for every copyset. Non-leaders answer
 * NOT_LEADER with a hint; a node can be told to hang (hold requests
 * unanswered) or be killed (listener and connections closed).
 */
import type { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { chunkResponse, MSG, RpcServer, STATUS, type ChunkRequest, type ChunkResponse, type StatusCode } from '../../backends/chunk/proto/index.js';

export class FakeChunkNode {
  id = 0;
  dead = false;
  hang = false;
  /** Answer the next N requests with this status. */
  failNext: { status: StatusCode; count: number } | undefined;
  readonly remotes = new Set<string>();
  requests = 0;
  notLeaderReplies = 0;

  constructor(
    readonly index: number,
    readonly server: RpcServer,
    readonly address: string,
  ) {}
}

export class FakeChunkCluster {
  readonly nodes: FakeChunkNode[] = [];
  /** chunkId → chunk bytes. */
  readonly chunks = new Map<number, Buffer>();
  leader = 0;

  private constructor(private readonly chunkSizeBytes: number) {}

  /** Start `n` nodes on loopback and register them with the MDS in zones z0, z1, ... */
  static async start(mds: MdsClient, n: number, chunkSizeBytes: number): Promise<FakeChunkCluster> {
    const c = new FakeChunkCluster(chunkSizeBytes);
    for (let i = 0; i < n; i++) {
      const server = new RpcServer();
      const port = await server.listen('127.0.0.1', 0);
      const node = new FakeChunkNode(i, server, `127.0.0.1:${port}`);
      server.handleChunk(MSG.WRITE_CHUNK, (req, ctx) => c.serve(node, req, ctx.remote, 'write'));
      server.handleChunk(MSG.READ_CHUNK, (req, ctx) => c.serve(node, req, ctx.remote, 'read'));
      const r = await mds.registerChunkserver({ zone: `z${i % 3}`, server: `host${i}`, address: node.address, capacityBytes: 1 << 30 });
      node.id = r.chunkserverId;
      c.nodes.push(node);
    }
    return c;
  }

  /** Stop a node: its listener and connections close; requests it held are lost. */
  async kill(i: number): Promise<void> {
    const node = this.nodes[i]!;
    node.dead = true;
    await node.server.close();
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) if (!n.dead) await this.kill(n.index);
  }

  get requests(): number {
    return this.nodes.reduce((s, n) => s + n.requests, 0);
  }

  private serve(node: FakeChunkNode, req: ChunkRequest, remote: string, op: 'read' | 'write'): Promise<ChunkResponse> | ChunkResponse {
    node.requests++;
    node.remotes.add(remote);
    if (node.hang || node.dead) return new Promise<ChunkResponse>(() => undefined);
    if (node.failNext && node.failNext.count > 0) {
      node.failNext.count--;
      return chunkResponse(node.failNext.status);
    }
    if (node.index !== this.leader) {
      node.notLeaderReplies++;
      const l = this.nodes[this.leader]!;
      return chunkResponse(STATUS.NOT_LEADER, { leaderHintId: l.id, leaderHint: l.address });
    }
    const end = req.offset + req.length;
    if (end > this.chunkSizeBytes) return chunkResponse(STATUS.INVALID);
    let chunk = this.chunks.get(req.chunkId);
    if (op === 'read') return chunk ? chunkResponse(STATUS.OK, { data: Buffer.from(chunk.subarray(req.offset, end)) }) : chunkResponse(STATUS.CHUNK_NOT_EXIST);
    if (!chunk) this.chunks.set(req.chunkId, (chunk = Buffer.alloc(this.chunkSizeBytes)));
    req.data!.copy(chunk, req.offset);
    return chunkResponse(STATUS.OK);
  }
}
