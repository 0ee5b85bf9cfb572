import { describe, expect, it } from 'vitest';
import { loadOf, pickReplacement, planCopysets, targetCopysetCount } from '../../../../backends/chunk/mds/placement.js';
import { chunkCountsOf, planSegment, segmentCount, segmentIndexOf, validateGeometry, validateVolumeSize } from '../../../../backends/chunk/mds/segments.js';

const nodes = (perZone: number, zones = ['a', 'b', 'c']) =>
  zones.flatMap((zone, z) => Array.from({ length: perZone }, (_, i) => ({ id: z * perZone + i + 1, zone })));

describe('placement', () => {
  it('puts the three members of every copyset in three distinct zones, within the bound, evenly', () => {
    const ns = nodes(3);
    const zoneOf = new Map(ns.map((n) => [n.id, n.zone]));
    const plans = planCopysets({ nodes: ns, existing: [], maxPerChunkserver: 10, replicas: 3 }, targetCopysetCount(9, 6, 3));
    expect(plans).toHaveLength(18);
    for (const p of plans) expect(new Set(p.map((m) => zoneOf.get(m))).size).toBe(3);
    const load = [...loadOf(plans).values()];
    expect(Math.max(...load)).toBe(6);
    expect(Math.min(...load)).toBe(6);
    // spread: not every copyset on the same triple
    expect(new Set(plans.map((p) => p.join())).size).toBeGreaterThanOrEqual(9);
  });

  it('stops at the per-chunkserver bound and when fewer than three zones exist', () => {
    const plans = planCopysets({ nodes: nodes(1), existing: [], maxPerChunkserver: 4, replicas: 3 }, 10);
    expect(plans).toHaveLength(4);
    expect(planCopysets({ nodes: nodes(5, ['a', 'b']), existing: [], maxPerChunkserver: 100, replicas: 3 }, 3)).toEqual([]);
  });

  it('tops up on new chunkservers first', () => {
    const existing = planCopysets({ nodes: nodes(1), existing: [], maxPerChunkserver: 50, replicas: 3 }, 5);
    const more = [...nodes(1), { id: 10, zone: 'a' }, { id: 11, zone: 'b' }, { id: 12, zone: 'c' }];
    const plans = planCopysets({ nodes: more, existing, maxPerChunkserver: 50, replicas: 3 }, 5);
    expect(plans[0]).toEqual([10, 11, 12]);
  });

  it('picks a replacement up, outside the copyset, in a zone the survivors do not use, least loaded', () => {
    const ns = [...nodes(2), { id: 7, zone: 'd' }];
    const keep = [ns[2]!, ns[4]!]; // zones b, c
    const load = new Map([[1, 3], [2, 1], [7, 0]]);
    expect(pickReplacement(ns, keep, new Set([1, 3, 5]), load, 10)?.id).toBe(7);
    expect(pickReplacement(ns.slice(0, 6), keep, new Set([1, 3, 5]), load, 10)?.id).toBe(2);
    expect(pickReplacement(ns.slice(0, 6), keep, new Set([1, 3, 5]), load, 1)).toBeUndefined();
  });
});

describe('segments', () => {
  const v = { sizeBytes: 10 * 4096 * 4, segmentSizeBytes: 4096 * 4, chunkSizeBytes: 4096 };

  it('validates geometry and sizes', () => {
    expect(validateGeometry(1 << 30, 16 << 20)).toBeUndefined();
    expect(validateGeometry(3000, 1000)).toBe('BAD_GEOMETRY');
    expect(validateGeometry(4096 * 3, 4096 * 2)).toBe('BAD_GEOMETRY');
    expect(validateVolumeSize(4096)).toBe(true);
    expect(validateVolumeSize(4095)).toBe(false);
    expect(validateVolumeSize(0)).toBe(false);
  });

  it('maps offsets to segments and rejects offsets outside the volume', () => {
    expect(segmentCount(v)).toBe(10);
    expect(segmentIndexOf(v, 0)).toBe(0);
    expect(segmentIndexOf(v, 4096 * 4 - 1)).toBe(0);
    expect(segmentIndexOf(v, 4096 * 4)).toBe(1);
    expect(segmentIndexOf(v, v.sizeBytes)).toBe('OUT_OF_RANGE');
    expect(segmentIndexOf(v, -1)).toBe('OUT_OF_RANGE');
    expect(segmentIndexOf(v, '5')).toBe('OUT_OF_RANGE');
  });

  it('allocates fresh chunk ids spread over the least-used copysets', () => {
    const counts = chunkCountsOf([1, 2, 3], [{ volumeId: 1, index: 0, chunks: [[1, 1], [2, 1]] }]);
    const plan = planSegment(v, counts, 3)!;
    expect(plan.chunks.map(([id]) => id)).toEqual([3, 4, 5, 6]);
    expect(plan.nextChunkId).toBe(7);
    expect(plan.chunks.map(([, cs]) => cs)).toEqual([2, 3, 2, 3]);
    expect([...counts.values()]).toEqual([2, 2, 2]);
    expect(planSegment(v, new Map(), 1)).toBeUndefined();
  });
});
