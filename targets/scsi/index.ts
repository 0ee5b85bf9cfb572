/** SCSI device emulation (SPC-4 / SBC-4) behind the transport contract of types.ts. */
export { ScsiTargetDevice } from './device.js';
export type { ScsiCommand, ScsiNexus, ScsiResult, ScsiTargetServer, ScsiTransportHooks, DataDirection, TaskAttribute } from './types.js';
export { OPCODES } from './opcodes.js';
export { decodeSense, encodeSense, type SenseSpec } from './sense.js';
export { STATUS, SENSE_KEY, ASC, OP } from './constants.js';
