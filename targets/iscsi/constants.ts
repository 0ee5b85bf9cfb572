/**
 * iSCSI wire constants (RFC 7143 §11). Names follow the RFC.
 */

/** Opcodes, RFC 7143 §11.2.1.2. */
export const Op = {
  NOP_OUT: 0x00,
  SCSI_CMD: 0x01,
  TMF_REQ: 0x02,
  LOGIN_REQ: 0x03,
  TEXT_REQ: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQ: 0x06,
  SNACK: 0x10,
  NOP_IN: 0x20,
  SCSI_RESP: 0x21,
  TMF_RESP: 0x22,
  LOGIN_RESP: 0x23,
  TEXT_RESP: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RESP: 0x26,
  R2T: 0x31,
  ASYNC: 0x32,
  REJECT: 0x3f,
} as const;
export type Opcode = (typeof Op)[keyof typeof Op];

export const BHS_BYTES = 48;
export const DIGEST_BYTES = 4;
/** ITT / TTT value meaning "none" (RFC 7143 §11.2.1.6). */
export const RESERVED_TAG = 0xffffffff;

/** Reject reasons, RFC 7143 §11.17.1. */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OP_REJECT: 0x0a,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** Task management functions, RFC 7143 §11.5.1. */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

/** TMF responses, RFC 7143 §11.6.1. */
export const TmfResponse = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  REASSIGNMENT_NOT_SUPPORTED: 4,
  FUNCTION_NOT_SUPPORTED: 5,
  AUTHORIZATION_FAILED: 6,
  FUNCTION_REJECTED: 255,
} as const;

/** Logout reason codes (§11.14.1) and responses (§11.15.1). */
export const LogoutReason = { CLOSE_SESSION: 0, CLOSE_CONNECTION: 1, REMOVE_FOR_RECOVERY: 2 } as const;
export const LogoutResponse = { SUCCESS: 0, CID_NOT_FOUND: 1, RECOVERY_NOT_SUPPORTED: 2, CLEANUP_FAILED: 3 } as const;

/** Async events, RFC 7143 §11.9.1. */
export const AsyncEvent = { SCSI: 0, REQUEST_LOGOUT: 1, DROP_CONNECTION: 2, DROP_ALL: 3, RENEGOTIATE: 4 } as const;

/** SCSI Response "Response" field, RFC 7143 §11.4.3. */
export const ScsiResponseCode = { COMPLETED: 0x00, TARGET_FAILURE: 0x01 } as const;

/** Login stages (CSG/NSG), RFC 7143 §11.12.3. */
export const Stage = { SECURITY: 0, OPERATIONAL: 1, FULL_FEATURE: 3 } as const;

/** Login status class/detail, RFC 7143 §11.13.5 (class << 8 | detail). */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

export const TaskAttr = { UNTAGGED: 0, SIMPLE: 1, ORDERED: 2, HEAD_OF_QUEUE: 3, ACA: 4 } as const;
