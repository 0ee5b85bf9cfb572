/**
 * Persistence of PR state for APTPL (spc4r37 5.13.5): a JSON file in the
 * LUN's stateDir, replaced atomically and durably (atomicReplace: temp, fsync,
 * rename, fsync of the directory) so a crash leaves either the old or the new
 * state. Cleared APTPL removes the file.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicReplace } from '../../src/util/atomic-replace.js';
import { mkdirPrivate } from '../../src/util/private-fs.js';
import type { PrState, Registration } from './lu.js';

const FILE = 'scsi-pr.json';

interface StoredRegistration extends Omit<Registration, 'key'> {
  key: string;
}

interface Stored {
  version: 1;
  generation: number;
  registrations: StoredRegistration[];
  reservation?: { type: number; holder: number };
}

export function serializePr(pr: PrState): string {
  const stored: Stored = {
    version: 1,
    generation: pr.generation,
    registrations: pr.registrations.map((r) => ({ ...r, key: r.key.toString(16) })),
    reservation: pr.reservation ? { type: pr.reservation.type, holder: pr.registrations.indexOf(pr.reservation.holder) } : undefined,
  };
  return JSON.stringify(stored);
}

export function deserializePr(text: string): PrState {
  const s = JSON.parse(text) as Stored;
  if (s.version !== 1 || !Array.isArray(s.registrations)) throw new Error('unknown PR state format');
  const registrations: Registration[] = s.registrations.map((r) => ({
    key: BigInt('0x' + r.key),
    initiatorName: String(r.initiatorName),
    isid: String(r.isid),
    relativeTargetPort: Number(r.relativeTargetPort),
    allTgPt: Boolean(r.allTgPt),
  }));
  const holder = s.reservation ? registrations[s.reservation.holder] : undefined;
  return {
    generation: s.generation >>> 0,
    registrations,
    reservation: s.reservation && holder ? { type: s.reservation.type, holder } : undefined,
    aptpl: true,
  };
}

/** Synchronous load at start-up; undefined when nothing was persisted. */
export function loadPr(stateDir: string): PrState | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDir, FILE), 'utf8');
  } catch {
    return undefined;
  }
  return deserializePr(text);
}

export async function savePrFile(stateDir: string, pr: PrState): Promise<void> {
  const path = join(stateDir, FILE);
  if (!pr.aptpl) {
    await rm(path, { force: true });
    return;
  }
  await mkdirPrivate(stateDir);
  await atomicReplace(path, serializePr(pr), { mode: 0o600 });
}
