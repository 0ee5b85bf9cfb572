/**
 * Opens a LUN's backend from its spec, inside the target loop. The one
 * place where the daemon meets backends/.
 */
import type { Logger } from 'pino';
import { ChunkVolumeDevice } from '../../backends/chunk/client/device.js';
import { parseChunkBsopts, volumeNameOf } from '../../backends/chunk/client/options.js';
import { FaultDevice } from '../../backends/fault/device.js';
import { splitFaultBsopts, type FaultOptions } from '../../backends/fault/options.js';
import { FileDevice } from '../../backends/file/device.js';
import { MemoryDevice } from '../../backends/memory/device.js';
import { BlockError, type BlockDevice } from '../block/device.js';
import type { BackendSpec } from '../worker/messages.js';
import type { BackendEvents } from '../worker/target-loop.js';

export async function openBackend(spec: BackendSpec, log: Logger, events?: BackendEvents): Promise<BlockDevice> {
  const fault = splitFaultBsopts(spec.bsopts);
  if (typeof fault === 'string') throw new BlockError('EINVAL', fault);
  if (fault.options) return openFaulty(spec, fault.options, fault.rest, log, events);
  switch (spec.bstype) {
    case 'file':
      return FileDevice.open({
        path: spec.path,
        serial: spec.serial,
        ...(spec.createSizeBytes !== undefined ? { createSizeBytes: spec.createSizeBytes } : {}),
        ...(spec.readOnly !== undefined ? { readOnly: spec.readOnly } : {}),
        ...(spec.blockSize !== undefined ? { blockSize: spec.blockSize } : {}),
      });
    case 'memory':
      return new MemoryDevice({
        sizeBytes: spec.createSizeBytes ?? 1 << 30,
        serial: spec.serial,
        ...(spec.blockSize !== undefined ? { blockSize: spec.blockSize } : {}),
        ...(spec.readOnly !== undefined ? { readOnly: spec.readOnly } : {}),
      });
    case 'chunk':
      return openChunk(spec, log, events);
  }
}

/** Volume name from the backing store (`vol1` or tgt's `cbd:pool//vol1_user_`), MDS from bsopts or BLOCKGATE_MDS. */
function openChunk(spec: BackendSpec, log: Logger, events: BackendEvents | undefined): Promise<BlockDevice> {
  const opts = parseChunkBsopts(spec.bsopts, process.env.BLOCKGATE_MDS);
  if (typeof opts === 'string') throw new BlockError('EINVAL', opts);
  const volume = volumeNameOf(spec.path);
  if (volume === '') throw new BlockError('EINVAL', `no volume name in backing store ${JSON.stringify(spec.path)}`);
  return ChunkVolumeDevice.open({
    volume,
    mds: opts.mds,
    serial: spec.serial,
    log,
    ...(spec.readOnly !== undefined ? { readOnly: spec.readOnly } : {}),
    ...(spec.createSizeBytes !== undefined ? { createSizeBytes: spec.createSizeBytes } : {}),
    ...(spec.blockSize !== undefined ? { blockSize: spec.blockSize } : {}),
    ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    ...(opts.rpcTimeoutMs !== undefined ? { rpcTimeoutMs: opts.rpcTimeoutMs } : {}),
    ...(opts.senders !== undefined ? { senders: opts.senders } : {}),
    ...(events ? { events } : {}),
  });
}

/** bsopts with delay-* and error-* keys: the fault filter around the LUN's own backend (backends/fault/README.md). */
async function openFaulty(spec: BackendSpec, options: FaultOptions, rest: string | undefined, log: Logger, events?: BackendEvents): Promise<BlockDevice> {
  const inner = await openBackend({ ...spec, bsopts: rest }, log, events);
  const flog = log.child({ backend: 'fault', path: spec.path });
  flog.warn({ delayMs: options.delayMs, errors: options.errors, errorFile: options.errorFile }, 'fault injection enabled on this LUN');
  return new FaultDevice(inner, options);
}
