/**
 * The message-type table: every RPC of the chunk backend, its number and
 * how its bodies are encoded. One table, so a server can answer
 * UNSUPPORTED for unknown numbers and docs/chunk-backend.md can list them.
 *
 *   binary — chunk.ts codecs (hot path: data rides raw after a fixed part)
 *   raft   — chunk.ts RaftEnvelope, sent FLAG_ONEWAY (no response)
 *   json   — UTF-8 JSON object; responses carry `status` (status.ts)
 */
export type BodyCodec = 'binary' | 'raft' | 'json';

export const MSG = {
  // chunk I/O, client → copyset leader (chunk.ts ChunkRequest/ChunkResponse)
  WRITE_CHUNK: 1,
  READ_CHUNK: 2,
  DELETE_CHUNK: 3,
  GET_CHUNK_INFO: 4,
  // chunkserver ↔ chunkserver
  RAFT_MESSAGE: 20,
  /** JSON; reserved for the chunkserver author (snapshot file listing / fetch control). */
  CHUNKSERVER_CONTROL: 21,
  // chunkserver → MDS (mds-api.ts)
  REGISTER_CHUNKSERVER: 100,
  HEARTBEAT: 101,
  // client / admin → MDS (mds-api.ts)
  CREATE_VOLUME: 110,
  DELETE_VOLUME: 111,
  EXTEND_VOLUME: 112,
  LIST_VOLUMES: 113,
  GET_VOLUME: 114,
  GET_SEGMENT: 115,
  GET_COPYSETS: 120,
  CLUSTER_STATUS: 121,
  /** Any MDS answers, active or standby: who is active. */
  GET_MDS_LEADER: 130,
} as const;

export type MsgName = keyof typeof MSG;
export type MsgType = (typeof MSG)[MsgName];

export const MSG_CODEC: Readonly<Record<MsgName, BodyCodec>> = {
  WRITE_CHUNK: 'binary',
  READ_CHUNK: 'binary',
  DELETE_CHUNK: 'binary',
  GET_CHUNK_INFO: 'binary',
  RAFT_MESSAGE: 'raft',
  CHUNKSERVER_CONTROL: 'json',
  REGISTER_CHUNKSERVER: 'json',
  HEARTBEAT: 'json',
  CREATE_VOLUME: 'json',
  DELETE_VOLUME: 'json',
  EXTEND_VOLUME: 'json',
  LIST_VOLUMES: 'json',
  GET_VOLUME: 'json',
  GET_SEGMENT: 'json',
  GET_COPYSETS: 'json',
  CLUSTER_STATUS: 'json',
  GET_MDS_LEADER: 'json',
};

const NAMES = new Map<number, MsgName>(Object.entries(MSG).map(([k, v]) => [v, k as MsgName]));

export function msgName(type: number): MsgName | undefined {
  return NAMES.get(type);
}

export interface JsonViolation {
  readonly violation: 'BAD_JSON';
  readonly detail: string;
}

/** JSON bodies are objects (never arrays or scalars), so fields can be added later. */
export function encodeJsonBody(value: object): Buffer[] {
  return [Buffer.from(JSON.stringify(value), 'utf8')];
}

export function decodeJsonBody(body: Buffer): Record<string, unknown> | JsonViolation {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return { violation: 'BAD_JSON', detail: (e as Error).message.slice(0, 200) };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { violation: 'BAD_JSON', detail: 'not an object' };
  return v as Record<string, unknown>;
}

export function isJsonViolation(x: unknown): x is JsonViolation {
  return typeof x === 'object' && x !== null && (x as { violation?: unknown }).violation === 'BAD_JSON';
}
