/**
 * The workload table (issue #6): 4 KiB reads and writes at queue depth 1
 * (latency) and 32 (IOPS), 64 KiB and 1 MiB sequential reads and writes
 * (throughput) through `qemu-img bench`, and a 70/30 random mix through
 * fio's nbd engine (over iSCSI through qemu-nbd). Every row runs over each
 * protocol it lists.
 */
export type Protocol = 'iscsi' | 'nbd';
export type Kind = 'latency' | 'iops' | 'throughput';

export interface Workload {
  id: string;
  title: string;
  kind: Kind;
  tool: 'qemu-img' | 'fio';
  protocols: Protocol[];
  blockBytes: number;
  depth: number;
  /** qemu-img: sequential writes instead of reads. */
  write?: boolean;
  /** fio: percentage of reads in a random read/write mix. */
  readPercent?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const BOTH: Protocol[] = ['iscsi', 'nbd'];

export const WORKLOADS: Workload[] = [
  { id: 'read-4k-qd1', title: '4 KiB read QD1', kind: 'latency', tool: 'qemu-img', protocols: BOTH, blockBytes: 4 * KiB, depth: 1 },
  { id: 'write-4k-qd1', title: '4 KiB write QD1', kind: 'latency', tool: 'qemu-img', protocols: BOTH, blockBytes: 4 * KiB, depth: 1, write: true },
  { id: 'read-4k-qd32', title: '4 KiB read QD32', kind: 'iops', tool: 'qemu-img', protocols: BOTH, blockBytes: 4 * KiB, depth: 32 },
  { id: 'write-4k-qd32', title: '4 KiB write QD32', kind: 'iops', tool: 'qemu-img', protocols: BOTH, blockBytes: 4 * KiB, depth: 32, write: true },
  { id: 'read-64k-seq', title: '64 KiB seq read QD16', kind: 'throughput', tool: 'qemu-img', protocols: BOTH, blockBytes: 64 * KiB, depth: 16 },
  { id: 'write-64k-seq', title: '64 KiB seq write QD16', kind: 'throughput', tool: 'qemu-img', protocols: BOTH, blockBytes: 64 * KiB, depth: 16, write: true },
  { id: 'read-1m-seq', title: '1 MiB seq read QD8', kind: 'throughput', tool: 'qemu-img', protocols: BOTH, blockBytes: MiB, depth: 8 },
  { id: 'write-1m-seq', title: '1 MiB seq write QD8', kind: 'throughput', tool: 'qemu-img', protocols: BOTH, blockBytes: MiB, depth: 8, write: true },
  // Debian's fio has no libiscsi engine: over iSCSI it runs through a qemu-nbd bridge (clients.ts, fioOverIscsi).
  { id: 'randrw-4k-70-30', title: '4 KiB random 70/30 QD32', kind: 'iops', tool: 'fio', protocols: BOTH, blockBytes: 4 * KiB, depth: 32, readPercent: 70 },
];

/** The reference daemon each protocol is compared with. */
export const REFERENCE: Record<Protocol, 'tgtd' | 'nbdkit'> = { iscsi: 'tgtd', nbd: 'nbdkit' };
