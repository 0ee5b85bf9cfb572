/**
 * MDS client: talks to whichever MDS is active. It keeps one RpcClient per
 * MDS address; on NOT_LEADER it follows `leaderHint`, on connection errors
 * or timeouts it tries the next address, with a bounded number of attempts
 * and a short backoff. Used by chunkservers (register, heartbeat), the block
 * client (volumes, segments, copysets) and the `blockgate volume|cluster`
 * commands (the helpers at the bottom return plain data for the CLI).
 *
 * Errors: MdsError with the final `status` (NOT_FOUND, EXISTS, INVALID, ...)
 * or kind 'UNAVAILABLE' when no active MDS answered within the attempts.
 */
import type {
  ClusterStatusResponse,
  CreateVolumeRequest,
  ExtendVolumeRequest,
  GetCopysetsResponse,
  GetSegmentRequest,
  GetSegmentResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  ListVolumesResponse,
  MdsResponse,
  RegisterChunkserverRequest,
  RegisterChunkserverResponse,
  VolumeInfo,
  VolumeResponse,
} from '../proto/mds-api.js';
import { MSG } from '../proto/messages.js';
import { RpcClient, RpcError } from '../proto/rpc-client.js';
import { STATUS, statusName } from '../proto/status.js';

export class MdsError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'MdsError';
  }
  get statusName(): string {
    return statusName(this.status);
  }
}

export interface MdsClientOptions {
  callTimeoutMs?: number;
  /** Tries per call over all addresses (default 3 × addresses + 2). */
  maxAttempts?: number;
  retryDelayMs?: number;
}

export class MdsClient {
  private readonly clients = new Map<string, RpcClient>();
  private readonly addresses: string[];
  private current = 0;

  constructor(
    addresses: readonly string[],
    private readonly o: MdsClientOptions = {},
  ) {
    if (addresses.length === 0) throw new RangeError('MdsClient needs at least one MDS address');
    this.addresses = [...addresses];
  }

  /** One MDS call; resolves with an OK response, rejects with MdsError otherwise. */
  async call<T extends MdsResponse>(type: number, req: object): Promise<T> {
    const attempts = this.o.maxAttempts ?? this.addresses.length * 3 + 2;
    let last = 'no attempt';
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await delay(Math.min(1000, (this.o.retryDelayMs ?? 100) * i));
      const addr = this.addresses[this.current]!;
      try {
        const res = await this.client(addr).callJson<T>(type, req, this.o.callTimeoutMs ?? 5000);
        if (res.status === STATUS.OK) return res;
        if (res.status !== STATUS.NOT_LEADER) throw new MdsError(res.status, res.message ?? statusName(res.status));
        last = `${addr}: not the active MDS`;
        this.follow(res.leaderHint);
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
        last = e.message;
        this.current = (this.current + 1) % this.addresses.length;
      }
    }
    throw new MdsError(STATUS.NOT_LEADER, `no active MDS answered: ${last}`);
  }

  private follow(hint: string | undefined): void {
    if (hint) {
      if (!this.addresses.includes(hint)) this.addresses.push(hint);
      this.current = this.addresses.indexOf(hint);
    } else {
      this.current = (this.current + 1) % this.addresses.length;
    }
  }

  private client(addr: string): RpcClient {
    let c = this.clients.get(addr);
    if (!c) this.clients.set(addr, (c = new RpcClient(addr, { callTimeoutMs: this.o.callTimeoutMs ?? 5000, backoffMaxMs: 500 })));
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // ---- typed calls
  registerChunkserver(req: RegisterChunkserverRequest): Promise<RegisterChunkserverResponse> {
    return this.call(MSG.REGISTER_CHUNKSERVER, req);
  }
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.call(MSG.HEARTBEAT, req);
  }
  async createVolume(req: CreateVolumeRequest): Promise<VolumeInfo> {
    return (await this.call<VolumeResponse>(MSG.CREATE_VOLUME, req)).volume;
  }
  async deleteVolume(name: string): Promise<void> {
    await this.call(MSG.DELETE_VOLUME, { name });
  }
  async extendVolume(req: ExtendVolumeRequest): Promise<VolumeInfo> {
    return (await this.call<VolumeResponse>(MSG.EXTEND_VOLUME, req)).volume;
  }
  async listVolumes(): Promise<VolumeInfo[]> {
    return (await this.call<ListVolumesResponse>(MSG.LIST_VOLUMES, {})).volumes;
  }
  async getVolume(name: string): Promise<VolumeInfo> {
    return (await this.call<VolumeResponse>(MSG.GET_VOLUME, { name })).volume;
  }
  async getSegment(req: GetSegmentRequest): Promise<GetSegmentResponse['segment']> {
    return (await this.call<GetSegmentResponse>(MSG.GET_SEGMENT, req)).segment;
  }
  async getCopysets(copysetIds: number[]): Promise<GetCopysetsResponse['copysets']> {
    return (await this.call<GetCopysetsResponse>(MSG.GET_COPYSETS, { copysetIds })).copysets;
  }
  clusterStatus(): Promise<ClusterStatusResponse> {
    return this.call(MSG.CLUSTER_STATUS, {});
  }
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- CLI helpers: `blockgate volume <action>` / `blockgate cluster status`.

export type VolumeAction = 'create' | 'delete' | 'extend' | 'list' | 'info';

/** Run one volume action against the MDS endpoints; returns data for the CLI to print. */
export async function runVolumeAction(
  mds: readonly string[],
  action: VolumeAction,
  args: { name?: string; sizeBytes?: number },
): Promise<VolumeInfo | VolumeInfo[] | { deleted: string }> {
  const c = new MdsClient(mds);
  try {
    const name = args.name ?? '';
    switch (action) {
      case 'create':
        return await c.createVolume({ name, sizeBytes: args.sizeBytes ?? 0 });
      case 'delete':
        await c.deleteVolume(name);
        return { deleted: name };
      case 'extend':
        return await c.extendVolume({ name, sizeBytes: args.sizeBytes ?? 0 });
      case 'list':
        return await c.listVolumes();
      case 'info':
        return await c.getVolume(name);
    }
  } finally {
    c.close();
  }
}

export async function clusterStatus(mds: readonly string[]): Promise<ClusterStatusResponse> {
  const c = new MdsClient(mds);
  try {
    return await c.clusterStatus();
  } finally {
    c.close();
  }
}
