/**
 * Metrics that grow as I/O flows; a tgt targets.conf that loads; the
 * --single-loop switch serving the same targets on the main thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { T1, writeThreeTargetConfig } from '../helpers/three-targets.js';
import { crc32c } from '../../src/util/crc32c.js';

let daemon: DaemonHandle | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('metrics', () => {
  it('exposes per-target and per-LUN counters that grow as I/O flows', async () => {
    const dir = tempDir('bg-metrics-');
    daemon = await startDaemon({ dataDir: dir, args: ['--config', writeThreeTargetConfig(dir, 64 * 1024 * 1024)] });
    const url = daemon.metricsUrl!;
    const key = (name: string, op: string): string => `${name}{target="${T1}",lun="1",op="${op}"}`;
    const before = await scrape(url);
    expect(before.get(key('blockgate_lun_requests_total', 'write'))).toBe(0);
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 8M', '-c', 'read -P 0x11 0 8M', `iscsi://127.0.0.1:${daemon.iscsiPort}/${T1}/1`]);
    expect(w.code, w.stderr).toBe(0);
    const after = await scrape(url);
    expect(after.get(key('blockgate_lun_requests_total', 'write'))).toBeGreaterThan(0);
    expect(after.get(key('blockgate_lun_bytes_total', 'write'))).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(after.get(key('blockgate_lun_bytes_total', 'read'))).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(after.get(key('blockgate_lun_request_duration_seconds_count', 'read'))).toBeGreaterThan(0);
    expect(after.get(`blockgate_lun_size_bytes{target="${T1}",lun="1"}`)).toBe(64 * 1024 * 1024);
    // Sessions are counted while a client is connected.
    const nbd = run('nbdsh', ['-u', `nbd://127.0.0.1:${daemon.nbdPort}/t1`, '-c', 'import time; time.sleep(8)'], { timeoutMs: 30_000 });
    const sessions = `blockgate_target_sessions{target="${T1}",lld="iscsi"}`;
    let during = await scrape(url);
    for (let i = 0; i < 60 && during.get(sessions) !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      during = await scrape(url);
    }
    expect(during.get(sessions)).toBe(1);
    expect(during.get(`blockgate_target_connections{target="${T1}",lld="iscsi"}`)).toBe(1);
    await nbd;
    expect((await scrape(url)).get(sessions)).toBe(0);
  });
});

describe('tgt targets.conf', () => {
  it('loads a tgt configuration file and serves its targets', async () => {
    const dir = tempDir('bg-tgtconf-');
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 32 * 1024 * 1024);
    const conf = path.join(dir, 'targets.conf');
    fs.writeFileSync(conf, [
      'default-driver iscsi',
      '<target iqn.2008-09.com.example:server.target1>',
      `    backing-store ${img}`,
      '    initiator-address 127.0.0.1',
      '    incominguser bob bobsecret1234',
      '    vendor_id ACME',
      '</target>',
      '',
    ].join('\n'));
    daemon = await startDaemon({ dataDir: dir, args: ['--config', conf] });
    const show = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target']);
    expect(show.stdout).toContain('Target 1: iqn.2008-09.com.example:server.target1');
    expect(show.stdout).toContain(`Backing store path: ${img}`);
    expect(show.stdout).toMatch(/Account information:\n\s+bob/);
    expect(show.stdout).toMatch(/ACL information:\n\s+127.0.0.1/);
    const url = `iscsi://bob%bobsecret1234@127.0.0.1:${daemon.iscsiPort}/iqn.2008-09.com.example:server.target1/1`;
    const inq = await run('iscsi-inq', [url]);
    expect(inq.code, inq.stderr).toBe(0);
    expect(inq.stdout).toContain('Vendor:ACME');
    const noAuth = await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/iqn.2008-09.com.example:server.target1/1`]);
    expect(noAuth.code).not.toBe(0);
  });
});

describe('--single-loop', () => {
  it('serves every target on the main thread, with no target threads', async () => {
    const dir = tempDir('bg-single-');
    daemon = await startDaemon({ dataDir: dir, args: ['--config', writeThreeTargetConfig(dir, 64 * 1024 * 1024), '--single-loop'] });
    const names = fs.readdirSync(`/proc/${daemon.proc.pid}/task`).map((t) =>
      fs.readFileSync(`/proc/${daemon!.proc.pid}/task/${t}/comm`, 'utf8').trim(),
    );
    expect(names.some((n) => n.startsWith('tgt/'))).toBe(false);
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x22 0 4M', `iscsi://127.0.0.1:${daemon.iscsiPort}/${T1}/1`]);
    expect(w.code, w.stderr).toBe(0);
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x22 0 4M', `nbd://127.0.0.1:${daemon.nbdPort}/t1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Pattern verification failed');
  });
});

describe('background pool', () => {
  it('computes a LUN checksum on the piscina pool that matches the data written', async () => {
    const dir = tempDir('bg-cksum-');
    daemon = await startDaemon({ dataDir: dir, args: ['--config', writeThreeTargetConfig(dir, 16 * 1024 * 1024)] });
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 1M 3M', '-c', 'flush', `nbd://127.0.0.1:${daemon.nbdPort}/t1`]);
    expect(w.code, w.stderr).toBe(0);
    const r = await bgadm(daemon, ['--op', 'show', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '--name', 'checksum']);
    expect(r.code, r.stderr).toBe(0);
    const expected = Buffer.alloc(16 * 1024 * 1024);
    expected.fill(0x77, 1024 * 1024, 4 * 1024 * 1024);
    const want = crc32c(expected).toString(16).padStart(8, '0');
    expect(r.stdout).toContain(`checksum-crc32c=${want}`);
    expect(r.stdout).toContain(`bytes=${16 * 1024 * 1024}`);
  });
});
