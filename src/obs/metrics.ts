/**
 * Prometheus metrics (prom-client), one place for every name
 * (docs/metrics.md lists them). Per-target and per-LUN figures are read at
 * scrape time from the shared memory the target loops write
 * (src/worker/shared-stats.ts), so scraping never stops a target.
 */
import http from 'node:http';
import client from 'prom-client';
import { readReplyBacklogBytes } from '../worker/reply-budget.js';
import { LATENCY_BUCKETS_SECONDS, OPS, readLunStats, readTargetCounters, type LunStatsSnapshot } from '../worker/shared-stats.js';

export interface LunSource {
  target: string;
  lun: number;
  stats: SharedArrayBuffer;
  sizeBytes: number;
}

export interface TargetSource {
  target: string;
  lld: string;
  counters: SharedArrayBuffer;
}

export interface MetricsSources {
  luns(): LunSource[];
  targets(): TargetSource[];
  /** The daemon-wide reply budget buffer (src/worker/reply-budget.ts). */
  replyBudget?: SharedArrayBuffer;
}

/**
 * Failed iSCSI authentications, by kind: `chap` (a wrong CHAP response),
 * `throttled` (refused unjudged: too many queued failures from that source or
 * for that account), `protocol` (CHAP required but not done). Counted on the
 * main thread by the portal; one instance shared by every registry.
 */
export const iscsiAuthFailures = new client.Counter({
  name: 'blockgate_iscsi_auth_failures_total',
  help: 'Failed iSCSI logins at the authentication step, by kind (chap, throttled, protocol).',
  labelNames: ['kind'] as const,
  registers: [],
});

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A metric whose samples are computed at scrape time. */
class ScrapeMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly sample: () => Sample[],
  ) {}
  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: this.sample(), aggregator: this.aggregator };
  }
}

export function createMetricsRegistry(src: MetricsSources): client.Registry {
  const reg = new client.Registry();
  client.collectDefaultMetrics({ register: reg, prefix: 'blockgate_process_' });
  const lunSamples = (pick: (s: LunStatsSnapshot, l: LunSource) => Sample[]): (() => Sample[]) => () =>
    src.luns().flatMap((l) => pick(readLunStats(l.stats), l));
  const perOp = (field: 'ops' | 'bytes' | 'errors') =>
    lunSamples((s, l) => OPS.map((op) => ({ labels: { target: l.target, lun: l.lun, op }, value: s[field][op] })));
  const metrics = [
    new ScrapeMetric('blockgate_lun_requests_total', 'Requests completed per LUN and operation (read, write, other).', 'counter', perOp('ops')),
    new ScrapeMetric('blockgate_lun_bytes_total', 'Bytes moved per LUN and operation.', 'counter', perOp('bytes')),
    new ScrapeMetric('blockgate_lun_request_errors_total', 'Requests that completed with an error, per LUN and operation.', 'counter', perOp('errors')),
    new ScrapeMetric('blockgate_lun_inflight_requests', 'Requests submitted to the backend and not yet completed.', 'gauge',
      lunSamples((s, l) => [{ labels: { target: l.target, lun: l.lun }, value: s.inflight }])),
    new ScrapeMetric('blockgate_lun_size_bytes', 'LUN capacity.', 'gauge',
      () => src.luns().map((l) => ({ labels: { target: l.target, lun: l.lun }, value: l.sizeBytes }))),
    new ScrapeMetric('blockgate_backend_errors_total', 'Backend errors by kind (EIO, ENOSPC, ...).', 'counter',
      lunSamples((s, l) => Object.entries(s.backendErrors).map(([kind, v]) => ({ labels: { target: l.target, lun: l.lun, kind }, value: v! })))),
    new ScrapeMetric('blockgate_backend_retries_total', 'Attempts the backend retried inside requests (chunk: NOT_LEADER, timeouts, overload); 0 for local backends.', 'counter',
      lunSamples((s, l) => [{ labels: { target: l.target, lun: l.lun }, value: s.backendRetries }])),
    new ScrapeMetric('blockgate_backend_failovers_total', 'Times the backend moved to another replica (chunk: a copyset leader change seen by the client); 0 for local backends.', 'counter',
      lunSamples((s, l) => [{ labels: { target: l.target, lun: l.lun }, value: s.backendFailovers }])),
    new ScrapeMetric('blockgate_lun_request_duration_seconds', 'Request latency from submission to completion.', 'histogram',
      lunSamples((s, l) => OPS.flatMap((op) => histogramSamples('blockgate_lun_request_duration_seconds', { target: l.target, lun: l.lun, op }, s.latency[op])))),
    new ScrapeMetric('blockgate_target_sessions', 'Logged-in sessions (iSCSI I_T nexuses, NBD clients) per target.', 'gauge',
      () => src.targets().map((t) => ({ labels: { target: t.target, lld: t.lld }, value: readTargetCounters(t.counters).sessions }))),
    new ScrapeMetric('blockgate_target_connections', 'Open connections per target.', 'gauge',
      () => src.targets().map((t) => ({ labels: { target: t.target, lld: t.lld }, value: readTargetCounters(t.counters).connections }))),
  ];
  const rb = src.replyBudget;
  if (rb) {
    metrics.push(new ScrapeMetric('blockgate_reply_budget_held_bytes', 'Bytes NBD and iSCSI connections hold for requests in flight and replies their clients have not read, daemon-wide (replyBudget).', 'gauge',
      () => [{ labels: {}, value: readReplyBacklogBytes(rb) }]));
  }
  for (const m of metrics) reg.registerMetric(m as unknown as client.Metric);
  reg.registerMetric(iscsiAuthFailures);
  return reg;
}

function histogramSamples(name: string, labels: Record<string, string | number>, h: { buckets: number[]; sum: number; count: number }): Sample[] {
  const out: Sample[] = [];
  let acc = 0;
  LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
    acc += h.buckets[i]!;
    out.push({ labels: { ...labels, le }, value: acc, metricName: `${name}_bucket` });
  });
  out.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
  out.push({ labels, value: h.sum, metricName: `${name}_sum` });
  out.push({ labels, value: h.count, metricName: `${name}_count` });
  return out;
}

/** GET /metrics on `host:port`. Resolves with the bound port. */
export function serveMetrics(reg: client.Registry, host: string, port: number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end('not found\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': reg.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : port });
    });
  });
}
