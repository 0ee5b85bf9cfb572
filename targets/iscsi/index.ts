/** Public surface of the iSCSI front end (see README.md). */
export { IscsiPortal, type IscsiPortalOptions } from './portal.js';
export type { IscsiDirectory, IscsiTargetEntry, IscsiHandOff, IscsiHandOffState, IscsiPortalAddress, IscsiSessionInfo, ChapAccount } from './directory.js';
export { createIscsiProtocol, iscsiProtocol, isIscsiHandOffState, IscsiTarget, type ScsiFactory } from './session/module.js';
export { DEFAULT_TARGET_KEYS } from './login/keys.js';
export type { ConnectionOptions } from './session/connection.js';
export { DEFAULT_THROTTLE, type ThrottleOptions } from './login/throttle.js';
