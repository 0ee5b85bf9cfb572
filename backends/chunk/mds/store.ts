/**
 * Durable key/value store behind the MDS, and the key layout.
 *
 * Keys (values are JSON of the types.ts records):
 *   /blockgate/meta/counters          Counters
 *   /blockgate/chunkservers/<id>      ChunkserverRecord
 *   /blockgate/copysets/<id>          CopysetRecord
 *   /blockgate/volumes/<name>         VolumeRecord
 *   /blockgate/segments/<vid>/<idx>   SegmentRecord
 *   /blockgate/mds/leader             election (etcd only, lease-bound)
 *
 * Contract: `commit` applies all its ops atomically or none, and is durable
 * when it resolves. It rejects with StoreFencedError when the store has a
 * fence (the active MDS's leader key) and the fence no longer holds: the
 * caller has lost leadership and must stop serving. Other rejections are
 * StoreError (store unreachable or failed); state is then unknown and the
 * MDS retries or steps down.
 */

export const KEY_PREFIX = '/blockgate/';
export const KEYS = {
  counters: '/blockgate/meta/counters',
  chunkserver: (id: number) => `/blockgate/chunkservers/${id}`,
  copyset: (id: number) => `/blockgate/copysets/${id}`,
  volume: (name: string) => `/blockgate/volumes/${name}`,
  segment: (volumeId: number, index: number) => `/blockgate/segments/${volumeId}/${index}`,
  segmentsOf: (volumeId: number) => `/blockgate/segments/${volumeId}/`,
  leader: '/blockgate/mds/leader',
} as const;

export type KvOp = { op: 'put'; key: string; value: string } | { op: 'delete'; key: string } | { op: 'deletePrefix'; prefix: string };

export interface KvStore {
  get(key: string): Promise<string | undefined>;
  /** Every key starting with `prefix`, sorted by key. */
  list(prefix: string): Promise<Array<[string, string]>>;
  commit(ops: readonly KvOp[]): Promise<void>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export class StoreFencedError extends StoreError {
  constructor(message: string) {
    super(message);
    this.name = 'StoreFencedError';
  }
}

export function putJson(key: string, value: unknown): KvOp {
  return { op: 'put', key, value: JSON.stringify(value) };
}
