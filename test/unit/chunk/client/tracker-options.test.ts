import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseChunkBsopts, volumeNameOf } from '../../../../backends/chunk/client/options.js';
import { IoTracker } from '../../../../backends/chunk/client/tracker.js';
import { BlockError } from '../../../../src/block/device.js';

describe('IoTracker', () => {
  it('completes when every piece has', async () => {
    const t = new IoTracker(3);
    t.pieceDone();
    t.pieceDone();
    expect(t.done).toBe(false);
    t.pieceDone();
    expect(t.done).toBe(true);
    await expect(t.promise).resolves.toBeUndefined();
  });

  it('fails with the first hard error and ignores later pieces', async () => {
    const t = new IoTracker(3);
    t.pieceDone();
    t.pieceFailed(new BlockError('ETIMEDOUT', 'first'));
    t.pieceFailed(new BlockError('EIO', 'second'));
    t.pieceDone();
    await expect(t.promise).rejects.toMatchObject({ kind: 'ETIMEDOUT', message: 'first' });
  });

  it('completes an empty request at once and wraps non-BlockErrors as EIO', async () => {
    await expect(new IoTracker(0).promise).resolves.toBeUndefined();
    const t = IoTracker.run([1, 2], async (i) => {
      if (i === 2) throw new Error('boom');
    });
    await expect(t.promise).rejects.toMatchObject({ kind: 'EIO' });
  });
});

describe('bsopts and volume names', () => {
  it('parses MDS lists in both separators and tuning keys', () => {
    expect(parseChunkBsopts('mds=127.0.0.1:6700,127.0.0.1:6701;timeout=30;senders=4', undefined)).toEqual({
      mds: ['127.0.0.1:6700', '127.0.0.1:6701'], deadlineMs: 30_000, senders: 4,
    });
    expect(parseChunkBsopts('mds=a:1;mds=b:2;rpc_timeout=500', undefined)).toEqual({ mds: ['a:1', 'b:2'], rpcTimeoutMs: 500 });
    expect(parseChunkBsopts(undefined, 'x:1, y:2')).toEqual({ mds: ['x:1', 'y:2'] });
    expect(parseChunkBsopts('mds=a:1', 'x:1')).toEqual({ mds: ['a:1'] });
  });

  it('accepts the bsopts of conf/chunk.yaml', () => {
    const conf = readFileSync(new URL('../../../../conf/chunk.yaml', import.meta.url), 'utf8');
    const bsopts = /^\s+bsopts: (.*)$/m.exec(conf)![1]!;
    expect(parseChunkBsopts(bsopts, undefined)).toEqual({ mds: ['127.0.0.1:6700', '127.0.0.1:6710'], deadlineMs: 60_000, senders: 2 });
  });

  it('rejects what it does not understand', () => {
    expect(parseChunkBsopts('', undefined)).toMatch(/no MDS/);
    expect(parseChunkBsopts('mds=a:1;colour=red', undefined)).toMatch(/unknown key/);
    expect(parseChunkBsopts('mds=nohost', undefined)).toMatch(/bad address/);
    expect(parseChunkBsopts('mds=a:1;timeout=-1', undefined)).toMatch(/out of range/);
    expect(parseChunkBsopts('a:1', undefined)).toMatch(/not key=value/);
  });

  it('takes volume names plain, with a slash, or in curve-tgt cbd: form', () => {
    expect(volumeNameOf('vol1')).toBe('vol1');
    expect(volumeNameOf('/vol1')).toBe('vol1');
    expect(volumeNameOf('cbd:pool//iscsi_test_')).toBe('iscsi');
    expect(volumeNameOf('cbd:pool//vol1')).toBe('vol1');
  });
});
