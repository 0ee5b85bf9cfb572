/**
 * Minimal etcd v3 client over the JSON/HTTP gateway (grpc-gateway), with
 * Node's global fetch: no npm dependency. Keys and values travel base64;
 * int64 fields (revisions, lease ids) travel as decimal strings and stay
 * strings here (lease ids exceed 2^53).
 *
 * Gateway prefix: Debian's etcd-server 3.4.23 serves both `/v3/` and the
 * deprecated `/v3beta/`; 3.5 drops `/v3beta/`, so `/v3/` is used.
 * `/v3/lease/keepalive` is a streaming RPC: one request body yields one
 * `{ result: { ID, TTL } }` line, and `TTL` is absent once the lease expired.
 *
 * Errors: every failure is a StoreError (unreachable endpoint, timeout,
 * gRPC error reply). Unreachable endpoints rotate to the next one.
 */
import { StoreError } from './store.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

export interface EtcdKv {
  key: string;
  value: string;
  createRevision: string;
  modRevision: string;
  lease: string;
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

export type EtcdCompare = Record<string, unknown>;
export type EtcdRequestOp = Record<string, unknown>;

/** The first key after every key starting with `prefix` (etcd range_end for a prefix). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i]!++;
      return out.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

export class EtcdClient {
  private current = 0;

  constructor(
    readonly endpoints: readonly string[],
    private readonly timeoutMs = 3000,
  ) {
    if (endpoints.length === 0) throw new RangeError('EtcdClient needs at least one endpoint');
  }

  /** POST `/v3/<path>`; tries each endpoint once, starting with the last good one. */
  async post<T = Record<string, unknown>>(path: string, body: object): Promise<T> {
    let last: unknown;
    for (let n = 0; n < this.endpoints.length; n++) {
      const ep = this.endpoints[(this.current + n) % this.endpoints.length]!.replace(/\/+$/, '');
      let res: Response;
      try {
        res = await fetch(`${ep}/v3/${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (e) {
        last = e;
        continue;
      }
      this.current = (this.current + n) % this.endpoints.length;
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok || json.error !== undefined) throw new StoreError(`etcd ${path}: ${String(json.message ?? json.error ?? res.status)}`);
      return json as T;
    }
    throw new StoreError(`etcd ${path}: no endpoint reachable (${(last as Error)?.message ?? 'unknown'})`);
  }

  async range(key: string, opts: { prefix?: boolean } = {}): Promise<EtcdKv[]> {
    const body: Record<string, unknown> = { key: b64(key) };
    if (opts.prefix) body.range_end = prefixEnd(key);
    const res = await this.post<{ kvs?: RawKv[] }>('kv/range', body);
    return (res.kvs ?? []).map(decodeKv);
  }

  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.post('kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
  }

  async deleteRange(key: string, opts: { prefix?: boolean } = {}): Promise<void> {
    await this.post('kv/deleterange', { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) });
  }

  /** Returns whether the compares held (and `success` ran). */
  async txn(compare: EtcdCompare[], success: EtcdRequestOp[], failure: EtcdRequestOp[] = []): Promise<boolean> {
    const res = await this.post<{ succeeded?: boolean }>('kv/txn', { compare, success, failure });
    return res.succeeded === true;
  }

  async leaseGrant(ttlSeconds: number): Promise<string> {
    const res = await this.post<{ ID?: string }>('lease/grant', { TTL: ttlSeconds });
    if (!res.ID) throw new StoreError('etcd lease/grant: no ID');
    return res.ID;
  }

  /** Remaining TTL in seconds after the refresh; 0 when the lease is gone. */
  async leaseKeepAlive(id: string): Promise<number> {
    const res = await this.post<{ result?: { TTL?: string } }>('lease/keepalive', { ID: id });
    return Number(res.result?.TTL ?? 0);
  }

  /** Best effort: a lease already gone is not an error. */
  async leaseRevoke(id: string): Promise<void> {
    try {
      await this.post('lease/revoke', { ID: id });
    } catch (e) {
      if (!/not found/.test((e as Error).message)) throw e;
    }
  }
}

function decodeKv(kv: RawKv): EtcdKv {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: kv.create_revision ?? '0',
    modRevision: kv.mod_revision ?? '0',
    lease: kv.lease ?? '0',
  };
}

export const etcdOps = {
  put: (key: string, value: string, lease?: string): EtcdRequestOp => ({
    request_put: { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) },
  }),
  del: (key: string): EtcdRequestOp => ({ request_delete_range: { key: b64(key) } }),
  delPrefix: (prefix: string): EtcdRequestOp => ({ request_delete_range: { key: b64(prefix), range_end: prefixEnd(prefix) } }),
  range: (key: string): EtcdRequestOp => ({ request_range: { key: b64(key) } }),
  /** Compare: `key` does not exist. */
  absent: (key: string): EtcdCompare => ({ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }),
  /** Compare: `key` holds exactly `value`. */
  valueIs: (key: string, value: string): EtcdCompare => ({ key: b64(key), target: 'VALUE', result: 'EQUAL', value: b64(value) }),
};
