/**
 * NBD on a target loop reads into buffers of its own choosing (SocketReceiver):
 * small requests are framed straight from one reused receive buffer, large
 * write payloads are read into their own buffer. Requests arrive here cut
 * at awkward places — inside headers, inside payloads, a payload glued to
 * the next header — and every byte must land where the request said.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../targets/nbd/constants.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { RawConn, infoData, option, request } from '../helpers/nbd-raw-client.js';

let d: DaemonHandle;
const KiB = 1024;
const MiB = 1 << 20;

beforeAll(async () => {
  d = await startDaemon({ iscsi: false });
}, 30_000);
afterAll(async () => {
  await d.stop();
});

async function open(): Promise<RawConn> {
  const c = await RawConn.connect(d.nbdPort!);
  await c.handshake();
  c.write(option(C.NBD_OPT_GO, infoData('default')));
  for (;;) {
    const r = await c.optReply();
    if (r.type === C.NBD_REP_ACK) return c;
    expect(r.type).toBe(C.NBD_REP_INFO);
  }
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ seed) >>> 0, i);
  return b;
}

/** Write `bytes` in pieces of the given sizes (cycled), yielding to the event loop between pieces so they leave as separate segments. */
async function sendInPieces(c: RawConn, bytes: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, bytes.length - at);
    c.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function readBack(c: RawConn, cookie: bigint, offset: number, len: number): Promise<Buffer> {
  c.write(request(false, C.NBD_CMD_READ, 0, cookie, BigInt(offset), BigInt(len)));
  const r = await c.reply(len);
  expect(r).toMatchObject({ error: 0, cookie });
  return r.payload;
}

describe('NBD reads into its own buffers on the target loop', () => {
  it('a 1 MiB write cut into odd pieces, glued to the small write after it, lands whole', async () => {
    const c = await open();
    const big = pattern(MiB, 1);
    const small = pattern(4 * KiB, 2);
    const stream = Buffer.concat([
      request(false, C.NBD_CMD_WRITE, 0, 1n, BigInt(8 * MiB), BigInt(MiB), big),
      request(false, C.NBD_CMD_WRITE, 0, 2n, BigInt(8 * MiB + MiB), BigInt(small.length), small),
    ]);
    // 7 bytes: the first header split; 70001: payload reads that end off any boundary; the last piece holds the payload's tail and the next request.
    await sendInPieces(c, stream, [7, 21, 70_001, 3, 65_536, 130_000]);
    const replies = [await c.reply(), await c.reply()];
    expect(replies.map((r) => [r.cookie, r.error]).sort()).toEqual([[1n, 0], [2n, 0]]);
    expect((await readBack(c, 3n, 8 * MiB, MiB)).equals(big)).toBe(true);
    expect((await readBack(c, 4n, 8 * MiB + MiB, small.length)).equals(small)).toBe(true);
    c.sock.destroy();
  });

  it('64 pipelined 4 KiB writes sent in 1000-byte pieces: payloads that straddle reads are kept, not overwritten by the next read', async () => {
    const c = await open();
    const parts: Buffer[] = [];
    const datas: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      const data = pattern(4 * KiB, 100 + i);
      datas.push(data);
      // Every other write goes backwards, so no two neighbours are adjacent on disk.
      const offset = 32 * MiB + (i % 2 ? 64 - i : i) * 8 * KiB;
      parts.push(request(false, C.NBD_CMD_WRITE, 0, BigInt(100 + i), BigInt(offset), BigInt(data.length), data));
    }
    await sendInPieces(c, Buffer.concat(parts), [1000]);
    const cookies = new Set<bigint>();
    for (let i = 0; i < 64; i++) {
      const r = await c.reply();
      expect(r.error).toBe(0);
      cookies.add(r.cookie);
    }
    expect(cookies.size).toBe(64);
    for (let i = 0; i < 64; i++) {
      const offset = 32 * MiB + (i % 2 ? 64 - i : i) * 8 * KiB;
      expect((await readBack(c, BigInt(1000 + i), offset, 4 * KiB)).equals(datas[i]!)).toBe(true);
    }
    c.sock.destroy();
  });

  it('FUA writes (async path) keep their bytes after the receive buffer is read into again', async () => {
    const c = await open();
    // FUA never takes the synchronous path, and an O_DSYNC write takes far
    // longer than the next socket read, and 32 of them queue for the threadpool:
    // each payload outlives the read it arrived in. 16 KiB stays under the
    // size read into a buffer of its own.
    const datas = Array.from({ length: 32 }, (_, i) => pattern(16 * KiB, 300 + i));
    const stream = Buffer.concat(datas.map((data, i) => request(false, C.NBD_CMD_WRITE, C.NBD_CMD_FLAG_FUA, BigInt(1 + i), BigInt(48 * MiB + i * 64 * KiB), BigInt(data.length), data)));
    await sendInPieces(c, stream, [60_000, 16_412 * 2]);
    for (let i = 0; i < datas.length; i++) expect((await c.reply()).error).toBe(0);
    for (let i = 0; i < datas.length; i++) {
      expect((await readBack(c, BigInt(100 + i), 48 * MiB + i * 64 * KiB, 16 * KiB)).equals(datas[i]!)).toBe(true);
    }
    c.sock.destroy();
  });
});
