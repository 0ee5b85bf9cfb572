/**
 * IOTracker (design.md §3): one user request split into pieces completes
 * when every piece has; the first piece that fails for good fails the
 * request at once (the other pieces still run to their own end — a chunk
 * RPC cannot be recalled — but their outcome no longer matters). Also
 * counts the retries spent on the request, for the slow-request warning.
 */
import { BlockError } from '../../../src/block/device.js';

export class IoTracker {
  readonly promise: Promise<void>;
  retries = 0;
  private left: number;
  private settled = false;
  private resolve!: () => void;
  private reject!: (e: BlockError) => void;

  constructor(pieces: number) {
    this.left = pieces;
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    if (pieces === 0) this.finish();
  }

  get done(): boolean {
    return this.settled;
  }

  /** One piece finished. */
  pieceDone(): void {
    if (this.settled) return;
    if (--this.left === 0) this.finish();
  }

  /** One piece failed for good: the request fails with its error (first one wins). */
  pieceFailed(err: BlockError): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  /** Run `piece` for each item, feeding this tracker; resolves/rejects with the request. */
  static run<T>(items: readonly T[], piece: (item: T, tracker: IoTracker) => Promise<void>): IoTracker {
    const t = new IoTracker(items.length);
    for (const item of items) {
      piece(item, t).then(
        () => t.pieceDone(),
        (e: unknown) => t.pieceFailed(e instanceof BlockError ? e : new BlockError('EIO', String((e as Error)?.message ?? e))),
      );
    }
    return t;
  }

  private finish(): void {
    this.settled = true;
    this.resolve();
  }
}
