/**
 * Serial number arithmetic (RFC 1982, RFC 7143 §4.2.2.1) and the session's
 * CmdSN window with out-of-order queueing (§4.2.2.1, §3.2.2.1). Pure.
 */

/** a < b in 32-bit serial arithmetic. */
export function snLt(a: number, b: number): boolean {
  return a !== b && ((b - a) >>> 0) < 0x80000000;
}

export function snLe(a: number, b: number): boolean {
  return a === b || snLt(a, b);
}

export const snAdd = (a: number, n: number): number => (a + n) >>> 0;

/**
 * Non-immediate commands are delivered in CmdSN order; those inside the
 * window but ahead of ExpCmdSN wait in `queued`; those outside are dropped
 * silently (§4.2.2.1). `window` is MaxCmdSN - ExpCmdSN + 1.
 */
export class CmdSnWindow<T> {
  private readonly queued = new Map<number, T>();

  constructor(
    public expCmdSN: number,
    public readonly window: number,
  ) {}

  get maxCmdSN(): number {
    return snAdd(this.expCmdSN, this.window - 1);
  }

  /**
   * Offer a non-immediate command. Returns the commands now deliverable in
   * order (possibly none), or undefined if `cmdSN` is outside the window.
   */
  offer(cmdSN: number, item: T): T[] | undefined {
    const hi = snAdd(this.expCmdSN, this.window - 1);
    if (snLt(cmdSN, this.expCmdSN) || snLt(hi, cmdSN) || this.queued.has(cmdSN)) return undefined;
    if (cmdSN !== this.expCmdSN) {
      this.queued.set(cmdSN, item);
      return [];
    }
    const out = [item];
    this.expCmdSN = snAdd(this.expCmdSN, 1);
    for (let next = this.queued.get(this.expCmdSN); next !== undefined; next = this.queued.get(this.expCmdSN)) {
      this.queued.delete(this.expCmdSN);
      out.push(next);
      this.expCmdSN = snAdd(this.expCmdSN, 1);
    }
    return out;
  }

  /** Drop queued items matching `pred` (task aborts); returns them. */
  remove(pred: (item: T) => boolean): T[] {
    const out: T[] = [];
    for (const [sn, item] of this.queued) {
      if (pred(item)) {
        out.push(item);
        this.queued.delete(sn);
      }
    }
    return out;
  }

  get queuedCount(): number {
    return this.queued.size;
  }
}
