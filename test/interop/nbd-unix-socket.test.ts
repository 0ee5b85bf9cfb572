/**
 * #12 item 17: NBD on a Unix socket (`--nbd-listen unix:/path`, or
 * `nbdListen: [unix:/path]` in the config), as nbdkit -U and qemu-nbd -k
 * offer: `nbd+unix:///export?socket=/path` works with nbdinfo and qemu-io,
 * the socket is created 0600 (or `nbd.unixSocketMode`), and removed when the
 * daemon exits on SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bgadm, run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';

let daemon: DaemonHandle | undefined;

afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

async function readWrite(uri: string): Promise<void> {
  const info = await run('nbdinfo', ['--json', uri], { timeoutMs: 20_000 });
  expect(info.code, info.stderr).toBe(0);
  const json = JSON.parse(info.stdout) as { exports: { 'export-size': number; is_read_only: boolean }[] };
  expect(json.exports[0]!.is_read_only).toBe(false);
  const io = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x6b 1M 2M', '-c', 'read -P 0x6b 1M 2M', uri], { timeoutMs: 30_000 });
  expect(io.code, io.stderr + io.stdout).toBe(0);
  expect(io.stdout).toMatch(/wrote 2097152\/2097152/);
  expect(io.stdout).toMatch(/read 2097152\/2097152/);
  expect(io.stdout).not.toMatch(/Pattern verification failed/);
}

describe('NBD over a Unix socket', () => {
  it('--nbd-listen unix:/path: nbdinfo and qemu-io read and write; socket 0600; removed on SIGTERM', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'nbd.sock');
    daemon = await startDaemon({ dataDir: dir, nbd: `unix:${sock}` });
    expect(daemon.logs.join('')).toContain(`"nbd+unix:///?socket=${sock}"`);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(mode(sock)).toBe(0o600);
    await readWrite(`nbd+unix:///default?socket=${sock}`);
    // The same LUN over iSCSI sees what was written over the Unix socket.
    const iscsi = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x6b 1M 2M', `iscsi://127.0.0.1:${daemon.iscsiPort}/iqn.2026-11.io.blockgate:default/1`]);
    expect(iscsi.code, iscsi.stderr + iscsi.stdout).toBe(0);
    expect(iscsi.stdout).not.toMatch(/Pattern verification failed/);
    const portals = await bgadm(daemon, ['--lld', 'nbd', '--op', 'show', '--mode', 'portal']);
    expect(portals.stdout).toContain(`Portal: unix:${sock},1`);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    expect(fs.existsSync(sock)).toBe(false);
  }, 90_000);

  it('nbdListen: [unix:/path] and nbd.unixSocketMode from the YAML config; a stale socket file is replaced', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'cfg.sock');
    const config = path.join(dir, 'blockgate.yaml');
    fs.writeFileSync(config, [
      'nbdListen:',
      `  - unix:${sock}`,
      '  - 127.0.0.1:0',
      'nbd:',
      '  unixSocketMode: "0660"',
      'targets:',
      '  - name: vol',
      '    lld: nbd',
      '    luns:',
      `      - lun: 1`,
      `        backingStore: ${path.join(dir, 'vol.img')}`,
      '        sizeBytes: 64MiB',
      '',
    ].join('\n'));
    // What a daemon killed with SIGKILL leaves behind: a socket file nobody listens on.
    const { spawnSync } = await import('node:child_process');
    const left = spawnSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    expect(left.status, String(left.stderr)).toBe(0);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    daemon = await startDaemon({ dataDir: dir, nbd: null, iscsi: false, args: ['--config', config] });
    expect(mode(sock)).toBe(0o660);
    await readWrite(`nbd+unix:///vol?socket=${sock}`);
    // The TCP listener from the same list serves the same export.
    const tcp = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${daemon.nbdPort}/vol`]);
    expect(tcp.stdout.trim()).toBe(String(64 * 1024 * 1024));
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    expect(fs.existsSync(sock)).toBe(false);
  }, 90_000);

  it('refuses to start on a path where a live server listens, or that is not a socket', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'busy.sock');
    daemon = await startDaemon({ dataDir: dir, nbd: `unix:${sock}` });
    const second = await startDaemon({ dataDir: tempDir(), nbd: `unix:${sock}` }).then(
      async (h) => {
        await h.stop();
        return 'started';
      },
      (err: Error) => err.message,
    );
    expect(second).toMatch(/another server is listening there/);
    expect(fs.statSync(sock).isSocket()).toBe(true); // the first daemon's socket is untouched
    const plain = path.join(dir, 'plain-file');
    fs.writeFileSync(plain, 'x');
    const third = await startDaemon({ dataDir: tempDir(), nbd: `unix:${plain}` }).then(
      async (h) => {
        await h.stop();
        return 'started';
      },
      (err: Error) => err.message,
    );
    expect(third).toMatch(/exists and is not a socket/);
    expect(fs.readFileSync(plain, 'utf8')).toBe('x');
  }, 60_000);
});
