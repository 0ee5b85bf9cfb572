/**
 * What a running daemon holds, read from outside: open descriptors and RSS
 * (/proc/<pid>), the session and connection gauges (metrics endpoint), the
 * I_T nexuses `bgadm --op show` lists. For tests that a client's departure
 * releases everything it held.
 */
import fs from 'node:fs';
import http from 'node:http';
import { bgadm, type DaemonHandle } from './daemon.js';
import { infoData, option, RawConn } from './nbd-raw-client.js';

export function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** GET with `Connection: close`, so the scrape itself leaves no descriptor open in the daemon. */
export function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('scrape timed out')));
  });
}

/** Sum of every sample of `metric` (all label sets). */
export function gaugeSum(text: string, metric: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export interface Holdings {
  fds: number;
  sessions: number;
  connections: number;
  nexuses: number;
}

export async function holdings(d: DaemonHandle, llds: string[]): Promise<Holdings> {
  const text = await scrape(d.metricsUrl!);
  let nexuses = 0;
  for (const lld of llds) {
    const r = await bgadm(d, ['--lld', lld, '--op', 'show', '--mode', 'target']);
    nexuses += (r.stdout.match(/^\s+I_T nexus: \d+$/gm) ?? []).length;
  }
  return {
    fds: openFds(d.proc.pid!),
    sessions: gaugeSum(text, 'blockgate_target_sessions'),
    connections: gaugeSum(text, 'blockgate_target_connections'),
    nexuses,
  };
}

/** Polls `fn` until it returns true or `ms` pass; returns the last answer. */
export async function eventually(fn: () => Promise<boolean> | boolean, ms: number, everyMs = 50): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `width` at once. */
export async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}

const NBD_OPT_GO = 7;
const NBD_OPT_STRUCTURED_REPLY = 8;
const NBD_REP_ACK = 1;

/** A raw NBD client in transmission on `exportName` (fixed newstyle, NBD_OPT_GO). */
export async function nbdTransmission(port: number, exportName: string, structured = false): Promise<RawConn> {
  const c = await RawConn.connect(port);
  await c.handshake();
  if (structured) {
    c.write(option(NBD_OPT_STRUCTURED_REPLY));
    const r = await c.optReply();
    if (r.type !== NBD_REP_ACK) throw new Error(`structured reply refused: ${r.type}`);
  }
  c.write(option(NBD_OPT_GO, infoData(exportName)));
  for (;;) {
    const r = await c.optReply();
    if (r.type === NBD_REP_ACK) return c;
    if (r.type >= 0x80000000) throw new Error(`NBD_OPT_GO refused: ${r.type.toString(16)}`);
  }
}
