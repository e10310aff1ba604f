// tsiscsi: the library's public surface.
export * from './errors.js';
export * as pdu from './pdu/index.js';
