/**
 * #12 item 1: every way a client leaves releases what its connection held.
 * Real clients against the real daemon: nbdinfo / qemu-io (NBD_CMD_DISC),
 * nbdinfo over TLS, iscsi-inq / iscsi-ls (logout), and raw sockets that
 * vanish mid-session (FIN without DISC or logout, RST with requests in
 * flight, nbdsh killed with TLS up). Afterwards the daemon's open
 * descriptors, its session and connection gauges and the I_T nexuses
 * `bgadm --op show` lists are back where they started within about a
 * second.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { eventually, holdings, inParallel, nbdTransmission, type Holdings } from '../helpers/daemon-resources.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';
import { request } from '../helpers/nbd-raw-client.js';
import { makePskFile } from '../helpers/pki.js';

const MiB = 1024 * 1024;
const IQN = 'iqn.2026-12.test.blockgate:release';
const CLEAN = 200;
const ABRUPT = 200;
const WIDTH = 6;

let dir: string;
let d: DaemonHandle;
let psk: string;
let start: Holdings;

function config(): string {
  const file = path.join(dir, 'release.yaml');
  fs.writeFileSync(file, [
    'nbd:',
    '  tls: on',
    `  tlsPskFile: ${psk}`,
    'targets:',
    '  - tid: 1',
    '    name: disk',
    '    lld: nbd',
    '    luns:',
    `      - { lun: 1, backingStore: ${path.join(dir, 'nbd.img')}, bstype: file, sizeBytes: ${64 * MiB} }`,
    '  - tid: 2',
    `    name: ${IQN}`,
    '    lld: iscsi',
    '    luns:',
    `      - { lun: 1, backingStore: ${path.join(dir, 'iscsi.img')}, bstype: file, sizeBytes: ${64 * MiB} }`,
    '',
  ].join('\n'));
  return file;
}

const nbdUri = (): string => `nbd://127.0.0.1:${d.nbdPort}/disk`;
const tlsUri = (): string => `nbds://alice@127.0.0.1:${d.nbdPort}/disk?tls-psk-file=${psk}`;
const iscsiUri = (): string => `iscsi://127.0.0.1:${d.iscsiPort}/${IQN}/1`;

async function ok(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 30_000 });
  expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
}

async function expectReleased(): Promise<void> {
  let last: Holdings | undefined;
  const back = await eventually(async () => {
    last = await holdings(d, ['nbd', 'iscsi']);
    return last.fds <= start.fds && last.sessions === 0 && last.connections === 0 && last.nexuses === 0;
  }, 1500);
  expect(back, `start ${JSON.stringify(start)}, now ${JSON.stringify(last)}`).toBe(true);
}

beforeAll(async () => {
  dir = tempDir('bg-release-');
  psk = path.join(dir, 'keys.psk');
  await makePskFile(psk);
  d = await startDaemon({ dataDir: dir, args: ['--config', config()] });
  // Warm up every path once (first connection of a worker, TLS contexts), then take the baseline.
  await ok('nbdinfo', [nbdUri()]);
  await ok('nbdinfo', [tlsUri()]);
  await ok('iscsi-inq', [iscsiUri()]);
  await new Promise((r) => setTimeout(r, 300));
  start = await holdings(d, ['nbd', 'iscsi']);
  expect(start.sessions).toBe(0);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('connections release their resources on every kind of disconnect', () => {
  it(`NBD: ${CLEAN} clean disconnects (nbdinfo, qemu-io, nbdinfo over TLS), each logged once with its reason`, async () => {
    await inParallel(CLEAN, WIDTH, async (i) => {
      if (i % 10 === 0) await ok('qemu-io', ['-f', 'raw', '-c', 'read 0 64k', nbdUri()]);
      else if (i % 10 === 1) await ok('nbdinfo', [tlsUri()]);
      else await ok('nbdinfo', [nbdUri()]);
    });
    await expectReleased();
    const closed = d.logs.filter((l) => l.includes('"nbd session closed"'));
    const opened = d.logs.filter((l) => l.includes('"nbd session opened"'));
    expect(closed.length).toBe(opened.length);
    expect(closed.filter((l) => l.includes('"reason":"NBD_CMD_DISC"')).length).toBeGreaterThanOrEqual(CLEAN);
  }, 180_000);

  it(`NBD: ${ABRUPT} abrupt disconnects (FIN without DISC, RST with reads in flight, unread replies, TLS client killed)`, async () => {
    await inParallel(ABRUPT, WIDTH, async (i) => {
      if (i % 20 === 0) {
        // A TLS session whose client dies with a request outstanding.
        const script = `h.set_uri_allow_local_file(True); h.connect_uri(${JSON.stringify(tlsUri())}); assert h.get_tls_negotiated(); h.aio_pread(nbd.Buffer(1048576), 0); print("up", flush=True); import os, signal; os.kill(os.getpid(), signal.SIGKILL)`;
        const r = await run('nbdsh', ['-c', script], { timeoutMs: 30_000 });
        expect(r.stdout, r.stderr).toContain('up'); // killed with its TLS session up
        expect(r.code).not.toBe(0);
        return;
      }
      const c = await nbdTransmission(d.nbdPort!, 'disk', i % 2 === 0);
      for (let k = 0; k < 4; k++) c.write(request(false, 0, 0, BigInt(k), BigInt(k * MiB), BigInt(i % 3 === 0 ? MiB : 4096)));
      if (i % 3 === 1) await c.reply(4096); // mid-session: one reply read, three in flight or queued
      if (i % 2 === 0) c.sock.resetAndDestroy();
      else c.close();
    });
    await expectReleased();
  }, 180_000);

  it('NBD: a client that sends NBD_CMD_DISC behind unread replies, then neither reads nor closes, is released', async () => {
    const conns = [];
    for (let i = 0; i < 4; i++) {
      const c = await nbdTransmission(d.nbdPort!, 'disk', i % 2 === 0);
      c.sock.pause(); // stops reading: the replies fill both socket buffers
      for (let k = 0; k < 12; k++) c.write(request(false, 0, 0, BigInt(k), BigInt(k * MiB), BigInt(MiB)));
      c.write(request(false, 2, 0, 99n, 0n, 0n)); // NBD_CMD_DISC
      conns.push(c);
    }
    try {
      // The replies never drain, so only the close linger ends these connections.
      const back = await eventually(async () => (await holdings(d, ['nbd'])).connections === 0, 3000);
      expect(back).toBe(true);
      await expectReleased();
    } finally {
      for (const c of conns) c.sock.destroy();
    }
  }, 60_000);

  it(`iSCSI: ${CLEAN / 2} logouts (iscsi-inq, iscsi-ls) and ${ABRUPT / 2} abrupt disconnects (TCP close without logout, RST mid-command)`, async () => {
    await inParallel(CLEAN / 2, WIDTH, async (i) => {
      if (i % 5 === 0) await ok('iscsi-ls', ['-s', `iscsi://127.0.0.1:${d.iscsiPort}`]);
      else await ok('iscsi-inq', [iscsiUri()]);
    });
    await expectReleased();
    await inParallel(ABRUPT / 2, WIDTH, async (i) => {
      const ini = await RawInitiator.connect(d.iscsiPort!);
      expect(await ini.login({ initiatorName: `iqn.2026-12.test:abrupt-${i}`, targetName: IQN, isid: `4000${(0x1000 + i).toString(16)}0000` })).toBe(0);
      ini.command(Cdb.read10(0, 2048), { lun: 1, readLength: MiB });
      if (i % 2 === 0) ini.socket.resetAndDestroy();
      else ini.close();
    });
    await expectReleased();
  }, 180_000);
});
