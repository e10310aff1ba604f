// The CDB codec of both ends, by command set: what an initiator builds its commands with and decodes
// the answers with, and what the target's tests drive the logical unit with.

export * from './spc.js';
export * from './vpd.js';
export * from './sbc.js';
export * from './provisioning.js';
export * from './reservations.js';
export * from './copy.js';
export { readU64 } from './fields.js';
export * from './alua.js';
