/**
 * Status codes shared by every RPC of the chunk backend: chunk I/O answers
 * (binary responses carry the number) and MDS answers (JSON `status`).
 * Command outcomes, never thrown (style.md "Errors").
 */
export const STATUS = {
  OK: 0,
  /** Not the leader of the copyset (chunkserver) or not the active MDS; see `leaderHint`. */
  NOT_LEADER: 1,
  /** The chunkserver does not host the copyset. */
  NO_COPYSET: 2,
  /** The chunk was never written: a read treats it as zeroes. */
  CHUNK_NOT_EXIST: 3,
  /** Too many requests queued; retry after a backoff. */
  OVERLOAD: 4,
  IO_ERROR: 5,
  /** Malformed or out-of-range request (bad offset, length, sequence). */
  INVALID: 6,
  /** MDS: the named volume / chunkserver / copyset does not exist. */
  NOT_FOUND: 7,
  /** MDS: a volume with that name exists. */
  EXISTS: 8,
  /** MDS: no copysets to place chunks on, or no chunkserver to repair with. */
  NO_SPACE: 9,
  /** No handler for the message type. */
  UNSUPPORTED: 10,
  /** A handler failed unexpectedly (a bug): logged by the server. */
  INTERNAL: 11,
} as const;

export type StatusName = keyof typeof STATUS;
export type StatusCode = (typeof STATUS)[StatusName];

const NAMES = new Map<number, StatusName>(Object.entries(STATUS).map(([k, v]) => [v, k as StatusName]));

export function statusName(code: number): StatusName | `UNKNOWN_${number}` {
  return NAMES.get(code) ?? `UNKNOWN_${code}`;
}

export function isStatusCode(code: unknown): code is StatusCode {
  return typeof code === 'number' && NAMES.has(code);
}
