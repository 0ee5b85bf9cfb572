/**
 * CRC32C header and data digests end to end through the daemon, with the raw
 * initiator (libiscsi 1.19, used by iscsi-test-cu and qemu, only ever offers
 * DataDigest=None; see docs/iscsi-conformance.md). Target 1 requires both
 * (`CRC32C`), target 2 only offers them (`CRC32C,None`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Op, RejectReason } from '../../targets/iscsi/constants.js';
import { encodePduBuffer } from '../../targets/iscsi/framer.js';
import { startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';

const TARGET = 'iqn.2026-11.io.blockgate:digests';
const OFFERING = 'iqn.2026-11.io.blockgate:digests-offered';
let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-digest-');
  const cfg = path.join(dir, 'd.yaml');
  fs.writeFileSync(
    cfg,
    `targets:\n  - tid: 1\n    name: ${TARGET}\n    params:\n      HeaderDigest: CRC32C\n      DataDigest: CRC32C\n      MaxBurstLength: "262144"\n` +
      `    luns:\n      - lun: 1\n        bstype: memory\n        backingStore: d\n        sizeBytes: 16MiB\n` +
      `  - tid: 2\n    name: ${OFFERING}\n    params:\n      HeaderDigest: CRC32C,None\n      DataDigest: CRC32C,None\n` +
      `    luns:\n      - lun: 1\n        bstype: memory\n        backingStore: o\n        sizeBytes: 16MiB\n`,
  );
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

async function digestSession(name: string): Promise<RawInitiator> {
  const ini = await RawInitiator.connect(daemon.iscsiPort!);
  expect(await ini.login({ initiatorName: `iqn.2026-11.test:${name}`, targetName: TARGET, keys: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C,None' } })).toBe(0);
  expect(ini.negotiated.HeaderDigest).toBe('CRC32C');
  expect(ini.negotiated.DataDigest).toBe('CRC32C');
  await ini.command(Cdb.testUnitReady(), { lun: 1 }).done;
  return ini;
}

describe('CRC32C digests required by the target', () => {
  test('1 MiB write (immediate, unsolicited and R2T data) and read back with both digests', async () => {
    const ini = await digestSession('digest');
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
    const w = await ini.command(Cdb.write10(100, 2048), { lun: 1, dataOut: data }).done;
    expect(w.status).toBe(0);
    const r = await ini.command(Cdb.read10(100, 2048), { lun: 1, readLength: data.length }).done;
    expect(r.status).toBe(0);
    expect(r.dataIn.equals(data)).toBe(true);
    ini.close();
  });

  test('a corrupted data digest is rejected (reason 0x02) and the connection closed, with a warn line', async () => {
    const ini = await digestSession('bad-digest');
    const cdb = Buffer.alloc(16);
    Cdb.write10(0, 1).copy(cdb);
    const pdu = encodePduBuffer(
      { opcode: Op.SCSI_CMD, final: true, read: false, write: true, attr: 1, lun: 1n << 48n, itt: 0x99, expectedDataTransferLength: 512, cmdSN: ini.cmdSN, expStatSN: ini.expStatSN, cdb, data: Buffer.alloc(512, 7) },
      ini.digests,
    );
    pdu[pdu.length - 1]! ^= 0xff; // last byte = data digest
    const from = ini.received.length;
    ini.sendRaw(pdu);
    const got = await ini.nextPdu(from, 5000);
    expect(got?.pdu.opcode).toBe(Op.REJECT);
    expect(got?.pdu.opcode === Op.REJECT && got.pdu.reason).toBe(RejectReason.DATA_DIGEST_ERROR);
    expect(await ini.waitClosed(5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(daemon.logs.some((l) => l.includes('"level":40') && l.includes('data-digest'))).toBe(true);
    // And the target still serves others.
    (await digestSession('after')).close();
  });

  test('an initiator offering only DataDigest=None (as libiscsi 1.19 does) is refused: the target requires it (#12 item 13)', async () => {
    const ini = await RawInitiator.connect(daemon.iscsiPort!);
    expect(await ini.login({ initiatorName: 'iqn.2026-11.test:nodd', targetName: TARGET, keys: { HeaderDigest: 'None,CRC32C', DataDigest: 'None' } })).toBe(0x0200);
    expect(await ini.waitClosed(5000)).toBe(true);
    const noHd = await RawInitiator.connect(daemon.iscsiPort!);
    expect(await noHd.login({ initiatorName: 'iqn.2026-11.test:nohd', targetName: TARGET, keys: { HeaderDigest: 'None', DataDigest: 'CRC32C' } })).toBe(0x0200);
    noHd.close();
  });

  test('a target that only offers digests lets the initiator choose', async () => {
    const none = await RawInitiator.connect(daemon.iscsiPort!);
    expect(await none.login({ initiatorName: 'iqn.2026-11.test:offer-none', targetName: OFFERING, keys: { HeaderDigest: 'None', DataDigest: 'None' } })).toBe(0);
    expect(none.negotiated).toMatchObject({ HeaderDigest: 'None', DataDigest: 'None' });
    await none.command(Cdb.testUnitReady(), { lun: 1 }).done; // takes the power-on unit attention
    expect((await none.command(Cdb.read10(0, 8), { lun: 1, readLength: 4096 }).done).status).toBe(0);
    none.close();
    const both = await RawInitiator.connect(daemon.iscsiPort!);
    expect(await both.login({ initiatorName: 'iqn.2026-11.test:offer-crc', targetName: OFFERING, keys: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C' } })).toBe(0);
    expect(both.negotiated).toMatchObject({ HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' });
    await both.command(Cdb.testUnitReady(), { lun: 1 }).done;
    expect((await both.command(Cdb.read10(0, 8), { lun: 1, readLength: 4096 }).done).status).toBe(0);
    both.close();
  });
});
