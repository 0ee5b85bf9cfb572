/** The protocol front ends the daemon's main thread runs. */
import type { FrontendFactory } from '../mgmt/daemon.js';
import { iscsiFrontend } from './iscsi-frontend.js';
import { nbdFrontend } from './nbd-frontend.js';

export const FRONTENDS: FrontendFactory[] = [iscsiFrontend, nbdFrontend];
