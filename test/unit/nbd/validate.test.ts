import { describe, expect, it } from 'vitest';
import * as C from '../../../targets/nbd/constants.js';
import { blockSizes, transmissionFlags, type NbdExportEntry } from '../../../targets/nbd/export.js';
import { nbdErrno, validateRequest, type TransmissionContext } from '../../../targets/nbd/validate.js';
import type { RequestHeader } from '../../../targets/nbd/wire.js';

const RW =
  C.NBD_FLAG_HAS_FLAGS |
  C.NBD_FLAG_SEND_FLUSH |
  C.NBD_FLAG_SEND_FUA |
  C.NBD_FLAG_SEND_TRIM |
  C.NBD_FLAG_SEND_WRITE_ZEROES |
  C.NBD_FLAG_SEND_FAST_ZERO |
  C.NBD_FLAG_SEND_DF;

const ctx = (over: Partial<TransmissionContext> = {}): TransmissionContext => ({
  transmissionFlags: RW,
  sizeBytes: 1 << 20,
  minBlockBytes: 512,
  maxPayloadBytes: 65536,
  replyMode: 'structured',
  metaContextIds: [1],
  ...over,
});

const hdr = (type: number, offset: number, length: number, flags = 0): RequestHeader => ({
  type,
  flags,
  cookie: 1n,
  offset: BigInt(offset),
  length: BigInt(length),
});

function errno(h: RequestHeader, c = ctx(), payload?: Buffer, discarded = false): number | 'ok' {
  const v = validateRequest(h, payload, discarded, c);
  return v.ok ? 'ok' : v.errno;
}

