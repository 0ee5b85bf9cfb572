/** The protocol front ends the daemon's main thread runs. */
import type { FrontendFactory } from '../mgmt/daemon.js';
import { iscsiFrontend } from './iscsi-frontend.js';
import { nbdFrontend } from './nbd-frontend.js';
import { DEFAULT_TARGET_KEYS } from '../../targets/iscsi/index.js';

export const FRONTENDS: FrontendFactory[] = [iscsiFrontend, nbdFrontend];

/** What `bgadm --op show --mode target --tid N` lists under the overrides. */
export function targetParamDefaults(lld: 'iscsi' | 'nbd'): [string, string][] {
  return lld === 'iscsi' ? Object.entries(DEFAULT_TARGET_KEYS) : [];
}
