/**
 * The client tools, identical for every system: `qemu-img bench` (count
 * based; IOPS = requests / run time, mean latency by Little's law =
 * depth × time / requests, exact at QD1), fio's nbd engine (time based,
 * its own JSON figures) and libiscsi's `iscsi-perf` (time based, random
 * reads; the per-target scaling runs use it over iSCSI because it costs
 * the client far less CPU per request than qemu-img, and three clients
 * share the cores with the daemon there). All return the exact command
 * line they ran.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine, run, stopPid } from './proc.js';
import type { Workload } from './workloads.js';

export interface Sample {
  iops: number;
  bytesPerSecond: number;
  meanLatencyUs: number;
  seconds: number;
  bytes: number;
  command: string;
  /** CPU seconds the client itself used (user + system), where asked for. */
  clientCpuSeconds?: number;
}

export function qemuImgBenchArgs(w: Workload, url: string, count: number): string[] {
  return [
    'bench', '-f', 'raw', '-t', 'none',
    '-c', String(count), '-d', String(w.depth),
    '-s', String(w.blockBytes), '-S', String(w.blockBytes),
    ...(w.write ? ['-w', '--pattern=165'] : []),
    url,
  ];
}

export async function qemuImgBench(w: Workload, url: string, count: number): Promise<Sample> {
  const args = qemuImgBenchArgs(w, url, count);
  const r = await run('qemu-img', args);
  const m = /Run completed in ([\d.]+) seconds/.exec(r.stdout);
  if (!m) throw new Error(`qemu-img bench printed no run time: ${r.stdout}`);
  const seconds = Number(m[1]);
  const bytes = count * w.blockBytes;
  return {
    iops: count / seconds,
    bytesPerSecond: bytes / seconds,
    meanLatencyUs: ((seconds * w.depth) / count) * 1e6,
    seconds,
    bytes,
    command: commandLine('qemu-img', args),
  };
}

export function fioArgs(w: Workload, url: string, seconds: number, rw: string = w.readPercent !== undefined ? 'randrw' : 'randread'): string[] {
  return [
    '--name=bench', '--ioengine=nbd', `--uri=${url}`,
    `--rw=${rw}`, ...(w.readPercent !== undefined ? [`--rwmixread=${w.readPercent}`] : []),
    `--bs=${w.blockBytes}`, `--iodepth=${w.depth}`,
    '--time_based', '--ramp_time=1', `--runtime=${seconds}`,
    '--output-format=json',
  ];
}

interface FioDir {
  iops: number;
  bw_bytes: number;
  io_bytes: number;
  lat_ns: { mean: number };
}

export async function fio(w: Workload, url: string, seconds: number, rw?: string, withCpu = false): Promise<Sample> {
  const args = fioArgs(w, url, seconds, rw);
  const r = await run('fio', args, undefined, withCpu);
  const job = (JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: { read: FioDir; write: FioDir }[] }).jobs[0]!;
  const dirs = [job.read, job.write].filter((d) => d.iops > 0);
  const iops = dirs.reduce((a, d) => a + d.iops, 0);
  const lat = dirs.reduce((a, d) => a + d.lat_ns.mean * d.iops, 0) / Math.max(iops, 1e-9) / 1000;
  return {
    iops,
    bytesPerSecond: dirs.reduce((a, d) => a + d.bw_bytes, 0),
    meanLatencyUs: lat,
    seconds,
    bytes: dirs.reduce((a, d) => a + d.io_bytes, 0),
    command: commandLine('fio', args),
    clientCpuSeconds: r.cpuSeconds,
  };
}

/**
 * fio's nbd engine against an iSCSI LUN, through `qemu-nbd` serving the
 * `iscsi://` URL on a Unix socket (libiscsi inside QEMU's block layer):
 * Debian's fio has no libiscsi engine, and this is the one way to run the
 * same random mix over iSCSI with tools nobody here wrote. The bridge is
 * the same for every daemon, so the ratio holds, but it costs CPU of its
 * own: the IOPS are lower than a direct client would see.
 */
export async function fioOverIscsi(w: Workload, iscsiUrl: string, seconds: number): Promise<Sample> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockgate-bench-bridge-'));
  const sock = path.join(dir, 'nbd.sock');
  const pidFile = path.join(dir, 'qemu-nbd.pid');
  // --fork returns once the socket listens; --persistent keeps serving across fio's connections.
  const bridgeArgs = ['--fork', '--persistent', '--pid-file', pidFile, '-f', 'raw', '--cache=none', '-k', sock, iscsiUrl];
  try {
    await run('qemu-nbd', bridgeArgs, 30_000);
    const s = await fio(w, `nbd+unix:///?socket=${sock}`, seconds);
    return { ...s, command: `${commandLine('qemu-nbd', bridgeArgs)} && ${s.command}` };
  } finally {
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
    if (pid > 0) await stopPid(pid);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `iscsi-perf` random reads of `w.blockBytes` at `w.depth` for `seconds`; its closing "iops average". */
export async function iscsiPerf(w: Workload, url: string, seconds: number, withCpu = false): Promise<Sample> {
  const blocks = Math.max(1, Math.round(w.blockBytes / 512));
  const args = ['-m', String(w.depth), '-b', String(blocks), '-r', '-t', String(seconds), url];
  const r = await run('iscsi-perf', args, undefined, withCpu);
  const m = /iops average (\d+)(?![\s\S]*iops average)/.exec(r.stdout); // the last one: over the whole run
  if (!m) throw new Error(`iscsi-perf printed no average: ${r.stdout.slice(-300)}`);
  const iops = Number(m[1]);
  return {
    iops,
    bytesPerSecond: iops * blocks * 512,
    meanLatencyUs: (w.depth / Math.max(iops, 1e-9)) * 1e6,
    seconds,
    bytes: iops * blocks * 512 * seconds,
    command: commandLine('iscsi-perf', args),
    clientCpuSeconds: r.cpuSeconds,
  };
}

/** One TCP stream over loopback for `seconds`: what the loopback can carry (bytes/s). */
export async function iperf3(port: number, seconds: number): Promise<{ bytesPerSecond: number; command: string }> {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J'];
  const r = await run('iperf3', args);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return { bytesPerSecond: j.end.sum_received.bits_per_second / 8, command: commandLine('iperf3', args) };
}
