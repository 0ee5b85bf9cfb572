/**
 * The timer half of an `AdmissionReport` (admission.ts), shared by the NBD
 * and iSCSI listeners: an event is counted, the first of a quiet period is
 * emitted at once, the rest in one summary when the window ends. The caller
 * words the line (`emit`).
 */
import { AdmissionReport, type AdmissionCounts } from './admission.js';

export type TurnedAway = 'evicted' | 'refused' | 'timedOut';

export class AdmissionLog {
  private readonly report: AdmissionReport;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    windowMs: number,
    private readonly emit: (counts: AdmissionCounts) => void,
    /** Milliseconds; the same clock the caller passes to its AdmissionTable. */
    private readonly now: () => number = Date.now,
  ) {
    this.report = new AdmissionReport(windowMs);
  }

  /** Count a connection turned away; log now or schedule the summary. */
  record(kind: TurnedAway, address: string | undefined): void {
    const counts = this.report.record(kind, address, this.now());
    if (counts) return this.emit(counts);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const at = this.report.nextDueAt();
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const due = this.report.due(this.now());
      if (due) this.emit(due);
      else this.schedule(); // woke a little early: still pending
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  /** Emit whatever is pending (the listener is closing) and stop the timer. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const due = this.report.due(Number.MAX_SAFE_INTEGER);
    if (due) this.emit(due);
  }
}
