/**
 * Live fuzz against the real daemon: for a bounded time (12 s), connections
 * send random bytes and mutated PDUs, some during login, others after a
 * proper login (raw initiator) in full feature phase. Meanwhile a witness
 * session on another target writes and reads back verified blocks, and
 * iscsi-inq (libiscsi) logs in now and then.
 *
 * Asserted: the daemon survives; fuzzed connections get Rejects or are
 * dropped, and the drops are logged at warn level with a reason; the
 * witness never sees an error or wrong data; a fresh login works at the end.
 * Seeded xorshift, so a failure is reproducible from the printed seed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Op } from '../../targets/iscsi/constants.js';
import { encodePduBuffer } from '../../targets/iscsi/framer.js';
import { encodeText } from '../../targets/iscsi/text.js';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { Cdb, RawInitiator } from '../helpers/iscsi-initiator.js';
import { xorshift32 as rng } from '../helpers/rng.js';

const FUZZED = 'iqn.2026-11.io.blockgate:fuzzed';
const WITNESS = 'iqn.2026-11.io.blockgate:witness';
const DURATION_MS = 12_000;
const SEED = 0x5eed1234;


function mutate(r: () => number, buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  const flips = 1 + Math.floor(r() * 6);
  for (let i = 0; i < flips; i++) {
    // Bias towards the BHS, where the interesting fields are.
    const at = Math.floor(r() * (r() < 0.8 ? Math.min(48, out.length) : out.length));
    out[at] = r() < 0.5 ? Math.floor(r() * 256) : out[at]! ^ (1 << Math.floor(r() * 8));
  }
  return r() < 0.1 ? out.subarray(0, Math.floor(r() * out.length)) : out;
}

function loginSeed(): Buffer {
  return encodePduBuffer({
    opcode: Op.LOGIN_REQ, immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid: '400001370000', tsih: 0, itt: 0, cid: 1, cmdSN: 1, expStatSN: 0,
    data: encodeText([['InitiatorName', 'iqn.2026-11.fuzz:i'], ['TargetName', FUZZED], ['SessionType', 'Normal'], ['MaxRecvDataSegmentLength', '65536']]),
  });
}

/** Valid full-feature PDUs to mutate, stamped with the session's current CmdSN. */
function ffpSeeds(ini: RawInitiator): Buffer[] {
  const sn = { cmdSN: ini.cmdSN, expStatSN: ini.expStatSN };
  const lun = 1n << 48n;
  const cdb = Buffer.alloc(16);
  Cdb.write10(8, 1).copy(cdb);
  return [
    encodePduBuffer({ opcode: Op.SCSI_CMD, final: true, read: false, write: true, attr: 1, lun, itt: 0x7000, expectedDataTransferLength: 512, ...sn, cdb, data: Buffer.alloc(512, 0x5a) }),
    encodePduBuffer({ opcode: Op.SCSI_CMD, final: true, read: true, write: false, attr: 1, lun, itt: 0x7001, expectedDataTransferLength: 4096, ...sn, cdb: Buffer.concat([Cdb.read10(0, 8), Buffer.alloc(6)]) }),
    encodePduBuffer({ opcode: Op.NOP_OUT, immediate: true, final: true, lun: 0n, itt: 0x7002, ttt: 0xffffffff, ...sn, data: Buffer.from('ping') }),
    encodePduBuffer({ opcode: Op.TEXT_REQ, final: true, cont: false, lun: 0n, itt: 0x7003, ttt: 0xffffffff, ...sn, data: encodeText([['SendTargets', 'All']]) }),
    encodePduBuffer({ opcode: Op.DATA_OUT, final: true, lun, itt: 0x7000, ttt: 0xffffffff, expStatSN: sn.expStatSN, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(512, 1) }),
    encodePduBuffer({ opcode: Op.TMF_REQ, immediate: true, final: true, function: 1, lun, itt: 0x7004, referencedTaskTag: 0x7000, ...sn, refCmdSN: sn.cmdSN, expDataSN: 0 }),
    encodePduBuffer({ opcode: Op.SNACK, final: true, type: 0, lun, itt: 0x7005, ttt: 0xffffffff, expStatSN: sn.expStatSN, begRun: 0, runLength: 0 }),
  ];
}

let daemon: DaemonHandle;

beforeAll(async () => {
  const dir = tempDir('bg-fuzz-');
  const cfg = path.join(dir, 'fuzz.yaml');
  const target = (tid: number, name: string) =>
    `  - tid: ${tid}\n    name: ${name}\n    luns:\n      - lun: 1\n        bstype: memory\n        backingStore: m${tid}\n        sizeBytes: 16MiB\n`;
  fs.writeFileSync(cfg, `targets:\n${target(1, FUZZED)}${target(2, WITNESS)}`);
  daemon = await startDaemon({ args: ['--config', cfg], nbd: false });
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
});

interface Tally {
  connections: number;
  ffp: number;
  rejects: number;
  dropped: number;
}

