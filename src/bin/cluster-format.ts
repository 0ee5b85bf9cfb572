/**
 * Text for `blockgate cluster status` and `blockgate volume ...`: pure
 * functions from the MDS's answers to lines (the JSON forms print the
 * same data with --json).
 */
import type { ClusterStatusResponse, CopysetInfo, VolumeInfo } from '../../backends/chunk/proto/mds-api.js';

export type CopysetState = 'healthy' | 'degraded' | 'recovering' | 'leaderless';

export interface CopysetRow {
  copysetId: number;
  leaderId: number;
  members: number[];
  state: CopysetState;
}

export interface MdsProbe {
  address: string;
  /** 'active' | 'standby' | 'unreachable' */
  role: string;
}

export interface ClusterReport {
  mds: MdsProbe[];
  status: ClusterStatusResponse;
  copysets: CopysetRow[];
}

/**
 * A copyset is recovering while a repair has a fourth member in it,
 * degraded when a member is down, leaderless when no up member leads it.
 */
export function copysetRows(copysets: readonly CopysetInfo[], up: ReadonlySet<number>, replicas = 3): CopysetRow[] {
  return [...copysets]
    .sort((a, b) => a.copysetId - b.copysetId)
    .map((cs) => {
      const members = cs.members.map((m) => m.id);
      const state: CopysetState =
        cs.leaderId === 0 || !up.has(cs.leaderId) ? 'leaderless'
        : members.length > replicas ? 'recovering'
        : members.length < replicas || !members.every((m) => up.has(m)) ? 'degraded'
        : 'healthy';
      return { copysetId: cs.copysetId, leaderId: cs.leaderId, members, state };
    });
}

const pad = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
};

export function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)}GiB` : `${(bytes / 2 ** 20).toFixed(1)}MiB`;
}

export function formatClusterReport(r: ClusterReport): string {
  const s = r.status;
  const up = s.chunkservers.filter((c) => c.state === 'up').length;
  const count = (st: CopysetState): number => r.copysets.filter((c) => c.state === st).length;
  const lines = [
    ...r.mds.map((m) => `mds ${m.address}: ${m.role}`),
    '',
    `chunkservers: ${up} up, ${s.chunkservers.length - up} down`,
    ...pad([
      ['  ID', 'ZONE', 'ADDRESS', 'STATE', 'COPYSETS', 'LEADERS', 'USED', 'CAPACITY'],
      ...s.chunkservers.map((c) => [`  ${c.id}`, c.zone, c.address, c.state, String(c.copysets), String(c.leaders), gib(c.usedBytes), gib(c.capacityBytes)]),
    ]),
    '',
    `copysets: ${s.copysets.total} total, ${count('healthy')} healthy, ${count('degraded')} degraded, ${count('recovering')} recovering, ${count('leaderless')} leaderless`,
    ...pad([
      ['  ID', 'LEADER', 'MEMBERS', 'STATE'],
      ...r.copysets.map((c) => [`  ${c.copysetId}`, c.leaderId === 0 ? '-' : String(c.leaderId), c.members.join(','), c.state]),
    ]),
    '',
    `volumes: ${s.volumes}   pending scheduler ops: ${s.pendingOps}`,
  ];
  return lines.join('\n') + '\n';
}

export function formatVolumes(vs: readonly VolumeInfo[]): string {
  if (vs.length === 0) return 'no volumes\n';
  return pad([
    ['NAME', 'SIZE', 'ALLOCATED', 'SEGMENT', 'CHUNK', 'SEQ', 'CREATED'],
    ...vs.map((v) => [v.name, gib(v.sizeBytes), gib(v.allocatedSegments * v.segmentSizeBytes), gib(v.segmentSizeBytes), gib(v.chunkSizeBytes), String(v.seq), v.createdAt]),
  ]).join('\n') + '\n';
}
