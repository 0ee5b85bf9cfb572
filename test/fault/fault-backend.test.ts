/** The fault backend on its own: bsopts parsing and the wrapper's delays / errors. */
import { describe, expect, test } from 'vitest';
import { FaultDevice } from '../../backends/fault/device.js';
import { parseDuration, splitFaultBsopts, type FaultOptions } from '../../backends/fault/options.js';
import { MemoryDevice } from '../../backends/memory/device.js';
import { BlockError } from '../../src/block/device.js';

describe('splitFaultBsopts', () => {
  test('takes its keys and leaves the backend its own', () => {
    const r = splitFaultBsopts('mds=127.0.0.1:1,127.0.0.1:2;delay-read=200ms,error-write=EIO@0.1;senders=2');
    expect(typeof r).toBe('object');
    const s = r as Exclude<typeof r, string>;
    expect(s.rest).toBe('mds=127.0.0.1:1,127.0.0.1:2;senders=2');
    expect(s.options?.delayMs).toEqual({ read: 200 });
    expect(s.options?.errors).toEqual({ write: { kind: 'EIO', rate: 0.1 } });
  });

  test('no fault key: untouched, no options', () => {
    expect(splitFaultBsopts('mds=a:1')).toEqual({ rest: 'mds=a:1' });
    expect(splitFaultBsopts(undefined)).toEqual({});
  });

  test('all, percentages, error-file, only-fault strings', () => {
    const s = splitFaultBsopts('delay-all=1.5s,error-trim=ENOSPC@25%,error-file=/tmp/x') as { options: FaultOptions; rest?: string };
    expect(s.rest).toBeUndefined();
    expect(s.options.delayMs).toEqual({ read: 1500, write: 1500, zero: 1500, trim: 1500, flush: 1500 });
    expect(s.options.errors.trim).toEqual({ kind: 'ENOSPC', rate: 0.25 });
    expect(s.options.errorFile).toBe('/tmp/x');
  });

  test.each([
    ['delay-read=fast', 'duration'],
    ['error-write=EBADNESS', 'error kind'],
    ['error-write=EIO@2', '0..1'],
    ['error-write=EIO@', '0..1'],
    ['delay-file=/x', 'error-file'],
  ])('%s is refused with a clear message', (text, words) => {
    const r = splitFaultBsopts(text);
    expect(typeof r).toBe('string');
    expect(r).toContain(words);
  });

  test('durations', () => {
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('500us')).toBe(0.5);
    expect(parseDuration('2h')).toBeUndefined();
    expect(parseDuration('7200s')).toBeUndefined();
  });
});

describe('FaultDevice', () => {
  const inner = (): MemoryDevice => new MemoryDevice({ sizeBytes: 1 << 20 });

  test('an injected write error writes nothing and names the kind', async () => {
    const m = inner();
    const injected: string[] = [];
    const d = new FaultDevice(m, { delayMs: {}, errors: { write: { kind: 'EIO', rate: 1 } } }, { onInject: (op, k) => injected.push(`${op}:${k}`) });
    const err = await d.write(0, Buffer.alloc(512, 7)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).kind).toBe('EIO');
    expect((await m.read(0, 512)).every((b) => b === 0)).toBe(true);
    expect(injected).toEqual(['write:EIO']);
    expect((await d.read(0, 512)).length).toBe(512); // reads unaffected
  });

  test('rate uses the random input; error-file arms and disarms', async () => {
    let armed = false;
    const seq = [0.05, 0.5, 0.05];
    const d = new FaultDevice(inner(), { delayMs: {}, errors: { read: { kind: 'ETIMEDOUT', rate: 0.1 } }, errorFile: '/trigger' }, { random: () => seq.shift() ?? 0.9, exists: () => armed });
    await expect(d.read(0, 512)).resolves.toHaveLength(512); // disarmed: no random draw
    armed = true;
    await expect(d.read(0, 512)).rejects.toMatchObject({ kind: 'ETIMEDOUT' });
    await expect(d.read(0, 512)).resolves.toHaveLength(512);
    await expect(d.read(0, 512)).rejects.toMatchObject({ kind: 'ETIMEDOUT' });
  });

  test('delays apply before the request reaches the device', async () => {
    const m = inner();
    const d = new FaultDevice(m, { delayMs: { write: 80 }, errors: {} });
    const t0 = Date.now();
    const p = d.write(0, Buffer.alloc(512, 1));
    expect((await m.read(0, 512))[0]).toBe(0); // not yet written
    await p;
    expect((await m.read(0, 512))[0]).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(70);
    expect(d.info).toBe(m.info);
  });
});
