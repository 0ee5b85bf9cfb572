/**
 * #12 items 5 and 6 through the real daemon and real initiators: every LUN
 * has its own persistent identity (VPD 0x80 serial, VPD 0x83 NAA and T10
 * designators) that survives restarts and a target rename, explicit tgt
 * scsi_sn/scsi_id are honoured, and a LUN's persistent reservations go when
 * the LUN goes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bgadm, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { RawInitiator } from '../helpers/iscsi-initiator.js';
import { designators, identity, settle, withSession } from '../helpers/scsi-identity.js';
import { serializePr } from '../../targets/scsi/pr-store.js';

const running: DaemonHandle[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
});

async function start(opts: Parameters<typeof startDaemon>[0]): Promise<DaemonHandle> {
  const d = await startDaemon({ nbd: false, ...opts });
  running.push(d);
  return d;
}

async function stop(d: DaemonHandle): Promise<void> {
  running.splice(running.indexOf(d), 1);
  await d.stop();
}

const T1 = 'iqn.2026-11.io.blockgate:id-one';
const T11 = 'iqn.2026-11.io.blockgate:id-eleven';

function twoTargets(dir: string, name11 = T11): string {
  const file = path.join(dir, 'ids.yaml');
  fs.writeFileSync(file, [
    'targets:',
    `  - { tid: 1, name: ${T1}, lld: iscsi, acl: { addresses: [ALL], names: [] },`,
    `      luns: [ { lun: 11, backingStore: ${path.join(dir, 'a.img')}, bstype: file, sizeBytes: 4194304 } ] }`,
    `  - { tid: 11, name: ${name11}, lld: iscsi, acl: { addresses: [ALL], names: [] },`,
    `      luns: [ { lun: 1, backingStore: ${path.join(dir, 'b.img')}, bstype: file, sizeBytes: 4194304 } ] }`,
    '',
  ].join('\n'));
  return file;
}

describe('LUN identity (#12 item 5)', () => {
  it('tid 1/LUN 11 and tid 11/LUN 1 differ; each keeps its identity across restarts and a target rename', async () => {
    const dir = tempDir('bg-ident-');
    const cfg = twoTargets(dir);
    let d = await start({ dataDir: dir, args: ['--config', cfg] });
    const a = await identity(d, T1, 11);
    const b = await identity(d, T11, 1);
    expect(a.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(a.serial).not.toBe(b.serial);
    expect(a.naa).not.toBe(b.naa);
    expect(a.t10).not.toBe(b.t10);
    // NAA 6, company id 00-14-05, then the id's leading 100 bits (docs/scsi.md).
    expect(a.naa).toBe(`6001405${a.serial.slice(0, 25)}`);
    expect(a.t10).toBe(`BLKGATE ${a.serial}`);
    // The generated ids were saved with the LUNs.
    const saved = fs.readFileSync(cfg, 'utf8');
    expect(saved).toContain(`uuid: ${a.serial}`);
    expect(saved).toContain(`uuid: ${b.serial}`);
    // bgadm show prints what the initiators see.
    const show = await bgadm(d, ['--op', 'show', '--mode', 'target']);
    expect(show.stdout).toContain(`SCSI ID: BLKGATE ${a.serial}\n            SCSI SN: ${a.serial}\n`);
    expect(show.stdout).not.toContain('beaf111');

    await stop(d);
    d = await start({ dataDir: dir, args: ['--config', cfg] });
    expect(await identity(d, T1, 11)).toEqual(a);
    expect(await identity(d, T11, 1)).toEqual(b);

    // Rename target 11 in the config (its uuid line stays): the LUN is the same disk.
    await stop(d);
    const renamed = 'iqn.2026-11.io.blockgate:id-renamed';
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(T11, renamed));
    d = await start({ dataDir: dir, args: ['--config', cfg] });
    expect(await identity(d, renamed, 1)).toEqual(b);
    expect(await identity(d, T1, 11)).toEqual(a);
  }, 120_000);

  it('two installations give their tid 1/LUN 1 different NAA designators', async () => {
    const one = await start({});
    const two = await start({});
    const target = 'iqn.2026-11.io.blockgate:default';
    const x = await designators(one, target, 1);
    const y = await designators(two, target, 1);
    expect(x.naa).toMatch(/^6001405[0-9a-f]{25}$/);
    expect(x.naa).not.toBe(y.naa);
  }, 60_000);

  it('a hand-written config without ids gets them once; explicit scsi_sn / scsi_id (tgt params) win and persist', async () => {
    const dir = tempDir('bg-ident-');
    const cfg = twoTargets(dir);
    let d = await start({ dataDir: dir, args: ['--config', cfg] });
    const lun2 = ['--lld', 'iscsi', '--mode', 'logicalunit', '--tid', '1', '--lun', '2'];
    const scsiId = 'IET     00010002';
    const made = await bgadm(d, ['--op', 'new', ...lun2, '-b', path.join(dir, 'c.img'), '-P', `size=4194304,scsi_sn=beaf12,scsi_id=${scsiId}`]);
    expect(made.code, made.stderr).toBe(0);
    const before = await identity(d, T1, 2);
    expect(before.serial).toBe('beaf12');
    expect(before.t10).toBe(scsiId);
    expect(before.naa).toMatch(/^6001405[0-9a-f]{25}$/);
    const show = await bgadm(d, ['--op', 'show', '--mode', 'target']);
    expect(show.stdout).toContain(`SCSI ID: ${scsiId}\n            SCSI SN: beaf12\n`);
    await stop(d);
    d = await start({ dataDir: dir, args: ['--config', cfg] });
    expect(await identity(d, T1, 2)).toEqual(before);

    // tgt's update of scsi_sn: the serial changes, the NAA (the LUN's id) does not, and it persists.
    const upd = await bgadm(d, ['--op', 'update', ...lun2, '-P', 'scsi_sn=SN-NEW-2']);
    expect(upd.code, upd.stderr).toBe(0);
    const after = await identity(d, T1, 2);
    expect(after).toEqual({ ...before, serial: 'SN-NEW-2' });
    await stop(d);
    d = await start({ dataDir: dir, args: ['--config', cfg] });
    expect(await identity(d, T1, 2)).toEqual(after);
  }, 90_000);

  it('a tgt targets.conf LUN keeps the identity saved for it in the data dir', async () => {
    const dir = tempDir('bg-ident-');
    const conf = path.join(dir, 'targets.conf');
    fs.writeFileSync(conf, `<target ${T1}>\n    backing-store ${path.join(dir, 'a.img')}\n</target>\n`);
    fs.writeFileSync(path.join(dir, 'a.img'), Buffer.alloc(0));
    fs.truncateSync(path.join(dir, 'a.img'), 4 << 20);
    let d = await start({ dataDir: dir, args: ['--config', conf] });
    const first = await identity(d, T1, 1);
    await stop(d);
    d = await start({ dataDir: dir, args: ['--config', conf] });
    expect(await identity(d, T1, 1)).toEqual(first);
  }, 90_000);
});

/** PERSISTENT RESERVE OUT with a 24-byte parameter list. */
function prOut(sa: number, type: number, key: bigint, saKey: bigint, aptpl: boolean): { cdb: Buffer; data: Buffer } {
  const data = Buffer.alloc(24);
  data.writeBigUInt64BE(key, 0);
  data.writeBigUInt64BE(saKey, 8);
  data[20] = aptpl ? 0x01 : 0;
  return { cdb: Buffer.from([0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0]), data };
}