async function fuzzOne(r: () => number, t: Tally): Promise<void> {
  const ini = await RawInitiator.connect(daemon.iscsiPort!);
  t.connections++;
  try {
    if (r() < 0.4) {
      ini.sendRaw(r() < 0.3 ? Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256))) : mutate(r, loginSeed()));
    } else {
      const status = await ini.login({ initiatorName: `iqn.2026-11.fuzz:i${t.connections}`, targetName: FUZZED, isid: `4000013700${(t.connections & 0xff).toString(16).padStart(2, '0')}` });
      if (status !== 0) throw new Error(`fuzz login refused: ${status.toString(16)}`);
      t.ffp++;
      const seeds = ffpSeeds(ini);
      for (let i = 0, n = 1 + Math.floor(r() * 6); i < n; i++) ini.sendRaw(mutate(r, seeds[Math.floor(r() * seeds.length)]!));
    }
    await ini.waitClosed(80);
    t.rejects += ini.received.filter((x) => x.pdu.opcode === Op.REJECT).length;
    if (ini.closed) t.dropped++;
  } finally {
    ini.close();
  }
}

/** Witness: write a block, read it back, compare; every round must succeed. */
async function witness(stop: () => boolean): Promise<{ rounds: number; errors: string[] }> {
  const ini = await RawInitiator.connect(daemon.iscsiPort!);
  expect(await ini.login({ initiatorName: 'iqn.2026-11.test:witness', targetName: WITNESS })).toBe(0);
  await ini.command(Cdb.testUnitReady(), { lun: 1 }).done; // POWER ON unit attention
  const errors: string[] = [];
  let rounds = 0;
  while (!stop()) {
    const data = Buffer.alloc(4096, rounds & 0xff);
    const w = await Promise.race([ini.command(Cdb.write10(rounds % 1000, 8), { lun: 1, dataOut: data }).done, sleep(5000).then(() => undefined)]);
    const rd = w && (await Promise.race([ini.command(Cdb.read10(rounds % 1000, 8), { lun: 1, readLength: 4096 }).done, sleep(5000).then(() => undefined)]));
    if (!w || w.status !== 0 || !rd || rd.status !== 0 || !rd.dataIn.equals(data)) errors.push(`round ${rounds}: ${w?.status} ${rd?.status} closed=${ini.closed}`);
    rounds++;
    await sleep(20);
  }
  ini.close();
  return { rounds, errors };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live iSCSI fuzz against the daemon', () => {
  test(`random and mutated PDUs for ${DURATION_MS / 1000} s (seed ${SEED.toString(16)})`, async () => {
    const r = rng(SEED);
    const t: Tally = { connections: 0, ffp: 0, rejects: 0, dropped: 0 };
    const until = Date.now() + DURATION_MS;
    // Enough cases even on a loaded host: past the duration, go on until the
    // minimum counts below are reached, but never past a hard stop.
    const hardStop = until + 3 * DURATION_MS;
    const enough = (): boolean => t.connections > 60 && t.ffp > 20;
    let fuzzing = true;
    const w = witness(() => !fuzzing);
    const inqs: number[] = [];
    const inqLoop = (async () => {
      while (fuzzing) {
        inqs.push((await run('iscsi-inq', [`iscsi://127.0.0.1:${daemon.iscsiPort}/${WITNESS}/1`], { timeoutMs: 15_000 })).code ?? -1);
        await sleep(2000);
      }
    })();
    while (Date.now() < hardStop && (Date.now() < until || !enough())) await fuzzOne(r, t);
    fuzzing = false;
    const seen = await w;
    await inqLoop;
    console.log(`fuzz: ${t.connections} connections (${t.ffp} in full feature phase), ${t.rejects} rejects, ${t.dropped} dropped; witness ${seen.rounds} rounds; iscsi-inq ${inqs.length} runs`);

    expect(daemon.proc.exitCode).toBeNull();
    expect(t.connections).toBeGreaterThan(60);
    expect(t.ffp).toBeGreaterThan(20);
    expect(t.rejects).toBeGreaterThan(0);
    expect(t.dropped).toBeGreaterThan(0);
    expect(seen.errors).toEqual([]);
    expect(seen.rounds).toBeGreaterThan(20);
    expect(inqs.length).toBeGreaterThan(1);
    expect(inqs.every((c) => c === 0)).toBe(true);

    const warns = daemon.logs.filter((l) => l.includes('"level":40'));
    expect(warns.some((l) => l.includes('iscsi login failed') && l.includes('"err"'))).toBe(true);
    expect(warns.some((l) => l.includes('iscsi connection protocol violation') && l.includes('"err"'))).toBe(true);

    const after = await RawInitiator.connect(daemon.iscsiPort!);
    expect(await after.login({ initiatorName: 'iqn.2026-11.test:after', targetName: FUZZED })).toBe(0);
    await after.command(Cdb.testUnitReady(), { lun: 1 }).done;
    expect((await after.command(Cdb.read10(0, 1), { lun: 1, readLength: 512 }).done).status).toBe(0);
    after.close();
  }, 120_000);
});
