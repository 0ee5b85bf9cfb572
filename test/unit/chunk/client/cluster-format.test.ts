import { describe, expect, it } from 'vitest';
import { copysetRows, formatClusterReport, formatVolumes } from '../../../../src/bin/cluster-format.js';
import { STATUS } from '../../../../backends/chunk/proto/status.js';

const m = (id: number) => ({ id, address: `127.0.0.1:${6700 + id}`, zone: `zone${id}` });

describe('cluster status formatting', () => {
  it('classifies copysets: healthy, degraded, recovering, leaderless', () => {
    const up = new Set([1, 2, 3, 4]);
    const rows = copysetRows([
      { copysetId: 4, members: [m(1), m(2), m(5)], leaderId: 1, term: 2 },
      { copysetId: 1, members: [m(1), m(2), m(3)], leaderId: 2, term: 1 },
      { copysetId: 3, members: [m(1), m(2), m(3), m(4)], leaderId: 3, term: 3 },
      { copysetId: 2, members: [m(1), m(2), m(3)], leaderId: 0, term: 0 },
      { copysetId: 5, members: [m(1), m(2), m(5)], leaderId: 5, term: 4 },
    ], up);
    expect(rows.map((r) => [r.copysetId, r.state])).toEqual([[1, 'healthy'], [2, 'leaderless'], [3, 'recovering'], [4, 'degraded'], [5, 'leaderless']]);
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
      copysets: [{ copysetId: 1, leaderId: 1, members: [1, 2, 3], state: 'degraded' }],
    });
    expect(text).toContain('mds 127.0.0.1:6700: active');
    expect(text).toContain('mds 127.0.0.1:6710: unreachable');
    expect(text).toContain('chunkservers: 1 up, 1 down');
    expect(text).toMatch(/2\s+zone2\s+127\.0\.0\.1:6702\s+down/);
    expect(text).toContain('copysets: 1 total, 0 healthy, 1 degraded, 0 recovering, 0 leaderless');
    expect(text).toMatch(/1\s+1\s+1,2,3\s+degraded/);
    expect(text).toContain('volumes: 2   pending scheduler ops: 1');
  });

  it('lists volumes', () => {
    expect(formatVolumes([])).toBe('no volumes\n');
    const t = formatVolumes([{ name: 'vol1', id: 1, sizeBytes: 10 * 2 ** 30, segmentSizeBytes: 2 ** 30, chunkSizeBytes: 2 ** 24, seq: 1, createdAt: 'now', allocatedSegments: 2 }]);
    expect(t).toMatch(/vol1\s+10\.0GiB\s+2\.0GiB\s+1\.0GiB\s+16\.0MiB\s+1\s+now/);
  });
});
