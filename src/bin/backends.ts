/**
 * Opens a LUN's backend from its spec, inside the target loop. The one
 * place where the daemon meets backends/.
 */
import type { Logger } from 'pino';
import { FileDevice } from '../../backends/file/device.js';
import { MemoryDevice } from '../../backends/memory/device.js';
import { BlockError, type BlockDevice } from '../block/device.js';
import type { BackendSpec } from '../worker/messages.js';

export async function openBackend(spec: BackendSpec, _log: Logger): Promise<BlockDevice> {
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
      throw new BlockError('ENOTSUP', 'the chunk backend is not available in this build yet');
  }
}
