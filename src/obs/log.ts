/**
 * pino loggers. Every thread writes through its own asynchronous
 * destination (sonic-boom) so logging never takes a lock shared with other
 * threads on the I/O path (design.md §4). One line per event that matters:
 * login, logout, config change, error; nothing per I/O at the default level.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
  const logger = pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return logger;
}

/** Flush pending lines synchronously (before exit). */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // destination already closed
  }
}
