/**
 * --single-loop: every target's loop runs on the main thread, like stock
 * tgtd, through the very same message path (a MessageChannel) — so the
 * per-target design can be measured against it with nothing else changed.
 */
import { MessageChannel } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { LoopSpawner } from '../mgmt/target-runtime.js';
import type { ReplyLimits } from '../worker/reply-budget.js';
import { TargetLoop } from '../worker/target-loop.js';
import { openBackend } from './backends.js';
import { PROTOCOLS } from './protocols.js';

export function singleLoopSpawner(log: Logger, replyBudget?: { sab: SharedArrayBuffer; limits: ReplyLimits }): LoopSpawner {
  return ({ tid, name, targetStats }) => {
    const { port1, port2 } = new MessageChannel();
    new TargetLoop({ tid, name, port: port2, protocols: PROTOCOLS, openBackend, targetStats, log: log.child({ tid }), ...(replyBudget ? { replyBudget } : {}) });
    return {
      port: port1,
      terminate: async () => {
        port2.close();
      },
    };
  };
}
