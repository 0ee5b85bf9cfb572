/**
 * PortStream flow control (#12 item 3): a reader that does not consume
 * holds back acknowledgements, so the writer stops at the window instead
 * of the reading thread buffering everything (a TLS client that never
 * reads its replies).
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { PortStream } from '../../../src/worker/port-stream.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));

describe('PortStream', () => {
  it('a reader that stops consuming stops the writer at the window; everything arrives once it reads', async () => {
    const { port1, port2 } = new MessageChannel();
    const writer = new PortStream(port1);
    const reader = new PortStream(port2); // not flowing: nobody consumes yet
    const chunk = Buffer.alloc(256 * KiB, 7);
    for (let i = 0; i < 128; i++) writer.write(chunk); // 32 MiB
    await settle();
    expect(reader.readableLength).toBeLessThanOrEqual(4 * MiB + chunk.length);
    expect(writer.writableLength).toBeGreaterThanOrEqual(32 * MiB - 4 * MiB - chunk.length);
    let got = 0;
    const done = new Promise<void>((resolve) =>
      reader.on('data', (b: Buffer) => {
        got += b.length;
        if (got === 32 * MiB) resolve();
      }),
    );
    await done;
    expect(got).toBe(32 * MiB);
    writer.destroy();
    reader.destroy();
  });
});
