/**
 * Per-LUN counters in the shared buffer reach Prometheus: the backend's own
 * retry / failover events (BackendEvents → SharedIoStats) next to the
 * request counters, read at scrape time without touching the writer.
 */
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../../src/obs/metrics.js';
import { createLunStatsBuffer, readLunStats, SharedIoStats } from '../../../src/worker/shared-stats.js';

describe('shared LUN stats', () => {
  it('backend retries and failovers are separate slots that do not disturb the others', () => {
    const sab = createLunStatsBuffer();
    const w = new SharedIoStats(sab);
    w.record('write', 4096, 1e6, true);
    w.backendError('ETIMEDOUT');
    for (let i = 0; i < 5; i++) w.backendRetry();
    w.backendFailover();
    w.backendFailover();
    const s = readLunStats(sab);
    expect(s.backendRetries).toBe(5);
    expect(s.backendFailovers).toBe(2);
    expect(s.ops).toEqual({ read: 0, write: 1, other: 0 });
    expect(s.bytes.write).toBe(4096);
    expect(s.backendErrors).toEqual({ ETIMEDOUT: 1 });
    expect(s.latency.write.count).toBe(1);
    expect(s.latency.other.count).toBe(0);
  });

  it('blockgate_backend_retries_total / _failovers_total per target and LUN, growing between scrapes', async () => {
    const a = createLunStatsBuffer();
    const b = createLunStatsBuffer();
    const reg = createMetricsRegistry({
      luns: () => [
        { target: 'iqn.t:chunk', lun: 1, stats: a, sizeBytes: 1 << 20 },
        { target: 'iqn.t:file', lun: 2, stats: b, sizeBytes: 1 << 20 },
      ],
      targets: () => [],
    });
    const wa = new SharedIoStats(a);
    wa.backendRetry();
    wa.backendFailover();
    const first = await reg.metrics();
    expect(first).toContain('# TYPE blockgate_backend_retries_total counter');
    expect(first).toContain('blockgate_backend_retries_total{target="iqn.t:chunk",lun="1"} 1');
    expect(first).toContain('blockgate_backend_failovers_total{target="iqn.t:chunk",lun="1"} 1');
    expect(first).toContain('blockgate_backend_retries_total{target="iqn.t:file",lun="2"} 0');
    for (let i = 0; i < 6; i++) wa.backendRetry();
    const second = await reg.metrics();
    expect(second).toContain('blockgate_backend_retries_total{target="iqn.t:chunk",lun="1"} 7');
    expect(second).toContain('blockgate_backend_failovers_total{target="iqn.t:chunk",lun="1"} 1');
  });
});
