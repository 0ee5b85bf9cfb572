/**
 * The MDS against a real etcd (Debian etcd-server): EtcdStore, the lease
 * election, and failover between two MDS processes (dist/, built by
 * `npm test`) when the active one is killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdsClient } from '../../backends/chunk/mds/admin-client.js';
import { EtcdElection } from '../../backends/chunk/mds/election.js';
import { EtcdClient } from '../../backends/chunk/mds/etcd-client.js';
import { EtcdStore } from '../../backends/chunk/mds/etcd-store.js';
import { KEYS, StoreFencedError } from '../../backends/chunk/mds/store.js';
import { MSG } from '../../backends/chunk/proto/messages.js';
import type { MdsLeaderResponse } from '../../backends/chunk/proto/mds-api.js';
import { RpcClient } from '../../backends/chunk/proto/rpc-client.js';
import { STATUS } from '../../backends/chunk/proto/status.js';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'dist/backends/chunk/mds/main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let etcd: EtcdHandle;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  for (const p of procs) {
    if (p.exitCode !== null || p.signalCode !== null || !p.pid) continue;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid, 'SIGKILL');
    await exited;
  }
  await etcd?.stop();
});

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('EtcdStore', () => {
  it('puts, gets, lists by prefix, deletes atomically; a lost fence rejects writes', async () => {
    const store = new EtcdStore(new EtcdClient([etcd.endpoint]));
    await store.commit([
      { op: 'put', key: '/t/a/1', value: 'one' },
      { op: 'put', key: '/t/a/2', value: 'two' },
      { op: 'put', key: '/t/b', value: 'bee' },
    ]);
    expect(await store.get('/t/a/1')).toBe('one');
    expect(await store.list('/t/a/')).toEqual([['/t/a/1', 'one'], ['/t/a/2', 'two']]);
    await store.commit([{ op: 'deletePrefix', prefix: '/t/a/' }, { op: 'delete', key: '/t/b' }]);
    expect(await store.list('/t/')).toEqual([]);
    expect(await store.get('/t/b')).toBeUndefined();
    store.setFence({ key: '/t/fence', value: 'me' });
    await expect(store.commit([{ op: 'put', key: '/t/x', value: '1' }])).rejects.toBeInstanceOf(StoreFencedError);
    expect(await store.get('/t/x')).toBeUndefined();
    await store.client.put('/t/fence', 'me');
    await store.commit([{ op: 'put', key: '/t/x', value: '1' }]);
    expect(await store.get('/t/x')).toBe('1');
  });

  it('elects one of two candidates, and the other takes over when the leader resigns', async () => {
    const client = new EtcdClient([etcd.endpoint]);
    const log = pino({ level: 'silent' });
    const a = new EtcdElection(client, { self: 'a:1', ttlSeconds: 2, pollMs: 100, log });
    const b = new EtcdElection(client, { self: 'b:1', ttlSeconds: 2, pollMs: 100, log });
    a.start();
    await until('a elected', 5000, async () => (a.isLeader() ? true : undefined));
    b.start();
    await until('b learns the leader', 5000, async () => (b.leaderAddress() === 'a:1' ? true : undefined));
    expect(b.isLeader()).toBe(false);
    await a.stop();
    expect(a.isLeader()).toBe(false);
    await until('b elected', 5000, async () => (b.isLeader() ? true : undefined));
    expect(JSON.parse((await client.range(KEYS.leader))[0]!.value)).toMatchObject({ address: 'b:1' });
    await b.stop();
    expect(await client.range(KEYS.leader)).toEqual([]);
  });
});

function startMds(dataDir: string): Promise<{ proc: ChildProcess; address: string }> {
  const opts = {
    listen: '127.0.0.1:0', etcdEndpoints: [etcd.endpoint], dataDir, leaseTtlSeconds: 2, electionPollMs: 200, tickMs: 200,
    copysetSettleMs: 0, logLevel: 'info', config: { segmentSizeBytes: 65536, chunkSizeBytes: 16384, copysetsPerChunkserver: 2 },
  };
  const proc = spawn(process.execPath, [MAIN, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`mds did not start: ${out}`)), 15_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"address":"([^"]+)"[^\n]*"msg":"mds started"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, address: m[1]! });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`mds exited ${code}: ${out}`)));
  });
}

describe('MDS failover with two processes', () => {
  it('serves from the active MDS only; after kill -9 of it, the standby takes over with the state intact', async () => {
    expect(fs.existsSync(MAIN)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-mds-etcd-'));
    const m1 = await startMds(dir);
    const m2 = await startMds(dir);
    const client = new MdsClient([m1.address, m2.address], { callTimeoutMs: 1000, maxAttempts: 20 });
    try {
      const ask = async (addr: string) => {
        const c = new RpcClient(addr, { callTimeoutMs: 1000 });
        try {
          return await c.callJson<MdsLeaderResponse>(MSG.GET_MDS_LEADER, {});
        } finally {
          c.close();
        }
      };
      const active = await until('an active MDS', 10_000, async () => {
        const [r1, r2] = [await ask(m1.address), await ask(m2.address)];
        if (r1.isLeader && r2.leader === m1.address) return m1;
        if (r2.isLeader && r1.leader === m2.address) return m2;
        return undefined;
      });
      const standby = active === m1 ? m2 : m1;
      const sc = new RpcClient(standby.address, { callTimeoutMs: 1000 });
      const refused = await sc.callJson<{ status: number; leaderHint: string }>(MSG.LIST_VOLUMES, {});
      sc.close();
      expect(refused).toMatchObject({ status: STATUS.NOT_LEADER, leaderHint: active.address });

      for (const zone of ['a', 'b', 'c']) {
        await client.registerChunkserver({ zone, server: `h-${zone}`, address: `127.0.0.1:1${zone.charCodeAt(0)}`, capacityBytes: 1 << 30 });
      }
      await client.createVolume({ name: 'v', sizeBytes: 1 << 20 });
      const seg = await client.getSegment({ name: 'v', offsetBytes: 0, allocate: true });
      expect(seg!.chunks).toHaveLength(4);

      process.kill(active.proc.pid!, 'SIGKILL');
      const killedAt = Date.now();
      const took = await until('the standby to serve', 15_000, async () => {
        const r = await ask(standby.address);
        return r.isLeader ? Date.now() - killedAt : undefined;
      });
      expect(took).toBeLessThan(15_000);
      expect(await client.getVolume('v')).toMatchObject({ name: 'v', sizeBytes: 1 << 20, allocatedSegments: 1 });
      expect(await client.getSegment({ name: 'v', offsetBytes: 0, allocate: false })).toEqual(seg);
      const status = await client.clusterStatus();
      expect(status.mds).toEqual({ address: standby.address, isLeader: true });
      expect(status.chunkservers).toHaveLength(3);
    } finally {
      client.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
