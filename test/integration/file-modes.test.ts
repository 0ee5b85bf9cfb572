/**
 * What the daemon creates is its owner's alone, even under umask 000: the
 * data dir and state dirs 0700, LUN images, the saved config and the admin
 * socket 0600. A disk image the user pointed at that already exists keeps
 * its own mode.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bgadm, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';

const mode = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8);

let daemon: DaemonHandle;
let root: string;
let dataDir: string;
let umask: number;

beforeAll(async () => {
  root = tempDir('bg-modes-');
  dataDir = path.join(root, 'made', 'data'); // neither directory exists yet
  umask = process.umask(0); // the daemon inherits umask 000
  try {
    daemon = await startDaemon({ dataDir });
  } finally {
    process.umask(umask);
  }
});

afterAll(async () => {
  await daemon?.stop();
});

describe('file and directory modes under umask 000', () => {
  it('data dir (and the parent it made), embedded default LUN, saved config and admin socket', () => {
    expect(mode(path.join(root, 'made'))).toBe('700');
    expect(mode(dataDir)).toBe('700');
    expect(mode(path.join(dataDir, 'default.img'))).toBe('600');
    expect(mode(path.join(dataDir, 'blockgate.yaml'))).toBe('600');
    expect(mode(daemon.adminSocket)).toBe('600');
  });

  it('a LUN file bgadm creates is 0600; an existing image keeps its mode', async () => {
    expect((await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '2', '-T', 'iqn.2026-12.test:modes'])).code).toBe(0);
    const created = path.join(dataDir, 'new.img');
    const r = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '1', '-b', created, '--params', 'size=16M']);
    expect(r.code, r.stderr).toBe(0);
    expect(mode(created)).toBe('600');
    const existing = path.join(root, 'mine.img');
    fs.writeFileSync(existing, '');
    fs.truncateSync(existing, 1 << 20);
    fs.chmodSync(existing, 0o644);
    const e = await bgadm(daemon, ['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '2', '--lun', '2', '-b', existing]);
    expect(e.code, e.stderr).toBe(0);
    expect(mode(existing)).toBe('644');
    expect(mode(path.join(dataDir, 'blockgate.yaml'))).toBe('600'); // rewritten by each change
  });

  it('APTPL reservation state: its directories 0700, the file 0600', async () => {
    const ini = await RawInitiator.connect(daemon.iscsiPort!);
    try {
      expect(await ini.login({ initiatorName: 'iqn.2026-12.test:modes-ini', targetName: 'iqn.2026-11.io.blockgate:default' })).toBe(0);
      await ini.command(Cdb.testUnitReady(), { lun: 1 }).done; // POWER ON unit attention
      const param = Buffer.alloc(24);
      param.writeBigUInt64BE(0x1234n, 8); // service action key
      param[20] = 0x01; // APTPL
      const out = await ini.command(Buffer.from([0x5f, 0x06, 0, 0, 0, 0, 0, 0, 24, 0]), { lun: 1, dataOut: param }).done; // REGISTER AND IGNORE
      expect(out.status).toBe(0);
      await ini.logout();
    } finally {
      ini.close();
    }
    // PR state lives under the LU's identity: state/lu-<uuid>/ (docs/scsi.md).
    const state = path.join(dataDir, 'state');
    const luDirs = fs.readdirSync(state).filter((n) => n.startsWith('lu-'));
    expect(luDirs).toHaveLength(1);
    const lunDir = path.join(state, luDirs[0]!);
    expect([state, lunDir].map(mode)).toEqual(['700', '700']);
    expect(mode(path.join(lunDir, 'scsi-pr.json'))).toBe('600');
  });
});
