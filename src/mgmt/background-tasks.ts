/**
 * Tasks that run on the management plane's piscina pool: CPU-heavy batch
 * work that must not run on a target's loop (it would stall that target's
 * I/O) nor on the main thread (it would stall logins and the admin socket).
 * Each task is a plain function of plain data.
 */
import fs from 'node:fs';
import { crc32cUpdate } from '../util/crc32c.js';

export interface ChecksumTask {
  kind: 'checksum';
  path: string;
  lengthBytes: number;
}

export interface ChecksumResult {
  crc32c: number;
  bytes: number;
}

const CHUNK_BYTES = 1024 * 1024;

/** CRC32C of the first `lengthBytes` of a file; bytes past its end count as zeroes. */
function checksum(task: ChecksumTask): ChecksumResult {
  const fd = fs.openSync(task.path, 'r');
  const buf = Buffer.alloc(CHUNK_BYTES);
  let crc = 0xffffffff;
  let pos = 0;
  try {
    while (pos < task.lengthBytes) {
      const want = Math.min(CHUNK_BYTES, task.lengthBytes - pos);
      const n = fs.readSync(fd, buf, 0, want, pos);
      if (n < want) buf.fill(0, n, want);
      crc = crc32cUpdate(crc, buf, 0, want);
      pos += want;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { crc32c: (crc ^ 0xffffffff) >>> 0, bytes: pos };
}

export default function run(task: ChecksumTask): ChecksumResult {
  switch (task.kind) {
    case 'checksum':
      return checksum(task);
  }
}
