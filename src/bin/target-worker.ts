/**
 * Entry point of a target's Worker thread: names the thread `tgt/<tid>`,
 * then runs the target's loop until the management plane terminates it.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import type { TargetWorkerData } from '../mgmt/worker-spawner.js';
import { createLogger } from '../obs/log.js';
import { setThreadName } from '../util/libc.js';
import { TargetLoop } from '../worker/target-loop.js';
import { TargetLock } from '../worker/target-lock.js';
import { openBackend } from './backends.js';
import { PROTOCOLS } from './protocols.js';

const data = workerData as TargetWorkerData & { port: MessagePort };
try {
  setThreadName(`tgt/${data.tid}`);
} catch {
  // naming is diagnostics only
}
const log = createLogger(data.logLevel, { thread: `tgt/${data.tid}` });
new TargetLoop({
  tid: data.tid,
  name: data.name,
  port: data.port,
  protocols: PROTOCOLS,
  openBackend,
  lock: new TargetLock(data.lock),
  targetStats: data.targetStats,
  ...(data.replyBudget ? { replyBudget: data.replyBudget } : {}),
  log,
});
process.on('uncaughtException', (err) => {
  // A bug in one connection's handling must not take the target down silently.
  log.error({ target: data.name, err: err.stack ?? String(err) }, 'uncaught exception in target loop');
});
