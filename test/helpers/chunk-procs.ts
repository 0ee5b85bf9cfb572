/**
 * A small real-process chunk cluster for tests: one MDS (FileStore) and
 * three chunkservers in three zones (dist/ entry points), ready once every
 * copyset has a leader and every chunkserver is up. stop() kills them by
 * PID. (Recreated by the fault-test helper after an accidental overwrite;
 * the API is the one chunk-daemon.test.ts and chunk-lun-iscsi.test.ts use.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import type { MdsConfig } from '../../backends/chunk/mds/types.js';
import { ROOT } from './daemon.js';

const MiB = 1024 * 1024;

export interface ChunkCluster {
  mdsAddr: string;
  mds: ChildProcess;
  chunkservers: Array<{ proc: ChildProcess; address: string }>;
  stop(): Promise<void>;
}

export interface ChunkClusterOptions {
  /** Data dirs and logs go here (the caller removes it). */
  dir: string;
  mdsConfig?: Partial<MdsConfig>;
  chunkservers?: number;
}

/** Spawn a dist/ entry with JSON options; resolves with the fields of its `readyMsg` log line. */
function startProc(dir: string, entry: string, opts: object, readyMsg: string, logName: string, procs: ChildProcess[]): Promise<{ proc: ChildProcess; line: Record<string, unknown> }> {
  const proc = spawn(process.execPath, [path.join(ROOT, entry), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const logFile = fs.createWriteStream(path.join(dir, `${logName}.log`));
  proc.stderr!.pipe(logFile);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${logName} not ready`)), 30_000);
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      logFile.write(d);
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes(`"${readyMsg}"`)) {
          clearTimeout(t);
          resolve({ proc, line: JSON.parse(line) as Record<string, unknown> });
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`${logName} exited with ${code}`)));
  });
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startChunkCluster(o: ChunkClusterOptions): Promise<ChunkCluster> {
  fs.mkdirSync(o.dir, { recursive: true });
  const procs: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of procs) {
      if (p.exitCode !== null || p.signalCode !== null || !p.pid) continue;
      const exited = new Promise((r) => p.once('exit', r));
      process.kill(p.pid, 'SIGKILL');
      await exited;
    }
  };
  try {
    const mds = await startProc(o.dir, 'dist/backends/chunk/mds/main.js', {
      listen: '127.0.0.1:0', dataDir: path.join(o.dir, 'mds'), tickMs: 100, copysetSettleMs: 300, logLevel: 'info',
      config: { segmentSizeBytes: 8 * MiB, chunkSizeBytes: MiB, copysetsPerChunkserver: 4, maxCopysetsPerChunkserver: 8, heartbeatTimeoutMs: 3000, ...o.mdsConfig },
    }, 'mds started', 'mds', procs);
    const mdsAddr = String(mds.line.address);
    const chunkSizeBytes = o.mdsConfig?.chunkSizeBytes ?? MiB;
    const chunkservers: ChunkCluster['chunkservers'] = [];
    for (let i = 1; i <= (o.chunkservers ?? 3); i++) {
      const cs = await startProc(o.dir, 'dist/backends/chunk/chunkserver/main.js', {
        listen: '127.0.0.1:0', mds: [mdsAddr], dataDir: path.join(o.dir, `cs${i}`), zone: `zone${i}`, server: `cs${i}`, capacityBytes: 1 << 30,
        chunkSizeBytes, poolFiles: 2, tickMs: 50, heartbeatMs: 200, logLevel: 'info',
      }, 'chunkserver started', `cs${i}`, procs);
      chunkservers.push({ proc: cs.proc, address: String(cs.line.address) });
    }
    const admin = new MdsClient([mdsAddr], { callTimeoutMs: 2000 });
    try {
      await until('copysets with leaders', 30_000, async () => {
        const s = await admin.clusterStatus();
        return s.copysets.total > 0 && s.copysets.leaderless === 0 && s.chunkservers.every((c) => c.state === 'up') ? s : undefined;
      });
    } finally {
      admin.close();
    }
    return { mdsAddr, mds: mds.proc, chunkservers, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
