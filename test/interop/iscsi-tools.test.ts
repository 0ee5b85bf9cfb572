/**
 * Interop: real initiators (libiscsi tools, qemu-img/qemu-io) against the
 * in-process iSCSI target (test/helpers/iscsi-standalone.ts). A missing tool
 * is a failure, not a skip (design.md §5).
 */
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { startIscsiStandalone, type Standalone } from '../helpers/iscsi-standalone.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

let server: Standalone | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('iSCSI interop (libiscsi, qemu)', () => {
  test('iscsi-inq reads standard INQUIRY', async () => {
    server = await startIscsiStandalone();
    const r = await run('iscsi-inq', [server.url(1)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Vendor:BLKGATE');
    expect(server.events.some((e) => e.type === 'session-open')).toBe(true);
  });

  // libiscsi offers DataDigest=None only, so the data digest is covered by the unit tests.
  test('target requiring CRC32C header digests and offering data digests: libiscsi and qemu work with header digests on', async () => {
    server = await startIscsiStandalone({ params: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C,None' } });
    const r = await run('iscsi-inq', [server.url(1)]);
    expect(r.code, r.stderr).toBe(0);
    expect(server.logins[0]!.params).toMatchObject({ headerDigest: true });
    const q = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 0 2M', '-c', 'read -P 0x77 0 2M', server.url(1)]);
    expect(q.code, q.stderr + q.stdout).toBe(0);
    expect(q.stdout).not.toMatch(/verification failed/);
    expect(server.logins[1]!.params).toMatchObject({ headerDigest: true });
  });

  test('a required digest is required (#12 item 13): libiscsi offering None is refused, and logs in where digests are only offered', async () => {
    // qemu passes header-digest=none to libiscsi (iscsi-inq cannot: libiscsi 1.19 ignores it in the URL).
    const qemuInfo = (headerDigest: string) =>
      run('qemu-img', ['info', '--image-opts', `driver=iscsi,transport=tcp,portal=127.0.0.1:${server!.port},target=${server!.targetName},lun=1,header-digest=${headerDigest}`]);
    server = await startIscsiStandalone({ params: { HeaderDigest: 'CRC32C' } });
    const refused = await qemuInfo('none');
    expect(refused.code, refused.stdout).not.toBe(0);
    expect(server.logins).toHaveLength(0);
    const ok = await qemuInfo('crc32c');
    expect(ok.code, ok.stderr).toBe(0);
    expect(server.logins[0]!.params).toMatchObject({ headerDigest: true });
    await server.close();
    // libiscsi 1.19 always offers DataDigest=None: a target requiring data digests refuses it.
    server = await startIscsiStandalone({ params: { DataDigest: 'CRC32C' } });
    expect((await run('iscsi-inq', [server.url(1)])).code).not.toBe(0);
    expect(server.logins).toHaveLength(0);
    await server.close();
    server = await startIscsiStandalone({ params: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C,None' } });
    const offered = await qemuInfo('none');
    expect(offered.code, offered.stderr).toBe(0);
    expect(server.logins[0]!.params).toMatchObject({ headerDigest: false, dataDigest: false });
  });

  test('a redirect to the portal itself is not followed (#12 item 15): iscsi-inq logs in at once instead of looping', async () => {
    server = await startIscsiStandalone({ redirect: { address: '127.0.0.1', port: 'self', permanent: false } });
    const t0 = Date.now();
    const r = await run('iscsi-inq', [server.url(1)], 10_000);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(server.logins).toHaveLength(1);
  });

  test('a redirect elsewhere is still answered with the new address', async () => {
    const other = await startIscsiStandalone();
    try {
      server = await startIscsiStandalone({ targetName: other.targetName, redirect: { address: '127.0.0.1', port: other.port, permanent: false } });
      const r = await run('iscsi-inq', [server.url(1)], 10_000);
      expect(r.code, r.stderr).toBe(0);
      expect(server.logins).toHaveLength(0);
      expect(other.logins).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  test('iscsi-ls -s: discovery lists the target and its LUN', async () => {
    server = await startIscsiStandalone();
    const r = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${server.port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Target:${server.targetName} Portal:127.0.0.1:${server.port},1`);
    expect(r.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS \(Size:6\dM\)/);
  });

  test('iscsi-ls: SendTargets=All lists every target', async () => {
    server = await startIscsiStandalone({ extraTargets: ['iqn.2024-01.org.blockgate:other'] });
    const r = await run('iscsi-ls', [`iscsi://127.0.0.1:${server.port}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Target:${server.targetName} Portal:127.0.0.1:${server.port},1`);
    expect(r.stdout).toContain(`Target:iqn.2024-01.org.blockgate:other Portal:127.0.0.1:${server.port},1`);
  });

  test('ACL: a refused initiator neither logs in nor sees the target', async () => {
    server = await startIscsiStandalone({ acl: (name) => !name.includes('libiscsi') });
    const inq = await run('iscsi-inq', [server.url(1)]);
    expect(inq.code).not.toBe(0);
    const ls = await run('iscsi-ls', [`iscsi://127.0.0.1:${server.port}`]);
    expect(ls.stdout).not.toContain(server.targetName);
    expect(server.events.some((e) => e.type === 'session-open')).toBe(false);
  });

  test('qemu-io pattern write/read, requests larger than MaxBurstLength, header digest', async () => {
    server = await startIscsiStandalone({ params: { MaxBurstLength: '65536', FirstBurstLength: '16384', MaxRecvDataSegmentLength: '8192' } });
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 512k 3M', '-c', 'write -P 0xa5 1M 4k', server.url(1)]);
    expect(w.code, w.stderr + w.stdout).toBe(0);
    const opts = `driver=iscsi,transport=tcp,portal=127.0.0.1:${server.port},target=${server.targetName},lun=1,header-digest=crc32c`;
    const r = await run('qemu-io', ['--image-opts', '-c', 'read -P 0x5a 512k 512k', '-c', 'read -P 0xa5 1M 4k', '-c', 'read -P 0x5a 1052672 2M', '-c', 'read -P 0 0 512k', opts]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/Pattern verification failed/);
    expect(r.stdout.match(/^read /gm)?.length).toBe(4);
  });

  test('qemu-img info and convert through iscsi://', async () => {
    server = await startIscsiStandalone();
    const info = await run('qemu-img', ['info', server.url(1)]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('virtual size: 64 MiB (67108864 bytes)');
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x33 0 1M', server.url(1)]);
    expect(w.code).toBe(0);
    const cmp = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x33 0 1M', '-c', 'read -P 0 1M 1M', server.url(1)]);
    expect(cmp.code).toBe(0);
    expect(cmp.stdout).not.toMatch(/verification failed/);
  });

  test('CHAP: right secret logs in, wrong secret and no credentials are refused', async () => {
    server = await startIscsiStandalone({ incoming: [{ user: 'alice', secret: 'alicesecret12' }] });
    const ok = await run('iscsi-inq', [server.url(1, 'alice', 'alicesecret12')]);
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await run('iscsi-inq', [server.url(1, 'alice', 'wrongsecret12')]);
    expect(bad.code).not.toBe(0);
    const none = await run('iscsi-inq', [server.url(1)]);
    expect(none.code).not.toBe(0);
    expect(server.events.filter((e) => e.type === 'session-open')).toHaveLength(1);
  });

  test('CHAP_A target restriction (#12 item 14): libiscsi (offers MD5) is refused by a target allowing only SHA-256, served by one allowing MD5', async () => {
    server = await startIscsiStandalone({ incoming: [{ user: 'alice', secret: 'alicesecret12' }], params: { CHAP_A: '7' } });
    expect((await run('iscsi-inq', [server.url(1, 'alice', 'alicesecret12')])).code).not.toBe(0);
    expect(server.logins).toHaveLength(0);
    await server.close();
    server = await startIscsiStandalone({ incoming: [{ user: 'alice', secret: 'alicesecret12' }], params: { CHAP_A: '7,5' } });
    const ok = await run('iscsi-inq', [server.url(1, 'alice', 'alicesecret12')]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  test('mutual CHAP through libiscsi target_user/target_password', async () => {
    server = await startIscsiStandalone({ incoming: [{ user: 'alice', secret: 'alicesecret12' }], outgoing: { user: 'tgt', secret: 'targetsecret1' } });
    const url = `${server.url(1, 'alice', 'alicesecret12')}?target_user=tgt&target_password=targetsecret1`;
    const ok = await run('iscsi-inq', [url]);
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await run('iscsi-inq', [`${server.url(1, 'alice', 'alicesecret12')}?target_user=tgt&target_password=notthesecret`]);
    expect(bad.code).not.toBe(0);
  });
});
