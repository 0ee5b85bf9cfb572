import { describe, expect, it } from 'vitest';
import { parseBlockgateArgs } from '../../../../src/cli/blockgate.js';

describe('blockgate volume/cluster options added for the chunk client', () => {
  it('parses --json for volume and cluster status', () => {
    expect(parseBlockgateArgs(['volume', 'info', 'vol1', '--json', '--mds', 'a:1'])).toEqual({ command: 'volume', action: 'info', name: 'vol1', options: { json: true, mds: ['a:1'] } });
    expect(parseBlockgateArgs(['cluster', 'status', '--json'])).toEqual({ command: 'cluster', action: 'status', options: { json: true } });
  });

  it('parses cluster up --listen, --etcd and --data-dir', () => {
    expect(parseBlockgateArgs(['cluster', 'up', '--listen', '127.0.0.1:0', '--etcd', 'off', '--data-dir', '/tmp/x', '--chunkservers', '4'])).toEqual({
      command: 'cluster', action: 'up', options: { listen: '127.0.0.1:0', etcd: ['off'], dataDir: '/tmp/x', chunkservers: 4 },
    });
  });

  it('parses the server commands', () => {
    expect(parseBlockgateArgs(['mds', '--listen', '127.0.0.1:6700', '--etcd', 'http://127.0.0.1:2379', '--metrics-listen', 'off'])).toEqual({
      command: 'mds', options: { listen: '127.0.0.1:6700', etcd: ['http://127.0.0.1:2379'], metricsListen: 'off' },
    });
    expect(parseBlockgateArgs(['chunkserver', '--listen', '127.0.0.1:6801', '--mds', '127.0.0.1:6700', '--data-dir', '/d', '--zone', 'z2'])).toEqual({
      command: 'chunkserver', options: { listen: '127.0.0.1:6801', mds: ['127.0.0.1:6700'], dataDir: '/d', zone: 'z2' },
    });
  });
});
