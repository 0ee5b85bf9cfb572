/**
 * #12 item 3: clients that ask for large reads and never read them cost a
 * bounded amount of memory, per connection and for the whole daemon
 * (replyBudget), and the daemon keeps serving others meanwhile. Sixteen
 * raw NBD clients on real sockets (simple and structured replies), then
 * sixteen raw iSCSI initiators, each send 48 reads of 1 MiB and stop
 * reading; unbounded, the daemon held every reply (~50 MiB per client).
 * Over TLS (nbdsh queueing reads and sleeping) the bridge to the main
 * thread must not buffer them either.
 */
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { eventually, gaugeSum, holdings, nbdTransmission, openFds, rssBytes, scrape } from '../helpers/daemon-resources.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';
import { request, type RawConn } from '../helpers/nbd-raw-client.js';
import { makePskFile } from '../helpers/pki.js';
import { toolEnv } from '../helpers/run-tool.js';

const MiB = 1024 * 1024;
const CLIENTS = 16;
const READS = 48;
const DAEMON_BUDGET = 64 * MiB;
const PER_CONNECTION = 8 * MiB;
const IQN = 'iqn.2026-12.test.blockgate:budget';

let dir: string;
let d: DaemonHandle;
let psk: string;

beforeAll(async () => {
  dir = tempDir('bg-reply-budget-');
  const img = path.join(dir, 'disk.img');
  const fd = fs.openSync(img, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let i = 0; i < 16; i++) fs.writeSync(fd, randomFillSync(block)); // data, not holes: large reads may leave through sendfile
  fs.closeSync(fd);
  psk = path.join(dir, 'keys.psk');
  await makePskFile(psk);
  const cfg = path.join(dir, 'budget.yaml');
  fs.writeFileSync(cfg, [
    'nbd:',
    '  tls: on',
    `  tlsPskFile: ${psk}`,
    'replyBudget:',
    `  perConnection: ${PER_CONNECTION}`,
    `  daemon: ${DAEMON_BUDGET}`,
    'targets:',
    '  - { tid: 1, name: disk, lld: nbd, luns: [{ lun: 1, backingStore: ' + img + ', bstype: file, sizeBytes: ' + 64 * MiB + ' }] }',
    `  - { tid: 2, name: "${IQN}", lld: iscsi, luns: [{ lun: 1, backingStore: ${img}, bstype: file, sizeBytes: ${64 * MiB} }] }`,
    '',
  ].join('\n'));
  d = await startDaemon({ dataDir: dir, args: ['--config', cfg] });
  expect((await run('nbdinfo', [`nbd://127.0.0.1:${d.nbdPort}/disk`])).code).toBe(0);
  expect((await run('iscsi-inq', [`iscsi://127.0.0.1:${d.iscsiPort}/${IQN}/1`])).code).toBe(0); // first use opens what it keeps
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const held = async (): Promise<number> => gaugeSum(await scrape(d.metricsUrl!), 'blockgate_reply_budget_held_bytes');

/** Clients that send READS reads of 1 MiB each and never read a reply. */
async function hogs(): Promise<RawConn[]> {
  const conns: RawConn[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = await nbdTransmission(d.nbdPort!, 'disk', i % 2 === 1);
    c.sock.pause();
    for (let k = 0; k < READS; k++) c.write(request(false, 0, 0, BigInt(k), BigInt((k * MiB) % (64 * MiB)), BigInt(MiB)));
    conns.push(c);
  }
  return conns;
}

/** Highest RSS over `ms`, sampled every 100 ms. */
async function peakRss(ms: number): Promise<number> {
  let peak = 0;
  for (const until = Date.now() + ms; Date.now() < until; ) {
    peak = Math.max(peak, rssBytes(d.proc.pid!));
    await new Promise((r) => setTimeout(r, 100));
  }
  return peak;
}

describe('reply budget', () => {
  it('non-reading clients hold a bounded amount of memory; others are served; all is released when they go', async () => {
    const pid = d.proc.pid!;
    const fds0 = openFds(pid);
    const rss0 = rssBytes(pid);
    const peaks: number[] = [];
    for (let wave = 0; wave < 2; wave++) {
      const conns = await hogs();
      peaks.push(await peakRss(2500));
      // Unbounded, 16 clients x 48 MiB of replies: the daemon grew by over 700 MiB.
      expect(peaks[wave]! - rss0).toBeLessThan(DAEMON_BUDGET + 96 * MiB);
      const h = await held();
      // Each connection may pass its bound by one request, and anyone holding nothing may send one.
      expect(h).toBeGreaterThan(0);
      expect(h).toBeLessThanOrEqual(DAEMON_BUDGET + CLIENTS * 2 * MiB);
      // A fresh client is still served while the budget is spent.
      const info = await run('nbdinfo', ['--json', `nbd://127.0.0.1:${d.nbdPort}/disk`], { timeoutMs: 20_000 });
      expect(info.code, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout).exports[0]['export-size']).toBe(64 * MiB);
      // Requests already read complete once the client reads again: every one of them is answered.
      const reader = conns[0]!;
      reader.sock.resume();
      const cookies = new Set<bigint>();
      for (let k = 0; k < READS; k++) {
        const r = await reader.reply(MiB);
        expect(r.error).toBe(0);
        expect(r.payload.length).toBe(MiB);
        cookies.add(r.cookie);
      }
      expect(cookies.size).toBe(READS);
      for (const c of conns) c.sock.resetAndDestroy();
      expect(await eventually(async () => (await held()) === 0, 1500)).toBe(true);
      expect(await eventually(async () => {
        const now = await holdings(d, ['nbd']);
        return now.connections === 0 && now.sessions === 0 && now.fds <= fds0;
      }, 1500)).toBe(true);
    }
    // Memory is reused, not leaked: a second wave costs no more than the first.
    expect(peaks[1]!).toBeLessThan(peaks[0]! + 64 * MiB);
  }, 120_000);

  it('iSCSI: non-reading initiators hold a bounded amount of memory; others are served; all is released when they go', async () => {
    const pid = d.proc.pid!;
    const fds0 = openFds(pid);
    const rss0 = rssBytes(pid);
    const inis: RawInitiator[] = [];
    const reads: Promise<{ status: number; dataIn: Buffer }>[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const ini = await RawInitiator.connect(d.iscsiPort!);
      expect(await ini.login({ initiatorName: `iqn.2026-12.test:hog-${i}`, targetName: IQN, isid: `4000${(0x2000 + i).toString(16)}0000` })).toBe(0);
      await ini.command(Cdb.testUnitReady(), { lun: 1 }).done; // takes the power-on unit attention
      ini.socket.pause();
      for (let k = 0; k < READS; k++) {
        const { done } = ini.command(Cdb.read10((k * 2048) % (128 * 1024), 2048), { lun: 1, readLength: MiB });
        if (i === 0) reads.push(done as Promise<{ status: number; dataIn: Buffer }>);
      }
      inis.push(ini);
    }
    const peak = await peakRss(2500);
    expect(peak - rss0).toBeLessThan(DAEMON_BUDGET + 96 * MiB);
    const h = await held();
    expect(h).toBeGreaterThan(0);
    expect(h).toBeLessThanOrEqual(DAEMON_BUDGET + CLIENTS * 2 * MiB);
    const inq = await run('iscsi-inq', [`iscsi://127.0.0.1:${d.iscsiPort}/${IQN}/1`], { timeoutMs: 20_000 });
    expect(inq.code, inq.stderr).toBe(0);
    // Commands already read complete once the initiator reads again.
    inis[0]!.socket.resume();
    const outcomes = await Promise.all(reads);
    expect(outcomes.map((o) => o.status)).toEqual(new Array(READS).fill(0));
    expect(outcomes.every((o) => o.dataIn.length === MiB)).toBe(true);
    for (const ini of inis) ini.socket.resetAndDestroy();
    expect(await eventually(async () => (await held()) === 0, 1500)).toBe(true);
    expect(await eventually(async () => {
      const now = await holdings(d, ['iscsi']);
      return now.connections === 0 && now.sessions === 0 && now.fds <= fds0;
    }, 1500)).toBe(true);
  }, 120_000);

  it('NBD over TLS: clients that queue reads and never read hold a bounded amount of memory in both threads', async () => {
    const pid = d.proc.pid!;
    const rss0 = rssBytes(pid);
    const uri = `nbds://alice@127.0.0.1:${d.nbdPort}/disk?tls-psk-file=${psk}`;
    const script = [
      'h.set_uri_allow_local_file(True)',
      `h.connect_uri(${JSON.stringify(uri)})`,
      'assert h.get_tls_negotiated()',
      `bufs = [nbd.Buffer(${MiB}) for i in range(${READS})]`,
      `cmds = [h.aio_pread(bufs[i], i * ${MiB}) for i in range(${READS})]`,
      'print("queued", flush=True)',
      'import time; time.sleep(30)',
    ].join('\n');
    const kids = Array.from({ length: 8 }, () => spawn('nbdsh', ['-c', script], { env: toolEnv, stdio: ['ignore', 'pipe', 'inherit'] }));
    try {
      await Promise.all(kids.map((k) => new Promise<void>((resolve, reject) => {
        k.stdout!.on('data', (b: Buffer) => b.toString().includes('queued') && resolve());
        k.once('exit', (code) => reject(new Error(`nbdsh exited with ${code} before queueing`)));
      })));
      const peak = await peakRss(2500);
      // Unbounded: over 750 MiB (each reply held by the target loop and again by the main thread's bridge).
      expect(peak - rss0).toBeLessThan(DAEMON_BUDGET + 96 * MiB);
      const info = await run('nbdinfo', [uri], { timeoutMs: 20_000 });
      expect(info.code, info.stderr).toBe(0);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
    }
    expect(await eventually(async () => (await held()) === 0, 1500)).toBe(true);
    expect(await eventually(async () => (await holdings(d, ['nbd'])).connections === 0, 1500)).toBe(true);
  }, 120_000);
});
