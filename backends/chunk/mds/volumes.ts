/**
 * Volume operations of the active MDS: create, delete, extend, list, info,
 * and thin segment lookup/allocation (GET_SEGMENT with allocate=true on the
 * client's write path). Outcomes are MdsResponse objects, never thrown.
 *
 * Deleting a volume drops its segments from the map; its chunks stay on the
 * chunkservers until a chunk garbage collector exists (docs/chunk-backend.md).
 */
import type { GetSegmentResponse, ListVolumesResponse, MdsResponse, VolumeInfo, VolumeResponse } from '../proto/mds-api.js';
import { newIdentityId } from '../../../src/util/identity-id.js';
import { STATUS } from '../proto/status.js';
import type { MdsCore } from './core.js';
import { ensureCopysets } from './topology.js';
import { chunkCountsOf, planSegment, segmentIndexOf, segmentInfo, validateVolumeSize } from './segments.js';
import { KEYS, putJson } from './store.js';
import type { VolumeRecord } from './types.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function fail(status: MdsResponse['status'], message: string): MdsResponse {
  return { status, message };
}

export function volumeInfo(core: MdsCore, v: VolumeRecord): VolumeInfo {
  return { ...v, allocatedSegments: core.segments.get(v.id)?.size ?? 0 };
}

export async function createVolume(
  core: MdsCore,
  req: Record<string, unknown>,
  now: number,
  newUuid: () => string = newIdentityId,
): Promise<VolumeResponse | MdsResponse> {
  const { name, sizeBytes } = req;
  if (typeof name !== 'string' || !NAME_RE.test(name)) return fail(STATUS.INVALID, 'bad volume name');
  if (!validateVolumeSize(sizeBytes)) return fail(STATUS.INVALID, 'sizeBytes must be a positive multiple of 4096');
  return core.mutate(() => {
    if (core.volumes.has(name)) return { ops: [], apply: () => fail(STATUS.EXISTS, `volume ${name} exists`) };
    const v: VolumeRecord = {
      id: core.counters.nextVolumeId,
      uuid: newUuid(),
      name,
      sizeBytes,
      segmentSizeBytes: core.config.segmentSizeBytes,
      chunkSizeBytes: core.config.chunkSizeBytes,
      seq: 1,
      createdAt: new Date(now).toISOString(),
    };
    const counters = { ...core.counters, nextVolumeId: v.id + 1 };
    return {
      ops: [putJson(KEYS.volume(name), v), core.countersOp(counters)],
      apply: () => {
        core.counters = counters;
        core.volumes.set(name, v);
        return { status: STATUS.OK, volume: volumeInfo(core, v) };
      },
    };
  });
}

export async function deleteVolume(core: MdsCore, req: Record<string, unknown>): Promise<MdsResponse> {
  const name = req.name;
  if (typeof name !== 'string') return fail(STATUS.INVALID, 'name required');
  return core.mutate(() => {
    const v = core.volumes.get(name);
    if (!v) return { ops: [], apply: () => fail(STATUS.NOT_FOUND, `no volume ${name}`) };
    return {
      ops: [{ op: 'delete', key: KEYS.volume(name) }, { op: 'deletePrefix', prefix: KEYS.segmentsOf(v.id) }],
      apply: () => {
        core.volumes.delete(name);
        core.segments.delete(v.id);
        return { status: STATUS.OK };
      },
    };
  });
}

export async function extendVolume(core: MdsCore, req: Record<string, unknown>): Promise<VolumeResponse | MdsResponse> {
  const { name, sizeBytes } = req;
  if (typeof name !== 'string') return fail(STATUS.INVALID, 'name required');
  if (!validateVolumeSize(sizeBytes)) return fail(STATUS.INVALID, 'sizeBytes must be a positive multiple of 4096');
  return core.mutate(() => {
    const v = core.volumes.get(name);
    if (!v) return { ops: [], apply: () => fail(STATUS.NOT_FOUND, `no volume ${name}`) };
    if (sizeBytes < v.sizeBytes) return { ops: [], apply: () => fail(STATUS.INVALID, 'volumes only grow') };
    const next = { ...v, sizeBytes };
    return {
      ops: [putJson(KEYS.volume(name), next)],
      apply: () => {
        core.volumes.set(name, next);
        return { status: STATUS.OK, volume: volumeInfo(core, next) };
      },
    };
  });
}

export function listVolumes(core: MdsCore): ListVolumesResponse {
  const volumes = [...core.volumes.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((v) => volumeInfo(core, v));
  return { status: STATUS.OK, volumes };
}

export function getVolume(core: MdsCore, req: Record<string, unknown>): VolumeResponse | MdsResponse {
  const v = typeof req.name === 'string' ? core.volumes.get(req.name) : undefined;
  return v ? { status: STATUS.OK, volume: volumeInfo(core, v) } : fail(STATUS.NOT_FOUND, `no volume ${String(req.name)}`);
}

/** The segment holding `offsetBytes`; allocated first when `allocate` and absent. */
export async function getSegment(core: MdsCore, req: Record<string, unknown>, now: number): Promise<GetSegmentResponse | MdsResponse> {
  const v = typeof req.name === 'string' ? core.volumes.get(req.name) : undefined;
  if (!v) return fail(STATUS.NOT_FOUND, `no volume ${String(req.name)}`);
  const index = segmentIndexOf(v, req.offsetBytes);
  if (index === 'OUT_OF_RANGE') return fail(STATUS.INVALID, 'offsetBytes outside the volume');
  const have = core.segments.get(v.id)?.get(index);
  if (have) return { status: STATUS.OK, segment: segmentInfo(v, have) };
  if (req.allocate !== true) return { status: STATUS.OK, segment: null };
  if (core.copysets.size === 0) await ensureCopysets(core, now);
  return core.mutate(() => allocateSegment(core, v.name, index));
}

function allocateSegment(core: MdsCore, name: string, index: number) {
  const v = core.volumes.get(name);
  if (!v) return { ops: [], apply: () => fail(STATUS.NOT_FOUND, `no volume ${name}`) };
  const have = core.segments.get(v.id)?.get(index);
  if (have) return { ops: [], apply: () => ({ status: STATUS.OK, segment: segmentInfo(v, have) }) };
  const counts = chunkCountsOf(core.copysets.keys(), [...core.segments.values()].flatMap((m) => [...m.values()]));
  const plan = planSegment(v, counts, core.counters.nextChunkId);
  if (!plan) return { ops: [], apply: () => fail(STATUS.NO_SPACE, 'no copysets: register chunkservers in 3 zones') };
  const seg = { volumeId: v.id, index, chunks: plan.chunks };
  const counters = { ...core.counters, nextChunkId: plan.nextChunkId };
  return {
    ops: [putJson(KEYS.segment(v.id, index), seg), core.countersOp(counters)],
    apply: () => {
      core.counters = counters;
      core.segmentsOf(v.id).set(index, seg);
      return { status: STATUS.OK, segment: segmentInfo(v, seg) };
    },
  };
}
