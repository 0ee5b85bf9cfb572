/**
 * Large reads leave through sendfile(2) when their range is cached and
 * allocated (backends/file/sendfile.ts); when the socket buffer fills part
 * way, the rest of that reply is read the ordinary way and later replies
 * wait behind it. A client that stops reading while 1 MiB reads and small
 * reads pile up forces exactly that; every reply must still carry its own
 * cookie's data, whole and unmixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../targets/nbd/constants.js';
import { startStandalone, type Standalone } from '../helpers/nbd-standalone.js';
import { RawConn, infoData, option, request } from '../helpers/nbd-raw-client.js';

const MiB = 1 << 20;
let s: Standalone;

beforeAll(async () => {
  s = await startStandalone({ exports: [{ name: 'file', sizeBytes: 32 * MiB, backend: 'file' }] });
});
afterAll(async () => s.close());

function pattern(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 4) b.writeUInt32LE(((offset + i) * 2654435761) >>> 0, i);
  return b;
}

describe('NBD large reads through sendfile', () => {
  it('keeps every reply whole and in step while the client stops reading', async () => {
    const c = await RawConn.connect(s.port);
    await c.handshake();
    c.write(option(C.NBD_OPT_GO, infoData('file')));
    while ((await c.optReply()).type !== C.NBD_REP_ACK);
    // Fill the export (buffered writes: cached and allocated, so sendfile applies).
    for (let i = 0; i < 32; i++) c.write(request(false, C.NBD_CMD_WRITE, 0, BigInt(1000 + i), BigInt(i * MiB), BigInt(MiB), pattern(i * MiB, MiB)));
    for (let i = 0; i < 32; i++) expect((await c.reply()).error).toBe(0);

    const wants = new Map<bigint, { offset: number; length: number }>();
    c.sock.pause(); // the server's writes back up into a full socket buffer
    for (let i = 0; i < 48; i++) {
      const big = i % 3 !== 2;
      const offset = big ? ((i * 7) % 31) * MiB + 4096 : ((i * 13) % 8000) * 4096;
      const length = big ? MiB : 4096;
      wants.set(BigInt(i), { offset, length });
      c.write(request(false, C.NBD_CMD_READ, 0, BigInt(i), BigInt(offset), BigInt(length)));
    }
    await new Promise((r) => setTimeout(r, 300));
    c.sock.resume();
    while (wants.size > 0) {
      const h = await c.read(16, 20_000);
      expect(h.readUInt32BE(0)).toBe(0x67446698);
      expect(h.readUInt32BE(4)).toBe(0);
      const cookie = h.readBigUInt64BE(8);
      const want = wants.get(cookie);
      expect(want).toBeDefined();
      const data = await c.read(want!.length, 20_000);
      expect(data.equals(pattern(want!.offset, want!.length))).toBe(true);
      wants.delete(cookie);
    }
    c.sock.destroy();
  });
});
