/**
 * Process plumbing for the benchmark: free loopback ports, spawning a
 * daemon and waiting for its "ready" sign, running a client to completion,
 * and per-process CPU time and peak RSS from /proc. Every process the
 * runner starts is ended by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** Clock ticks per second for /proc/<pid>/stat (Linux USER_HZ, 100 on every mainstream kernel). */
const USER_HZ = 100;

/** An ephemeral loopback port that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Daemon {
  child: ChildProcess;
  /** PID whose CPU and RSS are accounted (the daemon itself, not a wrapper). */
  pid: number;
  log: string[];
}

/**
 * Spawn a long-running daemon; resolve once `ready(line)` matches a line of
 * stdout/stderr, or as soon as it is spawned when `ready` is null (the
 * caller then polls for readiness itself).
 */
export function startDaemon(cmd: string, args: string[], ready: ((line: string) => boolean) | null, timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const log: string[] = [];
    let done = false;
    const timer = setTimeout(() => fail(new Error(`${cmd} not ready after ${timeoutMs} ms:\n${log.slice(-10).join('\n')}`)), timeoutMs);
    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onLine = (line: string): void => {
      if (log.length < 2000) log.push(line);
      if (!done && ready?.(line)) {
        done = true;
        clearTimeout(timer);
        resolve({ child, pid: child.pid!, log });
      }
    };
    for (const s of [child.stdout!, child.stderr!]) {
      let rest = '';
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        lines.forEach(onLine);
      });
    }
    child.on('error', fail);
    if (!ready) {
      child.on('spawn', () => {
        done = true;
        clearTimeout(timer);
        resolve({ child, pid: child.pid!, log });
      });
    }
    child.on('exit', (code) => fail(new Error(`${cmd} exited with ${code} before ready:\n${log.slice(-10).join('\n')}`)));
  });
}

/** SIGTERM the PID and wait for it to go (SIGKILL after `graceMs`). */
export async function stopPid(pid: number, graceMs = 8000): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (alive(pid) && Date.now() < until) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(20);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie child still answers kill(0); /proc tells it apart.
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock seconds from spawn to exit. */
  wallSeconds: number;
  /** User + system CPU seconds of the client and its children (only with `withCpu`). */
  cpuSeconds?: number;
}

/**
 * Node reaps a child before it can read the child's rusage, so a client
 * whose CPU is wanted runs under bash, which prints its children's user and
 * system time (`times`, second line) on a descriptor of its own after the
 * client exits; the client's stdout and stderr stay untouched.
 */
const TIMES_MARK = '@@blockgate-bench-times@@';
const TIMES_WRAPPER = `"$@"; rc=$?; { echo ${TIMES_MARK}; times; } >&2; exit $rc`;

function parseTimes(stderr: string): { stderr: string; cpuSeconds: number } {
  const at = stderr.lastIndexOf(TIMES_MARK);
  if (at < 0) return { stderr, cpuSeconds: NaN };
  const lines = stderr.slice(at + TIMES_MARK.length).trim().split('\n');
  const secs = (t: string): number => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const [user, sys] = (lines[1] ?? '').trim().split(/\s+/);
  return { stderr: stderr.slice(0, at), cpuSeconds: secs(user ?? '') + secs(sys ?? '') };
}

/** Run a client to completion, capturing its output; rejects on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 300_000, withCpu = false): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = withCpu
      ? spawn('bash', ['-c', TIMES_WRAPPER, 'bash', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const res: RunResult = { code: code ?? -1, stdout, stderr, wallSeconds: Number(process.hrtime.bigint() - t0) / 1e9 };
      if (withCpu) Object.assign(res, parseTimes(stderr));
      if (res.code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${res.code}): ${stderr.trim() || stdout.trim()}`));
      else resolve(res);
    });
  });
}

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5) are utime and stime; f[0] is field 3.
    return (Number(f[11]) + Number(f[12])) / USER_HZ;
  } catch {
    return NaN;
  }
}

/** Peak resident set (VmHWM) in bytes. */
export function peakRssBytes(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Shell-quoted command line, for documenting how each figure was produced. */
export function commandLine(cmd: string, args: string[], env: Record<string, string> = {}): string {
  return [...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
