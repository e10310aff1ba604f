// Tools over captured iSCSI traffic, for the CLI and for library users: `dump` decodes a raw byte
// stream into one JSON object per PDU.

export { StreamDumper, dumpStream, type DumpOptions, type DumpResult } from './dump.js';
