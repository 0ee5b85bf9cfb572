import { describe, expect, it } from 'vitest';
import { mergeServeOptions, parseBlockgateArgs } from '../../../src/cli/blockgate.js';
import { defaultConfig } from '../../../src/config/schema.js';

describe('parseBlockgateArgs', () => {
  it('no arguments = serve with nothing overridden', () => {
    expect(parseBlockgateArgs([])).toEqual({ command: 'serve', options: {} });
  });

  it('serve options, repeatable portals, IPv6 syntax', () => {
    const r = parseBlockgateArgs([
      'serve', '--config', '/etc/blockgate.yaml', '--data-dir', '/d', '--iscsi-portal', '[::1]:3260', '--iscsi-portal', '127.0.0.1:0',
      '--nbd-listen', 'off', '--admin-socket', '/tmp/a.sock', '--metrics-listen', '127.0.0.1:9500', '--log-level', 'debug', '--single-loop',
    ]);
    expect(r).toEqual({
      command: 'serve',
      options: {
        config: '/etc/blockgate.yaml', dataDir: '/d', iscsiPortals: ['[::1]:3260', '127.0.0.1:0'], nbdListen: [],
        adminSocket: '/tmp/a.sock', metricsListen: '127.0.0.1:9500', logLevel: 'debug', singleLoop: true,
      },
    });
    expect(parseBlockgateArgs(['--iscsi-portal', 'off'])).toEqual({ command: 'serve', options: { iscsiPortals: [] } });
  });

  it('refuses bad addresses, off mixed with addresses, bad log levels', () => {
    for (const args of [['--iscsi-portal', '1.2.3.4:99999'], ['--nbd-listen', 'off', '--nbd-listen', '1.2.3.4'],
      ['--iscsi-portal', '[::1'], ['--log-level', 'loud'], ['--bogus']]) {
      const r = parseBlockgateArgs(args);
      expect(r.command).toBe('error');
      if (r.command === 'error') expect(r.exitCode).toBe(2);
    }
  });

  it('--nbd-listen takes unix:/absolute/path; --iscsi-portal does not (#12 item 17)', () => {
    expect(parseBlockgateArgs(['--nbd-listen', 'unix:/run/nbd.sock', '--nbd-listen', '127.0.0.1:0'])).toEqual({
      command: 'serve', options: { nbdListen: ['unix:/run/nbd.sock', '127.0.0.1:0'] },
    });
    for (const args of [['--nbd-listen', 'unix:nbd.sock'], ['--iscsi-portal', 'unix:/run/x.sock']]) {
      expect(parseBlockgateArgs(args).command).toBe('error');
    }
  });

  it('--help and --version print', () => {
    const h = parseBlockgateArgs(['serve', '--help']);
    expect(h.command).toBe('print');
    if (h.command === 'print') for (const o of ['--config', '--iscsi-portal', '--nbd-listen', '--single-loop']) expect(h.text).toContain(o);
    expect(parseBlockgateArgs(['--version'])).toEqual({ command: 'print', text: '0.1.0\n' });
  });

  it('cluster subcommands parse their options', () => {
    expect(parseBlockgateArgs(['volume', 'create', '/vol1', '--size', '10GiB', '--mds', '127.0.0.1:6700,127.0.0.1:6701'])).toEqual({
      command: 'volume', action: 'create', name: '/vol1', options: { sizeBytes: 10 * 2 ** 30, mds: ['127.0.0.1:6700', '127.0.0.1:6701'] },
    });
    expect(parseBlockgateArgs(['volume', 'list'])).toEqual({ command: 'volume', action: 'list', options: {} });
    expect(parseBlockgateArgs(['volume', 'create', 'v']).command).toBe('error');
    expect(parseBlockgateArgs(['volume', 'frob', 'v']).command).toBe('error');
    expect(parseBlockgateArgs(['cluster', 'up', '--chunkservers', '3'])).toEqual({ command: 'cluster', action: 'up', options: { chunkservers: 3 } });
    expect(parseBlockgateArgs(['mds', '--listen', '127.0.0.1:6700', '--etcd', 'http://127.0.0.1:2379'])).toEqual({
      command: 'mds', options: { listen: '127.0.0.1:6700', etcd: ['http://127.0.0.1:2379'] },
    });
    expect(parseBlockgateArgs(['chunkserver', '--zone', 'z1'])).toMatchObject({ command: 'chunkserver', options: { zone: 'z1' } });
  });

  it('volume --size takes the shared size syntax and says why it refuses one', () => {
    const size = (text: string): unknown => {
      const r = parseBlockgateArgs(['volume', 'create', 'v', '--size', text]);
      return r.command === 'volume' ? r.options.sizeBytes : r;
    };
    expect(size('512M')).toBe(512 * 2 ** 20);
    expect(size('10G')).toBe(10 * 2 ** 30);
    expect(size('10GB')).toBe(10 * 2 ** 30);
    expect(size('1.5G')).toBe(1.5 * 2 ** 30);
    expect(size('12Q')).toEqual({
      command: 'error', exitCode: 2,
      message: 'blockgate: --size: invalid size "12Q": expected a number of bytes with an optional unit K, M, G or T (1024-based; KB and KiB mean K)\n',
    });
  });

  it('mergeServeOptions: the command line overrides the config', () => {
    const merged = mergeServeOptions({ ...defaultConfig(), logLevel: 'info' }, { nbdListen: [], logLevel: 'warn' });
    expect(merged.nbdListen).toEqual([]);
    expect(merged.iscsiPortals).toEqual(['127.0.0.1:3260']);
    expect(merged.logLevel).toBe('warn');
  });
});
