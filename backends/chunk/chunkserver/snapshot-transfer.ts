/**
 * Snapshot file transfer over MSG.CHUNKSERVER_CONTROL.
 *
 * A copyset snapshot lists chunk files, not their bytes (codec.ts
 * SnapshotListing). A peer installing one fetches each listed file, in
 * pieces of `pieceBytes` (bounded memory on both sides), from a member
 * whose applied index is ≥ the snapshot index, then fdatasyncs them before
 * the snapshot is recorded and acknowledged.
 *
 * Why files newer than the snapshot are fine: every command is a
 * last-writer-wins overwrite of bytes (write) or a reset of a whole chunk
 * (delete), so each fetched byte holds its value as of some applied index
 * t ≥ snapshot index (an absent file = zeroes), and re-applying the log
 * from the snapshot index onwards (which Raft does after the install)
 * yields exactly the source's state once it passes every such t.
 *
 * Wire (request JSON; response = u32 headerLength | JSON header | raw bytes):
 *   { op: "readChunkFile", copysetId, chunkId, offset, length, minApplied }
 *   → { status, exists, zero, applied }, then `length` bytes unless !exists or zero
 * `zero: true` means the piece is all zeroes and no bytes follow (pool
 * files are zeroed, so the receiver skips the write).
 */
import type { Logger } from 'pino';
import { decodeJsonBody, encodeJsonBody, isJsonViolation, MSG } from '../proto/messages.js';
import type { RpcClient } from '../proto/rpc-client.js';
import { RpcStatusError, type RpcServer } from '../proto/rpc-server.js';
import { STATUS } from '../proto/status.js';
import type { ChunkStore } from './chunk-store.js';
import type { SnapshotListing } from './codec.js';

export const DEFAULT_PIECE_BYTES = 1 << 20;

export interface ReadFileRequest {
  op: 'readChunkFile';
  copysetId: number;
  chunkId: number;
  offset: number;
  length: number;
  minApplied: number;
}

interface ReadFileHeader {
  status: number;
  exists: boolean;
  zero: boolean;
  applied: number;
  message?: string;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function frame(h: ReadFileHeader, data?: Buffer): Buffer[] {
  const json = encodeJsonBody(h)[0]!;
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(json.length, 0);
  return data ? [head, json, data] : [head, json];
}

/** Serve CHUNKSERVER_CONTROL on `rpc`; `appliedOf` = applied index of a hosted copyset (undefined if not hosted). */
export function serveSnapshotFiles(rpc: RpcServer, store: ChunkStore, appliedOf: (copysetId: number) => number | undefined, maxPiece = 4 * DEFAULT_PIECE_BYTES): void {
  rpc.handle(MSG.CHUNKSERVER_CONTROL, async (body) => {
    const req = decodeJsonBody(body);
    if (isJsonViolation(req)) throw new RpcStatusError(STATUS.INVALID, req.detail);
    const { op, copysetId, chunkId, offset, length, minApplied } = req;
    if (op !== 'readChunkFile' || !num(copysetId) || !num(chunkId) || !num(offset) || !num(length) || !num(minApplied) || length > maxPiece) {
      throw new RpcStatusError(STATUS.INVALID, 'bad readChunkFile request');
    }
    const applied = appliedOf(copysetId);
    if (applied === undefined) return frame({ status: STATUS.NO_COPYSET, exists: false, zero: false, applied: 0 });
    if (applied < minApplied) return frame({ status: STATUS.OVERLOAD, exists: false, zero: false, applied, message: 'behind the snapshot' });
    const data = await store.readRaw(copysetId, chunkId, offset, length);
    if (!data) return frame({ status: STATUS.OK, exists: false, zero: false, applied });
    const zero = data.every((b) => b === 0);
    return frame({ status: STATUS.OK, exists: true, zero, applied }, zero ? undefined : data);
  });
}

function decodeReply(body: Buffer): { h: ReadFileHeader; data: Buffer } {
  const n = body.readUInt32BE(0);
  const h = decodeJsonBody(body.subarray(4, 4 + n));
  if (isJsonViolation(h)) throw new Error(`bad readChunkFile reply: ${h.detail}`);
  return { h: h as unknown as ReadFileHeader, data: body.subarray(4 + n) };
}

export interface FetchOptions {
  readonly copysetId: number;
  readonly snapshotIndex: number;
  readonly listing: SnapshotListing;
  /** Clients of candidate sources, best first (the leader, then other members). */
  readonly sources: () => RpcClient[];
  readonly store: ChunkStore;
  readonly pieceBytes?: number;
  /** Stop retrying (the copyset is closing). */
  readonly aborted: () => boolean;
  readonly log?: Logger;
}

/**
 * Replace the copyset's chunk files with those of the listing, fetched from
 * the sources; retries across sources with a backoff until done or aborted.
 * Resolves true when the files are durable, false if aborted.
 */
export async function fetchSnapshotFiles(o: FetchOptions): Promise<boolean> {
  for (let attempt = 0; !o.aborted(); attempt++) {
    for (const src of o.sources()) {
      if (o.aborted()) return false;
      try {
        await fetchFrom(src, o);
        await o.store.syncCopyset(o.copysetId);
        return true;
      } catch (e) {
        o.log?.warn({ copyset: o.copysetId, peer: src.address, err: (e as Error).message }, 'snapshot fetch failed');
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
  }
  return false;
}

async function fetchFrom(src: RpcClient, o: FetchOptions): Promise<void> {
  const piece = o.pieceBytes ?? DEFAULT_PIECE_BYTES;
  // Start from nothing: a fresh pool file is all zeroes, so zero pieces need no write.
  for (const id of await o.store.list(o.copysetId)) await o.store.delete(o.copysetId, id);
  for (const c of o.listing.chunks) {
    for (let off = 0; off < o.store.fileBytes; off += piece) {
      const req: ReadFileRequest = { op: 'readChunkFile', copysetId: o.copysetId, chunkId: c.chunkId, offset: off, length: Math.min(piece, o.store.fileBytes - off), minApplied: o.snapshotIndex };
      const { h, data } = decodeReply(await src.call(MSG.CHUNKSERVER_CONTROL, encodeJsonBody(req), 30_000));
      if (h.status !== STATUS.OK) throw new Error(`source answered status ${h.status} ${h.message ?? ''}`);
      if (!h.exists) {
        await o.store.delete(o.copysetId, c.chunkId); // deleted after the snapshot: the log replays it
        break;
      }
      if (off === 0 || !h.zero) await o.store.writeRaw(o.copysetId, c.chunkId, off, h.zero ? Buffer.alloc(req.length) : data);
    }
  }
}
