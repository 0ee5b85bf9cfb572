/**
 * Prometheus metrics of one chunkserver process (own registry, so several
 * chunkservers can run in one test process). Per-copyset gauges are read at
 * scrape time; the copyset label is bounded by the copysets per chunkserver
 * (the MDS's maxCopysetsPerChunkserver).
 */
import client from 'prom-client';
import type { ChunkStore } from './chunk-store.js';
import type { CopysetManager } from './copysets.js';

export type ChunkOpName = 'write' | 'read' | 'delete' | 'info';

export class ChunkserverMetrics {
  readonly registry = new client.Registry();
  private readonly ops: client.Counter<'op' | 'status'>;
  private readonly bytes: client.Counter<'op'>;

  constructor(copysets: () => CopysetManager | undefined, store: ChunkStore) {
    const reg = this.registry;
    client.collectDefaultMetrics({ register: reg, prefix: 'blockgate_chunkserver_process_' });
    this.ops = new client.Counter({ name: 'blockgate_chunkserver_chunk_requests_total', help: 'Chunk RPCs answered, by op and status name.', labelNames: ['op', 'status'], registers: [reg] });
    this.bytes = new client.Counter({ name: 'blockgate_chunkserver_chunk_bytes_total', help: 'Bytes written/read by successful chunk RPCs.', labelNames: ['op'], registers: [reg] });
    const perCopyset = (name: string, help: string, value: (g: ReturnType<CopysetManager['all']>[number]) => number): void => {
      new client.Gauge({
        name, help, labelNames: ['copyset'], registers: [reg],
        collect(this: client.Gauge) {
          this.reset();
          for (const g of copysets()?.all() ?? []) this.set({ copyset: String(g.id) }, value(g));
        },
      });
    };
    perCopyset('blockgate_chunkserver_copyset_is_leader', '1 when this chunkserver leads the copyset.', (g) => (g.role === 'leader' ? 1 : 0));
    perCopyset('blockgate_chunkserver_copyset_applied_index', 'Last Raft index applied to the chunk files.', (g) => g.applied);
    perCopyset('blockgate_chunkserver_copyset_term', 'Current Raft term.', (g) => g.term);
    perCopyset('blockgate_chunkserver_raft_log_entries', 'Entries in the Raft log (uncompacted).', (g) => g.logEntries);
    const gauge = (name: string, help: string, value: () => number): void => {
      new client.Gauge({ name, help, registers: [reg], collect(this: client.Gauge) { this.set(value()); } });
    };
    gauge('blockgate_chunkserver_copysets', 'Copysets hosted.', () => copysets()?.all().length ?? 0);
    gauge('blockgate_chunkserver_chunk_files', 'Chunk files in use.', () => store.chunkCount);
    gauge('blockgate_chunkserver_used_bytes', 'Bytes held by chunk files.', () => store.usedBytes);
    gauge('blockgate_chunkserver_pool_files', 'Pre-allocated chunk files ready in the pool.', () => store.pool.cleanCount);
    gauge('blockgate_chunkserver_pool_misses', 'Chunk creations that found the pool empty (allocated on the write path).', () => store.pool.misses);
  }

  count(op: ChunkOpName, status: string, bytes: number): void {
    this.ops.inc({ op, status });
    if (bytes > 0) this.bytes.inc({ op }, bytes);
  }
}
