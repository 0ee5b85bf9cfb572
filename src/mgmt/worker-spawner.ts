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

/** How long a stopped target's thread may take to end by itself before it is terminated. */
const WORKER_EXIT_GRACE_MS = 2000;

export function workerSpawner(script: URL, logLevel: string, log: Logger, replyBudget?: TargetWorkerData['replyBudget']): LoopSpawner {
  return ({ tid, name, lock, targetStats }) => {
    const { port1, port2 } = new MessageChannel();
    const data: TargetWorkerData & { port: typeof port2 } = { tid, name, lock: lock.sab, targetStats, logLevel, port: port2, ...(replyBudget ? { replyBudget } : {}) };
    const worker = new Worker(script, { workerData: data, transferList: [port2], name: `tgt/${tid}` });
    let stopping = false;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('error', (err) => log.error({ target: name, tid, err: err.message }, 'target worker crashed'));
    worker.on('exit', (code) => {
      // A thread we stopped is no failure, even when it had to be terminated (exit code 1).
      if (stopping) log.debug({ target: name, tid, code }, 'target worker stopped');
      else if (code !== 0) log.warn({ target: name, tid, code }, 'target worker exited');
      port1.close();
    });
    return {
      port: port1,
      terminate: async () => {
        stopping = true;
        // After its shutdown reply the loop holds nothing but its port; with the
        // port closed the thread ends by itself (exit code 0). One that does not
        // (a handle a bug left open) is terminated.
        port1.close();
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), WORKER_EXIT_GRACE_MS)));
        const ended = await Promise.race([exited, grace]);
        clearTimeout(timer);
        if (ended === 'late') {
          log.warn({ target: name, tid }, 'target worker did not end after shutdown; terminating it');
          await worker.terminate();
        }
      },
    };
  };
}
