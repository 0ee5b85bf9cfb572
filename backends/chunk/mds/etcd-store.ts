/**
 * EtcdStore: MDS state in etcd (Curve keeps its MDS state there too).
 * Every commit is one txn; when a fence is set (the active MDS's leader key
 * and value, election.ts) the txn only applies if the key still holds that
 * value, so an MDS that lost its lease cannot write (StoreFencedError).
 * etcd limits a txn to 128 ops by default (--max-txn-ops): callers keep
 * commits small (the MDS batches copyset creation).
 */
import { EtcdClient, etcdOps, type EtcdRequestOp } from './etcd-client.js';
import { StoreFencedError, type KvOp, type KvStore } from './store.js';

export const ETCD_MAX_TXN_OPS = 128;

export class EtcdStore implements KvStore {
  private fence: { key: string; value: string } | undefined;

  constructor(readonly client: EtcdClient) {}

  /** Guard every later commit with "key == value"; undefined removes the guard. */
  setFence(fence: { key: string; value: string } | undefined): void {
    this.fence = fence;
  }

  async get(key: string): Promise<string | undefined> {
    const kvs = await this.client.range(key);
    return kvs[0]?.value;
  }

  async list(prefix: string): Promise<Array<[string, string]>> {
    const kvs = await this.client.range(prefix, { prefix: true });
    return kvs.map((kv) => [kv.key, kv.value]);
  }

  async commit(ops: readonly KvOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (ops.length > ETCD_MAX_TXN_OPS) throw new RangeError(`commit of ${ops.length} ops > ${ETCD_MAX_TXN_OPS}`);
    const compare = this.fence ? [etcdOps.valueIs(this.fence.key, this.fence.value)] : [];
    const ok = await this.client.txn(compare, ops.map(toEtcd));
    if (!ok) throw new StoreFencedError(`fence ${this.fence?.key} no longer held`);
  }

  async close(): Promise<void> {
    // fetch keeps no connection state that needs closing
  }
}

function toEtcd(o: KvOp): EtcdRequestOp {
  if (o.op === 'put') return etcdOps.put(o.key, o.value);
  if (o.op === 'delete') return etcdOps.del(o.key);
  return etcdOps.delPrefix(o.prefix);
}
