// The public surface of the PDU codec: pure, no I/O.
export * from './constants.js';
export * from './types.js';
export { crc32c, crc32cv, pureCrc32c, type Crc32cImpl } from './crc32c.js';
export { encodePdu, encodePduToBuffer, decodePdu, opcodeName, opcodeOf, isOpcodeOf, type Direction, type DigestSettings } from './codec.js';
export { Framer, type Frame, type FrameSink, type FramerOptions, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH } from './framer.js';
export { pad4 } from './bhs.js';
export { AHS_EXTENDED_CDB, AHS_BIDI_READ_LENGTH } from './command.js';
export { lunFromField, lunToField, MAX_LUN } from './lun.js';