describe('persistent reservations belong to the LUN (#12 item 6)', () => {
  it('a forced LUN delete removes its PR state; a new LUN with the same number starts clean', async () => {
    const dir = tempDir('bg-pr-');
    const cfg = twoTargets(dir);
    const d = await start({ dataDir: dir, args: ['--config', cfg] });
    const { serial } = await identity(d, T1, 11);
    const prFile = path.join(dir, 'state', `lu-${serial}`, 'scsi-pr.json');
    const holder = await RawInitiator.connect(d.iscsiPort!);
    expect(await holder.login({ initiatorName: 'iqn.2026-11.test:holder', targetName: T1 })).toBe(0);
    await settle(holder, 11);
    const reg = prOut(0x00, 0, 0n, 0xabcn, true);
    expect((await holder.command(reg.cdb, { lun: 11, dataOut: reg.data }).done).status).toBe(0);
    const res = prOut(0x01, 0x01, 0xabcn, 0n, true); // RESERVE, WRITE EXCLUSIVE
    expect((await holder.command(res.cdb, { lun: 11, dataOut: res.data }).done).status).toBe(0);
    expect(fs.existsSync(prFile)).toBe(true);
    const write = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    await withSession(d, T1, 'iqn.2026-11.test:other', async (ini) => {
      await settle(ini, 11);
      expect((await ini.command(write, { lun: 11, dataOut: Buffer.alloc(512) }).done).status).toBe(0x18);
    });

    const lun11 = ['--lld', 'iscsi', '--mode', 'logicalunit', '--tid', '1', '--lun', '11'];
    const del = await bgadm(d, ['--op', 'delete', ...lun11, '--force']);
    expect(del.code, del.stderr).toBe(0);
    expect(fs.existsSync(path.dirname(prFile))).toBe(false);
    const made = await bgadm(d, ['--op', 'new', ...lun11, '-b', path.join(dir, 'a.img')]);
    expect(made.code, made.stderr).toBe(0);
    holder.close();

    const fresh = await identity(d, T1, 11);
    expect(fresh.serial).not.toBe(serial);
    await withSession(d, T1, 'iqn.2026-11.test:other', async (ini) => {
      await settle(ini, 11);
      expect((await ini.command(write, { lun: 11, dataOut: Buffer.alloc(512) }).done).status).toBe(0);
      const keys = await ini.command(Buffer.from([0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0]), { lun: 11, readLength: 64 }).done;
      expect(keys.status).toBe(0);
      expect(keys.dataIn.readUInt32BE(4)).toBe(0); // no registrations
    });
  }, 90_000);

  it('PR state of the old layout (state/<target>/lun<N>) is adopted by its LUN once, then deleted with it', async () => {
    const dir = tempDir('bg-pr-');
    const cfg = twoTargets(dir);
    const legacy = path.join(dir, 'state', T1.replace(/[^A-Za-z0-9._-]/g, '_'), 'lun11');
    fs.mkdirSync(legacy, { recursive: true });
    const holder = { key: 0x77n, initiatorName: 'iqn.2026-11.test:old-holder', isid: '400001370000', relativeTargetPort: 1, allTgPt: false };
    fs.writeFileSync(path.join(legacy, 'scsi-pr.json'), serializePr({ generation: 3, registrations: [holder], reservation: { type: 1, holder }, aptpl: true }));
    const d = await start({ dataDir: dir, args: ['--config', cfg] });
    const { serial } = await identity(d, T1, 11);
    expect(fs.existsSync(legacy)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'state', `lu-${serial}`, 'scsi-pr.json'))).toBe(true);
    await withSession(d, T1, 'iqn.2026-11.test:other', async (ini) => {
      await settle(ini, 11);
      const keys = await ini.command(Buffer.from([0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0]), { lun: 11, readLength: 64 }).done;
      expect(keys.dataIn.readBigUInt64BE(8)).toBe(0x77n);
    });
    const del = await bgadm(d, ['--op', 'delete', '--lld', 'iscsi', '--mode', 'logicalunit', '--tid', '1', '--lun', '11']);
    expect(del.code, del.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'state', `lu-${serial}`))).toBe(false);
  }, 60_000);
});
