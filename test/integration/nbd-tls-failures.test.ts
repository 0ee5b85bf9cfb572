/**
 * Failed NBD TLS handshakes are the NBD counterpart of wrong CHAP guesses
 * (#12 item 4): a client can repeat them at will, so their log lines are
 * rate-limited (at most 10 per 10 s), and the clients with the right key are
 * still served.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startDaemon, tempDir, type DaemonHandle } from '../helpers/daemon.js';
import { inParallel } from '../helpers/daemon-resources.js';
import { makePskFile } from '../helpers/pki.js';

const ATTEMPTS = 40;

let dir: string;
let d: DaemonHandle;
let goodKey: string;
let wrongKey: string;

beforeAll(async () => {
  dir = tempDir('bg-tlsfail-');
  goodKey = path.join(dir, 'keys.psk');
  wrongKey = path.join(dir, 'wrong.psk');
  await makePskFile(goodKey);
  await makePskFile(wrongKey);
  const config = path.join(dir, 'tls.yaml');
  fs.writeFileSync(config, [
    'nbd:',
    '  tls: require',
    `  tlsPskFile: ${goodKey}`,
    'targets:',
    '  - { name: disk, lld: nbd, luns: [ { lun: 1, bstype: memory, backingStore: m, sizeBytes: 4MiB } ] }',
    '',
  ].join('\n'));
  d = await startDaemon({ dataDir: dir, iscsi: false, args: ['--config', config] });
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('failed NBD TLS handshakes', () => {
  it(`${ATTEMPTS} clients with a wrong PSK: refused, logged at most 10 times; the right key still works`, async () => {
    const uri = (key: string): string => `nbds://alice@127.0.0.1:${d.nbdPort}/disk?tls-psk-file=${key}`;
    await inParallel(ATTEMPTS, 4, async () => {
      const r = await run('nbdinfo', ['--size', uri(wrongKey)], { timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
    });
    const good = await run('nbdinfo', ['--size', uri(goodKey)], { timeoutMs: 30_000 });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout.trim()).toBe(String(4 * 1024 * 1024));
    const lines = d.logs.filter((l) => l.includes('nbd TLS handshake failed'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(10);
  }, 120_000);
});
