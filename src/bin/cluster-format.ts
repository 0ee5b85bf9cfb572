/**
 * Text for `blockgate cluster status` and `blockgate volume ...`: pure
 * functions from the MDS's answers to lines (the JSON forms print the
 * same data with --json).
 */
import type { ClusterStatusResponse, CopysetState, CopysetStatus, VolumeInfo } from '../../backends/chunk/proto/mds-api.js';

export interface MdsProbe {
  address: string;
  /** 'active' | 'standby' | 'unreachable' */
  role: string;
}

export interface ClusterReport {
  mds: MdsProbe[];
  /** CLUSTER_STATUS without its copyset list, which is `copysets`. */
  status: Omit<ClusterStatusResponse, 'copysetList'>;
  /** Per copyset, as the MDS classified it (ClusterStatusResponse.copysetList). */
  copysets: CopysetStatus[];
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
      ['  ID', 'LEADER', 'TERM', 'MEMBERS', 'STATE'],
      ...r.copysets.map((c) => [`  ${c.copysetId}`, c.leaderId === 0 ? '-' : String(c.leaderId), String(c.term), c.members.join(','), c.state]),
    ]),
    '',
    `volumes: ${s.volumes}   pending scheduler ops: ${s.pendingOps}`,
  ];
  return lines.join('\n') + '\n';
}

export function formatVolumes(vs: readonly VolumeInfo[]): string {
  if (vs.length === 0) return 'no volumes\n';
  return pad([
    ['NAME', 'SIZE', 'ALLOCATED', 'SEGMENT', 'CHUNK', 'SEQ', 'CREATED', 'UUID'],
    ...vs.map((v) => [v.name, gib(v.sizeBytes), gib(v.allocatedSegments * v.segmentSizeBytes), gib(v.segmentSizeBytes), gib(v.chunkSizeBytes), String(v.seq), v.createdAt, v.uuid ?? '-']),
  ]).join('\n') + '\n';
}
