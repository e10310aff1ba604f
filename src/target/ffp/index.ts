// The target's full feature phase engine: FullFeatureConnection (engine.ts) and what it is built with
// (host.ts). The other modules of this folder are its concerns, one each: window.ts (CmdSN order),
// command.ts (admission), data-out.ts (Data-Out, R2T), write-budget.ts, read-budget.ts, lifecycle.ts
// (run, answer, finish), data-in.ts (Data-In, residuals, status), liveness.ts (NOP), logout.ts,
// messages.ts (Reject, Async Messages, window stamping), state.ts (the fields they share).

export { FullFeatureConnection } from './engine.js';
export type { FfpHost, FfpOptions } from './host.js';
export type { AsyncMessageOptions } from './messages.js';
