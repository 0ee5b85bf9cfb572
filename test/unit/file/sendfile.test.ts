import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendfileSupported, sendPrefixAndFile } from '../../../backends/file/sendfile.js';

const KiB = 1024;
let dir: string;
let server: net.Server;
let client: net.Socket;
let received: Buffer[];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-sendfile-'));
  received = [];
  server = net.createServer((s) => s.on('data', (b) => received.push(b)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
});
afterEach(async () => {
  client.destroy();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

const fdOf = (s: net.Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

async function receivedBytes(n: number): Promise<Buffer> {
  const deadline = Date.now() + 5000;
  while (Buffer.concat(received).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return Buffer.concat(received);
}

describe('sendfile from the page cache', () => {
  it('sends the prefix then the file range, byte for byte, or declines without sending anything', async () => {
    const data = Buffer.alloc(512 * KiB);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 253;
    const p = path.join(dir, 'f.img');
    fs.writeFileSync(p, data); // just written: cached and allocated
    const fd = fs.openSync(p, 'r');
    try {
      const prefix = Buffer.from('HEADER-16-BYTES!');
      const n = sendPrefixAndFile(fdOf(client), prefix, fd, 64 * KiB, 256 * KiB);
      if (!sendfileSupported()) {
        expect(n).toBe(-1); // kernel < 6.5 (no cachestat): the path is off
        return;
      }
      expect(n).toBeGreaterThan(prefix.length);
      const got = await receivedBytes(n);
      expect(got.length).toBe(n);
      expect(got.subarray(0, 16).equals(prefix)).toBe(true);
      expect(got.subarray(16).equals(data.subarray(64 * KiB, 64 * KiB + n - 16))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('declines a range with a hole (sparse replies need to see it)', async () => {
    const p = path.join(dir, 'sparse.img');
    const fd0 = fs.openSync(p, 'w+');
    fs.writeSync(fd0, Buffer.alloc(64 * KiB, 1), 0, 64 * KiB, 0);
    fs.ftruncateSync(fd0, 1024 * KiB); // 64 KiB of data, then a hole
    fs.closeSync(fd0);
    const fd = fs.openSync(p, 'r');
    try {
      expect(sendPrefixAndFile(fdOf(client), Buffer.alloc(16), fd, 0, 256 * KiB)).toBe(-1);
      await new Promise((r) => setTimeout(r, 50));
      expect(Buffer.concat(received).length).toBe(0); // not even the prefix
    } finally {
      fs.closeSync(fd);
    }
  });
});
