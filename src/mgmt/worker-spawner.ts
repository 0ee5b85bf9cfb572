/**
 * Spawns a target's loop in its own Worker (design.md §2). The worker script
 * (src/bin/target-worker.ts) names its thread `tgt/<tid>` so `top -H` and
 * /proc/<pid>/task/<tid>/comm show which target burns CPU.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ReplyLimits } from '../worker/reply-budget.js';
import type { LoopSpawner } from './target-runtime.js';

export interface TargetWorkerData {
  tid: number;
  name: string;
  lock: SharedArrayBuffer;
  targetStats: SharedArrayBuffer;
  logLevel: string;
  replyBudget?: { sab: SharedArrayBuffer; limits: ReplyLimits };
}

export function workerSpawner(script: URL, logLevel: string, log: Logger, replyBudget?: TargetWorkerData['replyBudget']): LoopSpawner {
  return ({ tid, name, lock, targetStats }) => {
    const { port1, port2 } = new MessageChannel();
    const data: TargetWorkerData & { port: typeof port2 } = { tid, name, lock: lock.sab, targetStats, logLevel, port: port2, ...(replyBudget ? { replyBudget } : {}) };
    const worker = new Worker(script, { workerData: data, transferList: [port2], name: `tgt/${tid}` });
    worker.on('error', (err) => log.error({ target: name, tid, err: err.message }, 'target worker crashed'));
    worker.on('exit', (code) => {
      if (code !== 0) log.warn({ target: name, tid, code }, 'target worker exited');
      port1.close();
    });
    return {
      port: port1,
      terminate: async () => {
        await worker.terminate();
      },
    };
  };
}
