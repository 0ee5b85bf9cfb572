/**
 * A LUN's SCSI identity as initiators see it: VPD 0x80 through libiscsi's
 * iscsi-inq, VPD 0x83's NAA and T10 designators through the raw initiator
 * (iscsi-inq prints binary designators with printf %s, which stops at a NUL).
 */
import { expect } from 'vitest';
import { run, type DaemonHandle } from './daemon.js';
import { RawInitiator } from './iscsi-initiator.js';

export interface Identity {
  /** VPD 0x80 as libiscsi's iscsi-inq prints it. */
  serial: string;
  /** VPD 0x83 designators (type → bytes as hex), read with a raw initiator. */
  naa: string;
  t10: string;
}

export async function unitSerial(d: DaemonHandle, target: string, lun: number): Promise<string> {
  const r = await run('iscsi-inq', ['-e', '1', '-c', '128', `iscsi://127.0.0.1:${d.iscsiPort}/${target}/${lun}`], { timeoutMs: 20_000 });
  expect(r.code, r.stderr).toBe(0);
  const m = /Unit Serial Number:\[(.*)\]/.exec(r.stdout);
  expect(m, r.stdout).not.toBeNull();
  return m![1]!;
}

export async function withSession<T>(d: DaemonHandle, target: string, initiator: string, fn: (ini: RawInitiator) => Promise<T>): Promise<T> {
  const ini = await RawInitiator.connect(d.iscsiPort!);
  try {
    expect(await ini.login({ initiatorName: initiator, targetName: target })).toBe(0);
    return await fn(ini);
  } finally {
    ini.close();
  }
}

/** Clear the POWER ON unit attention so the next command answers for itself. */
export async function settle(ini: RawInitiator, lun: number): Promise<void> {
  for (let i = 0; i < 4; i++) if ((await ini.command(Buffer.alloc(6), { lun }).done).status === 0) return;
}

export async function designators(d: DaemonHandle, target: string, lun: number): Promise<{ naa: string; t10: string }> {
  return withSession(d, target, 'iqn.2026-11.test:identity', async (ini) => {
    const r = await ini.command(Buffer.from([0x12, 1, 0x83, 0, 255, 0]), { lun, readLength: 255 }).done;
    expect(r.status).toBe(0);
    const page = r.dataIn;
    const out = { naa: '', t10: '' };
    for (let at = 4; at + 4 <= 4 + page.readUInt16BE(2); at += 4 + page[at + 3]!) {
      const assoc = (page[at + 1]! >> 4) & 3;
      const type = page[at + 1]! & 0x0f;
      const value = page.subarray(at + 4, at + 4 + page[at + 3]!);
      if (assoc === 0 && type === 3) out.naa = value.toString('hex');
      if (assoc === 0 && type === 1) out.t10 = value.toString('latin1');
    }
    return out;
  });
}

export async function identity(d: DaemonHandle, target: string, lun: number): Promise<Identity> {
  return { serial: await unitSerial(d, target, lun), ...(await designators(d, target, lun)) };
}

