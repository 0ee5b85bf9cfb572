/**
 * LUN spec → client options: the volume name from the backing store
 * (`vol1`, `/vol1`, or tgt Curve driver's `cbd:pool//vol1_user_`) and the
 * `--bsopts` string. Pure; errors are returned as text for the caller to
 * turn into BlockError EINVAL.
 *
 * bsopts: `key=value` items separated by `;` (tgt style) or `,`; a bare item
 * after `mds=` is another MDS address, so both `mds=a:1,b:2;timeout=30` and
 * `mds=a:1;mds=b:2` work.
 *
 * | key | value | default |
 * | --- | --- | --- |
 * | mds | MDS "host:port", repeatable / comma-separated | env BLOCKGATE_MDS |
 * | timeout | seconds a request keeps retrying before failing ETIMEDOUT | 60 |
 * | rpc_timeout | ms one chunk RPC may take before the client tries another member | 3000 |
 * | senders | TCP connections per chunkserver (requests are spread over them) | 1 |
 */

export interface ChunkBsopts {
  mds: string[];
  deadlineMs?: number;
  rpcTimeoutMs?: number;
  senders?: number;
}

const NUMERIC: Readonly<Record<string, { key: 'deadlineMs' | 'rpcTimeoutMs' | 'senders'; scale: number; min: number; max: number }>> = {
  timeout: { key: 'deadlineMs', scale: 1000, min: 0.1, max: 24 * 3600 },
  rpc_timeout: { key: 'rpcTimeoutMs', scale: 1, min: 10, max: 600_000 },
  senders: { key: 'senders', scale: 1, min: 1, max: 16 },
};

export function parseChunkBsopts(text: string | undefined, envMds: string | undefined): ChunkBsopts | string {
  const out: ChunkBsopts = { mds: [] };
  let last = '';
  for (const item of (text ?? '').split(/[;,]/).map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? last : item.slice(0, eq).trim();
    const value = eq < 0 ? item : item.slice(eq + 1).trim();
    if (key === 'mds') out.mds.push(value);
    else if (NUMERIC[key] && eq >= 0) {
      const n = Number(value);
      const spec = NUMERIC[key]!;
      if (!Number.isFinite(n) || n < spec.min || n > spec.max) return `bsopts ${key}: ${JSON.stringify(value)} out of range`;
      out[spec.key] = spec.key === 'senders' ? Math.floor(n) : Math.round(n * spec.scale);
    } else return eq < 0 ? `bsopts: ${JSON.stringify(item)} is not key=value` : `bsopts: unknown key ${JSON.stringify(key)}`;
    last = key;
  }
  if (out.mds.length === 0 && envMds) out.mds.push(...envMds.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (out.mds.length === 0) return 'no MDS address: give bsopts mds=host:port or set BLOCKGATE_MDS';
  const bad = out.mds.find((a) => !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(a));
  if (bad !== undefined) return `bsopts mds: bad address ${JSON.stringify(bad)}`;
  return out;
}

/**
 * The volume name in a backing store: `vol1`, `/vol1`, or
 * `cbd:<pool>//<file>_<user>_` (curve-tgt's README form; the file name is
 * the volume, the user suffix is dropped).
 */
export function volumeNameOf(backingStore: string): string {
  let s = backingStore.trim();
  const cbd = /^cbd:[^/]*\/(.*)$/.exec(s);
  if (cbd) {
    s = cbd[1]!;
    const user = /^(.+)_[^_/]+_$/.exec(s);
    if (user) s = user[1]!;
  }
  return s.replace(/^\/+/, '');
}
