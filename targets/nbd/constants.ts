/**
 * NBD protocol constants, spelled as in the spec (NetworkBlockDevice/nbd
 * doc/proto.md, "Values"; extended headers from the extension-ext-header
 * branch, as implemented by qemu >= 8.2, nbdkit >= 1.36 and libnbd >= 1.18).
 */

// Magic numbers (proto.md "Handshake", "Transmission").
export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const NBD_OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;

// Handshake flags (server) and client flags.
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// Transmission flags.
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;
export const NBD_FLAG_BLOCK_STATUS_PAYLOAD = 1 << 12;

// Options.
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_PEEK_EXPORT = 4;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

// Option reply types.
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
const ERR = 0x80000000;
export const NBD_REP_ERR_UNSUP = ERR + 1;
export const NBD_REP_ERR_POLICY = ERR + 2;
export const NBD_REP_ERR_INVALID = ERR + 3;
export const NBD_REP_ERR_PLATFORM = ERR + 4;
export const NBD_REP_ERR_TLS_REQD = ERR + 5;
export const NBD_REP_ERR_UNKNOWN = ERR + 6;
export const NBD_REP_ERR_SHUTDOWN = ERR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = ERR + 8;
export const NBD_REP_ERR_TOO_BIG = ERR + 9;
export const NBD_REP_ERR_EXT_HEADER_REQD = ERR + 10;

// NBD_REP_INFO types.
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// Commands.
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

export const NBD_CMD_NAMES: Record<number, string> = {
  [NBD_CMD_READ]: 'NBD_CMD_READ',
  [NBD_CMD_WRITE]: 'NBD_CMD_WRITE',
  [NBD_CMD_DISC]: 'NBD_CMD_DISC',
  [NBD_CMD_FLUSH]: 'NBD_CMD_FLUSH',
  [NBD_CMD_TRIM]: 'NBD_CMD_TRIM',
  [NBD_CMD_CACHE]: 'NBD_CMD_CACHE',
  [NBD_CMD_WRITE_ZEROES]: 'NBD_CMD_WRITE_ZEROES',
  [NBD_CMD_BLOCK_STATUS]: 'NBD_CMD_BLOCK_STATUS',
};

// Command flags.
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;
export const NBD_CMD_FLAG_PAYLOAD_LEN = 1 << 5;

// Structured / extended reply flags and types.
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6;
export const NBD_REPLY_TYPE_ERROR = 0x8001;
export const NBD_REPLY_TYPE_ERROR_OFFSET = 0x8002;

// base:allocation state flags.
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;

// Error values (proto.md "Error values").
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

/** The only metadata context blockgate serves, and the id it is given by SET_META_CONTEXT. */
export const BASE_ALLOCATION = 'base:allocation';
export const BASE_ALLOCATION_ID = 1;

/** proto.md "Conventions": strings MUST be no longer than 4096 bytes. */
export const MAX_STRING_BYTES = 4096;
/** Default sizes when none were negotiated (proto.md "Size constraints"). */
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
