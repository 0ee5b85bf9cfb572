/** The wire protocols every target loop runs. */
import type { ProtocolModule } from '../worker/contract.js';
import { iscsiProtocol } from '../../targets/iscsi/index.js';
import { nbdProtocol } from '../../targets/nbd/transmission.js';

export const PROTOCOLS: ProtocolModule[] = [iscsiProtocol, nbdProtocol];
