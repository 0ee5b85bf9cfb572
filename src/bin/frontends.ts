/** The protocol front ends the daemon's main thread runs. */
import type { FrontendFactory } from '../mgmt/daemon.js';
import { nbdFrontend } from './nbd-frontend.js';

export const FRONTENDS: FrontendFactory[] = [nbdFrontend];
