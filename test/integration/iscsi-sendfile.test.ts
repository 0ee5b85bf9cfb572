/**
 * Large READs leave as Data-In PDUs whose data goes from the page cache to
 * the socket with sendfile (ScsiResult.dataInFrom, BlockDevice.sendTo).
 * When the socket buffer fills part way, the rest is read the ordinary way
 * and every later PDU waits behind it. An initiator that stops reading
 * while 1 MiB and 4 KiB READs pile up forces that; every command must
 * still get its own data, whole, with GOOD status and in-order DataSN.
 * With a data digest negotiated the path is off and the data is the same.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileDevice } from '../../backends/file/device.js';
import { Op } from '../../targets/iscsi/constants.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';
import { startIscsiStandalone, type Standalone } from '../helpers/iscsi-standalone.js';

const MiB = 1 << 20;
const BS = 512;
let dir: string;
let server: Standalone;

function pattern(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 4) b.writeUInt32LE(((offset + i) * 2246822519) >>> 0, i);
  return b;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-iscsi-sendfile-'));
  const file = path.join(dir, 'lun.img');
  fs.writeFileSync(file, pattern(0, 32 * MiB)); // cached and allocated
  const dev = await FileDevice.open({ path: file, serial: 'sendfile' });
  server = await startIscsiStandalone({ devices: [dev], lunNumbers: [0], params: { HeaderDigest: 'CRC32C,None', DataDigest: 'CRC32C,None' } });
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function readBurst(keys: Record<string, string>): Promise<void> {
  const ini = await RawInitiator.connect(server.port);
  expect(await ini.login({ initiatorName: 'iqn.2026-11.test:sendfile', targetName: server.targetName, keys })).toBe(0);
  await ini.command(Cdb.testUnitReady()).done; // POWER ON unit attention
  const from = ini.received.length;
  ini.socket.pause(); // the target's writes back up into a full socket buffer
  const cmds = [];
  for (let i = 0; i < 24; i++) {
    const big = i % 3 !== 2;
    const offset = big ? ((i * 7) % 31) * MiB + 8 * BS : ((i * 13) % 8000) * 4096;
    const length = big ? MiB : 4096;
    cmds.push({ offset, length, run: ini.command(Cdb.read10(offset / BS, length / BS), { readLength: length }) });
  }
  await new Promise((r) => setTimeout(r, 300));
  ini.socket.resume();
  for (const c of cmds) {
    const out = await c.run.done;
    expect(out.status).toBe(0);
    expect(out.dataIn.equals(pattern(c.offset, c.length))).toBe(true);
  }
  // Each command's Data-In PDUs carry DataSN 0, 1, 2, ... in order.
  const next = new Map<number, number>();
  for (const r of ini.received.slice(from)) {
    if (r.pdu.opcode !== Op.DATA_IN) continue;
    const want = next.get(r.pdu.itt) ?? 0;
    expect(r.pdu.dataSN).toBe(want);
    next.set(r.pdu.itt, want + 1);
  }
  expect(await ini.logout()).toBe(true);
  ini.close();
}

describe('iSCSI large READs through sendfile', () => {
  it('keeps every Data-In sequence whole and in order while the initiator stops reading', async () => {
    await readBurst({});
  });

  it('sends the same data with a data digest (no sendfile then)', async () => {
    await readBurst({ HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' });
  });
});
