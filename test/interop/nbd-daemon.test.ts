/**
 * The NBD acceptance through the real daemon (connections migrated into the
 * target's worker; TLS connections bridged to it): nbdcopy 512 MiB in and
 * out with 1 and 4 connections, qemu-io's operations, fio's verifying job,
 * nbdinfo --map, and TLS with certificates and PSK.
 */
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { makePki, makePskFile } from '../helpers/pki.js';

const MiB = 1024 * 1024;
const COPY_MIB = Number(process.env.NBD_COPY_MIB ?? 512);

function config(dir: string, tls?: string): string {
  const file = path.join(dir, tls ? "nbd-tls.yaml" : "nbd-plain.yaml");
  fs.writeFileSync(file, [
    ...(tls ? [tls] : []),
    'targets:',
    '  - tid: 1',
    '    name: disk',
    '    lld: nbd',
    '    luns:',
    '      - lun: 1',
    `        backingStore: ${path.join(dir, 'disk.img')}`,
    '        bstype: file',
    `        sizeBytes: ${(COPY_MIB + 64) * MiB}`,
    '',
  ].join('\n'));
  return file;
}

function sha256(file: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MiB);
  for (let pos = 0; pos < bytes; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, bytes - pos), pos);
    h.update(buf.subarray(0, n));
    pos += n;
  }
  fs.closeSync(fd);
  return h.digest('hex');
}

describe('NBD through the daemon', () => {
  let dir: string;
  let daemon: DaemonHandle;
  let uri: string;

  beforeAll(async () => {
    dir = tempDir('bg-nbd-daemon-');
    daemon = await startDaemon({ dataDir: dir, iscsi: false, args: ['--config', config(dir)] });
    uri = `nbd://127.0.0.1:${daemon.nbdPort}/disk`;
  });
  afterAll(async () => {
    await daemon?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([1, 4])(`nbdcopy moves ${COPY_MIB} MiB of random data in and out with %i connection(s)`, async (conns) => {
    const src = path.join(dir, `src-${conns}.bin`);
    const out = path.join(dir, `out-${conns}.bin`);
    const fd = fs.openSync(src, 'w');
    const block = Buffer.alloc(4 * MiB);
    for (let i = 0; i < COPY_MIB / 4; i++) fs.writeSync(fd, randomFillSync(block));
    fs.closeSync(fd);
    const inCopy = await run('nbdcopy', [`--connections=${conns}`, src, uri], { timeoutMs: 300_000 });
    expect(inCopy.code, inCopy.stderr).toBe(0);
    const outCopy = await run('nbdcopy', [`--connections=${conns}`, uri, out], { timeoutMs: 300_000 });
    expect(outCopy.code, outCopy.stderr).toBe(0);
    expect(sha256(out, COPY_MIB * MiB)).toBe(sha256(src, COPY_MIB * MiB));
    fs.rmSync(src);
    fs.rmSync(out);
  }, 600_000);

  it('qemu-io: patterns, discard, write -z (with and without unmap), flush, FUA; nbdinfo --map sees it', async () => {
    const ops = [
      'write -P 0xa1 0 4M', 'read -P 0xa1 0 4M',
      'write -f -P 0xb2 4M 1M', 'read -P 0xb2 4M 1M',
      'discard 1M 1M', 'read -P 0 1M 1M',
      'write -z 2M 1M', 'read -P 0 2M 1M',
      'write -z -u 3M 1M', 'read -P 0 3M 1M',
      'flush',
    ];
    const r = await run('qemu-io', ['-f', 'raw', ...ops.flatMap((o) => ['-c', o]), uri], { timeoutMs: 60_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/verification failed|error/i);
    const map = await run('nbdinfo', ['--map', uri]);
    expect(map.code, map.stderr).toBe(0);
    const rows = map.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const at = (off: number): string => rows.find((r) => Number(r[0]) <= off && off < Number(r[0]) + Number(r[1]))?.slice(3).join(' ') ?? '';
    expect(at(0)).toBe('data');
    expect(at(MiB)).toMatch(/hole/); // discarded
    expect(at(3 * MiB)).toMatch(/hole/); // zeroed with unmap allowed
    expect(at(4 * MiB)).toBe('data');
  });

  it("fio's nbd engine: a crc32c-verified random write job reads everything back, then random read/write", async () => {
    const base = ['--ioengine=nbd', `--uri=${uri}`, '--bs=4k', '--iodepth=16', '--size=64m', '--output-format=json'];
    const r = await run('fio', ['--name=verify', ...base, '--rw=randwrite', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0'], { timeoutMs: 180_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const job = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).jobs[0];
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(64 * MiB);
    expect(job.read.io_bytes).toBe(64 * MiB); // the verify pass
    const rw = await run('fio', ['--name=rw', ...base, '--rw=randrw', '--rwmixread=70'], { timeoutMs: 180_000 });
    expect(rw.code, rw.stdout + rw.stderr).toBe(0);
    expect(JSON.parse(rw.stdout.slice(rw.stdout.indexOf('{'))).jobs[0].error).toBe(0);
  }, 400_000);
});

describe('NBD TLS through the daemon (TLS sockets bridged to the target loop)', () => {
  it('nbds:// with X.509 certificates works, plaintext is refused', async () => {
    const dir = tempDir('bg-nbd-tls-');
    const pki = path.join(dir, 'pki');
    await makePki(pki);
    const tls = `nbd:\n  tls: require\n  tlsCert: ${pki}/server-cert.pem\n  tlsKey: ${pki}/server-key.pem\n  tlsCa: ${pki}/ca-cert.pem`;
    const daemon = await startDaemon({ dataDir: dir, iscsi: false, args: ['--config', config(dir, tls)] });
    try {
      const base = `127.0.0.1:${daemon.nbdPort}/disk`;
      const w = await run('qemu-io', ['-c', 'write -P 0x3c 0 2M', '-c', 'read -P 0x3c 0 2M', '--image-opts',
        `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${daemon.nbdPort},export=disk,tls-creds=tls0`,
        '--object', `tls-creds-x509,id=tls0,endpoint=client,dir=${pki}`], { timeoutMs: 60_000 });
      expect(w.code, w.stderr + w.stdout).toBe(0);
      expect(w.stdout).not.toMatch(/verification failed/);
      const info = await run('nbdinfo', ['--json', `nbds://${base}?tls-certificates=${pki}`]);
      expect(info.code, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout).TLS).toBe(true);
      const plain = await run('nbdinfo', [`nbd://${base}`]);
      expect(plain.code).not.toBe(0);
    } finally {
      await daemon.stop();
    }
  });

  it('nbds:// with a pre-shared key works, a wrong key is refused', async () => {
    const dir = tempDir('bg-nbd-psk-');
    const keys = path.join(dir, 'keys.psk');
    await makePskFile(keys);
    const daemon = await startDaemon({ dataDir: dir, iscsi: false, args: ['--config', config(dir, `nbd:\n  tls: require\n  tlsPskFile: ${keys}`)] });
    try {
      const base = `127.0.0.1:${daemon.nbdPort}/disk`;
      const ok = await run('nbdinfo', ['--json', `nbds://alice@${base}?tls-psk-file=${keys}`]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout).exports[0]['export-size']).toBe((COPY_MIB + 64) * MiB);
      const wrong = path.join(dir, 'wrong.psk');
      await makePskFile(wrong);
      const bad = await run('nbdinfo', [`nbds://alice@${base}?tls-psk-file=${wrong}`]);
      expect(bad.code).not.toBe(0);
    } finally {
      await daemon.stop();
    }
  });
});
