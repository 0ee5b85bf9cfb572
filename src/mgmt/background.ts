/**
 * The management plane's pool for CPU-heavy background work that belongs to
 * no target's loop (design.md §2, like Curve's CloneManager pool): LUN
 * checksums (scrubbing) today; chunk copying for clones later. Threads are
 * started on demand and exit when idle, so an idle daemon pays nothing.
 */
import { Piscina } from 'piscina';
import type { ChecksumResult, ChecksumTask } from './background-tasks.js';

export class BackgroundPool {
  private pool: Piscina | undefined;

  constructor(private readonly maxThreads = 2) {}

  checksum(path: string, lengthBytes: number): Promise<ChecksumResult> {
    const task: ChecksumTask = { kind: 'checksum', path, lengthBytes };
    return this.get().run(task) as Promise<ChecksumResult>;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }

  private get(): Piscina {
    this.pool ??= new Piscina({
      filename: new URL('./background-tasks.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.maxThreads,
      idleTimeout: 10_000,
    });
    return this.pool;
  }
}