describe('NBD request validation', () => {
  it('accepts well-formed requests', () => {
    expect(errno(hdr(C.NBD_CMD_READ, 0, 4096))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_WRITE, 512, 512, C.NBD_CMD_FLAG_FUA), ctx(), Buffer.alloc(512))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_WRITE_ZEROES, 0, 1 << 20, C.NBD_CMD_FLAG_NO_HOLE | C.NBD_CMD_FLAG_FAST_ZERO))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 100, C.NBD_CMD_FLAG_REQ_ONE))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_FLUSH, 0, 0))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_READ, 0, 0))).toBe('ok');
    expect(errno(hdr(C.NBD_CMD_CACHE, 0, 1 << 20))).toBe('ok');
  });

  it('range: EINVAL for reads/trims beyond the end, ENOSPC for writes', () => {
    expect(errno(hdr(C.NBD_CMD_READ, (1 << 20) - 512, 1024))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_TRIM, 1 << 20, 512))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 1 << 21, 512))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_WRITE, 1 << 20, 512), ctx(), Buffer.alloc(512))).toBe(C.NBD_ENOSPC);
    expect(errno(hdr(C.NBD_CMD_WRITE_ZEROES, 0, (1 << 20) + 512))).toBe(C.NBD_ENOSPC);
    const big: RequestHeader = { type: C.NBD_CMD_READ, flags: 0, cookie: 1n, offset: 0xfffffffffffffe00n, length: 512n };
    expect(errno(big)).toBe(C.NBD_EINVAL);
  });

  it('alignment to the minimum block size', () => {
    expect(errno(hdr(C.NBD_CMD_READ, 1, 512))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 100))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 1, 512))).toBe(C.NBD_EINVAL);
  });

  it('read-only exports: EPERM for every write command', () => {
    const ro = ctx({ transmissionFlags: C.NBD_FLAG_HAS_FLAGS | C.NBD_FLAG_READ_ONLY | C.NBD_FLAG_SEND_FLUSH });
    expect(errno(hdr(C.NBD_CMD_WRITE, 0, 512), ro, Buffer.alloc(512))).toBe(C.NBD_EPERM);
    expect(errno(hdr(C.NBD_CMD_TRIM, 0, 512), ro)).toBe(C.NBD_EPERM);
    expect(errno(hdr(C.NBD_CMD_WRITE_ZEROES, 0, 512), ro)).toBe(C.NBD_EPERM);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512), ro)).toBe('ok');
    // FUA is not advertised read-only, so the flag is invalid.
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512, C.NBD_CMD_FLAG_FUA), ro)).toBe(C.NBD_EINVAL);
  });

  it('flags not documented for the command, or not advertised, are EINVAL', () => {
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512, C.NBD_CMD_FLAG_NO_HOLE))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_WRITE_ZEROES, 0, 512, C.NBD_CMD_FLAG_DF))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512, 1 << 9))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512, C.NBD_CMD_FLAG_DF), ctx({ transmissionFlags: RW & ~C.NBD_FLAG_SEND_DF }))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_WRITE_ZEROES, 0, 512, C.NBD_CMD_FLAG_FAST_ZERO), ctx({ transmissionFlags: RW & ~C.NBD_FLAG_SEND_FAST_ZERO }))).toBe(
      C.NBD_EINVAL,
    );
    expect(errno(hdr(C.NBD_CMD_READ, 0, 512, C.NBD_CMD_FLAG_PAYLOAD_LEN))).toBe(C.NBD_EINVAL);
  });

  it('unknown commands, flush with offset, block status without contexts, oversized reads', () => {
    expect(errno(hdr(9, 0, 0))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_FLUSH, 512, 0))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 512), ctx({ metaContextIds: [] }))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 0))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 1 << 17))).toBe(C.NBD_EOVERFLOW);
    expect(errno(hdr(C.NBD_CMD_READ, 0, 1 << 17), ctx({ replyMode: 'simple' }))).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_WRITE, 0, 1 << 17), ctx(), undefined, true)).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_TRIM, 0, 512), ctx({ transmissionFlags: RW & ~C.NBD_FLAG_SEND_TRIM }))).toBe(C.NBD_EINVAL);
  });

  it('extended headers: WRITE needs PAYLOAD_LEN; BLOCK_STATUS payload filters contexts', () => {
    const x = ctx({ replyMode: 'extended', transmissionFlags: RW | C.NBD_FLAG_BLOCK_STATUS_PAYLOAD });
    expect(errno(hdr(C.NBD_CMD_WRITE, 0, 512), x)).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_WRITE, 0, 512, C.NBD_CMD_FLAG_PAYLOAD_LEN), x, Buffer.alloc(512))).toBe('ok');
    const p = Buffer.alloc(12);
    p.writeBigUInt64BE(4096n, 0);
    p.writeUInt32BE(1, 8);
    const v = validateRequest(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 12, C.NBD_CMD_FLAG_PAYLOAD_LEN), p, false, x);
    expect(v).toMatchObject({ ok: true, req: { lengthBytes: 4096, contextIds: [1] } });
    const badId = Buffer.from(p);
    badId.writeUInt32BE(9, 8);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 12, C.NBD_CMD_FLAG_PAYLOAD_LEN), x, badId)).toBe(C.NBD_EINVAL);
    expect(errno(hdr(C.NBD_CMD_BLOCK_STATUS, 0, 12, C.NBD_CMD_FLAG_PAYLOAD_LEN), x, p.subarray(0, 10))).toBe(C.NBD_EINVAL);
    // A 64-bit effect length for commands without payload.
    const big = ctx({ replyMode: 'extended', sizeBytes: 2 ** 40 });
    expect(errno({ type: C.NBD_CMD_WRITE_ZEROES, flags: 0, cookie: 1n, offset: 0n, length: 1n << 36n }, big)).toBe('ok');
  });

  it('nbdErrno maps kinds considering the request flags', () => {
    expect(nbdErrno('EIO', C.NBD_CMD_READ, 0)).toBe(C.NBD_EIO);
    expect(nbdErrno('ENOSPC', C.NBD_CMD_WRITE, 0)).toBe(C.NBD_ENOSPC);
    expect(nbdErrno('EROFS', C.NBD_CMD_WRITE, 0)).toBe(C.NBD_EPERM);
    expect(nbdErrno('ESHUTDOWN', C.NBD_CMD_READ, 0)).toBe(C.NBD_ESHUTDOWN);
    expect(nbdErrno('ETIMEDOUT', C.NBD_CMD_READ, 0)).toBe(C.NBD_EIO);
    expect(nbdErrno('ENOTSUP', C.NBD_CMD_WRITE_ZEROES, C.NBD_CMD_FLAG_FAST_ZERO)).toBe(C.NBD_ENOTSUP);
    expect(nbdErrno('ENOTSUP', C.NBD_CMD_WRITE_ZEROES, 0)).toBe(C.NBD_EINVAL);
    expect(nbdErrno('EOVERFLOW', C.NBD_CMD_READ, C.NBD_CMD_FLAG_DF)).toBe(C.NBD_EOVERFLOW);
    expect(nbdErrno('EOVERFLOW', C.NBD_CMD_READ, 0)).toBe(C.NBD_EINVAL);
  });

  it('transmission flags and block sizes follow the device', () => {
    const info = {
      sizeBytes: 1 << 20,
      blockSize: 4096,
      physicalBlockSize: 4096,
      readOnly: false,
      canDiscard: false,
      canWriteZeroes: true,
      canBlockStatus: true,
      hasVolatileCache: true,
      maxTransferBytes: 1 << 30,
      serial: 'x',
    };
    const e: NbdExportEntry = { name: 'x', tid: 1, lun: 0, info, readOnly: false, thinProvisioning: true, tls: 'off' };
    const f = transmissionFlags(e, { replyChunks: false, extendedHeaders: false });
    expect(f & C.NBD_FLAG_SEND_TRIM).toBe(0); // the device cannot discard
    expect(f & C.NBD_FLAG_SEND_DF).toBe(0);
    expect(f & C.NBD_FLAG_CAN_MULTI_CONN).toBeTruthy();
    expect(f & C.NBD_FLAG_BLOCK_STATUS_PAYLOAD).toBe(0);
    const x = transmissionFlags(e, { replyChunks: true, extendedHeaders: true });
    expect(x & C.NBD_FLAG_BLOCK_STATUS_PAYLOAD).toBeTruthy();
    expect(x & C.NBD_FLAG_SEND_DF).toBeTruthy();
    expect(blockSizes(info)).toEqual({ minBlockBytes: 4096, preferredBlockBytes: 4096, maxPayloadBytes: 32 << 20 });
  });
});
