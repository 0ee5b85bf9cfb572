import { describe, expect, it } from 'vitest';
import { copysetState } from '../../../../backends/chunk/mds/status.js';
import { formatClusterReport, formatVolumes } from '../../../../src/bin/cluster-format.js';
import { STATUS } from '../../../../backends/chunk/proto/status.js';

describe('cluster status formatting', () => {
  it('classifies copysets: healthy, degraded, recovering, leaderless (MDS side)', () => {
    const up = (id: number) => [1, 2, 3, 4].includes(id);
    const rows: Array<[number[], number, boolean]> = [
      [[1, 2, 3], 2, false],
      [[1, 2, 3], 0, false],
      [[1, 2, 3, 4], 3, false],
      [[1, 2, 5], 1, false],
      [[1, 2, 5], 5, false],
      [[1, 2, 3], 1, true],
      [[1, 2], 1, false],
      [[1, 2, 5], 1, true],
    ];
    expect(rows.map(([members, leader, repairing]) => copysetState(members, leader, up, 3, repairing))).toEqual(
      ['healthy', 'leaderless', 'recovering', 'degraded', 'leaderless', 'recovering', 'degraded', 'recovering']);
  });

  it('prints MDS roles, chunkservers, per-copyset leaders and totals', () => {
    const text = formatClusterReport({
      mds: [{ address: '127.0.0.1:6700', role: 'active' }, { address: '127.0.0.1:6710', role: 'unreachable' }],
      status: {
        status: STATUS.OK,
        mds: { address: '127.0.0.1:6700', isLeader: true },
        chunkservers: [
          { id: 1, zone: 'zone1', server: 'h', address: '127.0.0.1:6701', state: 'up', copysets: 1, leaders: 1, capacityBytes: 2 ** 34, usedBytes: 2 ** 20 },
          { id: 2, zone: 'zone2', server: 'h', address: '127.0.0.1:6702', state: 'down', copysets: 1, leaders: 0, capacityBytes: 2 ** 34, usedBytes: 0 },
        ],
        copysets: { total: 1, healthy: 0, degraded: 1, leaderless: 0 },
        volumes: 2,
        pendingOps: 1,
      },
      copysets: [{ copysetId: 1, leaderId: 1, term: 7, members: [1, 2, 3], state: 'degraded' }],
    });
    expect(text).toContain('mds 127.0.0.1:6700: active');
    expect(text).toContain('mds 127.0.0.1:6710: unreachable');
    expect(text).toContain('chunkservers: 1 up, 1 down');
    expect(text).toMatch(/2\s+zone2\s+127\.0\.0\.1:6702\s+down/);
    expect(text).toContain('copysets: 1 total, 0 healthy, 1 degraded, 0 recovering, 0 leaderless');
    expect(text).toMatch(/1\s+1\s+7\s+1,2,3\s+degraded/);
    expect(text).toContain('volumes: 2   pending scheduler ops: 1');
  });

  it('lists volumes', () => {
    expect(formatVolumes([])).toBe('no volumes\n');
    const t = formatVolumes([{ name: 'vol1', id: 1, sizeBytes: 10 * 2 ** 30, segmentSizeBytes: 2 ** 30, chunkSizeBytes: 2 ** 24, seq: 1, createdAt: 'now', allocatedSegments: 2, uuid: '0123456789abcdef0123456789abcdef' }]);
    expect(t).toMatch(/vol1\s+10\.0GiB\s+2\.0GiB\s+1\.0GiB\s+16\.0MiB\s+1\s+now\s+0123456789abcdef0123456789abcdef/);
  });
});
