/**
 * Chunkserver processes (dist/, built by `npm test`): an MDS (in this
 * process, FileStore) and three `chunkserver/main.js` processes. A write
 * loop runs against one copyset while its leader is killed with SIGKILL;
 * every acknowledged write must read back afterwards, and the killed
 * chunkserver, restarted on the same port, catches up (its applied index,
 * scraped from /metrics, reaches the leader's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { runMds, type MdsHandle } from '../../backends/chunk/mds/server.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { TestChunkClient, sleep, until } from '../helpers/chunk-cluster.js';
import { freePort } from '../helpers/etcd.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'dist/backends/chunk/chunkserver/main.js');
const KiB = 1024;
const CHUNK = 64 * KiB;
const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-cs-proc-'));
const procs = new Map<number, ChildProcess>(); // index → process
let mds: MdsHandle;
let mdsClient: MdsClient;
let client: TestChunkClient;

interface Node {
  index: number;
  zone: string;
  port: number;
  metricsPort: number;
}
const nodes: Node[] = [];

afterAll(async () => {
  client?.close();
  mdsClient?.close();
  for (const p of procs.values()) await kill(p);
  await mds?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || !p.pid) return;
  const exited = new Promise((r) => p.once('exit', r));
  process.kill(p.pid, 'SIGKILL');
  await exited;
}

function spawnNode(n: Node): ChildProcess {
  const opts = {
    listen: `127.0.0.1:${n.port}`, mds: [mds.address], dataDir: path.join(dir, `cs${n.index}`), zone: n.zone, server: `host${n.index}`,
    capacityBytes: 1 << 30, chunkSizeBytes: CHUNK, poolFiles: 2, tickMs: 50, electionTicks: 10, heartbeatMs: 200,
    snapshotEntries: 30, keepLogEntries: 5, segmentBytes: 64 * KiB, metricsListen: `127.0.0.1:${n.metricsPort}`, logLevel: 'warn',
  };
  const p = spawn(process.execPath, [MAIN, JSON.stringify(opts)], { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.set(n.index, p);
  return p;
}

async function appliedIndex(n: Node, copysetId: number): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${n.metricsPort}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
  const m = new RegExp(`blockgate_chunkserver_copyset_applied_index\\{copyset="${copysetId}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('chunkserver processes', () => {
  it('loses no acknowledged write when the leader is killed, and the killed one catches up', async () => {
    mds = await runMds({
      listen: '127.0.0.1:0', dataDir: path.join(dir, 'mds'), log: pino({ level: 'silent' }), tickMs: 100, copysetSettleMs: 500,
      config: { chunkSizeBytes: CHUNK, segmentSizeBytes: 4 * CHUNK, copysetsPerChunkserver: 1, maxCopysetsPerChunkserver: 2, heartbeatTimeoutMs: 5000, opTimeoutMs: 30_000, leaderBalance: false },
    });
    mdsClient = new MdsClient([mds.address], { callTimeoutMs: 2000 });
    client = new TestChunkClient(mdsClient, 1500);
    for (const [i, zone] of ['a', 'b', 'c'].entries()) {
      const n = { index: i + 1, zone, port: await freePort(), metricsPort: await freePort() };
      nodes.push(n);
      spawnNode(n);
    }
    const [cs] = await until('a copyset with a leader', 30_000, async () => {
      const list = await mdsClient.getCopysets([1]);
      return list[0] && list[0].leaderId !== 0 ? list : undefined;
    }, 100);
    const copysetId = cs!.copysetId;

    const acked = new Map<string, Buffer>();
    let stopLoop = false;
    let n = 0;
    const loop = (async () => {
      while (!stopLoop) {
        const chunkId = 10 + (n % 4);
        const offset = ((n >> 2) % 12) * 4 * KiB;
        const data = Buffer.alloc(4 * KiB, n & 0xff);
        data.writeUInt32BE(n, 0);
        const res = await client.write(copysetId, chunkId, offset, data, 1);
        if (res.status !== STATUS.OK) throw new Error(`write ${n}: status ${res.status}`);
        acked.set(`${chunkId}/${offset}`, data);
        n++;
      }
    })();
    await until('20 acknowledged writes', 20_000, () => (n >= 20 ? true : undefined));
    const [info] = await mdsClient.getCopysets([copysetId]);
    const victim = nodes.find((x) => x.index === info!.leaderId)!;
    expect(victim).toBeDefined();
    await kill(procs.get(victim.index)!);
    const killedAt = n;
    await until('25 writes acknowledged after the kill', 30_000, () => (n >= killedAt + 25 ? true : undefined), 100);
    stopLoop = true;
    await loop;
    for (const [key, data] of acked) {
      const [chunkId, offset] = key.split('/').map(Number) as [number, number];
      const res = await client.read(copysetId, chunkId, offset, data.length);
      expect(res.status).toBe(STATUS.OK);
      expect(res.data?.readUInt32BE(0), key).toBe(data.readUInt32BE(0));
      expect(res.data!.equals(data)).toBe(true);
    }

    spawnNode(victim);
    const others = nodes.filter((x) => x !== victim);
    await until('the restarted chunkserver reaches the leader applied index', 30_000, async () => {
      const mine = await appliedIndex(victim, copysetId);
      const theirs = Math.max(...(await Promise.all(others.map((o) => appliedIndex(o, copysetId).catch(() => 0)))).map((v) => v ?? 0));
      return mine !== undefined && theirs > 0 && mine >= theirs ? true : undefined;
    }, 200);
    await sleep(10);
  }, 120_000);
});
