/** libnbd's nbdinfo against blockgate's NBD front end: --json, --list, --map. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { runTool, runToolStatus } from '../helpers/run-tool.js';

const MiB = 1 << 20;
let s: Standalone;

beforeAll(async () => {
  s = await startStandalone({
    exports: [
      { name: 'mem', sizeBytes: 64 * MiB, description: 'memory disk' },
      { name: 'file', sizeBytes: 64 * MiB, backend: 'file' },
      { name: 'ro', sizeBytes: 8 * MiB, readOnly: true },
    ],
    defaultExport: 'mem',
  });
});
afterAll(async () => s.close());

interface MapEntry {
  offset: number;
  length: number;
  type: number;
}

describe('nbdinfo', () => {
  it('--json reports size, flags and block sizes', async () => {
    const j = JSON.parse((await runTool('nbdinfo', ['--json', s.uri('mem')], 20_000)).stdout);
    expect(j.protocol).toBe('newstyle-fixed');
    expect(j.structured).toBe(true);
    const e = j.exports[0];
    expect(e['export-name']).toBe('mem');
    expect(e.description).toBe('memory disk');
    expect(e['export-size']).toBe(64 * MiB);
    expect(e.is_read_only).toBe(false);
    expect(e.is_rotational).toBe(false);
    for (const k of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_multi_conn', 'can_cache', 'can_df']) {
      expect(e[k], k).toBe(true);
    }
    expect([e.block_size_minimum, e.block_size_preferred, e.block_size_maximum]).toEqual([512, 4096, 32 * MiB]);
    expect(e.contexts).toContain('base:allocation');
    const ro = JSON.parse((await runTool('nbdinfo', ['--json', s.uri('ro')], 20_000)).stdout).exports[0];
    expect(ro.is_read_only).toBe(true);
    expect(ro.can_trim).toBe(false);
    expect(ro.can_zero).toBe(false);
  });

  it('the default export answers the empty name', async () => {
    const j = JSON.parse((await runTool('nbdinfo', ['--json', `nbd://127.0.0.1:${s.port}`], 20_000)).stdout);
    expect(j.exports[0]['export-size']).toBe(64 * MiB);
  });

  it('--list shows every export', async () => {
    const out = (await runTool('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${s.port}`], 20_000)).stdout;
    const names = JSON.parse(out).exports.map((e: { 'export-name': string }) => e['export-name']);
    expect(names.sort()).toEqual(['file', 'mem', 'ro']);
  });

  it('an unknown export fails cleanly', async () => {
    const r = await runToolStatus('nbdinfo', [s.uri('nope')], 20_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/opt_go: server replied with error.*No such file/); // NBD_REP_ERR_UNKNOWN
  });

  for (const name of ['mem', 'file']) {
    it(`--map follows writes, trims and zeroes on the ${name} backend`, async () => {
      await runTool(
        'qemu-io',
        ['-f', 'raw', '-c', 'write -P 0x11 0 2M', '-c', 'write -P 0x22 8M 1M', '-c', 'discard 0 1M', '-c', 'write -z 8M 1M', s.uri(name)],
        30_000,
      );
      const map: MapEntry[] = JSON.parse((await runTool('nbdinfo', ['--map', '--json', s.uri(name)], 20_000)).stdout);
      const typeAt = (off: number): number => map.find((m) => m.offset <= off && off < m.offset + m.length)!.type;
      expect(map.reduce((n, m) => n + m.length, 0)).toBe(64 * MiB);
      expect(typeAt(0) & 1).toBe(1); // trimmed: hole
      expect(typeAt(MiB)).toBe(0); // written data
      expect(typeAt(8 * MiB) & 2).toBe(2); // zeroed
      expect(typeAt(32 * MiB)).toBe(3); // never written
    });
  }
});

describe('nbdinfo over IPv6', () => {
  it('serves an export on [::1]', async () => {
    const v6 = await startStandalone({ exports: [{ name: 'six', sizeBytes: 2 * MiB }], host: '::1' });
    try {
      expect(v6.uri('six')).toMatch(/^nbd:\/\/\[::1\]:/);
      expect((await runTool('nbdinfo', ['--size', v6.uri('six')], 20_000)).stdout.trim()).toBe(String(2 * MiB));
    } finally {
      await v6.close();
    }
  });
});
