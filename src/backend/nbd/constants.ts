// The numbers of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md): magics, handshake flags,
// options and their replies, transmission flags, commands, command flags, reply chunk types, errors.

/** "NBDMAGIC", the first 8 bytes the server sends (proto.md "Newstyle negotiation"). */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": after NBDMAGIC in the newstyle greeting, and before every option request. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Before every option reply (proto.md "Option reply"). */
export const NBD_REP_MAGIC = 0x0003e889045565a9n;
/** Oldstyle servers send this instead of IHAVEOPT; tsiscsi does not speak oldstyle. */
export const NBD_CLISERV_MAGIC = 0x00420281861253n;

/** Handshake flags from the server (16 bits). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
/** The server can skip the 124 zero bytes after NBD_OPT_EXPORT_NAME's reply. */
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags (32 bits), the echo of the two above. */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
/** The client asks for the zero bytes to be skipped. */
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Option request types (proto.md "Option types"). */
export const NBD_OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

/** Option reply types; errors have bit 31 set (proto.md "Option reply types"). */
export const NBD_REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;
/** Bit 31 of an option reply type: an error reply. */
export const NBD_REP_FLAG_ERROR = 0x80000000;
/** Names of the error reply types, for messages. */
export const NBD_REP_ERR: Readonly<Record<number, string>> = {
  [0x80000001]: 'NBD_REP_ERR_UNSUP',
  [0x80000002]: 'NBD_REP_ERR_POLICY',
  [0x80000003]: 'NBD_REP_ERR_INVALID',
  [0x80000004]: 'NBD_REP_ERR_PLATFORM',
  [0x80000005]: 'NBD_REP_ERR_TLS_REQD',
  [0x80000006]: 'NBD_REP_ERR_UNKNOWN',
  [0x80000007]: 'NBD_REP_ERR_SHUTDOWN',
  [0x80000008]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [0x80000009]: 'NBD_REP_ERR_TOO_BIG',
};
/** The option is unknown to the server (NBD_OPT_GO on an old server: fall back to NBD_OPT_EXPORT_NAME). */
export const NBD_REP_ERR_UNSUP = 0x80000001;

/** Information types in NBD_REP_INFO replies and NBD_OPT_GO requests (proto.md "NBD_OPT_INFO"). */
export const NBD_INFO = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Transmission flags (16 bits), sent with the export's size. */
export const NBD_FLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

/** Request magic (proto.md "Transmission phase", request message). */
export const NBD_REQUEST_MAGIC = 0x25609513;
/** Simple reply magic. */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
/** Structured reply chunk magic. */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Bytes of a request header: magic, flags, type, cookie, offset, length. */
export const NBD_REQUEST_LENGTH = 28;
/** Bytes of a simple reply header: magic, error, cookie. */
export const NBD_SIMPLE_REPLY_LENGTH = 16;
/** Bytes of a structured reply chunk header: magic, flags, type, cookie, length. */
export const NBD_STRUCTURED_REPLY_LENGTH = 20;

/** Request types (proto.md "Request types"). */
export const NBD_CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;
/** One of the NBD_CMD_* values. */
export type NbdCommand = (typeof NBD_CMD)[keyof typeof NBD_CMD];

/** Command flags (16 bits). */
export const NBD_CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
} as const;

/** The last chunk of a structured reply (proto.md "Structured reply chunk message"). */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
/** Structured reply chunk types. */
export const NBD_REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;
/** Bit 15 of a chunk type marks an error chunk, known or not (proto.md "Structured reply types"). */
export const NBD_REPLY_TYPE_ERROR_BIT = 0x8000;

/**
 * Error values of replies (proto.md "Error values"), by the errno names Node gives them. A value the
 * spec does not list is treated as EIO, as the spec tells clients to.
 */
export const NBD_ERRNO: Readonly<Record<number, string>> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};
/** EPERM: a write the server refuses (a read-only export). */
export const NBD_EPERM = 1;
/** ESHUTDOWN: the server is going away and did not carry the request out (send it again). */
export const NBD_ESHUTDOWN = 108;

/** The IANA port of NBD (proto.md "Protocol phases"). */
export const NBD_DEFAULT_PORT = 10809;
/**
 * The largest payload a client may send or ask for when the server states no maximum
 * (proto.md "Block size constraints": 32 MiB).
 */
export const NBD_DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
/** Export names and option payloads are bounded (proto.md: a string is at most 4096 bytes). */
export const NBD_MAX_STRING = 4096;
